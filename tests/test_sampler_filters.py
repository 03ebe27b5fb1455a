"""The filter chain against a NumPy reference, and draw statistics (chi-square
against a hard-coded 1e-4 critical value, so a correct sampler fails about
once in ten thousand runs and the fixed seeds make it deterministic)."""

import math

import mlx.core as mx
import numpy as np
import pytest

from mlx_entropix.sampler.filters import (
    apply_min_p,
    apply_temperature,
    apply_top_k,
    apply_top_p,
    filtered_logprobs,
    pool_top_p,
    sample,
    top_tokens,
)

N_DRAWS = 20_000
Z_1E4 = 3.719  # standard normal quantile for an upper tail of 1e-4


def chi2_critical(dof: int) -> float:
    """Wilson-Hilferty approximation of the chi-square 1 - 1e-4 quantile."""
    c = 2.0 / (9.0 * dof)
    return dof * (1.0 - c + Z_1E4 * math.sqrt(c)) ** 3


def assert_draws_follow(ids: np.ndarray, probs: np.ndarray) -> None:
    """Every draw has positive probability and the counts fit `probs`."""
    assert probs[ids].min() > 0, "drew a token the filter removed"
    support = np.flatnonzero(probs > 0)
    counts = np.bincount(ids, minlength=len(probs))[support]
    expected = probs[support] / probs[support].sum() * len(ids)
    if len(support) == 1:
        assert counts[0] == len(ids)
        return
    stat = float(((counts - expected) ** 2 / expected).sum())
    assert stat < chi2_critical(len(support) - 1), f"chi2 {stat:.1f} for counts {counts} vs {expected.round(1)}"


def draws(logprobs: mx.array, seed: int = 0) -> np.ndarray:
    ids = sample(logprobs[None, :], mx.random.key(seed), num_samples=N_DRAWS)
    return np.array(ids[0])


def ref_chain(logits, temperature, top_p, top_k, min_p) -> np.ndarray:
    """NumPy reference: temperature, top-k, top-p (descending), min-p; returns probabilities."""
    z = np.asarray(logits, dtype=np.float64)
    if temperature <= 0:
        p = np.zeros_like(z)
        p[np.argmax(z)] = 1.0
        return p
    z = z / temperature
    p = np.exp(z - z.max())
    p /= p.sum()
    order = np.argsort(-p, kind="stable")
    if 0 < top_k < len(p):
        p[order[top_k:]] = 0.0
    q = p[order] / p.sum()
    before = np.cumsum(q) - q
    drop = (before >= top_p) & (np.arange(len(q)) > 0)
    if top_p < 1:
        p[order[drop]] = 0.0
    if min_p > 0:
        p[p < min_p * p.max()] = 0.0
    return p / p.sum()


def probs_of(lp: mx.array) -> np.ndarray:
    return np.exp(np.array(lp, dtype=np.float64))


DISTINCT = np.log(np.array([0.02, 0.30, 0.05, 0.12, 0.01, 0.20, 0.08, 0.04, 0.15, 0.03]))


@pytest.mark.parametrize("t", [0.5, 1.0, 2.0])
def test_temperature_reweights_as_power(t):
    p = np.exp(DISTINCT)
    want = p ** (1 / t) / (p ** (1 / t)).sum()
    lp = filtered_logprobs(mx.array(DISTINCT)[None], t, 1.0, 0, 0.0)[0]
    np.testing.assert_allclose(probs_of(lp), want, rtol=1e-4)
    assert_draws_follow(draws(lp, seed=int(t * 10)), want)


def test_zero_temperature_is_argmax():
    lp = apply_temperature(mx.array(DISTINCT)[None], 0.0)[0]
    assert np.isfinite(np.array(lp)).sum() == 1
    assert int(mx.argmax(lp)) == 1


def test_top_k_keeps_exactly_the_k_most_probable():
    lp = filtered_logprobs(mx.array(DISTINCT)[None], 1.0, 1.0, 3, 0.0)[0]
    assert set(np.flatnonzero(np.isfinite(np.array(lp)))) == {1, 5, 8}
    assert_draws_follow(draws(lp, seed=1), ref_chain(DISTINCT, 1.0, 1.0, 3, 0.0))


def test_top_k_with_ties_keeps_exactly_k():
    lp = apply_top_k(mx.zeros((1, 10)), 4)
    assert np.isfinite(np.array(lp)).sum() == 4


