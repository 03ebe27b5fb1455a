"""Timing one generation and summarising repetitions.

Every variant is timed the same way, from outside: the clock starts before the
call, the first token's arrival gives the time to first token (prompt
processing), the tokens after it give the decode rate. Host synchronisations
are counted through a SyncCounter; those made before the first token are the
prefill's and are kept apart from the per-token budget.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass
from typing import Callable, Iterator

import mlx.core as mx

from ..sync import SyncCounter

# A generation under test: (prompt ids, max tokens, sync counter) -> each generated token id.
TokenStream = Callable[[list[int], int, SyncCounter], Iterator[int]]

FIGURES = ("prompt_tps", "ttft_s", "decode_tps", "peak_memory_gb", "syncs_per_token")
# For each figure, is a larger value better? (ratios are ours / mlx-lm's either way)
HIGHER_IS_BETTER = {"prompt_tps": True, "ttft_s": False, "decode_tps": True,
                    "peak_memory_gb": False, "syncs_per_token": False}


class BenchError(ValueError):
    """A benchmark that cannot run as asked."""


@dataclass
class RunTiming:
    """One generation, measured."""

    prompt_tokens: int
    generated: int
    ttft_s: float
    decode_s: float  # from the first token to the last
    peak_memory_gb: float  # above what was in use before the run (the weights)
    prefill_syncs: int
    decode_syncs: int  # from the first token on: the per-token budget
    tokens: list[int]

    @property
    def prompt_tps(self) -> float:
        return self.prompt_tokens / self.ttft_s if self.ttft_s > 0 else 0.0

    @property
    def decode_tps(self) -> float:
        return (self.generated - 1) / self.decode_s if self.generated > 1 and self.decode_s > 0 else 0.0

    @property
    def syncs_per_token(self) -> float:
        return self.decode_syncs / self.generated if self.generated else 0.0

    def to_dict(self) -> dict[str, float]:
        return {**asdict(self), **{f: getattr(self, f) for f in FIGURES}}


def measure(stream: TokenStream, prompt: list[int], max_tokens: int) -> RunTiming:
    """Run one generation to the end and time it."""
    mx.clear_cache()
    mx.reset_peak_memory()
    resident = mx.get_active_memory()
    syncs = SyncCounter()
    tokens: list[int] = []
    at_first = 0
    start = time.perf_counter()
    first = start
    for token in stream(prompt, max_tokens, syncs):
        tokens.append(token)
        if len(tokens) == 1:
            first = time.perf_counter()
            at_first = syncs.total
    end = time.perf_counter()
    if not tokens:
        raise BenchError("the generation produced no token (end of sequence at once); "
                         "use another prompt")
    # Where the loop marks its prefill's end (ours), the syncs after it are the
    # decode's; otherwise the sync that delivered the first token is (a stream
    # that counts none, like the SSE client, gets 0 and 0).
    prefill = syncs.prefill_ if syncs.prefill_ is not None else max(at_first - 1, 0)
    return RunTiming(len(prompt), len(tokens), first - start, end - first,
                     (mx.get_peak_memory() - resident) / 1e9,
                     prefill_syncs=prefill, decode_syncs=syncs.total - prefill, tokens=tokens)


@dataclass
class Summary:
    """Median, min and max of each figure over the repetitions."""

    runs: list[RunTiming]

    def stat(self, figure: str, how: Callable[[list[float]], float] = statistics.median) -> float:
        return how([getattr(r, figure) for r in self.runs])

    def to_dict(self) -> dict:
        return {
            "runs": [r.to_dict() for r in self.runs],
            **{key: {f: self.stat(f, how) for f in FIGURES}
               for key, how in (("median", statistics.median), ("min", min), ("max", max))},
        }


def ratios(ours: Summary, baseline: Summary) -> dict[str, float | None]:
    """Each median figure over the baseline's (None where the baseline is 0)."""
    out: dict[str, float | None] = {}
    for f in FIGURES:
        base = baseline.stat(f)
        out[f] = ours.stat(f) / base if base else None
    return out


def repeat(stream: TokenStream, prompt: list[int], max_tokens: int, reps: int,
           warmup: int) -> Summary:
    """Warm-up runs (discarded), then `reps` measured runs."""
    for _ in range(warmup):
        measure(stream, prompt, max_tokens)
    return Summary([measure(stream, prompt, max_tokens) for _ in range(reps)])
