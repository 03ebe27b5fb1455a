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
from ..first_fit import FirstFitDone, FirstFitPlan, first_fit, needs_first_fit
from ..load import LoadedModel
from ..sampler import SamplerConfig
from ..sampler.config import FITTED_PRESETS

__all__ = ["FirstFitStatus", "FitProgress", "FitResult", "fit_thresholds", "fitting_prompt_count",
           "start_first_fit"]


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


@dataclass
class FirstFitStatus:
    """The first-use fit of a model without one (first_fit.py), as `/api/config`'s
    `first_fit` shows it: state not_needed | running | done | failed; prompts
    done of total and tokens seen while running; the fit file, or the error."""

    state: str = "not_needed"
    done: int = 0
    total: int = 0
    tokens: int = 0
    path: str | None = None
    error: str | None = None

    @property
    def running(self) -> bool:
        return self.state == "running"

    def follow(self, items: Iterator[FitProgress | FirstFitDone]) -> Iterator[object]:
        """Run the fit, keeping this status current (the worker runs it; nobody reads its items)."""
        try:
            for item in items:
                if isinstance(item, FirstFitDone):
                    self.state, self.path, self.tokens = "done", str(item.path), item.tokens
                else:
                    self.done, self.total, self.tokens = item.done, item.total, item.tokens
                yield item
        except Exception as e:  # noqa: BLE001 - reported in /api/config, the server keeps serving
            self.state, self.error = "failed", f"{type(e).__name__}: {e}"
        else:
            if self.state == "running":  # cancelled: the server stopped first
                self.state = "failed"
                self.error = "stopped before the fit finished"


def start_first_fit(lm: LoadedModel, status: FirstFitStatus,
                    submit: Callable[[Callable[[Callable[[], bool]], Iterator[object]]], object]) -> None:
    """Queue the first-use fit on the worker when a fitted preset would otherwise
    run the published thresholds on this model."""
    if not needs_first_fit(lm, FITTED_PRESETS):
        return
    status.state, status.total = "running", FirstFitPlan.from_env().prompts
    submit(lambda cancelled: status.follow(first_fit(lm, cancelled=cancelled)))
