"""One sequence's bookkeeping on the host, between decode steps: which record
a decision row yields (a token, a think insertion, or a request to branch),
the detokenizer, the end conditions and the response stream's timings.

The lone-sequence loop (generate.py) and the batch (batch.py) both drive a
Sequence, so a row of a batch emits exactly what the same request emits alone.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from enum import StrEnum

import mlx.core as mx
import numpy as np

from .engine import Engine, GenerationError
from .requests import GenerationOptions
from .load import LoadedModel
from .packed import Row
from .sampler.decide import OUTCOME_CODES
from .trace import TokenRecord


@dataclass
class GenerationResponse:
    """One step of the stream, shaped like mlx-lm's GenerationResponse.

    record is the generated token's trace entry; the closing response after an
    end-of-sequence token has record None and finish_reason "stop".
    """

    text: str
    token: int
    record: TokenRecord | None
    prompt_tokens: int
    prompt_tps: float
    generation_tokens: int
    generation_tps: float
    peak_memory: float
    time_to_first_token: float
    finish_reason: str | None = None


def peak_memory_gb() -> float:
    return mx.get_peak_memory() / 1e9


def check_prompt(lm: LoadedModel, prompt: list[int], options: GenerationOptions) -> int:
    """The number of tokens the prompt leaves room for, capped at max_tokens."""
    if not prompt:
        raise GenerationError("the prompt is empty")
    room = lm.context_length - len(prompt)
    if room <= 0:
        raise GenerationError(f"the prompt has {len(prompt)} tokens but the model's context is "
                              f"{lm.context_length}; shorten the prompt")
    return min(options.max_tokens, room)


class Event(StrEnum):
    """What a decision row asks of the loop beyond emitting its record."""

    TOKEN = "token"  # the decided token (or the next forced think token)
    THINK = "think"  # a think insertion starts: its first token is the record
    BRANCH = "branch"  # open a branch point here (no record: the branch makes them)


class Sequence:
    """A generation in progress: counts, forced think positions, detokenizer."""

    def __init__(self, lm: LoadedModel, engine: Engine, prompt: list[int], max_tokens: int,
                 options: GenerationOptions, outcome: str | None = None):
        self.engine, self.opts = engine, options
        self.prompt_tokens, self.max_tokens = len(prompt), max_tokens
        self.outcome = outcome  # every record's outcome, for plain sampling ("sample")
        self.eos = lm.tokenizer.eos_token_ids
        self.detok = lm.tokenizer.detokenizer()
        self.n = 0
        self.first_token_time = 0.0
        self.think_count = 0
        self.forced: deque[int] = deque()  # positions in the think text still to emit
        self.start = time.perf_counter()

    @property
    def more(self) -> bool:
        """Whether a token after the current one can still be generated."""
        return self.n + 1 < self.max_tokens

    def think_allowed(self, fed_inserted: bool) -> bool:
        """May the step fed after this record insert? Never right after an inserted token."""
        return not fed_inserted and self.think_count < self.engine.cfg.max_think_insertions

    def mark_first(self) -> None:
        if self.n == 0:
            self.first_token_time = time.perf_counter() - self.start

    def next_record(self, row: np.ndarray, can_branch: bool) -> tuple[TokenRecord | None, Event]:
        """The record a decision row yields at position n, and its event.
        A branch is taken only when can_branch (a next step exists)."""
        engine = self.engine
        if self.forced:
            return engine.insertion(row, self.n, self.forced.popleft()), Event.TOKEN
        if OUTCOME_CODES[Row(row).outcome_code] == "think" and engine.think_ids:
            self.think_count += 1
            self.forced.extend(range(len(engine.think_ids)))
            return engine.insertion(row, self.n, self.forced.popleft()), Event.THINK
        if can_branch and Row(row).branch:
            return None, Event.BRANCH
        return engine.record(row, self.n, outcome=self.outcome), Event.TOKEN

    def response(self, text: str, token: int, record: TokenRecord | None, finish: str | None
                 ) -> GenerationResponse:
        gen_time = time.perf_counter() - self.start - self.first_token_time
        n = self.n
        return GenerationResponse(
            text=text, token=token, record=record, prompt_tokens=self.prompt_tokens,
            prompt_tps=self.prompt_tokens / max(self.first_token_time, 1e-9),
            generation_tokens=n, generation_tps=(n - 1) / gen_time if n > 1 else 0.0,
            peak_memory=peak_memory_gb(), time_to_first_token=self.first_token_time,
            finish_reason=finish)

    def emit(self, rec: TokenRecord, last: bool) -> tuple[GenerationResponse, bool]:
        """The response for one record, and whether generation ends with it."""
        if rec.id in self.eos:
            return self.response(self.detok.finalize(), rec.id, None, "stop"), True
        self.n += 1
        rec.text = self.detok.add(rec.id)
        cancelled = self.opts.cancelled is not None and self.opts.cancelled()
        if self.n >= self.max_tokens or cancelled or last:
            rec.text += self.detok.finalize()
            return self.response(rec.text, rec.id, rec, "cancelled" if cancelled else "length"), True
        return self.response(rec.text, rec.id, rec, None), False
