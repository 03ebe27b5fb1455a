"""Splitting an evaluation over the processes started by `mlx.launch`.

Rank r evaluates the items whose index i has i % size == r. Results travel to
rank 0 over MLX's own collectives (not a shared disk), so the same code works
for two processes on one machine and for a ring of machines.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import EvalError


@dataclass
class Group:
    """This process's place in the run; a single process is rank 0 of 1."""

    rank: int = 0
    size: int = 1
    handle: Any = None

    def owns(self, index: int) -> bool:
        return index % self.size == self.rank

    def barrier(self) -> None:
        """Return only once every rank has called it."""
        if self.size > 1:
            import mlx.core as mx

            mx.eval(mx.distributed.all_sum(mx.array([1]), group=self.handle, stream=mx.cpu))

    def gather_text(self, text: str) -> list[str]:
        """Every rank's `text`, in rank order, on every rank."""
        if self.size == 1:
            return [text]
        import mlx.core as mx

        data = text.encode("utf-8")
        lengths = mx.distributed.all_gather(
            mx.array([len(data)], dtype=mx.int64), group=self.handle, stream=mx.cpu
        )
        width = max(1, int(mx.max(lengths).item()))
        padded = np.zeros(width, dtype=np.uint8)
        padded[: len(data)] = np.frombuffer(data, dtype=np.uint8)
        gathered = mx.distributed.all_gather(mx.array(padded), group=self.handle, stream=mx.cpu)
        rows = np.array(gathered).reshape(self.size, width)
        return [rows[r, : int(n)].tobytes().decode("utf-8") for r, n in enumerate(np.array(lengths).tolist())]


def init_distributed() -> Group:
    """Join the ring that `mlx.launch --backend ring` set up for this process."""
    import mlx.core as mx

    try:
        handle = mx.distributed.init(backend="ring", strict=True)
    except RuntimeError as e:
        raise EvalError(
            "--distributed needs to run under mlx.launch, e.g. "
            "`uv run mlx.launch --backend ring -n 2 -- python mlx_main.py eval --distributed ...` "
            f"({e})"
        ) from None
    return Group(rank=handle.rank(), size=handle.size(), handle=handle)
