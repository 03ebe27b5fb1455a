"""What batched decoding could reach, read off measured runs: a run's wall
time split by its generator's account (batch_time.py), and the ratio to one
row at a time it would have at full width, with and without its prefill.

A run here is a dict: wall_s, tokens, and time (BatchTime.to_dict() of the
work it did). The eval benchmark reads the account off its own generator, the
server benchmark off /health before and after each run (between).
"""

from __future__ import annotations

from typing import Any

from ..batch_time import BatchTime, Width
from .measure import BenchError


def between(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """The account of the work done between two readings of a growing one."""
    spent = BatchTime(*(after["prefill"][k] - before["prefill"][k] for k in ("passes", "tokens", "seconds")))
    for rows, w in after["by_width"].items():
        old = before["by_width"].get(rows, {"steps": 0, "seconds": 0.0})
        if w["steps"] > old["steps"]:
            spent.widths[int(rows)] = Width(w["steps"] - old["steps"], w["seconds"] - old["seconds"])
    return spent.to_dict()


def other_seconds(run: dict[str, Any]) -> float:
    """Wall time outside prefill and decode steps (the caller's own host work, waiting for requests)."""
    return run["wall_s"] - run["time"]["prefill"]["seconds"] - run["time"]["step_seconds"]


def ceilings(one: dict[str, Any], wide: dict[str, Any], n: int) -> dict[str, float]:
    """From a run one row at a time and one of up to n rows: the step times,
    and the tokens/s ratio the wide run would have if every row-step it took
    ran in full n-row steps at their measured time (no drain), and that
    without either run's prefill as well."""
    full = wide["time"]["by_width"].get(str(n))
    lone = one["time"]["by_width"].get("1")
    if not full or not lone:
        raise BenchError(f"need steps of 1 row and of {n} rows (the batched run had no full-width step: "
                         "give it more requests)")
    step_1, step_n = lone["seconds"] / lone["steps"], full["seconds"] / full["steps"]
    decode = wide["time"]["row_steps"] / n * step_n + other_seconds(wide)
    at_full_width = wide["time"]["prefill"]["seconds"] + decode
    rate_1 = one["tokens"] / one["wall_s"]
    return {"step_1_s": step_1, "step_n_s": step_n, "steady_step_ratio": n * step_1 / step_n,
            "wall_at_full_width_s": at_full_width,
            "ratio_at_full_width": wide["tokens"] / at_full_width / rate_1,
            "ratio_without_prefill": wide["tokens"] / decode
            / (one["tokens"] / (one["wall_s"] - one["time"]["prefill"]["seconds"]))}


def describe(bound: dict[str, float], n: int) -> str:
    """The ceilings in a sentence, for the benchmarks' printed reports."""
    return (f"one {n}-row step {bound['step_n_s'] * 1000:.0f} ms against one row's {bound['step_1_s'] * 1000:.0f} ms "
            f"({bound['steady_step_ratio']:.2f}x the tokens/s at full width); with every step at full width "
            f"{bound['ratio_at_full_width']:.2f}x one row at a time, and without the prefill either "
            f"{bound['ratio_without_prefill']:.2f}x")
