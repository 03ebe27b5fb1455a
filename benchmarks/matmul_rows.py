"""Milliseconds of an MLX product `rows @ W.T` (a Linear layer) for 1, 8 and 64
rows, with the split matmul in front of OpenBLAS (blas_split.c: "on"), the split
without its kernel ("nokernel") and OpenBLAS alone ("off"), each setting in a
process of its own (the BLAS is chosen at import). The 0.5B model's shapes:
MLP in, MLP out and the vocabulary projection. Each product uses the next of
enough weight copies that none is still in the caches, as in a forward pass.

    uv run benchmarks/matmul_rows.py
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = ("on", "nokernel", "off")
SHAPES = ((896, 4864), (4864, 896), (896, 151936))  # (in, out)
ROWS = (1, 8, 64)
COPIES_BYTES = 256 << 20  # weight copies per shape: larger than any cache

CHILD = """
import json, statistics, sys, time
sys.path.insert(0, sys.argv[1])
import mlx_entropix
from mlx_entropix import blas
import mlx.core as mx
rows, shapes, reps, copies_bytes = json.loads(sys.argv[2])
out = {"blas": blas.info().describe(), "ms": {}}
for k, n in shapes:
    copies = max(2, copies_bytes // (4 * k * n))
    ws = [mx.random.normal((n, k)) for _ in range(copies)]
    mx.eval(ws)
    for m in rows:
        x = mx.random.normal((m, k))
        times = []
        for i in range(reps * copies):
            blas.use_threads()  # as before each forward pass: a first look that misjudged is corrected
            start = time.perf_counter()
            mx.eval(x @ ws[i % copies].T)
            times.append(time.perf_counter() - start)
        out["ms"][f"{m}x{k}x{n}"] = 1000 * statistics.median(times)
print(json.dumps(out))
"""


def measure(setting: str, reps: int) -> dict:
    env = {**os.environ, "MLX_ENTROPIX_BLAS_SPLIT": setting}
    spec = json.dumps([list(ROWS), [list(s) for s in SHAPES], reps, COPIES_BYTES])
    done = subprocess.run([sys.executable, "-c", CHILD, str(ROOT), spec], env=env, capture_output=True,
                          text=True, check=True)
    return json.loads(done.stdout)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=3, help="passes over the weight copies (median of all)")
    p.add_argument("--out", type=Path, help="write the JSON here")
    args = p.parse_args()
    results = {s: measure(s, args.reps) for s in SETTINGS}
    for s in SETTINGS:
        print(f"{s:8} {results[s]['blas']}")
    keys = list(results["off"]["ms"])
    print(f"\n{'rows x in x out':>20} " + " ".join(f"{s:>9}" for s in SETTINGS) + "   off/on")
    for key in keys:
        ms = [results[s]["ms"][key] for s in SETTINGS]
        print(f"{key:>20} " + " ".join(f"{v:9.2f}" for v in ms) + f"   {ms[2] / ms[0]:5.2f}x")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"load_average": os.getloadavg(), **results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
