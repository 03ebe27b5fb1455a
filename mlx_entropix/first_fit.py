"""Fitted thresholds on first use: a model without a fit gets one before a
fitted preset (the default among them) runs on it, so the published
thresholds, tuned on another model, never run silently in their place.

The fit is `calibrate`'s (calibrate.py) at the targets the study chose
(CHOSEN_TARGETS), over the first built-in prompts, greedy; it is written to
the per-model cache by fingerprint (sampler/fitted.py) like any other fit,
so it is paid once per model. Its size comes from MLX_ENTROPIX_FIRST_FIT_PROMPTS
(default 8 prompts) and MLX_ENTROPIX_FIRST_FIT_TOKENS (default 48 tokens
each); the tests shrink both.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from .calibrate import CHOSEN_TARGETS, FitProgress, collect_with_progress, default_prompts, fit_thresholds
from .load import LoadedModel
from .sampler.config import FITTED_PRESETS, GATINGS
from .sampler.fitted import cache_dir, find_fit, write_fit

PROMPTS_ENV = "MLX_ENTROPIX_FIRST_FIT_PROMPTS"
TOKENS_ENV = "MLX_ENTROPIX_FIRST_FIT_TOKENS"
DEFAULT_PROMPTS, DEFAULT_TOKENS = 8, 48


def _positive(env: str, default: int) -> int:
    raw = os.environ.get(env)
    if raw is None:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{env}={raw!r} must be a whole number of at least 1")
    return int(raw)


@dataclass(frozen=True)
class FirstFitPlan:
    """How much the first-use fit generates."""

    prompts: int
    max_tokens: int

    @classmethod
    def from_env(cls) -> FirstFitPlan:
        return cls(min(_positive(PROMPTS_ENV, DEFAULT_PROMPTS), len(default_prompts())),
                   _positive(TOKENS_ENV, DEFAULT_TOKENS))


@dataclass(frozen=True)
class FirstFitDone:
    """The fit written, where, and what it saw."""

    path: Path
    tokens: int
    prompts: int


def needs_first_fit(lm: LoadedModel, presets: Iterable[str | None]) -> bool:
    """Would one of these presets run published thresholds for want of a fit?"""
    return any(p in FITTED_PRESETS for p in presets) and find_fit(lm) is None


def first_fit(lm: LoadedModel, plan: FirstFitPlan | None = None,
              cancelled: Callable[[], bool] = lambda: False) -> Iterator[FitProgress | FirstFitDone]:
    """Fit this model's thresholds: progress after each prompt, then the fit
    written to the cache (nothing is written when cancelled)."""
    plan = plan or FirstFitPlan.from_env()
    chats = [p.messages() for p in default_prompts()[:plan.prompts]]
    signals = yield from collect_with_progress(lm, chats, plan.max_tokens, 0, cancelled)
    if signals is None:
        return
    tables = {g: fit_thresholds(signals, CHOSEN_TARGETS, g).thresholds for g in GATINGS}
    notes = {"signals": f"first use: greedy answers, up to {plan.max_tokens} tokens, to the first "
                        f"{len(chats)} built-in prompts", "seed": 0,
             **{f"target_{k}": v for k, v in asdict(CHOSEN_TARGETS).items()}}
    path = write_fit(cache_dir(), lm, tables, notes)
    yield FirstFitDone(path, len(signals["entropy"]), len(chats))
