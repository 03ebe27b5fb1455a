"""The fast path for Linux CPUs, behind one switch: MLX_ENTROPIX_DEQUANTIZE=1.

The mlx[cpu] wheel calls cblas_sgemm from a reference BLAS. Dense float32
weights (the checkpoint dequantized at load, see load.dequantize_enabled) run
~10x faster prompt processing once an optimised BLAS provides that symbol, and
a library can only be put in front of the wheel's before the process starts.
So the entry points call `use_openblas()` first: with the switch on, on Linux,
it restarts the process once with Debian's OpenBLAS in LD_PRELOAD.
"""

from __future__ import annotations

import ctypes.util
import os
import sys

from .load import dequantize_enabled


def use_openblas() -> None:
    """Re-exec this process with OpenBLAS preloaded when the fast path is on."""
    if sys.platform != "linux" or not dequantize_enabled():
        return
    if "openblas" in os.environ.get("LD_PRELOAD", ""):
        return
    lib = ctypes.util.find_library("openblas")
    if lib is None:
        print("warning: MLX_ENTROPIX_DEQUANTIZE=1 without OpenBLAS runs slower, not faster; "
              "install it (apt-get install libopenblas0-pthread)", file=sys.stderr)
        return
    preload = " ".join(filter(None, [os.environ.get("LD_PRELOAD"), lib]))
    os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, "LD_PRELOAD": preload})
