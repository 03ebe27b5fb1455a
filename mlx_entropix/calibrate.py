"""Per-model thresholds: run a prompt set, collect the signals of every generated
token, and write a sampler config whose thresholds are chosen percentiles.

The published thresholds were tuned on one model with buggy (unmasked)
metrics; percentiles of the model's own entropy and varentropy give quadrants
that mean the same thing for any model.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from .engine import GenerationOptions
from .load import LoadedModel
from .prompts import BUILTIN_PROMPTS, DEFAULT_CSV, Prompt, load_prompt_csv
from .runner import RunRequest, run
from .sampler import SamplerConfig
from .trace import METRIC_NAMES


@dataclass(frozen=True)
class Percentiles:
    """Which percentile of H (and V) becomes which threshold."""

    low: float = 10.0
    med: float = 50.0
    high: float = 90.0

    def check(self) -> "Percentiles":
        if not 0 <= self.low <= self.med <= self.high <= 100:
            raise ValueError(f"percentiles must satisfy 0 <= low <= med <= high <= 100, "
                             f"got {self.low}, {self.med}, {self.high}")
        return self


def collect_signals(lm: LoadedModel, prompts: list[Prompt], max_tokens: int, seed: int,
                    method: str = "normal") -> dict[str, np.ndarray]:
    """Every metric of every generated token over the prompt set (plain sampling
    by default, so the distribution is the model's own, not the rules')."""
    columns: dict[str, list[float]] = {name: [] for name in METRIC_NAMES}
    for i, prompt in enumerate(prompts):
        req = RunRequest(messages=prompt.messages(), method=method,
                         options=GenerationOptions(max_tokens=max_tokens, seed=seed + i))
        for token in run(lm, req).tokens:
            for name in METRIC_NAMES:
                columns[name].append(getattr(token.metrics, name))
    return {name: np.array(values) for name, values in columns.items()}


def calibrated_config(signals: dict[str, np.ndarray], base: SamplerConfig,
                      pct: Percentiles) -> SamplerConfig:
    h, v = signals["entropy"], signals["varentropy"]
    if h.size == 0:
        raise ValueError("no tokens were generated: use more prompts or a larger --max-tokens")
    return dataclasses.replace(
        base,
        low_ent=float(np.percentile(h, pct.low)),
        med_ent=float(np.percentile(h, pct.med)),
        high_ent=float(np.percentile(h, pct.high)),
        low_vent=float(np.percentile(v, pct.low)),
        high_vent=float(np.percentile(v, pct.high)),
    )


def default_prompts() -> list[Prompt]:
    """The built-in prompts plus data/prompts.csv when it is there."""
    return list(BUILTIN_PROMPTS) + (load_prompt_csv(DEFAULT_CSV) if DEFAULT_CSV.is_file() else [])
