"""Milliseconds of the logit statistics (metrics.logit_statistics: max, log Z,
entropy, varentropy and the log-probabilities) on the host (vocab_stats.c)
and in MLX's graph, for 1 and 8 rows of a 152k vocabulary (Qwen2.5's), and
how far each is from a float64 reference, on random model-like logits.

    uv run benchmarks/logit_stats.py
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import mlx_entropix  # noqa: E402,F401  (before mlx: the optimised BLAS)
import mlx.core as mx  # noqa: E402
import numpy as np  # noqa: E402

from mlx_entropix import vocab_stats  # noqa: E402
from mlx_entropix.metrics import _device_statistics, logit_statistics  # noqa: E402

VOCAB = 151_936


def milliseconds(f, x: mx.array, reps: int) -> float:
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        mx.eval(f(x))
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def entropy_error(f, x: np.ndarray) -> float:
    """Largest |entropy - float64's| over the rows, in nats."""
    d = x.astype(np.float64)
    p = np.exp(d - d.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    want = -(p * np.log(np.where(p > 0, p, 1.0))).sum(-1)
    return float(np.abs(np.array(f(mx.array(x))[1]) - want).max())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=30, help="timed calls per case (median)")
    args = p.parse_args()
    if vocab_stats.library() is None:
        raise SystemExit("logit_stats: the host statistics do not serve here (not x86 with AVX2, no C compiler, "
                         f"or {vocab_stats.ENV}=mlx); only MLX's graph would run")
    print(f"{'rows':>4} {'host ms':>8} {'graph ms':>9} {'graph/host':>10} {'host H err':>11} {'graph H err':>12}")
    for rows in (1, 8):
        x = (np.random.default_rng(rows).standard_normal((rows, VOCAB)) * 3).astype(np.float32)
        logits = mx.array(x)
        host, graph = milliseconds(logit_statistics, logits, args.reps), milliseconds(_device_statistics, logits, args.reps)
        print(f"{rows:>4} {host:8.2f} {graph:9.2f} {graph / host:9.1f}x "
              f"{entropy_error(logit_statistics, x):11.1e} {entropy_error(_device_statistics, x):12.1e}")


if __name__ == "__main__":
    main()
