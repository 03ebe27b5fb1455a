"""Counting host synchronisations: every device-to-host read in the decode loop
goes through one SyncCounter, so benchmarks and tests can check the budget of
at most one per generated token."""

from __future__ import annotations

from dataclasses import dataclass

import mlx.core as mx
import numpy as np


@dataclass
class SyncCounter:
    count_: int = 0

    def count(self) -> None:
        """Record a synchronisation made elsewhere (e.g. mx.eval of the cache)."""
        self.count_ += 1

    def to_host(self, x: mx.array) -> np.ndarray:
        """Read an array to the host: waits for the device, so it counts."""
        self.count_ += 1
        return np.array(x, copy=False)

    def to_host_many(self, *arrays: mx.array) -> list[np.ndarray]:
        """Read several arrays with one wait: one synchronisation."""
        self.count_ += 1
        mx.eval(*arrays)
        return [np.array(a, copy=False) for a in arrays]

    @property
    def total(self) -> int:
        return self.count_
