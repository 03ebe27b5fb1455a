"""The sampling filter chain on log-probabilities [B, V], vectorised over a
per-row parameter array (each row may use its own temperature, top-k, top-p and
min-p, as the entropix rules pick them token by token).

Every function is pure MLX, branch-free on device values and usable inside
`mx.compile`. Removed tokens get -inf; the most probable token always survives,
so a row never becomes empty and never yields NaN.
"""

from __future__ import annotations

import functools
from typing import Callable

import mlx.core as mx

NEG_INF = float("-inf")

Param = mx.array | float | int


def _rows(x: Param, n: int, dtype: mx.Dtype) -> mx.array:
    """A scalar or [B] parameter as a [B] array of `dtype`."""
    a = x if isinstance(x, mx.array) else mx.array(x)
    return mx.broadcast_to(a.astype(dtype), (n,))


def normalize(logprobs: mx.array) -> mx.array:
    """Renormalise log-weights to log-probabilities."""
    return logprobs - mx.logsumexp(logprobs, axis=-1, keepdims=True)


def apply_temperature(logprobs: mx.array, temperature: Param) -> mx.array:
    """p -> p^(1/T), renormalised. T <= 0 means argmax: only the most probable
    token (the first one on ties) is kept."""
    b, v = logprobs.shape
    t = _rows(temperature, b, mx.float32)[:, None]
    hot = t > 0
    # Shifting by the max keeps the top token at 0, so a tiny T cannot turn
    # every entry into -inf.
    shifted = logprobs - mx.max(logprobs, axis=-1, keepdims=True)
    scaled = shifted / mx.where(hot, t, 1.0)
    top = mx.arange(v)[None, :] == mx.argmax(logprobs, axis=-1, keepdims=True)
    out = mx.where(hot, scaled, mx.where(top, 0.0, NEG_INF))
    return normalize(out)


def _keep_top_k(sorted_lp: mx.array, top_k: Param) -> mx.array:
    """Mask, in descending order, of the k most probable tokens (k <= 0 keeps all)."""
    b, v = sorted_lp.shape
    k = _rows(top_k, b, mx.int32)[:, None]
    return mx.arange(v)[None, :] < mx.where(k > 0, k, v)


def _keep_top_p(sorted_lp: mx.array, top_p: Param) -> mx.array:
    """Mask, in descending order, of the nucleus: a token stays iff the mass of
    the more probable tokens before it is < top_p; the first always stays."""
    b, v = sorted_lp.shape
    p = _rows(top_p, b, mx.float32)[:, None]
    probs = mx.softmax(sorted_lp, axis=-1)
    mass_before = mx.cumsum(probs, axis=-1, inclusive=False)
    return (mass_before < p) | (mx.arange(v)[None, :] == 0) | (p >= 1.0)


def _mask_sorted(logprobs: mx.array, keep: Callable[[mx.array], mx.array]) -> mx.array:
    """Apply a mask computed on the descending sort of each row."""
    order = mx.argsort(-logprobs, axis=-1)
    keep_sorted = keep(mx.take_along_axis(logprobs, order, axis=-1))
    kept = mx.put_along_axis(mx.zeros_like(keep_sorted), order, keep_sorted, axis=-1)
    return mx.where(kept, logprobs, NEG_INF)


def apply_top_k(logprobs: mx.array, top_k: Param) -> mx.array:
    """Keep exactly the k most probable tokens of each row (ties broken by
    sort order); k <= 0 or k >= V leaves the row unchanged."""
    return _mask_sorted(logprobs, lambda s: _keep_top_k(s, top_k))


def apply_top_p(logprobs: mx.array, top_p: Param) -> mx.array:
    """Nucleus: over tokens sorted by DESCENDING probability, keep the smallest
    prefix whose mass reaches top_p (a token stays iff the mass before it is
    < top_p). The top token always stays; top_p >= 1 keeps everything."""
    return _mask_sorted(logprobs, lambda s: _keep_top_p(s, top_p))


def _top_k_then_top_p(logprobs: mx.array, top_k: Param, top_p: Param) -> mx.array:
    """apply_top_p(apply_top_k(x)) with a single sort (top-k keeps the order)."""

    def keep(sorted_lp: mx.array) -> mx.array:
        in_k = _keep_top_k(sorted_lp, top_k)
        return in_k & _keep_top_p(mx.where(in_k, sorted_lp, NEG_INF), top_p)

    return _mask_sorted(logprobs, keep)


