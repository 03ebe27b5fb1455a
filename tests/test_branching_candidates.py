"""Branch first tokens: sampled without replacement, or the top-N (CoT-decoding)."""

import mlx.core as mx
import numpy as np

from mlx_entropix.branching import draw_candidates
from mlx_entropix.packed import MIN_P, TEMPERATURE, TOP_K, TOP_P, THINK_AT, Row

PROBS = np.array([0.05, 0.4, 0.02, 0.3, 0.2, 0.03], dtype=np.float32)


def row(temperature=1.0, top_p=1.0, top_k=0, min_p=0.0) -> Row:
    v = np.zeros(THINK_AT, dtype=np.float32)
    v[TEMPERATURE], v[TOP_P], v[TOP_K], v[MIN_P] = temperature, top_p, top_k, min_p
    return Row(v)


def test_top_candidates_are_the_most_probable_in_order_whatever_the_key():
    logits = mx.array(np.log(PROBS))[None]
    for seed in range(5):
        tokens, valid, raw = np.array(draw_candidates(logits, row(), 3, mx.random.key(seed), top=True))
        assert sorted(tokens.astype(int).tolist()) == [1, 3, 4]
        assert valid.all()
        assert np.allclose(np.sort(np.exp(raw))[::-1], [0.4, 0.3, 0.2], atol=1e-6)


def test_sampled_candidates_vary_with_the_key_and_top_ones_respect_the_filters():
    logits = mx.array(np.log(PROBS))[None]
    drawn = {tuple(sorted(np.array(draw_candidates(logits, row(), 3, mx.random.key(s)))[0].astype(int)))
             for s in range(20)}
    assert len(drawn) > 1
    tokens, valid, _ = np.array(draw_candidates(logits, row(top_k=2), 3, mx.random.key(0), top=True))
    assert sorted(tokens[valid > 0].astype(int).tolist()) == [1, 3]
    assert int(valid.sum()) == 2
