"""BLAS threads on the cores other processes leave free (blas.use_threads) against OpenBLAS's
fixed count and against one thread for every step, interleaved in one process on the embedded model:
greedy with every metric, prompt and decode tokens/s, medians of the rounds. The threads are the split
matmul's where it is in use (blas_split.py), else OpenBLAS's own (MLX_ENTROPIX_BLAS_SPLIT=off).

    uv run benchmarks/blas_threads.py --rounds 2

Run it quiet and with other processes on the cores (e.g. two
`python -c 'while True: pass'`): the fixed count collapses when a thread is
descheduled, the free-cores count should not.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mlx_entropix import blas, engine  # noqa: E402 (the package loads the BLAS before MLX)
from mlx_entropix.generate import stream_generate  # noqa: E402
from mlx_entropix.load import load  # noqa: E402
from mlx_entropix.requests import GenerationOptions  # noqa: E402
from mlx_entropix.sampler import get_preset  # noqa: E402


def set_threads(n: int) -> int:
    blas.set_threads(n)
    return n


def fixed_threads() -> int:
    """OpenBLAS's own count for every forward pass (the behaviour before use_threads)."""
    return set_threads(blas._threads.most)


def one_thread() -> int:
    """One thread for every forward pass (safe on a busy machine, slower on a quiet one)."""
    return set_threads(1)


def timed(lm, ids: list[int], max_tokens: int) -> tuple[float, float]:
    """(prompt tok/s, decode tok/s) of one greedy generation."""
    start, first, n = time.perf_counter(), None, 0
    for _ in stream_generate(lm, ids, get_preset("greedy"), GenerationOptions(max_tokens=max_tokens)):
        n += 1
        first = first or time.perf_counter()
    end = time.perf_counter()
    return len(ids) / (first - start), (n - 1) / (end - first)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--context", type=int, default=128)
    p.add_argument("--max-tokens", type=int, default=32)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    lm = load(None)
    ids = lm.tokenizer.raw_prompt_tokens("The history of the city " * args.context)[:args.context]
    modes = {"fixed": fixed_threads, "one thread": one_thread, "free cores": blas.use_threads}
    results: dict[str, list[tuple[float, float]]] = {m: [] for m in modes}
    print(f"{blas.info().describe()}; other processes' running threads now: {blas.busy_cores()}")
    timed(lm, ids, 4)  # warm-up
    for _ in range(args.rounds):
        for mode, choose in modes.items():
            engine.use_threads = choose
            results[mode].append(timed(lm, ids, args.max_tokens))
    engine.use_threads = blas.use_threads
    for mode, runs in results.items():
        print(f"{mode:10} prompt {statistics.median(r[0] for r in runs):7.1f} tok/s   "
              f"decode {statistics.median(r[1] for r in runs):6.2f} tok/s")
    print(f"other processes' running threads at the end: {blas.busy_cores()}")


if __name__ == "__main__":
    main()
