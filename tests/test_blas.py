"""The optimised BLAS loader: loaded before MLX in every process that imports
the package, and a missing or broken library leaves a working program that
says so once. Each case runs in a fresh interpreter, as the loading happens at
import time."""

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlx_entropix import blas

ROOT = Path(__file__).resolve().parents[1]
linux_only = pytest.mark.skipif(sys.platform != "linux", reason="the BLAS is loaded on Linux only")

# Prints which library the global symbol scope (where MLX's reference to
# cblas_sgemm is resolved first) gives for cblas_sgemm, the loader's verdict,
# and whether an MLX matmul agrees with numpy.
PROBE = """
import ctypes, json, sys
{before}
import mlx_entropix
from mlx_entropix import blas
import mlx.core as mx
import numpy as np

class DlInfo(ctypes.Structure):
    _fields_ = [("fname", ctypes.c_char_p), ("fbase", ctypes.c_void_p),
                ("sname", ctypes.c_char_p), ("saddr", ctypes.c_void_p)]

libdl = ctypes.CDLL(None)
libdl.dlsym.restype = ctypes.c_void_p
libdl.dlsym.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
libdl.dladdr.argtypes = [ctypes.c_void_p, ctypes.POINTER(DlInfo)]
address = libdl.dlsym(None, b"cblas_sgemm")
where = DlInfo()
provider = libdl.dladdr(address, ctypes.byref(where)) and where.fname.decode() if address else None
a = np.random.default_rng(0).standard_normal((64, 48)).astype(np.float32)
b = np.random.default_rng(1).standard_normal((48, 32)).astype(np.float32)
ok = bool(np.allclose(np.array(mx.array(a) @ mx.array(b)), a @ b, atol=1e-4))
info = blas.info()
print(json.dumps({{"provider": provider, "optimised": info.optimised, "name": info.name,
                  "note": info.note, "matmul_ok": ok}}))
"""


def probe(tmp_path: Path, env: dict[str, str] | None = None, before: str = "") -> tuple[dict, str]:
    result = subprocess.run([sys.executable, "-c", PROBE.format(before=before)], cwd=ROOT,
                            capture_output=True, text=True, timeout=120,
                            env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
                                 "XDG_CACHE_HOME": str(tmp_path / "cache"), **(env or {})})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1]), result.stderr


@linux_only
def test_an_optimised_openblas_serves_mlx_in_process(tmp_path):
    out, err = probe(tmp_path)
    assert out["optimised"] and out["name"].startswith("OpenBLAS "), out
    assert "openblas" in out["provider"].lower(), out  # not MLX's bundled libblas
    assert out["matmul_ok"] and err == ""


@linux_only
def test_switched_off_mlx_keeps_its_reference_blas_quietly(tmp_path):
    out, err = probe(tmp_path, {blas.ENV: "off"})
    assert not out["optimised"] and out["note"] == f"{blas.ENV}=off"
    assert "openblas" not in (out["provider"] or "").lower()
    assert out["matmul_ok"] and err == ""


@linux_only
@pytest.mark.parametrize("kind", ["missing", "broken"])
def test_a_missing_or_broken_library_runs_at_the_old_speed_and_says_so_once(tmp_path, kind):
    path = tmp_path / "libopenblas.so.0"
    if kind == "broken":
        path.write_text("not a shared library")
    out, err = probe(tmp_path, {blas.ENV: str(path)})
    assert not out["optimised"] and out["matmul_ok"]
    assert "openblas" not in (out["provider"] or "").lower()
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("warning: optimised BLAS not loaded"), err
    assert ("does not exist" if kind == "missing" else "cannot load") in lines[0]


# Stand-ins for an OpenBLAS build, compiled here: one whose routines trap
# (what a build for AVX-512 does on a CPU without it: SIGILL), one that
# computes the product, one that computes a wrong one.
FAKE_BLAS = {
    "traps": "void cblas_sgemm(void) { __builtin_trap(); }\nvoid cblas_sgemv(void) { __builtin_trap(); }\n",
    "right": """
void cblas_sgemm(int o, int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
                 const float *b, int ldb, float beta, float *c, int ldc) {
  for (int i = 0; i < m; i++) for (int j = 0; j < n; j++) {
    float s = 0; for (int p = 0; p < k; p++) s += a[i * lda + p] * b[p * ldb + j];
    c[i * ldc + j] = alpha * s + beta * c[i * ldc + j]; } }
void cblas_sgemv(int o, int t, int m, int n, float alpha, const float *a, int lda, const float *x, int incx,
                 float beta, float *y, int incy) {
  for (int i = 0; i < m; i++) {
    float s = 0; for (int j = 0; j < n; j++) s += a[i * lda + j] * x[j * incx];
    y[i * incy] = alpha * s + beta * y[i * incy]; } }
""",
}
FAKE_BLAS["wrong"] = FAKE_BLAS["right"].replace("alpha * s +", "0 * s +")
needs_gcc = pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc to build a stand-in BLAS")


