"""The Llama architecture in MLX, with attention statistics at the current query.

Same parameter names as Hugging Face / mlx-lm (`model.layers.N.self_attn.q_proj`
...), so one weight dictionary loads into this model and into mlx-lm's own Llama:
that is how the tests prove the two agree.

A forward pass over one new token (decode) can also return, per layer, the
statistics of its attention distribution over the valid keys. They come from the
same softmaxed scores that produce the layer's output: no second QK^T. Longer
inputs (prompt chunks) use MLX's fused attention kernel and return no
statistics; the engine feeds the last prompt token as a single-token step so
the first statistics belong to the last prompt position only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any

import mlx.core as mx
import mlx.nn as nn
from mlx_lm.models.cache import BatchKVCache, KVCache

from .exp2 import softmax, swiglu


@dataclass
class ModelArgs:
    hidden_size: int
    num_hidden_layers: int
    intermediate_size: int
    num_attention_heads: int
    vocab_size: int
    rms_norm_eps: float = 1e-5
    num_key_value_heads: int | None = None
    head_dim: int | None = None
    rope_theta: float = 10000.0
    rope_traditional: bool = False
    rope_scaling: dict[str, Any] | None = None
    max_position_embeddings: int = 4096
    tie_word_embeddings: bool = True
    attention_bias: bool = False
    mlp_bias: bool = False
    model_type: str = "llama"
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.num_key_value_heads = self.num_key_value_heads or self.num_attention_heads
        self.head_dim = self.head_dim or self.hidden_size // self.num_attention_heads

    @classmethod
    def from_dict(cls, config: dict[str, Any]) -> "ModelArgs":
        known = {f.name for f in fields(cls)} - {"extra"}
        missing = [n for n in ("hidden_size", "num_hidden_layers", "intermediate_size",
                               "num_attention_heads", "vocab_size") if n not in config]
        if missing:
            raise ValueError(f"model config lacks {', '.join(missing)}")
        args = {k: v for k, v in config.items() if k in known}
        check_sliding_window(config)
        return cls(**args, extra={k: v for k, v in config.items() if k not in known})


def check_sliding_window(config: dict[str, Any]) -> None:
    """Refuse a config whose layers attend through a sliding window (`layer_types`
    naming "sliding_attention", as mlx-lm's Llama honours): this port attends
    over every key, so it would compute another model. A window at least as
    long as the context changes nothing and is accepted."""
    window = config.get("sliding_window")
    sliding = [i for i, t in enumerate(config.get("layer_types") or ()) if t == "sliding_attention"]
    if sliding and window is not None and window < config.get("max_position_embeddings", 4096):
        raise ValueError(f"layers {sliding} use sliding-window attention (window {window}), which "
                         "mlx-entropix's Llama port does not implement; use a checkpoint without "
                         "sliding-window layers")


def llama3_rope_freqs(dims: int, base: float, scaling: dict[str, Any]) -> mx.array:
    """Per-dimension wavelengths of Llama 3.1's frequency-dependent RoPE scaling."""
    factor = scaling["factor"]
    low_freq_factor = scaling.get("low_freq_factor", 1.0)
    high_freq_factor = scaling.get("high_freq_factor", 4.0)
    old_context = scaling.get("original_max_position_embeddings", 8192)
    low_freq_wavelen = old_context / low_freq_factor
    high_freq_wavelen = old_context / high_freq_factor

    freqs = base ** (mx.arange(0, dims, 2, dtype=mx.float32) / dims)
    wavelens = 2 * math.pi * freqs
    freqs = mx.where(wavelens > low_freq_wavelen, freqs * factor, freqs)
    is_medium = (wavelens > high_freq_wavelen) & (wavelens < low_freq_wavelen)
    smooth = (old_context / wavelens - low_freq_factor) / (high_freq_factor - low_freq_factor)
    smoothed = freqs / ((1 - smooth) / factor + smooth)
    return mx.where(is_medium, smoothed, freqs)


class RoPE(nn.Module):
    """Rotary embeddings: default, linear or Llama 3 scaling (or GGUF frequency factors)."""

    def __init__(self, args: ModelArgs):
        super().__init__()
        self.dims = args.head_dim
        self.traditional = args.rope_traditional
        self.base: float | None = args.rope_theta
        self.scale = 1.0
        self._freqs = None
        scaling = args.rope_scaling or {}
        kind = scaling.get("rope_type", scaling.get("type", "default"))
        if kind == "linear":
            self.scale = 1.0 / scaling["factor"]
        elif kind == "llama3":
            self._freqs = llama3_rope_freqs(self.dims, args.rope_theta, scaling)
            self.base = None
        elif kind == "freq_factors":  # llama.cpp's rope_freqs tensor, one factor per pair
            base = args.rope_theta ** (mx.arange(0, self.dims, 2, dtype=mx.float32) / self.dims)
            self._freqs = base * mx.array(scaling["factors"], dtype=mx.float32)
            self.base = None
        elif kind != "default":
            raise ValueError(f"unsupported rope_scaling type {kind!r} "
                             "(supported: default, linear, llama3)")

    def __call__(self, x: mx.array, offset: int = 0) -> mx.array:
        return mx.fast.rope(x, self.dims, traditional=self.traditional, base=self.base,
                            scale=self.scale, offset=offset, freqs=self._freqs)


@dataclass
class LayerStats:
    """Attention statistics of every layer at the current query, float32:
    head_entropy, head_varentropy [B, layers, heads]; agreement, interaction [B, layers]."""

    head_entropy: mx.array
    head_varentropy: mx.array
    agreement: mx.array
    interaction: mx.array


@dataclass
class LayerAttention:
    """One layer's attention at the current query, float32 [B, heads, S]: the
    scores (-inf at a key that is not the row's) and their softmax over the
    row's keys, the weights that produced the layer's output."""

    scores: mx.array
    probs: mx.array


def _attention_stats(scores: mx.array, probs: mx.array) -> tuple[mx.array, mx.array, mx.array, mx.array]:
    """From scores and their softmax [B, layers, heads, S]; a score of -inf
    marks a key that is not the row's (left padding in a batch), so every
    statistic is over each row's own valid keys only.

    With p = softmax(s): entropy = log Z - E_p[s], and since log p + H =
    s - E_p[s], varentropy = E_p[(s - E_p[s])^2]. log Z comes from the
    largest weight, p_max = exp(s_max - log Z), so no score is exponentiated
    a second time (MLX's CPU exp is scalar code: at 8 rows of the 0.5B model
    a logsumexp and an exp of the scores took 16 of these statistics' 21 ms).
    p_max >= 1 / S, so its logarithm is as exact as p. One compiled graph for
    all layers at once, whatever S is.
    """
    valid = scores > -math.inf
    s = mx.where(valid, scores, 0.0)  # 0 * -inf would be NaN
    log_total = mx.max(scores, axis=-1, keepdims=True) - mx.log(mx.max(probs, axis=-1, keepdims=True))
    mean_s = (probs * s).sum(-1, keepdims=True)
    entropy = (log_total - mean_s)[..., 0]
    varentropy = (probs * mx.square(s - mean_s)).sum(-1)
    n_keys = valid.sum(axis=(2, 3)).astype(mx.float32)  # heads x the row's valid keys
    agreement = mx.abs(probs - probs.mean(axis=2, keepdims=True)).sum(axis=(2, 3)) / n_keys
    interaction = mx.abs(s).sum(axis=(2, 3)) / n_keys
    return entropy, varentropy, agreement, interaction


# One compiled graph for every S > 1. A shapeless graph traced at S > 1 and run
# at S == 1 (a one-token prompt) crashes MLX 0.32, so that case runs uncompiled.
_compiled_attention_stats = mx.compile(_attention_stats, shapeless=True)


def attention_stats(layers: list[LayerAttention]) -> LayerStats:
    """LayerStats from each layer's attention (the same S in every layer)."""
    scores = mx.stack([a.scores for a in layers], axis=1)
    probs = mx.stack([a.probs for a in layers], axis=1)
    stats = _compiled_attention_stats if scores.shape[-1] > 1 else _attention_stats
    return LayerStats(*stats(scores, probs))


class Attention(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        self.n_heads = args.num_attention_heads
        self.n_kv_heads = args.num_key_value_heads
        self.head_dim = args.head_dim
        self.scale = self.head_dim**-0.5
        dim, bias = args.hidden_size, args.attention_bias
        self.q_proj = nn.Linear(dim, self.n_heads * self.head_dim, bias=bias)
        self.k_proj = nn.Linear(dim, self.n_kv_heads * self.head_dim, bias=bias)
        self.v_proj = nn.Linear(dim, self.n_kv_heads * self.head_dim, bias=bias)
        self.o_proj = nn.Linear(self.n_heads * self.head_dim, dim, bias=bias)
        self.rope = RoPE(args)

    def __call__(self, x: mx.array, cache: KVCache | None, with_stats: bool,
                 mask: mx.array | None = None) -> tuple[mx.array, LayerAttention | None]:
        """The layer's output and, for one query with with_stats, its LayerAttention.
        mask [B, 1, 1, S] (bool) marks each row's valid keys in a batched cache."""
        B, L, _ = x.shape
        q = self.q_proj(x).reshape(B, L, self.n_heads, -1).transpose(0, 2, 1, 3)
        k = self.k_proj(x).reshape(B, L, self.n_kv_heads, -1).transpose(0, 2, 1, 3)
        v = self.v_proj(x).reshape(B, L, self.n_kv_heads, -1).transpose(0, 2, 1, 3)
        offset = cache.offset if cache is not None else 0
        q, k = self.rope(q, offset), self.rope(k, offset)
        if cache is not None:
            k, v = cache.update_and_fetch(k, v)

        if with_stats and L == 1:
            out, exposed = self._attend_exposed(q, k, v, mask)
        else:
            if mask is None and L > 1:
                mask = "causal"
            out = mx.fast.scaled_dot_product_attention(q, k, v, scale=self.scale, mask=mask)
            exposed = None
        return self.o_proj(out.transpose(0, 2, 1, 3).reshape(B, L, -1)), exposed

    def _attend_exposed(self, q: mx.array, k: mx.array, v: mx.array, mask: mx.array | None
                        ) -> tuple[mx.array, LayerAttention]:
        """One query over the cache's valid keys, keeping the scores and their
        softmax [B, H, S]: the same softmax serves the output and the
        statistics. The cache is read in its own dtype (no float32 copy of K
        and V per step); the scores are widened to float32 before the softmax,
        where precision matters. A key outside a row's mask scores -inf: no
        weight, and no statistic counts it."""
        B, _, _, D = q.shape
        rep = self.n_heads // self.n_kv_heads
        qg = q.reshape(B, self.n_kv_heads, rep, D) * self.scale
        scores = (qg @ k.swapaxes(-1, -2)).astype(mx.float32)  # [B, Hkv, rep, S]
        if mask is not None:
            scores = mx.where(mask, scores, -math.inf)
        probs = softmax(scores)
        out = probs.astype(v.dtype) @ v  # [B, Hkv, rep, D]
        return out.reshape(B, self.n_heads, 1, D), LayerAttention(scores.reshape(B, self.n_heads, -1),
                                                                   probs.reshape(B, self.n_heads, -1))


class MLP(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        dim, hidden, bias = args.hidden_size, args.intermediate_size, args.mlp_bias
        self.gate_proj = nn.Linear(dim, hidden, bias=bias)
        self.up_proj = nn.Linear(dim, hidden, bias=bias)
        self.down_proj = nn.Linear(hidden, dim, bias=bias)

    def __call__(self, x: mx.array) -> mx.array:
        return self.down_proj(swiglu(self.gate_proj(x), self.up_proj(x)))


class TransformerBlock(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        self.self_attn = Attention(args)
        self.mlp = MLP(args)
        self.input_layernorm = nn.RMSNorm(args.hidden_size, eps=args.rms_norm_eps)
        self.post_attention_layernorm = nn.RMSNorm(args.hidden_size, eps=args.rms_norm_eps)

    def __call__(self, x: mx.array, cache: KVCache | None, with_stats: bool,
                 mask: mx.array | None = None) -> tuple[mx.array, LayerAttention | None]:
        r, exposed = self.self_attn(self.input_layernorm(x), cache, with_stats, mask)
        h = x + r
        return h + self.mlp(self.post_attention_layernorm(h)), exposed


class LlamaModel(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        self.embed_tokens = nn.Embedding(args.vocab_size, args.hidden_size)
        self.layers = [TransformerBlock(args) for _ in range(args.num_hidden_layers)]
        self.norm = nn.RMSNorm(args.hidden_size, eps=args.rms_norm_eps)


class Model(nn.Module):
    """Llama. `model(tokens, cache)` returns logits [B, L, V], like mlx-lm's Llama;
    `model.forward(tokens, cache, with_stats=True)` also returns LayerStats."""

    def __init__(self, args: ModelArgs):
        super().__init__()
        self.args = args
        self.model = LlamaModel(args)
        if not args.tie_word_embeddings:
            self.lm_head = nn.Linear(args.hidden_size, args.vocab_size, bias=False)

    @property
    def layers(self) -> list[TransformerBlock]:
        return self.model.layers

    def make_cache(self) -> list[KVCache]:
        return [KVCache() for _ in self.layers]

    def forward(self, tokens: mx.array, cache: list[KVCache] | None = None,
                with_stats: bool = False) -> tuple[mx.array, LayerStats | None]:
        h = self.model.embed_tokens(tokens)
        mask = None
        if cache is not None and isinstance(cache[0], BatchKVCache):  # rows of different lengths
            mask = cache[0].make_mask(tokens.shape[1])
        exposed = []
        for i, layer in enumerate(self.layers):
            h, layer_attention = layer(h, cache[i] if cache is not None else None, with_stats, mask)
            exposed.append(layer_attention)
        h = self.model.norm(h)
        if self.args.tie_word_embeddings:
            logits = self.model.embed_tokens.as_linear(h)
        else:
            logits = self.lm_head(h)
        return logits, attention_stats(exposed) if exposed[0] is not None else None

    def __call__(self, tokens: mx.array, cache: list[KVCache] | None = None) -> mx.array:
        return self.forward(tokens, cache)[0]

    def sanitize(self, weights: dict[str, mx.array]) -> dict[str, mx.array]:
        """Drop what HF checkpoints carry but this model does not use."""
        weights = {k: v for k, v in weights.items() if "rotary_emb.inv_freq" not in k}
        if self.args.tie_word_embeddings:
            weights.pop("lm_head.weight", None)
            weights.pop("lm_head.scales", None)
            weights.pop("lm_head.biases", None)
        return weights