def test_top_p_keeps_the_most_probable_prefix():
    # Sorted descending the mass is 0.30, 0.50, 0.65, 0.77...: top_p 0.6 keeps
    # {0.30, 0.20, 0.15}. An ascending cumsum would keep the improbable tail.
    lp = filtered_logprobs(mx.array(DISTINCT)[None], 1.0, 0.6, 0, 0.0)[0]
    assert set(np.flatnonzero(np.isfinite(np.array(lp)))) == {1, 5, 8}
    assert_draws_follow(draws(lp, seed=2), ref_chain(DISTINCT, 1.0, 0.6, 0, 0.0))


def test_top_p_always_keeps_the_top_token():
    lp = apply_top_p(mx.array(DISTINCT)[None], 0.0)[0]
    assert list(np.flatnonzero(np.isfinite(np.array(lp)))) == [1]


def test_min_p_removes_tokens_below_fraction_of_max():
    # p_max 0.30, min_p 0.2 -> drop p < 0.06: keeps 0.30, 0.20, 0.15, 0.12, 0.08.
    lp = filtered_logprobs(mx.array(DISTINCT)[None], 1.0, 1.0, 0, 0.2)[0]
    assert set(np.flatnonzero(np.isfinite(np.array(lp)))) == {1, 3, 5, 6, 8}
    assert_draws_follow(draws(lp, seed=3), ref_chain(DISTINCT, 1.0, 1.0, 0, 0.2))


def test_min_p_keeps_token_exactly_at_threshold():
    lp = apply_min_p(mx.log(mx.array([[0.5, 0.25, 0.2, 0.05]])), 0.5)[0]
    assert list(np.isfinite(np.array(lp))) == [True, True, False, False]


def test_full_chain_draws_with_renormalised_probabilities():
    rng = np.random.default_rng(7)
    logits = rng.normal(0, 2, size=64)
    args = (0.8, 0.85, 20, 0.02)
    want = ref_chain(logits, *args)
    lp = filtered_logprobs(mx.array(logits, dtype=mx.float32)[None], *args)[0]
    np.testing.assert_allclose(probs_of(lp), want, atol=1e-5)
    assert 2 < (want > 0).sum() < 20
    assert_draws_follow(draws(lp, seed=4), want)


@pytest.mark.parametrize("vocab, params", [
    (40, [(0.5, 0.9, 5, 0.0), (1.5, 0.5, 0, 0.05), (0.0, 0.9, 27, 0.03), (1.0, 1.0, 39, 0.3)]),
    # Edges: T = 0, top_p 0 and 1, k = V and k = 1.
    (300, [(0.7, 0.9, 27, 0.03), (1.0, 0.5, 0, 0.0), (0.0, 0.9, 3, 0.1), (2.0, 1.0, 300, 0.2),
           (0.3, 0.0, 1, 0.0), (1.0, 0.95, 100, 0.01)]),
])
def test_per_row_parameters_match_reference_row_by_row(vocab, params):
    """The whole chain, each row with its own parameters, against the NumPy
    reference (never against the module's own filters)."""
    logits = np.random.default_rng(vocab).normal(0, 3, size=(len(params), vocab))
    t, p, k, m = (mx.array(col) for col in zip(*params))
    lp = filtered_logprobs(mx.array(logits, dtype=mx.float32), t, p, k.astype(mx.int32), m)
    for row, args in enumerate(params):
        want = ref_chain(logits[row], *args)
        np.testing.assert_allclose(probs_of(lp[row]), want, atol=1e-5)
        assert set(np.flatnonzero(np.isfinite(np.array(lp[row])))) == set(np.flatnonzero(want > 0))


def test_same_key_same_draws_different_key_different_draws():
    flat = mx.zeros((1, 1000))
    a = sample(flat, mx.random.key(11), num_samples=64)
    b = sample(flat, mx.random.key(11), num_samples=64)
    c = sample(flat, mx.random.key(12), num_samples=64)
    assert mx.array_equal(a, b)
    assert not mx.array_equal(a, c)


def test_uniform_draws_are_unbiased():
    assert_draws_follow(draws(mx.zeros(8), seed=5), np.full(8, 1 / 8))


EXTREME = {
    "all_equal": np.zeros((1, 50)),
    "huge_logit": np.concatenate([[1e4], np.zeros(49)])[None],
    "neg_inf_entries": np.array([[-np.inf, 1.0, -np.inf, 0.5, -np.inf]]),
    "v1": np.array([[3.0]]),
    "v2": np.array([[0.0, -1.0]]),
    "v2_neg_inf": np.array([[-np.inf, 2.0]]),
}


