"""The logit statistics of a decode step computed on the host, in C (vocab_stats.c).

MLX's x86 CPU build computes exponentials and reductions in scalar code
(exp2.py): the statistics of 8 rows of the 0.5B's 152k vocabulary took 17 ms
of its ~190 ms decode step, 2 ms of a one-row step. AVX2 code does the same
sums in about 1 ms a row-batch. So where the logits live on the CPU (Linux,
or MLX's CPU device anywhere) and the CPU has AVX2 and FMA,
metrics.logit_statistics hands them here once they are computed: each row's
max, log Z, entropy and varentropy, from the same centred sums as its MLX
graph, in float blocks added in double. On Metal, where MLX's own graph runs
in vector code, nothing changes.

The library is built on first use into the user cache with the C compiler
found (cbuild.py). Where it cannot be built, MLX computes the statistics as
before and the reason is said once on stderr. MLX_ENTROPIX_LOGIT_STATS=mlx
chooses MLX's graph (to compare); "host" is the default.
"""

from __future__ import annotations

import ctypes
import os
import platform
import sys
from pathlib import Path

import mlx.core as mx
import numpy as np

from . import cbuild
from .blas import cache_dir

ENV = "MLX_ENTROPIX_LOGIT_STATS"
SOURCE = Path(__file__).with_name("vocab_stats.c")

_library: ctypes.CDLL | None = None
_tried = False


class SettingError(ValueError):
    """MLX_ENTROPIX_LOGIT_STATS holds something else than host or mlx."""


def setting() -> str:
    """MLX_ENTROPIX_LOGIT_STATS: "host" (the default) or "mlx"."""
    value = os.environ.get(ENV, "host").strip().lower() or "host"
    if value not in ("host", "mlx"):
        raise SettingError(f"{ENV}={value!r} is not one of host, mlx")
    return value


def _load() -> ctypes.CDLL | None:
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return None  # the C code is AVX2: nothing to build elsewhere
    try:
        lib = ctypes.CDLL(str(cbuild.build(SOURCE, "libmlxe-vocab-stats", cache_dir(), "the logit statistics")))
    except (cbuild.BuildError, OSError) as e:
        print(f"warning: logit statistics computed by MLX's slower CPU code: {e}", file=sys.stderr)
        return None
    lib.mlxe_vocab_stats.restype = ctypes.c_int
    lib.mlxe_vocab_stats.argtypes = [ctypes.c_void_p, ctypes.c_long, ctypes.c_long, ctypes.c_long,
                                     ctypes.c_void_p]
    probe = np.zeros((1, 8), np.float32)
    if lib.mlxe_vocab_stats(probe.ctypes.data, 1, 8, 8, np.empty(4, np.float32).ctypes.data) != 0:
        return None  # no AVX2 and FMA on this CPU
    return lib


def library() -> ctypes.CDLL | None:
    """The built library where it serves (built and checked on first use), else None."""
    global _library, _tried
    if setting() == "mlx":
        return None
    if not _tried:
        _library, _tried = _load(), True
    return _library


def serves() -> bool:
    """Whether the host computes the statistics here: the library serves and
    MLX computes on the CPU (then each decode step waits for its logits once
    more, engine.syncs_per_step)."""
    return library() is not None and mx.default_device() == mx.cpu


def statistics(x: mx.array) -> tuple[mx.array, mx.array, mx.array, mx.array] | None:
    """Max, log Z, entropy and varentropy along the last axis of the float32
    logits `x` (evaluated here), or None where the host does not serve
    (then MLX's graph does)."""
    if not serves() or x.size == 0:
        return None
    mx.eval(x)
    vocab = x.shape[-1]
    rows = np.asarray(x).reshape(-1, vocab)  # a view where MLX's strides allow
    if rows.strides[1] != 4 or rows.strides[0] % 4:
        rows = np.ascontiguousarray(rows)
    out = np.empty((rows.shape[0], 4), np.float32)
    library().mlxe_vocab_stats(rows.ctypes.data, rows.shape[0], vocab, rows.strides[0] // 4, out.ctypes.data)
    lead = x.shape[:-1]
    return tuple(mx.array(np.ascontiguousarray(out[:, i])).reshape(lead) for i in range(4))


def describe() -> str:
    """Where the logit statistics are computed, for the run's description (trace headers, bench reports)."""
    if setting() == "mlx":
        return f"MLX's graph ({ENV}=mlx)"
    if library() is None:
        return "MLX's graph"
    return "host C code (AVX2) where the logits are on the CPU"
