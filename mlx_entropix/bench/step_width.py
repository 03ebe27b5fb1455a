"""`uv run benchmarks/step_width.py`: seconds per batched decode step at several
widths (rows), and what that says about a branch point inside a batch.

A branch point's N rollouts can run two ways (issue: "choose by
measurement"): the row leaves the batch and its rollouts step as an N-row
batch of their own while the other B - 1 rows wait (what batch.py still
does with sliding windows), or the rollouts join the shared steps as N extra
rows (what it does otherwise, chosen by this measurement). Per rollout step, the
first costs the batch t(N) of wall time, the second t(B - 1 + N) - t(B - 1).
Both are read off one table of step times, measured here with the real
BatchGenerator (every metric, the entropix decision, one sync per step) on
rows of one prose prompt (prefilled once: the prompt cache), interleaved over rounds.
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..batch import BatchGenerator, BatchRequest
from ..load import LoadedModel, load
from ..requests import GenerationOptions
from ..sampler import get_preset
from .report import machine, save_json
from .variants import synthetic_prompt

# The entropix decision without events that would change the batch's rows.
STEADY = {"branching": False, "max_think_insertions": 0}


def step_seconds(lm: LoadedModel, width: int, context: int, steps: int, warmup: int = 2) -> list[float]:
    """Seconds of each of `steps` decode steps of `width` rows at `context` tokens."""
    prompt = synthetic_prompt(lm, context)  # prose: random ids can end a row at once
    gen = BatchGenerator(lm, max_batch=width)
    cfg = get_preset("entropix").with_overrides(STEADY)
    for seed in range(width):
        gen.insert(BatchRequest(prompt, cfg, GenerationOptions(max_tokens=4 * (warmup + steps), seed=seed)))
    gen.step()  # prefill and the first step
    for _ in range(warmup):
        gen.step()
    times = []
    while len(times) < steps:
        if gen.running < width:
            raise RuntimeError(f"a row ended (end of sequence) before {steps} steps of {width} rows")
        start = time.perf_counter()
        gen.step()
        times.append(time.perf_counter() - start)
    return times


def branch_choice(median_s: dict[int, float], batch: int, branches: int) -> dict[str, float]:
    """Wall seconds per rollout step of a branch point with `branches` rollouts
    in a batch of `batch` rows, both ways."""
    others = batch - 1
    wait = median_s[branches]
    extra = median_s[others + branches] - median_s[others]
    return {"batch": batch, "branches": branches, "wait_s": wait, "extra_rows_s": extra,
            "wait_over_extra_rows": wait / extra if extra > 0 else float("inf")}


def measure(lm: LoadedModel, widths: list[int], context: int, steps: int, rounds: int) -> dict:
    samples: dict[int, list[float]] = {w: [] for w in widths}
    for _ in range(rounds):
        for w in widths:
            samples[w] += step_seconds(lm, w, context, steps)
    median = {w: statistics.median(v) for w, v in samples.items()}
    return {"seconds_per_step": samples, "median_s": median,
            "tokens_per_s": {w: w / s for w, s in median.items()}}


def main(
    model: Annotated[Optional[str], typer.Option(help="Model path or GGUF; default: the embedded SmolLM2-135M.")] = None,
    batch: Annotated[int, typer.Option(help="Rows of the batch a branch point happens in.")] = 8,
    branches: Annotated[int, typer.Option(help="Rollouts of the branch point (the preset's n_branches is 4).")] = 4,
    context: Annotated[int, typer.Option(help="Tokens in each row's cache.")] = 200,
    steps: Annotated[int, typer.Option(help="Timed steps per width and round.")] = 8,
    rounds: Annotated[int, typer.Option(help="Interleaved rounds.")] = 2,
    out: Annotated[Optional[Path], typer.Option(help="Write the JSON report here.")] = None,
) -> None:
    if batch < 2 or branches < 1 or context < 2 or steps < 1 or rounds < 1:
        raise typer.BadParameter("need --batch >= 2, --branches >= 1, --context >= 2, --steps and --rounds >= 1")
    lm = load(model)
    widths = sorted({1, branches, batch - 1, batch, batch - 1 + branches})
    result = measure(lm, widths, context, steps, rounds)
    choice = branch_choice(result["median_s"], batch, branches)
    report = {"model": lm.name, "context": context, "steps": steps, "rounds": rounds, "machine": machine(lm),
              "load_average": os.getloadavg(), **result, "branch_point": choice}
    for w in widths:
        print(f"{w:3d} rows: {result['median_s'][w] * 1000:7.1f} ms/step, {result['tokens_per_s'][w]:6.1f} tokens/s")
    print(f"branch point, {branches} rollouts in a batch of {batch}: the others wait "
          f"{choice['wait_s'] * 1000:.1f} ms per rollout step; as extra rows it costs "
          f"{choice['extra_rows_s'] * 1000:.1f} ms ({choice['wait_over_extra_rows']:.2f}x less)")
    save_json(out, report)


def cli() -> None:
    typer.run(main)
