"""Per-model thresholds: run a prompt set, collect the signals of every generated
token, and fit thresholds so that each rule takes a chosen share of them.

Fixed percentiles (p10 = "low") made argmax rare by construction: it needs
*both* H and V below their p10, which a tenth of the tokens at most satisfy.
Here the targets are outcome shares instead: "argmax on half the tokens" is
met by searching the percentile q whose low thresholds put exactly that share
of the model's tokens in the argmax region (the region decide.py uses, so for
frog gating all six signals count). The published thresholds were tuned on one
model with buggy (unmasked) metrics; shares mean the same thing for any model.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass

import mlx.core as mx
import numpy as np

from .load import LoadedModel
from .prompts import BUILTIN_PROMPTS, DEFAULT_CSV, Prompt, load_prompt_csv
from .requests import DEFAULT_MAX_BATCH, GenerationOptions, RunRequest
from .runner import TraceDecoder
from .sampler import OUTCOME_CODES, SamplerConfig
from .sampler.decide import region_outcomes
from .trace import METRIC_NAMES

# Threshold field -> the signal it cuts, for the frog gating's attention thresholds.
ATTN_SIGNALS = {
    "attn_ent": "attn_entropy",
    "attn_vent": "attn_varentropy",
    "agree": "agreement",
    "int": "interaction_strength",
}


@dataclass(frozen=True)
class ShareTargets:
    """The outcome shares a fit aims at, as fractions of the model's tokens."""

    argmax: float = 0.5  # tokens in the argmax region (both H and V low)
    high_vent: float = 0.1  # tokens with V above high_vent (explore or resample)
    explore: float = 0.5  # of those, the share with H below med_ent (explore, not resample)

    def check(self) -> "ShareTargets":
        for name in ("argmax", "high_vent", "explore"):
            value = getattr(self, name)
            if not 0 <= value <= 1:
                raise ValueError(f"target share {name} must be in [0, 1], got {value}")
        if self.argmax + self.high_vent > 1:
            raise ValueError(f"target shares argmax + high_vent must be <= 1, got {self.argmax} + {self.high_vent}")
        return self


# The targets the study chose on the dev split for the embedded model (docs/study.md).
CHOSEN_TARGETS = ShareTargets(argmax=0.9, high_vent=0.05, explore=1.0)


@dataclass(frozen=True)
class FitResult:
    thresholds: dict[str, float]  # the threshold fields, ready for SamplerConfig.with_fitted
    shares: dict[str, float]  # the outcome shares they give on the fitted signals
    low_percentile: float  # the q found for the low thresholds


@dataclass(frozen=True)
class FitProgress:
    """After each answer: how far the fitting is and how many tokens it has seen."""

    done: int
    total: int
    tokens: int


def collect_with_progress(lm: LoadedModel, chats: list[list[dict[str, str]]], max_tokens: int,
                          seed: int, cancelled: Callable[[], bool] = lambda: False,
                          method: str = "greedy", max_batch: int = DEFAULT_MAX_BATCH
                          ) -> Generator[FitProgress, None, dict[str, np.ndarray] | None]:
    """Every metric of every generated token over the chats (lists of messages),
    decoded max_batch at a time (the same tokens as one by one), yielding
    progress as each answer ends; returns the signals in the chats' order, or
    None when `cancelled()` (asked between decode steps) stopped it.
    Greedy by default: the signals along the model's own most likely answers,
    which is where "argmax when the model is sure" has to hold."""
    decoder = TraceDecoder(lm, max_batch)
    uids = [decoder.add(RunRequest(messages=messages, method=method,
                                   options=GenerationOptions(max_tokens=max_tokens, seed=seed + i)))
            for i, messages in enumerate(chats)]
    signals: dict[int, dict[str, list[float]]] = {}
    while not decoder.done:
        if cancelled():
            return None
        for uid, trace in decoder.step():
            signals[uid] = {name: [getattr(t.metrics, name) for t in trace.tokens] for name in METRIC_NAMES}
            yield FitProgress(len(signals), len(chats), sum(len(s["entropy"]) for s in signals.values()))
    return {name: np.array([v for uid in uids for v in signals[uid][name]]) for name in METRIC_NAMES}


