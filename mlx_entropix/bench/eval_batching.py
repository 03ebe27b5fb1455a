"""`uv run benchmarks/eval_batching.py`: the eval's throughput at --batch N
against --batch 1 on the same items, both in one process (the model loaded
once, a short warm-up first), and where each run's time went.

A run's wall time splits into the prompt prefill, the decode steps by width
(batch_time.py) and the rest (the eval's own host work). From the two runs it
also works out two ceilings that say what limits the ratio: every row-step of
the batched run in full-width steps at their measured time (no drain at the
end), and that without the prefill as well (the decode steps alone). A CPU's
prefill is compute-bound and costs the same seconds at any batch size, so it
narrows the ratio however wide the steps are. The runs' results must be
identical apart from time fields; the benchmark says so or fails.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from ..eval.cli import BUILTIN_DATASET, run_settings, select_items
from ..eval.dataset import load_dataset, select_split
from ..eval.distributed import Group
from ..eval.errors import EvalError
from ..eval.model import ModelDecoder, prepared
from ..eval.multitrace import resolve_eval_methods
from ..eval.runner import run_eval
from ..load import LoadedModel, load
from ..methods import MethodError
from .batch_ceilings import ceilings, describe, other_seconds
from .measure import BenchError
from .report import machine, save_json


def _timeless(x: Any) -> Any:
    """A results record without its time fields (time_s)."""
    if isinstance(x, dict):
        return {k: _timeless(v) for k, v in x.items() if k != "time_s"}
    if isinstance(x, list):
        return [_timeless(v) for v in x]
    return x


def run_once(lm: LoadedModel, items, specs, settings, batch: int) -> dict[str, Any]:
    """One eval run at this batch size: its wall time, its results and its decoder's account."""
    decoder = ModelDecoder(lm, batch)
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        run_eval(items, settings, specs, decoder, Path(out), show_progress=False, save_traces=False)
        wall = time.perf_counter() - start
        results = [json.loads(line) for line in (Path(out) / "results.jsonl").read_text().splitlines()]
    run = {"batch": batch, "wall_s": wall, "time": decoder.batching(),
           "tokens": sum(t["tokens"] for r in results for t in r["traces"]), "results": _timeless(results)}
    return run | {"other_s": other_seconds(run)}


def main(
    model: Annotated[Optional[str], typer.Option(help="Model path or GGUF; default: the embedded SmolLM2-135M.")] = None,
    dataset: Annotated[Path, typer.Option(help="The eval's JSONL data set.")] = BUILTIN_DATASET,
    split: Annotated[str, typer.Option(help="dev, test or all.")] = "dev",
    n: Annotated[int, typer.Option(help="Items.")] = 8,
    methods: Annotated[str, typer.Option(help="The eval's --methods.")] = "greedy,self_consistency@k=3",
    max_tokens: Annotated[int, typer.Option(help="Token budget per answer.")] = 64,
    batch: Annotated[int, typer.Option(help="The batched run's --batch (against --batch 1).")] = 8,
    seed: int = 0,
    out: Annotated[Optional[Path], typer.Option(help="Write the JSON report here.")] = None,
) -> None:
    if batch < 2:
        raise typer.BadParameter("--batch must be at least 2 (it runs against --batch 1)")
    try:
        items = select_items(select_split(load_dataset(dataset), split, dataset), n, dataset)
        specs = resolve_eval_methods(methods)
    except (EvalError, MethodError) as e:
        raise SystemExit(f"eval_batching: {e}") from None
    lm = load(model)
    specs = prepared(lm, specs)
    settings = run_settings(dataset, specs, items, seed, max_tokens, model, Group(), split, False)
    warm = run_settings(dataset, specs, items[:1], seed, 2, model, Group(), split, False)
    run_once(lm, items[:1], specs, warm, batch)  # compiles the step graphs
    runs = [run_once(lm, items, specs, settings, b) for b in (batch, 1)]
    wide, one = runs
    if wide["results"] != one["results"]:
        raise SystemExit(f"eval_batching: --batch {batch} and --batch 1 gave different results")
    try:
        bound = ceilings(one, wide, batch)
    except BenchError:  # the batched run never filled its rows
        bound = None
    report = {"model": lm.name, "dataset": str(dataset), "split": split, "n": n, "methods": methods,
              "max_tokens": max_tokens, "seed": seed, "machine": machine(lm), "load_average": os.getloadavg(),
              "runs": [{k: v for k, v in r.items() if k != "results"} for r in runs],
              "same_results": True, "ratio": one["wall_s"] / wide["wall_s"], "ceilings": bound}
    for r in runs:
        t = r["time"]
        widths = ", ".join(f"{s['steps']} of {w} rows" for w, s in sorted(t["by_width"].items(), key=lambda x: -int(x[0])))
        print(f"--batch {r['batch']}: {r['wall_s']:.1f} s, {r['tokens']} tokens ({r['tokens'] / r['wall_s']:.2f}/s); "
              f"prefill {t['prefill']['seconds']:.1f} s ({t['prefill']['passes']} passes, {t['prefill']['tokens']} "
              f"tokens), steps {t['step_seconds']:.1f} s ({widths}; mean {t['mean_rows']:.2f} rows), "
              f"other {r['other_s']:.1f} s")
    print(f"--batch {batch} / --batch 1: {report['ratio']:.2f}x (same results: yes)")
    print(f"ceilings: {describe(bound, batch)}" if bound else
          f"ceilings: none (the batched run never ran {batch} rows at once: give it more items, --n)")
    save_json(out, report)


def cli() -> None:
    typer.run(main)