@pytest.mark.parametrize("name", list(EXTREME))
@pytest.mark.parametrize("params", [(0.666, 0.9, 27, 0.03), (0.0, 0.0, 1, 1.0), (5.0, 1.0, 0, 0.0), (1e-6, 0.5, 2, 0.5)])
def test_extreme_inputs_stay_finite_and_in_range(name, params):
    logits = EXTREME[name]
    lp = np.array(filtered_logprobs(mx.array(logits, dtype=mx.float32), *params))
    assert not np.isnan(lp).any()
    assert np.isfinite(lp).any(axis=-1).all()
    assert np.isfinite(lp[np.isinf(logits)]).sum() == 0, "a -inf logit came back"
    ids = np.array(sample(mx.array(lp), mx.random.key(0), num_samples=200))
    assert ids.min() >= 0 and ids.max() < logits.shape[-1]
    assert np.isfinite(logits[0, ids[0]]).all()


@pytest.mark.parametrize("temperature, top_p, min_p", [(1.0, 0.9, 0.0), (0.666, 0.9, 0.03), (2.0, 0.5, 0.0),
                                                       (0.5, 0.999, 0.0)])
def test_a_pool_with_the_rescaled_nucleus_keeps_what_the_whole_vocabulary_keeps(temperature, top_p, min_p):
    """Top-k off: filtering a pool of each row's most probable tokens with
    pool_top_p keeps the same tokens with the same probabilities as filtering
    the whole row (rows from peaked to flat; the pool holds the nucleus). At
    the nucleus's edge float rounding of the cumulative mass decides, as it
    does over the whole row: with top_p 0.999 one tail token of mass 3e-6
    falls on the other side."""
    rng = np.random.default_rng(7)
    logits = mx.array(rng.normal(size=(5, 3000)) * np.array([[6.0], [4.0], [3.0], [2.5], [2.0]]), dtype=mx.float32)
    logprobs = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    whole = np.exp(np.array(filtered_logprobs(logprobs, temperature, top_p, 0, min_p)))
    ids = mx.sort(mx.argpartition(-logprobs, 1499, axis=-1)[:, :1500], axis=-1)
    pool = mx.take_along_axis(logprobs, ids, axis=-1)
    kept = np.exp(np.array(filtered_logprobs(pool, temperature, pool_top_p(top_p, pool, logprobs, temperature),
                                             0, min_p)))
    assert (np.count_nonzero(whole, axis=-1) < 1500).all(), "the nucleus must fit the pool"
    within = np.zeros_like(whole)
    np.put_along_axis(within, np.array(ids), kept, axis=-1)
    np.testing.assert_allclose(within, whole, atol=1e-5)
    unscaled = np.exp(np.array(filtered_logprobs(pool, temperature, top_p, 0, min_p)))
    if min_p == 0:  # (min-p alone cuts the nucleus otherwise) the rescaling matters
        assert (np.count_nonzero(unscaled, axis=-1) != np.count_nonzero(kept, axis=-1)).any()


@pytest.mark.parametrize("vocab, k", [(151936, 100), (151936, 1024), (151936, 5), (49152, 100),
                                      (4099, 100), (300, 100), (64, 100)])
def test_top_tokens_are_each_row_s_k_largest(vocab, k):
    """The two-level selection returns exactly the whole-row partition's set:
    on random rows, on rows whose largest entries crowd into one block or sit
    one per block, and on rows with -inf entries (4099 is prime: one level)."""
    rng = np.random.default_rng(vocab + k)
    rows = rng.standard_normal((6, vocab)).astype(np.float32) * 3
    want = min(k, vocab)
    rows[1, :want] += 40  # the k largest side by side: a few blocks hold them all
    rows[2, :: max(1, vocab // want)][:want] += 40  # one per block
    rows[3, rng.random(vocab) < 0.5] = -np.inf
    rows[4, :] = -np.inf
    rows[4, rng.choice(vocab, size=want, replace=False)] = rng.standard_normal(want)
    got = np.array(top_tokens(mx.array(rows), k))
    assert got.shape == (6, want)
    for row, ids in zip(rows, got):
        assert len(set(ids.tolist())) == want
        assert np.sort(row[ids])[::-1].tolist() == np.sort(row)[::-1][:want].tolist()


def test_top_tokens_take_two_levels_on_a_large_vocabulary(monkeypatch):
    """Over 152k tokens the whole row is never partitioned: only block maxima
    and the chosen blocks are (what makes it cheap)."""
    widths = []
    real = mx.argpartition
    monkeypatch.setattr(mx, "argpartition", lambda a, kth, axis=-1: widths.append(a.shape[-1]) or real(a, kth, axis=axis))
    top_tokens(mx.random.normal((2, 151936)), 100)
    assert widths and max(widths) < 151936 // 8