def apply_min_p(logprobs: mx.array, min_p: Param) -> mx.array:
    """Remove tokens with p < min_p * p_max; min_p <= 0 is off. Works on
    unnormalised log-probabilities (the test is a ratio)."""
    b, _ = logprobs.shape
    m = mx.clip(_rows(min_p, b, mx.float32), 0.0, 1.0)[:, None]
    log_m = mx.where(m > 0, mx.log(mx.maximum(m, 1e-30)), NEG_INF)
    threshold = mx.max(logprobs, axis=-1, keepdims=True) + log_m
    return mx.where(logprobs >= threshold, logprobs, NEG_INF)


def filtered_logprobs(
    logits: mx.array, temperature: Param, top_p: Param, top_k: Param, min_p: Param
) -> mx.array:
    """The one filter chain the engine and the tests share, in this order:
    log_softmax, temperature, top-k, top-p, min-p, renormalise.

    Top-p and min-p therefore see the tempered distribution (a hot temperature
    widens the nucleus)."""
    lp = normalize(logits.astype(mx.float32))
    lp = apply_temperature(lp, temperature)
    lp = _top_k_then_top_p(lp, top_k, top_p)
    lp = apply_min_p(lp, min_p)
    return normalize(lp)


def pool_top_p(top_p: Param, pool: mx.array, logprobs: mx.array, temperature: Param) -> mx.array:
    """The top_p that, applied by filtered_logprobs (top-k off) to a pool of
    each row's most probable tokens, keeps what top_p keeps over the whole
    vocabulary: the nucleus compares the mass of the tokens before a token with
    top_p, and within the pool that mass is divided by the pool's share of the
    tempered distribution. pool: the pool's log-probabilities [B, K];
    logprobs: the whole row's [B, V]; temperature > 0. A result >= 1 keeps
    the whole pool, as it should: the pool then holds less than top_p."""
    b = logprobs.shape[0]
    t = _rows(temperature, b, mx.float32)[:, None]
    share = mx.logsumexp(pool / t, axis=-1) - mx.logsumexp(logprobs / t, axis=-1)
    return _rows(top_p, b, mx.float32) * mx.exp(-share)


@functools.lru_cache(maxsize=64)
def _block(vocab: int, k: int) -> int:
    """The width of top_tokens's blocks: a divisor of the vocabulary (no
    padding copy) near vocab / 8k, so the first level keeps about an eighth
    of the row; 1 where none fits (then one partition of the whole row)."""
    target = max(1, vocab // (8 * k))
    return next(d for d in range(target, 0, -1) if vocab % d == 0)


def top_tokens(logprobs: mx.array, k: int) -> mx.array:
    """Ids [B, min(k, V)] of each row's k largest entries, in no particular order.

    In two levels: the k blocks with the largest maxima hold every one of the
    row's k largest entries (a block without one has a maximum no larger
    than the k-th largest), so one partition of the block maxima and one of
    those k blocks' entries replace a partition of the whole row: over a 152k
    vocabulary at 8 rows 3 ms instead of 13 (MLX's CPU argpartition runs
    nth_element row by row). Where entries tie with the k-th largest, which of
    them are chosen may differ from a whole-row partition's (any choice is a
    row's k largest)."""
    b, vocab = logprobs.shape
    k = min(k, vocab)
    block = _block(vocab, k)
    blocks = vocab // block
    if block < 8 or blocks <= 2 * k:
        return mx.argpartition(-logprobs, k - 1, axis=-1)[:, :k]
    maxima = mx.max(logprobs.reshape(b, blocks, block), axis=-1)
    chosen = mx.argpartition(-maxima, k - 1, axis=-1)[:, :k]
    ids = (chosen[:, :, None] * block + mx.arange(block, dtype=chosen.dtype)).reshape(b, k * block)
    within = mx.argpartition(-mx.take_along_axis(logprobs, ids, axis=-1), k - 1, axis=-1)[:, :k]
    return mx.take_along_axis(ids, within, axis=-1)


def sample(logprobs: mx.array, key: mx.array, num_samples: int | None = None) -> mx.array:
    """Draw token ids (int32) exactly from softmax(logprobs) with the Gumbel-max
    trick of `mx.random.categorical`: [B], or [B, num_samples] i.i.d. draws.

    `key` is one key for every row, or keys [B, 2], one per row: then each
    row's draw is the one it would get decoding alone with its key, whatever
    rows share its batch (batch.py)."""
    if key.ndim == 2:
        return mx.concatenate([mx.random.categorical(logprobs[i : i + 1], num_samples=num_samples,
                                                     key=key[i]) for i in range(key.shape[0])]
                              ).astype(mx.int32)
    return mx.random.categorical(logprobs, num_samples=num_samples, key=key).astype(mx.int32)
