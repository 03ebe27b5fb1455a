"""Counting host synchronisations: every device-to-host read in the decode loop
goes through one SyncCounter, so benchmarks and tests can check the budget of
at most engine.syncs_per_step() per generated token (one on the GPU)."""

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
    prefill_: int | None = None  # the count when the prompt's prefill ended, where the loop says

    def mark_prefill(self) -> None:
        """The prompt's prefill ends here: later syncs are the decode's."""
        self.prefill_ = self.count_

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


# Every way Python code reads an MLX array to the host: the array's own
# conversions, and numpy's constructors (which take the buffer directly, so
# patching the array's __array__ alone would miss them).
ARRAY_READS = ("item", "tolist", "__array__", "__bool__", "__float__", "__int__", "__index__")
NUMPY_READS = ("array", "asarray")


@contextmanager
def observed_syncs(counter: SyncCounter) -> Iterator[None]:
    """Count the host synchronisations of any code, with or without a
    SyncCounter of its own (mlx-lm's generator; our engine, checked from
    outside), by watching every blocking call: `mx.eval`, the array's reads
    (ARRAY_READS) and numpy's conversions of MLX arrays. Reading an array that
    an `mx.eval` inside the block already computed waits for nothing, so it
    does not count."""
    evaluated: dict[int, weakref.ref] = {}  # by id: arrays compare elementwise, not by identity
    real_eval = mx.eval
    real_reads = {name: getattr(mx.array, name) for name in ARRAY_READS}
    real_numpy = {name: getattr(np, name) for name in NUMPY_READS}

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

    def note_read(x: Any) -> None:
        if isinstance(x, mx.array):
            known = evaluated.get(id(x))
            if known is None or known() is not x:
                counter.count()

    def reading(real: Callable[..., Any]) -> Callable[..., Any]:
        def read(x: Any, *args: Any, **kwargs: Any) -> Any:
            note_read(x)
            return real(x, *args, **kwargs)
        return read

    mx.eval = eval_
    for name, real in real_reads.items():
        setattr(mx.array, name, reading(real))
    for name, real in real_numpy.items():
        setattr(np, name, reading(real))
    try:
        yield
    finally:
        mx.eval = real_eval
        for name, real in real_reads.items():
            setattr(mx.array, name, real)
        for name, real in real_numpy.items():
            setattr(np, name, real)
