"""An mlx-lm model of any supported family, driven like our Llama port:
`forward(tokens, cache, with_stats) -> (logits, LayerStats | None)`.

At load, one single-token step through the recorder tells whether the family's
attention is visible: every layer must call mlx-lm's attention exactly once
with the same number of query heads. Families that compute attention their own
way (gemma2's soft-capping, for one) still run, with logit metrics only, and
say so in `attention_note`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import mlx.core as mx
import mlx.nn as nn
import numpy as np
from mlx_lm.models import activations

from ..exp2 import swiglu
from ..model import LayerAttention, LayerStats, attention_stats
from ..weights import load_into
from .rebind import modules_calling, rebound
from .recorder import AttentionRecorder, RecorderError, attention_modules
from .support import check_cache, family_of, family_skeleton, make_cache

MLX_LM_SWIGLU = activations.swiglu


@dataclass
class FamilyArgs:
    """The shape facts the engine reads from `model.args`, for any family."""

    model_type: str
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    vocab_size: int


def layer_stats(exposed: list[LayerAttention]) -> LayerStats:
    """LayerStats from each layer's attention [B, heads, S], where S may differ by
    layer (sliding-window layers hold fewer keys): one reduction per key count."""
    groups: dict[int, list[int]] = defaultdict(list)
    for i, a in enumerate(exposed):
        groups[a.scores.shape[-1]].append(i)
    if len(groups) == 1:
        return attention_stats(exposed)
    parts = [attention_stats([exposed[i] for i in layers]) for layers in groups.values()]
    order = mx.array(np.argsort(np.concatenate(list(groups.values()))))
    return LayerStats(*(mx.concatenate([getattr(p, f) for p in parts], axis=1)[:, order]
                        for f in ("head_entropy", "head_varentropy", "agreement", "interaction")))


class FamilyModel:
    """mlx-lm's model with the engine's interface; parameters keep mlx-lm's names."""

    def __init__(self, inner: nn.Module, model_type: str):
        self.inner = inner
        self.recorder = AttentionRecorder(attention_modules(inner))
        self.swiglu_modules = modules_calling(inner, "swiglu", MLX_LM_SWIGLU)
        self.attention_note = ""
        self.args = self._probe(model_type)

    @property
    def layers(self) -> list:
        return self.inner.layers

    @property
    def attention_visible(self) -> bool:
        return not self.attention_note

    def parameters(self) -> dict:
        return self.inner.parameters()

    def make_cache(self) -> list:
        return make_cache(self.inner)

    def _probe(self, model_type: str) -> FamilyArgs:
        """One decode step from an empty cache: the vocabulary, the head counts,
        and whether every layer's attention was seen."""
        n_layers = len(self.layers)
        cache = self.make_cache()
        with self.recorder.recording() as exposed:
            logits = self.inner(mx.array([[0]], dtype=mx.int32), cache=cache)
        heads = {a.scores.shape[1] for a in exposed}
        kv_heads = {c.keys.shape[1] for c in cache if getattr(c, "keys", None) is not None}
        if len(exposed) != n_layers or len(heads) != 1:
            self.attention_note = (
                f"{model_type} computes attention outside mlx-lm's scaled_dot_product_attention "
                f"({len(exposed)} of {n_layers} layers seen): logit metrics only")
        config_heads = getattr(self.inner.args, "num_attention_heads", 0)
        return FamilyArgs(model_type, n_layers, heads.pop() if len(heads) == 1 else config_heads,
                          max(kv_heads) if kv_heads else config_heads, logits.shape[-1])

    def forward(self, tokens: mx.array, cache: list | None = None, with_stats: bool = False
                ) -> tuple[mx.array, LayerStats | None]:
        """Logits [B, L, V] and, for one token with with_stats, every layer's
        statistics. mlx-lm's swiglu runs as exp2's (powers of two) in our passes."""
        with rebound(self.swiglu_modules, "swiglu", MLX_LM_SWIGLU, swiglu):
            if not (with_stats and tokens.shape[1] == 1 and self.attention_visible):
                return self.inner(tokens, cache=cache), None
            with self.recorder.recording() as exposed:
                logits = self.inner(tokens, cache=cache)
        if len(exposed) != self.args.num_hidden_layers:
            raise RecorderError(f"{len(exposed)} of {self.args.num_hidden_layers} layers went "
                                "through mlx-lm's attention at this step; run with metrics 'logits'")
        return logits, layer_stats(exposed)

    def __call__(self, tokens: mx.array, cache: list | None = None) -> mx.array:
        return self.forward(tokens, cache)[0]


def load_family(weights: dict[str, mx.array], config: dict[str, Any], dense: bool,
                dtype: mx.Dtype) -> FamilyModel:
    """An mlx-lm family's HF-named weights as a FamilyModel computing in dtype,
    quantized weights unpacked when `dense` (weights.py's rule, as for our
    Llama port). Raises UnsupportedFamily for a family generation cannot run."""
    model_type = family_of(config)
    model = family_skeleton(config)
    check_cache(model, model_type)
    if hasattr(model, "sanitize"):
        weights = model.sanitize(weights)
    quant = config.get("quantization") or config.get("quantization_config")
    load_into(model, weights, quant, bool(quant) and dense, dtype)
    return FamilyModel(model, model_type)
