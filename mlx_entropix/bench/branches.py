"""Cost of a branch point: N continuations rolled forward as one batch (the
branching module's roll_forward), against one sequence, from the same
position and prompt cache.

The N first tokens are the N most likely ones at that position. A rollout may
stop early once every branch has ended, so costs are compared per step.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from dataclasses import dataclass

import mlx.core as mx

from ..branching import Rollout, fork_cache, roll_forward
from ..engine import Engine, GenerationOptions
from ..load import LoadedModel
from ..sampler.fitted import resolve_preset


@dataclass
class BranchCost:
    n: int  # 1 = one sequence
    seconds_per_step: list[float]

    def to_dict(self, single: "BranchCost") -> dict:
        median = statistics.median(self.seconds_per_step)
        return {"n": self.n, "median_s": median, "min_s": min(self.seconds_per_step),
                "max_s": max(self.seconds_per_step), "seconds_per_step": self.seconds_per_step,
                "cost_vs_one_sequence": median / statistics.median(single.seconds_per_step)}


def branch_costs(lm: LoadedModel, prompt: list[int], ns: list[int], steps: int, reps: int,
                 warmup: int) -> dict:
    """Seconds per rollout step for one sequence and for each N in `ns`."""
    cfg = dataclasses.replace(resolve_preset("entropix", lm), branch_max_tokens=steps)
    engine = Engine(lm, cfg, GenerationOptions(metrics="all"))
    cache = lm.model.make_cache()
    engine.prefill(prompt, cache)
    key = mx.random.key(0)
    step = engine.forward(mx.array([[prompt[-1]]], dtype=mx.int32), cache, key, think_allowed=False)
    ranked = mx.argsort(-step.logits[0])[: max(ns, default=1)].astype(mx.float32)

    def candidates(n: int) -> mx.array:
        """What draw_candidates gives a rollout: ids, valid flags, logprobs."""
        return mx.stack([ranked[:n], mx.ones((n,)), mx.zeros((n,))])

    def next_key() -> mx.array:
        nonlocal key
        key, sub = mx.random.split(key)
        return sub

    def per_step(n: int) -> float:
        start = time.perf_counter()
        rollout = Rollout(engine, candidates(n), None, 0, steps)
        roll_forward(rollout, fork_cache(cache, n), next_key)
        return (time.perf_counter() - start) / rollout.done

    def timed(n: int) -> BranchCost:
        for _ in range(warmup):
            per_step(n)
        return BranchCost(n, [per_step(n) for _ in range(reps)])

    single = timed(1)
    return {"context": len(prompt), "steps": steps,
            "rows": [c.to_dict(single) for c in [single, *map(timed, ns)]]}
