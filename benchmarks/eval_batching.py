"""Benchmark: `uv run benchmarks/eval_batching.py --help` (logic in mlx_entropix/bench/eval_batching.py)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mlx_entropix.bench.eval_batching import cli  # noqa: E402

if __name__ == "__main__":
    cli()
