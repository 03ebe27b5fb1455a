"""Counting host synchronisations: every device-to-host read in the decode loop
goes through one SyncCounter, so benchmarks and tests can check the budget of
at most one per generated token."""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

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


@contextmanager
def observed_syncs(counter: SyncCounter) -> Iterator[None]:
    """Count the synchronisations of code that has no SyncCounter (mlx-lm's
    generator) by watching its blocking calls: `mx.eval`, `array.item` and
    `array.tolist`. Reading an array that an `mx.eval` inside the block
    already computed waits for nothing, so it does not count."""
    evaluated: dict[int, weakref.ref] = {}  # by id: arrays compare elementwise, not by identity
    real_eval, real_item, real_tolist = mx.eval, mx.array.item, mx.array.tolist

    def flat(args: tuple[Any, ...]) -> Iterator[mx.array]:
        for a in args:
            if isinstance(a, mx.array):
                yield a
            elif isinstance(a, (list, tuple)):
                yield from flat(tuple(a))

    def eval_(*args: Any) -> None:
        counter.count()
        evaluated.update((id(a), weakref.ref(a)) for a in flat(args))
        real_eval(*args)

    def reading(real: Callable[[mx.array], Any]) -> Callable[[mx.array], Any]:
        def read(self: mx.array) -> Any:
            known = evaluated.get(id(self))
            if known is None or known() is not self:
                counter.count()
            return real(self)
        return read

    mx.eval, mx.array.item, mx.array.tolist = eval_, reading(real_item), reading(real_tolist)
    try:
        yield
    finally:
        mx.eval, mx.array.item, mx.array.tolist = real_eval, real_item, real_tolist
