"""Benchmark: `uv run benchmarks/bench.py --help` (logic in mlx_entropix/bench)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mlx_entropix.bench.cli import main  # noqa: E402

if __name__ == "__main__":
    main()
