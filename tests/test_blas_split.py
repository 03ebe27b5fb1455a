"""The split matmul in front of OpenBLAS (blas_split.c): every product it
serves against numpy, a row's result independent of the rows beside it, and
MLX's matmuls really going through it."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from mlx_entropix import blas, blas_split, cbuild

ROW, COL, N_, T_ = 101, 102, 111, 112
needs_split = pytest.mark.skipif(blas.split_counts() is None,
                                 reason=f"the split matmul is not in use here: {blas.info().describe()}")
f32p = ctypes.POINTER(ctypes.c_float)


@pytest.fixture
def shim():
    """The loaded split matmul, with its threads and kernel restored afterwards."""
    lib = blas._split
    lib.cblas_sgemm.argtypes = [ctypes.c_int] * 6 + [ctypes.c_float, f32p, ctypes.c_int, f32p, ctypes.c_int,
                                                     ctypes.c_float, f32p, ctypes.c_int]
    lib.cblas_sgemv.argtypes = [ctypes.c_int] * 4 + [ctypes.c_float, f32p, ctypes.c_int, f32p, ctypes.c_int,
                                                     ctypes.c_float, f32p, ctypes.c_int]
    kernel = lib.mlxe_split_use_kernel(1)
    yield lib
    lib.mlxe_split_use_kernel(kernel)
    blas.set_threads(blas._threads.current or 1)


def ptr(a: np.ndarray):
    return a.ctypes.data_as(f32p)


def sgemm(lib, order, ta, tb, m, n, k, alpha, beta, pad, rng):
    """Run the shim's sgemm on random operands stored with `pad` extra columns
    (leading dimensions larger than the rows); returns (got, numpy's)."""
    def stored(rows, cols):  # a rows x cols matrix in `order`, leading dimension padded
        if order == ROW:
            full = rng.standard_normal((rows, cols + pad)).astype(np.float32)
            return full, full[:, :cols], cols + pad
        full = rng.standard_normal((cols, rows + pad)).astype(np.float32)
        return full, full[:, :rows].T, rows + pad

    a_full, a, lda = stored(*((m, k) if ta == N_ else (k, m)))
    b_full, b, ldb = stored(*((k, n) if tb == N_ else (n, k)))
    c_full, c, ldc = stored(m, n)
    want = alpha * (a if ta == N_ else a.T) @ (b if tb == N_ else b.T) + beta * c
    lib.cblas_sgemm(order, ta, tb, m, n, k, alpha, ptr(a_full), lda, ptr(b_full), ldb, beta, ptr(c_full), ldc)
    got = c_full[:, :n] if order == ROW else c_full[:, :m].T
    return got, want


def product(shim, rows: np.ndarray, w: np.ndarray, tb: int, threads: int) -> np.ndarray:
    """rows @ w.T (tb T_, w n x k) or rows @ w (tb N_, w k x n), row-major, through the shim on `threads`."""
    blas.set_threads(threads)
    n = w.shape[0] if tb == T_ else w.shape[1]
    out = np.zeros((len(rows), n), np.float32)
    rows = np.ascontiguousarray(rows)
    shim.cblas_sgemm(ROW, N_, tb, len(rows), n, rows.shape[1], 1.0, ptr(rows), rows.shape[1], ptr(w), w.shape[1],
                     0.0, ptr(out), n)
    return out


@needs_split
@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("kernel", [1, 0])
def test_sgemm_equals_numpy_in_every_layout(shim, threads, kernel):
    """Both orders and transposes, row counts on and off the kernel's blocks,
    K with a tail, padded leading dimensions, alpha and beta, on 1-3 threads."""
    shim.mlxe_split_use_kernel(kernel)
    blas.set_threads(threads)
    rng = np.random.default_rng(threads * 10 + kernel)
    for m, n, k in [(1, 333, 200), (3, 64, 77), (8, 1000, 96), (13, 130, 260), (64, 97, 64), (65, 200, 33),
                    (300, 40, 50), (2, 5, 3)]:
        for order in (ROW, COL):
            for ta in (N_, T_):
                for tb in (N_, T_):
                    for alpha, beta, pad in [(1.0, 0.0, 0), (0.5, 1.0, 3)]:
                        got, want = sgemm(shim, order, ta, tb, m, n, k, alpha, beta, pad, rng)
                        np.testing.assert_allclose(got, want, rtol=2e-4, atol=2e-4,
                                                   err_msg=f"{m}x{n}x{k} order {order} ta {ta} tb {tb} beta {beta}")


@needs_split
def test_beta_zero_ignores_what_the_output_held(shim):
    """C = A B when beta is 0, even where C held NaN (BLAS semantics)."""
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((8, 96)).astype(np.float32), rng.standard_normal((512, 96)).astype(np.float32)
    for kernel in (1, 0):
        shim.mlxe_split_use_kernel(kernel)
        c = np.full((8, 512), np.nan, np.float32)
        shim.cblas_sgemm(ROW, N_, T_, 8, 512, 96, 1.0, ptr(x), 96, ptr(w), 96, 0.0, ptr(c), 512)
        np.testing.assert_allclose(c, x @ w.T, rtol=2e-4, atol=2e-4)


@needs_split
@pytest.mark.parametrize("k", [64, 256, 896, 899, 1030])
@pytest.mark.parametrize("n", [40, 4864])
def test_a_row_is_the_same_alone_or_beside_others(shim, k, n):
    """Bit for bit: row i of an M-row product by a transposed weight matrix
    equals the one-row product, for M up to 64, on 1 or 2 threads, small
    products included, whichever block serves the rows (5-8 rows at 256 <= K <= 1024
    take one pass of their own). Batched greedy decoding relies on this."""
    rng = np.random.default_rng(k + n)
    x = rng.standard_normal((64, k)).astype(np.float32)
    w = rng.standard_normal((n, k)).astype(np.float32)
    alone = np.concatenate([product(shim, x[i:i + 1], w, T_, 1) for i in range(64)])
    for m in (2, 5, 6, 7, 8, 11, 64):
        for threads in (1, 2):
            assert np.array_equal(product(shim, x[:m], w, T_, threads), alone[:m]), f"{m} rows, {threads} threads"


@needs_split
@pytest.mark.parametrize("k", [1, 200, 601])
@pytest.mark.parametrize("n", [64, 100, 4000])
def test_a_row_of_a_product_by_an_untransposed_matrix_is_the_same_alone(shim, k, n):
    """Bit for bit, as above, for X W with W k x n not transposed (attention's
    probabilities times the values): 32-, 8- and 1-column blocks, one or two
    rows at a time, the output split between 2 threads; and each output is one
    fused multiply-add chain over k in order (against numpy's float64 only
    to float32 accuracy, but equal between layouts)."""
    rng = np.random.default_rng(k + n)
    x = rng.standard_normal((9, k)).astype(np.float32)
    w = rng.standard_normal((k, n)).astype(np.float32)
    before = shim.mlxe_split_kernel_calls()
    alone = np.concatenate([product(shim, x[i:i + 1], w, N_, 1) for i in range(9)])
    assert shim.mlxe_split_kernel_calls() == before + 9
    np.testing.assert_allclose(alone, x.astype(np.float64) @ w, rtol=1e-4, atol=1e-4 * np.sqrt(k))
    for m in (2, 3, 7, 9):
        for threads in (1, 2):
            assert np.array_equal(product(shim, x[:m], w, N_, threads), alone[:m]), f"{m} rows, {threads} threads"
    blas.set_threads(1)
    for start in (1, 5, 9, 31):  # the same columns in other blocks: a vector lane here is the fmaf tail there
        out = np.zeros((9, n - start), np.float32)
        shim.cblas_sgemm(ROW, N_, N_, 9, n - start, k, 1.0, ptr(x), k, ptr(w[:, start:]), n, 0.0, ptr(out),
                         n - start)
        assert np.array_equal(out, alone[:, start:]), f"columns from {start}"


@needs_split
@pytest.mark.parametrize("threads", [1, 2])
def test_sgemv_equals_numpy(shim, threads):
    blas.set_threads(threads)
    rng = np.random.default_rng(threads)
    for m, n in [(700, 300), (40, 2000), (5, 7)]:
        for order in (ROW, COL):
            for trans in (N_, T_):
                a = rng.standard_normal((m, n) if order == ROW else (n, m)).astype(np.float32)
                dense = a if order == ROW else a.T  # the m x n matrix
                length_x, length_y = (n, m) if trans == N_ else (m, n)
                x = rng.standard_normal(2 * length_x).astype(np.float32)
                y = rng.standard_normal(3 * length_y).astype(np.float32)
                want = 0.5 * (dense if trans == N_ else dense.T) @ x[::2] + 2.0 * y[::3]
                shim.cblas_sgemv(order, trans, m, n, 0.5, ptr(a), a.shape[1], ptr(x), 2, 2.0, ptr(y), 3)
                np.testing.assert_allclose(y[::3], want, rtol=2e-4, atol=2e-4)


@needs_split
def test_mlx_matmuls_go_through_the_split_and_its_kernel():
    """The shim is first in the global symbol scope: an MLX Linear-style
    product (rows @ W.T) runs split, on the kernel."""
    import mlx.core as mx

    before = blas.split_counts()
    x, w = mx.ones((8, 256)), mx.ones((1024, 256))
    out = x @ w.T
    mx.eval(out)
    split, kernel = blas.split_counts()
    assert split > before[0] and kernel > before[1]
    assert float(out[3, 5].item()) == 256.0


def test_a_bad_setting_is_named(monkeypatch):
    monkeypatch.setenv(blas_split.ENV, "fast")
    with pytest.raises(blas_split.SplitError, match="MLX_ENTROPIX_BLAS_SPLIT='fast' is not one of on, nokernel, off"):
        blas_split.setting()


def test_a_compiler_that_fails_is_reported_and_leaves_nothing(monkeypatch, tmp_path):
    monkeypatch.setenv("CC", "false")
    with pytest.raises(blas_split.SplitError, match="false could not build the split matmul"):
        blas_split.build(tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(sys.platform != "linux", reason="the BLAS is loaded on Linux only")
@pytest.mark.parametrize("setting, says", [("off", "OpenBLAS's own threading: MLX_ENTROPIX_BLAS_SPLIT=off"),
                                           ("nokernel", "splitting each product's output, fewer"),
                                           ("on", "splitting each product's output, few-row products on our kernel")])
def test_the_setting_decides_what_serves_mlx(setting, says):
    """In a fresh process, as the BLAS's description (in every trace header) says it."""
    if blas.split_counts() is None:
        pytest.skip(f"the split matmul is not in use here: {blas.info().describe()}")
    code = "import mlx_entropix; from mlx_entropix import blas; print(blas.info().describe())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, blas_split.ENV: setting}, check=True).stdout
    assert says in out


@needs_split
def test_a_forked_child_makes_its_own_workers(shim):
    """fork() copies no threads: a child that splits a product must start its
    own workers, not wait forever for its parent's."""
    blas.set_threads(2)
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((8, 256)).astype(np.float32), rng.standard_normal((1024, 256)).astype(np.float32)

    def product() -> np.ndarray:
        out = np.zeros((8, 1024), np.float32)
        shim.cblas_sgemm(ROW, N_, T_, 8, 1024, 256, 1.0, ptr(x), 256, ptr(w), 256, 0.0, ptr(out), 1024)
        return out

    want = product()  # the parent's workers exist now
    pid = os.fork()
    if pid == 0:
        os._exit(0 if np.array_equal(product(), want) else 1)
    deadline = time.monotonic() + 30
    while (done := os.waitpid(pid, os.WNOHANG))[0] == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    if done[0] == 0:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        pytest.fail("the forked child hung in a split product")
    assert os.waitstatus_to_exitcode(done[1]) == 0


ATTACH = """
import ctypes, sys
from pathlib import Path
from mlx_entropix import blas_split
shim = blas_split.build(Path(sys.argv[1]))
try:
    blas_split.attach(shim, Path(sys.argv[2]))
    print("attached")
except blas_split.SplitError as e:
    print("refused:", e)
print("global" if hasattr(ctypes.CDLL(None), "mlxe_split_bind") else "not global")
"""


@pytest.mark.skipif(sys.platform != "linux", reason="the BLAS is loaded on Linux only")
@needs_split
def test_a_shim_that_cannot_bind_never_enters_the_global_scope(tmp_path):
    """Unbound, the shim's cblas_sgemm would call nothing: it must not be what
    MLX finds. A library without openblas_set_num_threads cannot be bound."""
    source = tmp_path / "plain.c"
    source.write_text("void cblas_sgemm(void) {}\nvoid cblas_sgemv(void) {}\n")
    plain = tmp_path / "libplain.so"
    subprocess.run([cbuild.compiler("a test library"), "-shared", "-fPIC", "-o", str(plain), str(source)], check=True)
    env = {**os.environ, "MLX_ENTROPIX_BLAS": "off", "PYTHONPATH": str(blas_split.SOURCE.parents[1])}
    for real, says in [(plain, "refused: libplain.so lacks"), (blas.runnable(Path(blas.info().path)), "attached")]:
        out = subprocess.run([sys.executable, "-c", ATTACH, str(tmp_path / "cache"), str(real)], env=env,
                             capture_output=True, text=True, timeout=120, check=True).stdout
        assert out.startswith(says), out
        assert out.strip().endswith("not global" if real == plain else "\nglobal"), out


@pytest.mark.skipif(sys.platform != "linux", reason="the BLAS is loaded on Linux only")
def test_a_split_matmul_that_cannot_serve_is_said_once_on_stderr():
    """A bad MLX_ENTROPIX_BLAS_SPLIT (like a missing compiler) leaves OpenBLAS's
    own threading, and the program says why once, not only in the description."""
    if blas.split_counts() is None:
        pytest.skip(f"the split matmul is not in use here: {blas.info().describe()}")
    code = "import mlx_entropix; from mlx_entropix import blas; print(blas.info().describe())"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True,
                          env={**os.environ, blas_split.ENV: "fast"})
    assert "OpenBLAS's own threading: MLX_ENTROPIX_BLAS_SPLIT='fast' is not one of" in done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("warning: split matmul not in use") and "'fast'" in lines[0]