def collect_signals(lm: LoadedModel, chats: list[list[dict[str, str]]], max_tokens: int, seed: int,
                    method: str = "greedy", max_batch: int = DEFAULT_MAX_BATCH) -> dict[str, np.ndarray]:
    """collect_with_progress to the end, without the progress."""
    progress = collect_with_progress(lm, chats, max_tokens, seed, method=method, max_batch=max_batch)
    while True:
        try:
            next(progress)
        except StopIteration as stop:
            return stop.value


def outcome_shares(signals: dict[str, np.ndarray], cfg: SamplerConfig) -> dict[str, float]:
    """The share of tokens whose signals fall in each rule's region under cfg."""
    metrics = {name: mx.array(values.astype(np.float32)) for name, values in signals.items()}
    codes = np.array(region_outcomes(metrics, cfg))
    return {name: float(np.mean(codes == i)) for i, name in enumerate(OUTCOME_CODES)}


def _thresholds(signals: dict[str, np.ndarray], q: float, high_q: float, explore: float,
                gating: str) -> dict[str, float]:
    """Low thresholds at percentile q, high ones at high_q (q <= high_q keeps low <= high)."""
    h, v = signals["entropy"], signals["varentropy"]
    high_vent = float(np.percentile(v, high_q))
    low_ent = float(np.percentile(h, q))
    torn = h[v > high_vent]
    med_ent = max(low_ent, float(np.percentile(torn, 100 * explore)) if torn.size else float(np.median(h)))
    out = {
        "low_ent": low_ent,
        "low_vent": float(np.percentile(v, q)),
        "med_ent": med_ent,
        "high_ent": max(med_ent, float(np.percentile(h, high_q))),
        "high_vent": high_vent,
    }
    if gating == "frog":
        for suffix, name in ATTN_SIGNALS.items():
            out[f"low_{suffix}"] = float(np.percentile(signals[name], q))
            out[f"high_{suffix}"] = float(np.percentile(signals[name], high_q))
    return out


def fit_thresholds(signals: dict[str, np.ndarray], targets: ShareTargets,
                   gating: str = "quadrant", base: SamplerConfig | None = None) -> FitResult:
    """Thresholds whose regions take the target shares of these tokens.

    The argmax share grows with q, so q is found by bisection; when even
    q = high_q (every low threshold at the high one) cannot reach the target,
    the fit stops there and `shares` says what it reached."""
    targets.check()
    if signals["entropy"].size == 0:
        raise ValueError("no tokens were generated: use more prompts or a larger --max-tokens")
    base = (base or SamplerConfig()).with_overrides({"gating": gating})
    high_q = 100 * (1 - targets.high_vent)

    def argmax_share(q: float) -> float:
        cfg = base.with_fitted(_thresholds(signals, q, high_q, targets.explore, gating))
        return outcome_shares(signals, cfg)["argmax"]

    lo, hi = 0.0, high_q
    if argmax_share(hi) <= targets.argmax:
        lo = hi
    for _ in range(30):
        mid = (lo + hi) / 2
        if argmax_share(mid) < targets.argmax:
            lo = mid
        else:
            hi = mid
    thresholds = _thresholds(signals, lo, high_q, targets.explore, gating)
    return FitResult(thresholds, outcome_shares(signals, base.with_fitted(thresholds)), lo)


def default_prompts() -> list[Prompt]:
    """The built-in prompts plus data/prompts.csv when it is there."""
    return list(BUILTIN_PROMPTS) + (load_prompt_csv(DEFAULT_CSV) if DEFAULT_CSV.is_file() else [])
