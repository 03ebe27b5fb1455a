"""Threshold fitting for the UI's settings panel, behind one function so the
fitting method can change without touching the route: the CLI's `calibrate`
(thresholds that give the model's own greedy tokens target outcome shares,
mlx_entropix/calibrate.py), over the built-in prompts, at the targets the
study chose on the dev split (docs/study.md)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from ..calibrate import CHOSEN_TARGETS, FitProgress, collect_with_progress, default_prompts
from ..calibrate import fit_thresholds as fit_to_shares
from ..load import LoadedModel
from ..sampler import SamplerConfig

__all__ = ["FitProgress", "FitResult", "fit_thresholds", "fitting_prompt_count"]


@dataclass(frozen=True)
class FitResult:
    """The fitted sampler config (the base preset with new thresholds) and what it saw."""

    config: dict[str, Any]
    tokens: int
    prompts: int


def fit_thresholds(lm: LoadedModel, base: SamplerConfig, prompts: int, max_tokens: int, seed: int,
                   cancelled: Callable[[], bool]) -> Iterator[FitProgress | FitResult]:
    """Generate with the first `prompts` fitting prompts, report progress after
    each, and end with the fitted config; stops early when `cancelled()`."""
    chosen = default_prompts()[:prompts]
    signals = yield from collect_with_progress(lm, [p.messages() for p in chosen], max_tokens, seed,
                                               cancelled)
    if signals is None:
        return
    fit = fit_to_shares(signals, CHOSEN_TARGETS, base.gating, base)
    yield FitResult(base.with_fitted(fit.thresholds).to_dict(), len(signals["entropy"]), len(chosen))


def fitting_prompt_count() -> int:
    """How many prompts a fitting can use (the UI's upper bound)."""
    return len(default_prompts())
