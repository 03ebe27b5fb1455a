"""Logit statistics: hand-computable cases and extreme logits, on the host and in MLX's graph."""

import math

import mlx.core as mx
import numpy as np

import pytest

from mlx_entropix import vocab_stats
from mlx_entropix.metrics import logit_statistics, token_signals


@pytest.fixture(autouse=True, params=["host", "mlx"])
def where(request, monkeypatch):
    """Every case on both paths: the host's sums (vocab_stats.c) and MLX's graph."""
    monkeypatch.setenv(vocab_stats.ENV, request.param)
    if request.param == "host" and vocab_stats.library() is None:
        pytest.skip("the host logit statistics do not serve here")
    return request.param


def stats(logits):
    _, h, v = logit_statistics(mx.array(logits, dtype=mx.float32))
    return np.array(h), np.array(v)


def test_uniform_distribution_has_entropy_log_v_and_zero_varentropy():
    for vocab in (2, 7, 49152):
        h, v = stats(np.zeros((1, vocab)))
        assert math.isclose(h[0], math.log(vocab), rel_tol=1e-5)
        assert abs(v[0]) < 1e-4


def test_one_hot_has_zero_entropy_and_varentropy():
    logits = np.full((1, 100), -1e4)
    logits[0, 3] = 0.0
    h, v = stats(logits)
    assert h[0] == 0 and v[0] == 0


def test_two_point_distribution_matches_hand_computation():
    p = np.array([0.25, 0.75])
    h, v = stats(np.log(p)[None])
    surprisal = -np.log(p)
    expected_h = (p * surprisal).sum()
    assert math.isclose(h[0], expected_h, rel_tol=1e-5)
    assert math.isclose(v[0], (p * (surprisal - expected_h) ** 2).sum(), rel_tol=1e-4)


def test_extreme_logits_stay_finite():
    cases = [
        [0.0, 1e4, -1e4, 5.0],
        [-np.inf, 0.0, 1.0, -np.inf],
        [1e4, 1e4 - 1, -np.inf, 0.0],
        [-np.inf, 3.0, -np.inf, -np.inf],
    ]
    h, v = stats(np.array(cases))
    assert np.isfinite(h).all() and np.isfinite(v).all()
    assert h[3] == 0 and v[3] == 0
    assert h[0] < 1e-6  # a gap of 1e4 is a certainty


def test_log_probabilities_of_unlikely_tokens_are_exact_not_minus_infinity():
    """log(softmax) underflows to -inf (and the top alternatives' logprobs with
    it) where softmax rounds to 0; x - max - log Z keeps the exact value."""
    logits = np.array([[0.0, 1e4, -1e4, 5.0], [0.0, 200.0, 100.0, -50.0]])
    reference = logits - np.log(np.exp(logits - logits.max(-1, keepdims=True)).sum(-1, keepdims=True)) \
        - logits.max(-1, keepdims=True)
    ours = np.array(logit_statistics(mx.array(logits, dtype=mx.float32))[0])
    assert np.isfinite(ours).all()
    assert np.allclose(ours, reference, rtol=1e-6)


def test_signals_without_attention_are_zero_not_nan():
    _, signals = token_signals(mx.zeros((2, 10)), None)
    for name, value in signals.items():
        assert np.isfinite(np.array(value)).all(), name
    assert float(signals["attn_entropy"].sum()) == 0
