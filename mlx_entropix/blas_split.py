"""Build and put in front of OpenBLAS the split matmul (blas_split.c).

OpenBLAS handles a product with few rows badly: 8 rows times a 896 x 4864
weight took 2.7 ms on its two threads on a 2-core Zen 2, no faster than on
one, and one row 1.6 ms. Decode steps are such products, so this decided
both the single-row speed and the batch's scaling. The C file gives MLX a
`cblas_sgemm`/`cblas_sgemv` that splits each product's output between
threads; a product of up to 64 rows by a transposed weight matrix (every
Linear layer) runs a kernel of our own (AVX2 and FMA: 0.54 ms for one row,
0.95 ms for 8 there at first, 0.87-0.94 ms once 5-8 rows took one pass of
their own), anything else OpenBLAS's own routine on one thread.

It is compiled once per source and compiler into the user cache with the C
compiler found (CC, else cc or gcc); with none, or where it fails, the
library's own threading serves as before and the reason is said once on
stderr and in the BLAS's description. MLX_ENTROPIX_BLAS_SPLIT=off turns it
off and =nokernel keeps the split but sends every product to OpenBLAS (to
compare).
"""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

from . import cbuild

ENV = "MLX_ENTROPIX_BLAS_SPLIT"
SOURCE = Path(__file__).with_name("blas_split.c")


class SplitError(RuntimeError):
    """The split matmul cannot be used; the message says why."""


def setting() -> str:
    """MLX_ENTROPIX_BLAS_SPLIT: "on" (the default), "nokernel" or "off"."""
    value = os.environ.get(ENV, "on").strip().lower() or "on"
    if value not in ("on", "nokernel", "off"):
        raise SplitError(f"{ENV}={value!r} is not one of on, nokernel, off")
    return value


def build(folder: Path) -> Path:
    """The compiled shim in `folder`, built once per source and compiler
    (atomically: a failed build leaves nothing behind). Raises SplitError."""
    try:
        return cbuild.build(SOURCE, "libmlxe-split", folder, "the split matmul", ("-lpthread", "-ldl"))
    except cbuild.BuildError as e:
        raise SplitError(str(e)) from None


def attach(shim: Path, real: Path) -> ctypes.CDLL:
    """Bind `shim` to the (already run-checked) library `real`, then put it in
    the global symbol scope, where `real` is to follow it: MLX finds the
    shim's cblas_sgemm/cblas_sgemv first and the real library's other symbols
    as before. An unbound shim never enters the global scope (its routines
    would have nothing to call). Call before MLX is imported. Raises SplitError."""
    try:
        lib = ctypes.CDLL(str(shim))
        if lib.mlxe_split_bind(str(real).encode()) != 0:
            raise SplitError(f"{real.name} lacks cblas_sgemm, cblas_sgemv or openblas_set_num_threads")
        ctypes.CDLL(str(shim), mode=ctypes.RTLD_GLOBAL)  # the same library, now global
    except OSError as e:
        raise SplitError(f"cannot load {shim}: {str(e).splitlines()[0]}") from None
    lib.mlxe_split_calls.restype = ctypes.c_long
    lib.mlxe_split_kernel_calls.restype = ctypes.c_long
    return lib
