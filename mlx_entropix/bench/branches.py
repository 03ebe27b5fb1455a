"""Cost of a branch point: N continuations rolled forward as one batch, against
one sequence of the same length, from the same position and cache.

The branch position's sampling parameters are replaced by an unfiltered
distribution (temperature 1, no top-p/top-k/min-p) so that every one of the N
candidates survives and the batch really has N rows.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from dataclasses import dataclass

import mlx.core as mx

from ..branching import fork_cache, run_branches
from ..generate import _HEAD, Engine, GenerationOptions
from ..load import LoadedModel
from ..sampler import get_preset
from .measure import BenchError

UNFILTERED = {"temperature": 1.0, "top_p": 1.0, "top_k": 0.0, "min_p": 0.0}


@dataclass
class BranchCost:
    n: int  # 1 = one sequence
    seconds: list[float]

    def to_dict(self, single: "BranchCost") -> dict:
        median = statistics.median(self.seconds)
        return {"n": self.n, "median_s": median, "min_s": min(self.seconds),
                "max_s": max(self.seconds), "seconds": self.seconds,
                "cost_vs_one_sequence": median / statistics.median(single.seconds)}


def branch_costs(lm: LoadedModel, prompt: list[int], ns: list[int], steps: int, reps: int,
                 warmup: int) -> dict:
    """Seconds for one sequence and for each N in `ns`, `steps` tokens each."""
    def make_engine(n: int) -> Engine:
        cfg = dataclasses.replace(get_preset("entropix"), n_branches=max(n, 2), branch_max_tokens=steps)
        return Engine(lm, cfg, GenerationOptions(metrics="all"))

    engine = make_engine(1)
    cache = lm.model.make_cache()
    engine.prefill(prompt, cache)
    key = mx.random.key(0)
    step = engine.forward(mx.array([[prompt[-1]]], dtype=mx.int32), cache, key, think_allowed=False)
    row = engine.syncs.to_host(step.packed)[0].copy()
    for name, value in UNFILTERED.items():
        row[_HEAD.index(name)] = value

    def next_key() -> mx.array:
        nonlocal key
        key, sub = mx.random.split(key)
        return sub

    def one_sequence() -> None:
        forked, tokens, packed = fork_cache(cache, 1), step.token[:, None], []
        for _ in range(steps):
            s = engine.forward(tokens, forked, next_key(), think_allowed=False)
            packed.append(s.packed)
            tokens = s.token[:, None]
        engine.syncs.to_host(mx.stack(packed, axis=1))

    def branches(n: int) -> None:
        if run_branches(engines[n], cache, step.logits, row, 0, steps, next_key) is None:
            raise BenchError(f"the branch point gave fewer than 2 candidates for N={n}")

    def timed(run) -> list[float]:
        for _ in range(warmup):
            run()
        seconds = []
        for _ in range(reps):
            start = time.perf_counter()
            run()
            seconds.append(time.perf_counter() - start)
        return seconds

    engines = {n: make_engine(n) for n in ns}
    single = BranchCost(1, timed(one_sequence))
    costs = [BranchCost(n, timed(lambda n=n: branches(n))) for n in ns]
    return {"context": len(prompt), "steps": steps,
            "rows": [c.to_dict(single) for c in [single, *costs]]}
