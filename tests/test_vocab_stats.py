"""The logit statistics on the host (vocab_stats.c): that they serve where they
can, agree with MLX's graph and a float64 reference, and give a row the same
numbers alone or in a batch."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import mlx.core as mx
import numpy as np
import pytest

from mlx_entropix import blas, vocab_stats
from mlx_entropix.metrics import _device_statistics, logit_statistics

needs_host = pytest.mark.skipif(vocab_stats.library() is None,
                                reason="the host logit statistics do not serve here (not x86 with AVX2, or no C compiler)")


def realistic(rows: int, vocab: int = 151_936, seed: int = 0) -> np.ndarray:
    """Logits like a model's: a broad body, a few strong candidates, some -inf (masked) entries."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, vocab)).astype(np.float32) * 3 - 5
    x[:, rng.integers(0, vocab, 20)] += rng.uniform(5, 20, 20).astype(np.float32)
    x[:, rng.integers(0, vocab, 50)] = -np.inf
    return x


def reference(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Log-probabilities, entropy, varentropy in float64."""
    x = x.astype(np.float64)
    shifted = x - x.max(-1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
    p = np.exp(logp)
    safe = np.where(p > 0, logp, 0.0)
    entropy = -(p * safe).sum(-1)
    return logp, entropy, (p * (safe + entropy[:, None]) ** 2).sum(-1)


@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64") or blas.split_counts() is None,
                    reason="on x86 where the split matmul was built (a C compiler), the host statistics must serve")
def test_the_host_statistics_serve_where_the_split_matmul_does():
    assert vocab_stats.library() is not None


@needs_host
@pytest.mark.parametrize("vocab", [151_936, 49_152, 1_003])
def test_host_and_graph_agree_with_float64(vocab):
    """Entropy, varentropy and log-probabilities against float64, on 8 rows;
    a vocabulary that is not a multiple of 8 reads its tail masked."""
    x = realistic(8, vocab)
    want = reference(x)
    host = [np.array(a) for a in logit_statistics(mx.array(x))]
    graph = [np.array(a) for a in _device_statistics(mx.array(x))]
    assert np.array_equal(host[1], np.array(vocab_stats.statistics(mx.array(x))[2]))  # the host served
    finite = np.isfinite(want[0])
    for got, tolerance in [(host, 1e-6), (graph, 2e-5)]:
        np.testing.assert_allclose(got[1], want[1], atol=tolerance * 10, rtol=tolerance)
        np.testing.assert_allclose(got[2], want[2], atol=tolerance * 10, rtol=tolerance * 4)
        np.testing.assert_allclose(got[0][finite], want[0][finite], atol=1e-4, rtol=1e-6)
        assert (got[0][~finite] == -np.inf).all()


@needs_host
def test_a_row_gets_the_same_numbers_alone_or_in_a_batch():
    """Bit for bit, as batched decoding needs: 8 rows against each row alone,
    and a strided view (a step's last position) against a contiguous copy."""
    x = realistic(8, seed=1)
    batch = [np.array(a) for a in logit_statistics(mx.array(x))]
    for i in range(8):
        alone = [np.array(a) for a in logit_statistics(mx.array(x[i:i + 1]))]
        for got, want in zip(alone, batch):
            assert np.array_equal(got[0], want[i])
    stacked = mx.array(np.stack([x, x + 1], axis=1))  # [8, 2, V]: [:, 0] is a strided view
    viewed = [np.array(a) for a in logit_statistics(stacked[:, 0])]
    for got, want in zip(viewed, batch):
        assert np.array_equal(got, want)


@needs_host
def test_leading_dimensions_are_kept():
    x = realistic(6, 1_000).reshape(2, 3, 1_000)
    logprobs, entropy, varentropy = logit_statistics(mx.array(x))
    assert logprobs.shape == (2, 3, 1_000) and entropy.shape == (2, 3) and varentropy.shape == (2, 3)
    np.testing.assert_allclose(np.array(entropy).ravel(), reference(x.reshape(6, 1_000))[1], rtol=1e-6)


def test_a_bad_setting_is_named(monkeypatch):
    monkeypatch.setenv(vocab_stats.ENV, "fast")
    with pytest.raises(vocab_stats.SettingError, match="MLX_ENTROPIX_LOGIT_STATS='fast' is not one of host, mlx"):
        vocab_stats.setting()


def test_mlx_setting_leaves_the_statistics_to_the_graph(monkeypatch):
    monkeypatch.setenv(vocab_stats.ENV, "mlx")
    assert vocab_stats.statistics(mx.zeros((1, 16))) is None


@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"), reason="the host code is x86 only")
def test_a_compiler_that_fails_is_said_once_and_mlx_serves(tmp_path):
    """With no working compiler (and an empty cache) the statistics still come,
    from MLX's graph, after one line on stderr naming why."""
    code = ("import mlx_entropix, mlx.core as mx; from mlx_entropix.metrics import logit_statistics;"
            "print([round(float(logit_statistics(mx.zeros((1, 4)))[1][0]), 4) for _ in range(2)])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "CC": "false", "XDG_CACHE_HOME": str(tmp_path),
                               "MLX_ENTROPIX_BLAS": "off"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[1.3863, 1.3863]"
    warnings = [line for line in done.stderr.splitlines() if "logit statistics" in line]
    assert warnings == ["warning: logit statistics computed by MLX's slower CPU code: "
                        "false could not build the logit statistics: no message"], done.stderr


def test_the_run_description_says_which_path(monkeypatch):
    """Trace headers and bench reports carry it (`logit_stats`), as the numbers differ in the last bits."""
    expected = "MLX's graph" if vocab_stats.library() is None else "host C code (AVX2) where the logits are on the CPU"
    assert vocab_stats.describe() == expected
    monkeypatch.setenv(vocab_stats.ENV, "mlx")
    assert vocab_stats.describe() == "MLX's graph (MLX_ENTROPIX_LOGIT_STATS=mlx)"
