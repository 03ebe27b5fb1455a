"""`uv run benchmarks/batching.py`: throughput of run_many at several batch
sizes against the same requests run one by one (runner.run, the pipelined lone
loop), interleaved in one process so a busy machine weighs on all alike.

Every configuration answers the same requests; the greedy (and seeded) tokens
must be identical across them, and the benchmark says so or fails.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..load import load
from ..prompts import BUILTIN_PROMPTS, DEFAULT_CSV, load_prompt_csv
from ..requests import GenerationOptions, RunRequest
from ..runner import run, run_many
from ..trace import Trace
from .report import machine, save_json


def bench_messages(n: int) -> list[list[dict[str, str]]]:
    """n chat prompts: the built-in ones, then data/prompts.csv, cycled if n is larger."""
    prompts = list(BUILTIN_PROMPTS) + (load_prompt_csv(DEFAULT_CSV) if DEFAULT_CSV.is_file() else [])
    return [prompts[i % len(prompts)].messages() for i in range(n)]


def make_requests(lm, n: int, method: str, max_tokens: int, seed: int) -> list[RunRequest]:
    return [RunRequest(messages=m, method=method,
                       options=GenerationOptions(max_tokens=max_tokens, seed=seed + i))
            for i, m in enumerate(bench_messages(n))]


def timed(fn) -> tuple[list[Trace], float]:
    start = time.perf_counter()
    traces = fn()
    return traces, time.perf_counter() - start


def measure(lm, reqs: list[RunRequest], batches: list[int], rounds: int) -> dict:
    """Tokens/s of each configuration per round; 'alone' is runner.run one by one."""
    configs = {"alone": lambda: [run(lm, r) for r in reqs]}
    configs |= {f"batch {b}": (lambda b=b: run_many(lm, reqs, max_batch=b)) for b in batches}
    rates: dict[str, list[float]] = {name: [] for name in configs}
    answers: dict[str, list[list[int]]] = {}
    run_many(lm, reqs[:2], max_batch=2)  # warm-up: compile the step graphs
    for _ in range(rounds):
        for name, fn in configs.items():
            traces, seconds = timed(fn)
            rates[name].append(sum(len(t.tokens) for t in traces) / seconds)
            answers[name] = [[tok.id for tok in t.tokens] for t in traces]
    same = all(a == answers["alone"] for a in answers.values())
    median = {name: statistics.median(v) for name, v in rates.items()}
    return {"tokens_per_s": rates, "median_tokens_per_s": median,
            "ratio_to_alone": {k: v / median["alone"] for k, v in median.items()},
            "ratio_to_batch_1": ({k: v / median["batch 1"] for k, v in median.items()}
                                 if "batch 1" in median else None),
            "same_tokens": same, "tokens": sum(len(a) for a in answers["alone"])}


def main(
    model: Annotated[Optional[str], typer.Option(help="Model path or GGUF; default: the embedded SmolLM2-135M.")] = None,
    n: Annotated[int, typer.Option(help="Requests per configuration.")] = 8,
    batches: Annotated[str, typer.Option(help="Comma-separated max_batch values.")] = "1,8",
    method: Annotated[str, typer.Option(help="greedy or entropix (seeded).")] = "greedy",
    max_tokens: Annotated[int, typer.Option(help="New tokens per request.")] = 64,
    rounds: Annotated[int, typer.Option(help="Interleaved rounds; medians are reported.")] = 2,
    seed: int = 0,
    out: Annotated[Optional[Path], typer.Option(help="Write the JSON report here.")] = None,
) -> None:
    lm = load(model)
    reqs = make_requests(lm, n, method, max_tokens, seed)
    result = measure(lm, reqs, [int(b) for b in batches.split(",")], rounds)
    report = {"model": lm.name, "n": n, "method": method, "max_tokens": max_tokens, "rounds": rounds,
              "machine": machine(lm), "load_average": os.getloadavg(), **result}
    print(json.dumps(report, indent=2))
    save_json(out, report)
    if not result["same_tokens"]:
        raise SystemExit("batched tokens differ from the lone runs' (see answers above)")


def cli() -> None:
    typer.run(main)
