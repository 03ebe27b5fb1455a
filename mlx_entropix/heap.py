"""Keep the memory MLX frees for its next arrays (Linux with glibc).

MLX's CPU backend takes each array's memory from malloc and frees it when the
array dies. glibc gives large blocks back to the system (a block over its mmap
threshold is unmapped on free; the heap's free top is trimmed), so a decode
step that frees and remakes the same arrays faulted their pages in again every
time: 11,000 page faults per 8-row step of the 0.5B model, 213 ms a step
against 201 ms with both thresholds raised (then 0-60 faults a step). The
process keeps up to TRIM_THRESHOLD of freed memory for reuse, next to a model
of hundreds of MB or more.

MLX_ENTROPIX_HEAP=system leaves glibc's own settings (to compare).
"""

from __future__ import annotations

import ctypes
import os
import platform
import sys

ENV = "MLX_ENTROPIX_HEAP"
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's <malloc.h>
MMAP_THRESHOLD = 32 << 20  # glibc's largest (DEFAULT_MMAP_THRESHOLD_MAX on 64-bit)
TRIM_THRESHOLD = 256 << 20
_state: str | None = None  # what keep_freed did


def _apply() -> str:
    value = os.environ.get(ENV, "keep").strip().lower() or "keep"
    if value == "system":
        return f"glibc's own malloc thresholds ({ENV}=system)"
    if value != "keep":
        print(f"warning: {ENV}={value!r} is not one of keep, system; glibc's own malloc thresholds stay",
              file=sys.stderr)
        return f"glibc's own malloc thresholds ({ENV}={value!r} is not one of keep, system)"
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return "the system's malloc"
    libc = ctypes.CDLL(None)
    if not (libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) and libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)):
        return "glibc's own malloc thresholds (mallopt refused ours)"
    return (f"freed memory kept for reuse (glibc mmap threshold {MMAP_THRESHOLD >> 20} MiB, "
            f"trim {TRIM_THRESHOLD >> 20} MiB)")


def keep_freed() -> str:
    """Raise glibc's mmap and trim thresholds for this process once, as
    MLX_ENTROPIX_HEAP says (keep, the default, or system); returns what was done."""
    global _state
    if _state is None:
        _state = _apply()
    return _state


def describe() -> str:
    """What keep_freed did, for the run's description (trace headers, bench reports)."""
    return keep_freed()
