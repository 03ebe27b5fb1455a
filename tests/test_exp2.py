"""exp2.py: e^x from arithmetic on the CPU (exp_parts) and from mx.power
elsewhere, and the softmax and swiglu built on it, against float64."""

import math

import mlx.core as mx
import numpy as np
import pytest

from mlx_entropix import exp2


@pytest.fixture(params=["arithmetic", "power"])
def path(request, monkeypatch):
    """Each test runs on both paths; the power path is what Metal runs."""
    if request.param == "power":
        monkeypatch.setattr(exp2, "on_cpu", lambda: False)
    return request.param


def test_exp_matches_float64_across_float32_range(path):
    x = np.concatenate([np.linspace(-87.0, 88.0, 200_001), [-1e-7, 0.0, 1e-7, 0.5, -0.5]]).astype(np.float32)
    got = np.array(exp2.exp(mx.array(x))).astype(np.float64)
    want = np.exp(x.astype(np.float64))
    # x log2 e is a float32 product of a rounded constant: up to |x| 2^-23 relative at |x| = 88.
    bound = 3e-7 + np.abs(x) * 2.0 ** -23
    assert np.all(np.abs(got - want) <= bound * want)


def test_exp_edges(path):
    x = mx.array([-math.inf, -1e30, -200.0, math.inf, 1e30, 100.0, math.nan, 0.0])
    got = np.array(exp2.exp(x))
    assert got[:3].tolist() == [0.0, 0.0, 0.0]
    assert np.isposinf(got[3:6]).all()
    assert np.isnan(got[6]) and got[7] == 1.0


def test_cpu_path_builds_powers_without_mx_power(monkeypatch):
    """The CPU path is arithmetic (MLX's power is scalar powf there); elsewhere mx.power."""
    def no_power(*args, **kwargs):
        raise AssertionError("mx.power called")

    monkeypatch.setattr(exp2.mx, "power", no_power)
    x = mx.array([-3.0, 0.25, 2.0])
    assert np.allclose(np.array(exp2.exp(x)), np.exp([-3.0, 0.25, 2.0]), rtol=1e-6)
    monkeypatch.setattr(exp2, "on_cpu", lambda: False)
    with pytest.raises(AssertionError, match="mx.power called"):
        exp2.exp(x)


@pytest.mark.parametrize("shape", [(8, 14, 1, 200), (1, 2, 5, 7), (3, 1), (2, 4)])
def test_softmax_matches_float64_with_masked_keys(path, shape):
    rng = np.random.default_rng(sum(shape))
    s = rng.normal(0, 6, shape).astype(np.float32)
    if shape[-1] > 2:
        s[rng.random(shape) < 0.3] = -np.inf
        s[..., 0] = rng.normal(0, 6, shape[:-1])  # every row keeps a key
    got = np.array(exp2.softmax(mx.array(s)))
    w = np.exp(s.astype(np.float64) - s.max(axis=-1, keepdims=True))
    want = w / w.sum(axis=-1, keepdims=True)
    assert np.all(got[np.isneginf(s)] == 0.0)
    assert np.allclose(got, want, rtol=2e-6, atol=1e-9)


@pytest.mark.parametrize("shape", [(1, 1, 4864), (8, 1, 4864), (2, 7, 96)])
def test_swiglu_matches_float64(path, shape):
    rng = np.random.default_rng(shape[0])
    gate = rng.normal(0, 5, shape).astype(np.float32)
    gate.flat[:4] = [-100.0, 100.0, 0.0, -20.0]  # saturated silu at both ends
    up = rng.normal(0, 1, shape).astype(np.float32)
    got = np.array(exp2.swiglu(mx.array(gate), mx.array(up)))
    g = gate.astype(np.float64)
    want = g / (1 + np.exp(-g)) * up
    assert np.allclose(got, want, rtol=2e-6, atol=1e-6)
