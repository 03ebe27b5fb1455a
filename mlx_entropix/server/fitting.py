"""Threshold fitting for the UI's settings panel, behind one function so the
fitting method can change without touching the route: today the CLI's
`calibrate` (percentiles of the model's own entropy and varentropy over the
built-in prompts, mlx_entropix/calibrate.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..calibrate import Percentiles, calibrated_config, collect_signals, default_prompts
from ..load import LoadedModel
from ..sampler import SamplerConfig


@dataclass(frozen=True)
class FitProgress:
    """After each prompt: how far the fitting is and how many tokens it has seen."""

    done: int
    total: int
    tokens: int


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
    parts: list[dict[str, np.ndarray]] = []
    for i, prompt in enumerate(chosen):
        if cancelled():
            return
        parts.append(collect_signals(lm, [prompt], max_tokens, seed + i))
        yield FitProgress(i + 1, len(chosen), sum(len(p["entropy"]) for p in parts))
    signals = {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}
    cfg = calibrated_config(signals, base, Percentiles().check())
    yield FitResult(cfg.to_dict(), len(signals["entropy"]), len(chosen))


def fitting_prompt_count() -> int:
    """How many prompts a fitting can use (the UI's upper bound)."""
    return len(default_prompts())
