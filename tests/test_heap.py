"""heap.py: memory MLX frees stays in the process for its next arrays, so a
decode step does not fault its arrays' pages in again every time."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

from mlx_entropix import heap

CHILD = """
import resource
import mlx_entropix
import mlx.core as mx
from mlx_entropix import heap
print(heap.describe())
for i in range(12):  # 100 arrays of 1 MB made and freed each time, as a decode step's are
    if i == 2:
        start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    arrays = [mx.full((250_000,), float(i + j)) for j in range(100)]
    mx.eval(arrays)
    del arrays
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - start)
"""
glibc = pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                           reason="the heap thresholds are glibc's (Linux)")


def page_faults(setting: str) -> tuple[str, int]:
    env = {**os.environ, heap.ENV: setting}
    done = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, check=True,
                          timeout=120)
    described, faults = done.stdout.strip().splitlines()
    return described, int(faults)


@glibc
def test_freed_arrays_are_reused_without_page_faults():
    """10 rounds of 100 MB in 1 MB arrays (about 24,400 pages a round): glibc's
    defaults give most of the freed memory back (trimming the heap) and fault
    its pages in again in most rounds; kept memory is reused."""
    kept, kept_faults = page_faults("keep")
    system, system_faults = page_faults("system")
    assert "kept for reuse" in kept and "system" in system
    assert system_faults > 5 * 24_400
    assert kept_faults < 24_400


def test_bad_setting_is_named_and_leaves_glibc_alone():
    env = {**os.environ, heap.ENV: "always"}
    done = subprocess.run([sys.executable, "-c", "import mlx_entropix; from mlx_entropix import heap; "
                           "print(heap.describe())"], env=env, capture_output=True, text=True, check=True,
                          timeout=120)
    assert "MLX_ENTROPIX_HEAP='always' is not one of keep, system" in done.stderr
    assert done.stderr.count("\n") == 1
    assert "glibc's own malloc thresholds" in done.stdout or "system's malloc" in done.stdout