def fake_blas(tmp_path: Path, kind: str) -> Path:
    source = tmp_path / f"{kind}.c"
    source.write_text(FAKE_BLAS[kind])
    library = tmp_path / f"lib{kind}blas.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-O1", "-o", str(library), str(source)], check=True)
    return library


@linux_only
@needs_gcc
@pytest.mark.parametrize("kind, reason", [("traps", "crashed on this CPU (SIGILL: it is built for instructions"),
                                          ("wrong", "computed a wrong matrix product")])
def test_a_library_that_cannot_run_on_this_cpu_is_never_loaded(tmp_path, kind, reason):
    """The wheel's OpenBLAS is built for AVX-512; on a CPU without it, loading
    it would kill the program at its first matmul. The run check in a child
    process keeps it out, and the program goes on and says why."""
    out, err = probe(tmp_path, {blas.ENV: str(fake_blas(tmp_path, kind))})
    assert not out["optimised"] and out["matmul_ok"]
    assert kind not in (out["provider"] or "")
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("warning: optimised BLAS not loaded") and reason in lines[0], err


@linux_only
@needs_gcc
def test_auto_takes_the_system_openblas_when_the_wheel_s_cannot_run(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(blas, "wheel_library", lambda: fake_blas(tmp_path, "traps"))
    monkeypatch.setattr(blas, "system_library", lambda: fake_blas(tmp_path, "right"))
    monkeypatch.setattr(blas, "open_library", lambda path: blas.BlasInfo(str(blas.runnable(path)), True))
    assert blas.open_auto().name == str(tmp_path / "librightblas.so")
    monkeypatch.setattr(blas, "system_library", lambda: fake_blas(tmp_path, "wrong"))
    with pytest.raises(blas.BlasLoadError, match="libtrapsblas.so crashed.*; libwrongblas.so computed"):
        blas.open_auto()


@linux_only
@needs_gcc
def test_the_run_check_runs_once_per_library_and_cpu(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    library = fake_blas(tmp_path, "traps")
    first = blas.run_check(library)
    assert "SIGILL" in first
    monkeypatch.setattr(blas.subprocess, "run", lambda *a, **k: pytest.fail("checked again"))
    assert blas.run_check(library) == first
    monkeypatch.setattr(blas, "cpu_identity", lambda: "another CPU")
    with pytest.raises(pytest.fail.Exception, match="checked again"):
        blas.run_check(library)


@linux_only
def test_mlx_imported_first_is_named_as_the_reason(tmp_path):
    out, err = probe(tmp_path, before="import mlx.core")
    assert not out["optimised"] and "import mlx_entropix before mlx" in err


def test_a_missing_wheel_is_named_with_the_fix():
    with pytest.raises(blas.BlasLoadError, match="'no-such-blas' package is not installed.*uv sync"):
        blas.wheel_library("no-such-blas")


def test_other_platforms_are_left_alone():
    info = blas.resolve("auto", platform="darwin")
    assert info.optimised and "Accelerate" in info.name


@linux_only
def test_relinked_copy_names_mlx_s_own_libgfortran(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    gfortran = blas.bundled_gfortran()
    copy = blas.relinked_copy(blas.wheel_library(), gfortran)
    assert copy.parent == tmp_path / "mlx-entropix" / "blas"
    needed = subprocess.run([blas._patchelf(), "--print-needed", str(copy)], capture_output=True,
                            text=True, check=True).stdout.split()
    assert blas.GFORTRAN not in needed and str(gfortran.resolve()) in needed
    assert blas.relinked_copy(blas.wheel_library(), gfortran) == copy  # made once


def test_any_failure_while_loading_is_a_warning_not_a_crash(monkeypatch):
    """patchelf timing out (or anything else) must not fail `import mlx_entropix`."""
    def timeout(path):
        raise subprocess.TimeoutExpired(["patchelf"], 60)

    monkeypatch.delitem(sys.modules, "mlx.core", raising=False)
    monkeypatch.setattr(blas, "open_library", timeout)
    info = blas.resolve("auto", platform="linux")
    assert not info.optimised and info.note.startswith("TimeoutExpired: ")


@linux_only
def test_a_missing_library_at_startup_is_one_warning_and_help_still_works(tmp_path):
    result = subprocess.run([sys.executable, "mlx_main.py", "--help"], cwd=ROOT, capture_output=True,
                            text=True, timeout=120,
                            env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), blas.ENV: "/nonexistent"})
    assert result.returncode == 0 and "Usage" in result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "/nonexistent does not exist" in lines[0], result.stderr


def _fake_library(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


def test_the_relinked_copy_is_keyed_by_the_library_s_content(tmp_path, monkeypatch):
    """An upgraded wheel at the same path gets a new copy, not the stale one."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(blas, "_patchelf", lambda: "true")
    gfortran = _fake_library(tmp_path / "libgfortran.so.5", b"gf")
    lib = _fake_library(tmp_path / "libopenblas.so.0", b"version one")
    first = blas.relinked_copy(lib, gfortran)
    assert first.read_bytes() == b"version one"
    assert blas.relinked_copy(lib, gfortran) == first  # made once
    _fake_library(lib, b"version two!")
    second = blas.relinked_copy(lib, gfortran)
    assert second != first and second.read_bytes() == b"version two!"


@pytest.mark.parametrize("failure", ["patchelf", "copy"])
def test_a_failed_copy_leaves_no_temporary_file(tmp_path, monkeypatch, failure):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    lib = _fake_library(tmp_path / "libopenblas.so.0", b"library")
    gfortran = _fake_library(tmp_path / "libgfortran.so.5", b"gf")
    if failure == "patchelf":
        monkeypatch.setattr(blas, "_patchelf", lambda: "false")
        error = blas.BlasLoadError
    else:
        def half_copy(src, dst):
            Path(dst).write_bytes(b"lib")
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(blas.shutil, "copyfile", half_copy)
        error = OSError
    with pytest.raises(error):
        blas.relinked_copy(lib, gfortran)
    assert list((tmp_path / "cache" / "mlx-entropix" / "blas").iterdir()) == []


@pytest.mark.parametrize("busy, threads", [(0, 2), (1, 1), (5, 1)])
def test_threads_follow_the_free_cores(monkeypatch, busy, threads):
    """Every forward pass gets the cores other processes leave free, at least one."""
    calls = []  # the thread counts set
    monkeypatch.setattr(blas, "_threads", blas._Threads(calls.append, most=2))
    monkeypatch.setattr(blas, "busy_cores", lambda: busy)
    monkeypatch.setattr(blas.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    assert blas.use_threads() == threads
    assert blas.use_threads() == threads
    assert calls == [threads]  # set only when it changes


def test_threads_follow_a_change_of_load(monkeypatch):
    """A process that starts spinning takes a thread away within BUSY_CHECK_S."""
    calls = []
    busy, clock = [0], [100.0]
    monkeypatch.setattr(blas, "_threads", blas._Threads(calls.append, most=2))
    monkeypatch.setattr(blas, "busy_cores", lambda: busy[0])
    monkeypatch.setattr(blas.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(blas.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    assert blas.use_threads() == 2
    busy[0] = 1
    assert blas.use_threads() == 2  # the last look is still trusted
    clock[0] += blas.BUSY_CHECK_S + 0.1
    assert blas.use_threads() == 1
    assert calls == [2, 1]


def busy_cores_beside(code: str, monkeypatch) -> int:
    """The most busy_cores() says in 5 looks 0.3 s apart while another process runs `code`."""
    monkeypatch.setattr(blas, "_threads", blas._Threads())
    other = subprocess.Popen([sys.executable, "-c", code])
    try:
        time.sleep(0.3)  # started
        blas.busy_cores()  # the first look
        seen = []
        for _ in range(5):
            time.sleep(0.3)
            seen.append(blas.busy_cores())
        return max(seen)
    finally:
        other.kill()
        other.wait()


@linux_only
def test_busy_cores_sees_another_busy_process(monkeypatch):
    assert busy_cores_beside("while True: pass", monkeypatch) >= 1


@linux_only
def test_busy_cores_does_not_count_a_process_that_runs_in_short_bursts(monkeypatch):
    """A client reading a stream is runnable now and then (here a third of the
    time), not a busy core: counting runnable threads at one instant said 1
    in some of these looks."""
    bursts = "import time\nwhile True:\n    time.sleep(0.006)\n    end = time.perf_counter() + 0.003\n" \
             "    while time.perf_counter() < end: pass"
    assert busy_cores_beside(bursts, monkeypatch) == 0
