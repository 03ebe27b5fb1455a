"""Per-token signals in nats, computed on device in float32 (the vocabulary's
sums on the host where vocab_stats.py serves: a CPU with AVX2).

Logit statistics come from log-probabilities computed as x - max - log Z
(never log(softmax)), so a logit gap of 1e4 or a -inf entry gives finite
numbers; zero-probability terms are dropped explicitly because 0 * -inf is NaN.
"""

from __future__ import annotations

import math

import mlx.core as mx

from . import vocab_stats
from .exp2 import exp
from .model import LayerStats
from .trace import METRIC_NAMES

# Name of each signal, in the order of the packed per-token metrics.
SIGNALS = METRIC_NAMES


def _sum_last(x: mx.array) -> mx.array:
    """Sum over the last axis in two levels: a plain float32 sum over a 128k
    vocabulary drifts by ~1e-3 relative, blockwise partial sums do not. The
    block divides the axis where it can (152k = 1187 x 128): padding copies
    the whole array, which cost a quarter of the logit statistics."""
    n = x.shape[-1]
    block = math.gcd(n, 256)
    if block < 64:
        block = 256
        x = mx.pad(x, [(0, 0)] * (x.ndim - 1) + [(0, -n % block)])
    return x.reshape(*x.shape[:-1], -1, block).sum(-1).sum(-1)


def logit_statistics(logits: mx.array) -> tuple[mx.array, mx.array, mx.array]:
    """Log-probabilities, entropy and varentropy (variance of the surprisal)
    along the last axis: the sums on the host where vocab_stats.py serves
    (a CPU with AVX2), else MLX's graph (_device_statistics); log p = x - max
    - log Z either way."""
    x = logits.astype(mx.float32)
    host = vocab_stats.statistics(x)
    if host is None:
        return _device_statistics(x)
    top, log_total, entropy, varentropy = host
    return (x - top[..., None]) - log_total[..., None], entropy, varentropy


@mx.compile
def _device_statistics(x: mx.array) -> tuple[mx.array, mx.array, mx.array]:
    """logit_statistics in MLX's graph, compiled into fused kernels (one graph per shape).

    From the weights w = exp(s) of the shifted logits s = x - max and their
    total Z, in three sums over the vocabulary: Z, then the mean m = E_p[s],
    then E_p[(s - m)^2]. Since log p = s - log Z, entropy = log Z - m and
    varentropy = E_p[(log p + H)^2] = E_p[(s - m)^2] (centred, so no
    cancellation). Nothing is divided or logged per token (8 rows of 152k
    logits: 17 ms against 29 for p = w / Z and its logarithm). The weights
    are 2^(s log2 e) (exp2.py), which MLX's CPU computes 2.6x faster than
    exp, to a relative 3e-6 where p matters (s > -30): entropy within 1e-6
    nats of exp's. A zero weight (a -inf logit) is left out of the sums (0 * -inf is NaN)."""
    shifted = x - mx.max(x, axis=-1, keepdims=True)
    weights = exp(shifted)
    live = weights > 0
    total = _sum_last(weights)[..., None]
    mean = _sum_last(mx.where(live, weights * shifted, 0.0))[..., None] / total
    log_total = mx.log(total)
    entropy = (log_total - mean)[..., 0]
    varentropy = _sum_last(mx.where(live, weights * mx.square(shifted - mean), 0.0)) / total[..., 0]
    return shifted - log_total, entropy, varentropy


def attention_signals(stats: LayerStats, layer: int = -1) -> dict[str, mx.array]:
    """Reduce per-layer attention statistics to per-token scalars [B].

    layer = -1 averages over layers; otherwise that one layer is used.
    attn_varentropy is the across-head population variance of entropy (the
    original's "attention varentropy"); attn_head_varentropy is the true per-head
    varentropy averaged over heads.
    """
    if layer == -1:
        head_entropy, head_vent = stats.head_entropy, stats.head_varentropy
        agreement, interaction = stats.agreement, stats.interaction
    else:
        head_entropy = stats.head_entropy[:, layer : layer + 1]
        head_vent = stats.head_varentropy[:, layer : layer + 1]
        agreement = stats.agreement[:, layer : layer + 1]
        interaction = stats.interaction[:, layer : layer + 1]
    return {
        "attn_entropy": head_entropy.mean(axis=(1, 2)),
        "attn_varentropy": mx.var(head_entropy, axis=2).mean(axis=1),
        "attn_head_varentropy": head_vent.mean(axis=(1, 2)),
        "agreement": agreement.mean(axis=1),
        "interaction_strength": interaction.mean(axis=1),
    }


def token_signals(logits: mx.array, stats: LayerStats | None, layer: int = -1
                  ) -> tuple[mx.array, dict[str, mx.array]]:
    """Log-probabilities [B, V] and every signal for the next token of each
    row: name -> [B] float32.

    Without attention statistics (metrics off) the attention signals are zeros.
    """
    logprobs, entropy, varentropy = logit_statistics(logits)
    if stats is None:
        zeros = mx.zeros_like(entropy)
        attn = {name: zeros for name in SIGNALS[2:]}
    else:
        attn = attention_signals(stats, layer)
    return logprobs, {"entropy": entropy, "varentropy": varentropy, **attn}
