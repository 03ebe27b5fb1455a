"""See the attention of any mlx-lm family that computes it through
`mlx_lm.models.base.scaled_dot_product_attention`.

Each mlx-lm model file imports that function into its own namespace and calls
it with the queries, the keys and values fetched from the cache (only the
valid ones: `KVCache` returns its first `offset` positions, a sliding-window
`RotatingKVCache` its window), the scale and the mask. While a decode step
(one query) runs under `AttentionRecorder.recording()`, the name is rebound in
the modules the loaded model's classes come from to `exposed_attention`: one
float32 QK^T per layer whose softmax produces the layer's output *and* is
kept with the pre-softmax scores, as our Llama port does. Prompt chunks, and
anything else not a single query, go to mlx-lm's own function unchanged.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from types import ModuleType

import mlx.core as mx
import mlx.nn as nn
from mlx_lm.models import base

from ..exp2 import softmax
from ..model import LayerAttention
from .rebind import modules_calling, rebound

MLX_LM_SDPA = base.scaled_dot_product_attention
NAME = "scaled_dot_product_attention"


class RecorderError(RuntimeError):
    """Attention the recorder cannot reduce to scores over the valid keys."""


def attention_modules(model: nn.Module) -> list[ModuleType]:
    """The modules of the model's classes that call mlx-lm's attention by name."""
    return modules_calling(model, NAME, MLX_LM_SDPA)


def exposed_attention(queries: mx.array, keys: mx.array, values: mx.array, scale: float,
                      mask: mx.array | str | None, sinks: mx.array | None
                      ) -> tuple[mx.array, LayerAttention]:
    """One query [B, H, 1, D] over keys [B, Hkv, S, D] (GQA: H = rep * Hkv):
    the attention output [B, H, 1, Dv] and the layer's scaled scores and their
    softmax over the keys [B, H, S], float32.

    An additive mask is part of the score (MLA families pass their positional
    term that way); a boolean one (a batched cache's left padding) scores the
    keys it hides -inf, which the statistics skip (model.attention_stats); attention sinks join the softmax's denominator only, as in
    MLX's fused kernel, and are not keys: the recorded softmax is over the keys alone.
    """
    B, H, _, D = queries.shape
    n_kv = keys.shape[1]
    rep = H // n_kv
    q = queries.reshape(B, n_kv, rep, D).astype(mx.float32)
    scores = (q * scale) @ keys.astype(mx.float32).swapaxes(-1, -2)  # [B, Hkv, rep, S]
    if isinstance(mask, mx.array):
        S = scores.shape[-1]
        mask = mx.broadcast_to(mask, (B, H, 1, S)).reshape(B, n_kv, rep, S)
        if mask.dtype == mx.bool_:  # a batch's left padding: those keys are not the row's
            scores = mx.where(mask, scores, -math.inf)
        else:
            scores = scores + mask
    if sinks is None:
        probs = over_keys = softmax(scores)
    else:
        sink = mx.broadcast_to(sinks.astype(mx.float32).reshape(1, n_kv, rep, 1), (B, n_kv, rep, 1))
        probs = softmax(mx.concatenate([scores, sink], axis=-1))[..., :-1]
        over_keys = probs / probs.sum(axis=-1, keepdims=True)
    out = probs @ values.astype(mx.float32)
    return out.astype(queries.dtype).reshape(B, H, 1, -1), LayerAttention(scores.reshape(B, H, -1),
                                                                          over_keys.reshape(B, H, -1))


class AttentionRecorder:
    """Rebinds mlx-lm's attention in the given modules while recording."""

    def __init__(self, modules: list[ModuleType]):
        self.modules = modules

    @contextlib.contextmanager
    def recording(self) -> Iterator[list[LayerAttention]]:
        """Yields the list that fills, layer by layer, with each layer's attention."""
        exposed: list[LayerAttention] = []

        def attention(queries, keys, values, cache, scale, mask, sinks=None):
            if queries.shape[2] != 1 or isinstance(keys, tuple):  # prompt chunk, quantized cache
                return MLX_LM_SDPA(queries, keys, values, cache, scale=scale, mask=mask, sinks=sinks)
            out, layer_attention = exposed_attention(queries, keys, values, scale, mask, sinks)
            exposed.append(layer_attention)
            return out

        with rebound(self.modules, NAME, MLX_LM_SDPA, attention):
            yield exposed
