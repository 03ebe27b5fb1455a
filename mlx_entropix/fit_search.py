"""Choosing the share targets of a fit (calibrate.py) on a development split:
each candidate's thresholds are fitted to the model's signals, the candidates
and greedy answer the same dev items through the eval harness, and the most
accurate candidate that keeps the acceptance bounds wins (argmax on at least
`min_argmax` of its tokens, at most `max_time_ratio` x greedy's time per
answer). Only dev items are used: the test split stays held out.
"""

from __future__ import annotations

import dataclasses
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .calibrate import ShareTargets, fit_thresholds
from .eval.dataset import EvalItem, file_sha256
from .eval.model import ModelDecoder
from .eval.runner import run_eval
from .eval.store import RunSettings
from .load import LoadedModel
from .methods import MethodSpec, for_model
from .requests import DEFAULT_MAX_BATCH
from .sampler import get_preset

GREEDY = "greedy"


@dataclass(frozen=True)
class SearchBounds:
    """What a candidate must keep to be chosen (the issue's acceptance bounds)."""

    min_argmax: float = 0.3
    max_time_ratio: float = 2.0


@dataclass(frozen=True)
class CandidateResult:
    label: str
    targets: ShareTargets
    accuracy: float
    correct: int
    n: int
    argmax_share: float
    time_ratio: float  # mean time per answer / greedy's
    eligible: bool


def candidate_label(t: ShareTargets) -> str:
    return f"fit-a{round(100 * t.argmax)}-v{round(100 * t.high_vent)}-e{round(100 * t.explore)}"


def choose(results: list[CandidateResult]) -> CandidateResult:
    """The most accurate eligible candidate (ties: the faster); when none is
    eligible, the most accurate of all, and `eligible` says it broke a bound."""
    pool = [r for r in results if r.eligible] or results
    return max(pool, key=lambda r: (r.correct, -r.time_ratio))


def run_on_dev(lm: LoadedModel, specs: list[MethodSpec], items: list[EvalItem], dataset: Path,
               out: Path, max_tokens: int, seed: int) -> dict[str, Any]:
    """The eval harness's summary of `specs` answering the dev items (resumable in `out`)."""
    specs = list(for_model(tuple(specs), lm))
    settings = RunSettings(dataset=str(dataset), dataset_sha256=file_sha256(dataset),
                           methods=tuple(s.label for s in specs), n=len(items), seed=seed,
                           max_tokens=max_tokens, model=lm.name, split="dev",
                           configs={s.label: s.describe() for s in specs})

    summary = run_eval(items, settings, specs, ModelDecoder(lm, DEFAULT_MAX_BATCH), out, resume=True,
                       command=shlex.join(sys.argv))
    assert summary is not None  # one process: its rank 0 always summarises
    return summary


def search_targets(lm: LoadedModel, signals: dict[str, np.ndarray], grid: list[ShareTargets],
                   items: list[EvalItem], dataset: Path, out: Path, max_tokens: int, seed: int,
                   bounds: SearchBounds = SearchBounds()) -> tuple[CandidateResult, list[CandidateResult]]:
    """Run greedy and every candidate on the dev items; return the chosen one and all."""
    base = get_preset("entropix")
    specs = [MethodSpec(GREEDY, "preset", get_preset(GREEDY))]
    for t in grid:
        cfg = base.with_fitted(fit_thresholds(signals, t).thresholds)
        specs.append(MethodSpec(candidate_label(t), f"fit {dataclasses.asdict(t)}", cfg))
    summary = run_on_dev(lm, specs, items, dataset, out, max_tokens, seed)
    greedy_time = summary["methods"][GREEDY]["mean_time_s"]
    results = [_result(t, summary["methods"][candidate_label(t)], greedy_time, bounds) for t in grid]
    return choose(results), results


def _result(t: ShareTargets, s: dict[str, Any], greedy_time: float, bounds: SearchBounds) -> CandidateResult:
    argmax = s["outcome_shares"].get("argmax", 0.0)
    ratio = s["mean_time_s"] / greedy_time if greedy_time > 0 else float("inf")
    return CandidateResult(candidate_label(t), t, s["accuracy"], s["correct"], s["n"], argmax, ratio,
                           argmax >= bounds.min_argmax and ratio <= bounds.max_time_ratio)
