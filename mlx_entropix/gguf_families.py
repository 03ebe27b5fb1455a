"""What a GGUF architecture is in mlx-lm's terms: the HF config from the
`<arch>.*` metadata, and every tensor's HF name with the changes llama.cpp's
converter made undone (Llama's Q/K row permutation, Gemma's norm weights
stored as 1 + w). The result loads into our Llama port or mlx-lm's class of
that family like a Hugging Face checkpoint would.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np


class GGUFArchError(ValueError):
    """A GGUF architecture or tensor this loader cannot map, with the reason."""


# Per-layer tensor stems shared by the llama-like architectures.
_LAYER = {
    "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj", "attn_qkv": "self_attn.qkv_proj",
    "attn_q_norm": "self_attn.q_norm", "attn_k_norm": "self_attn.k_norm",
    "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj",
    "attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm",
}
_GEMMA3_LAYER = {**_LAYER, "ffn_norm": "pre_feedforward_layernorm",
                 "post_attention_norm": "post_attention_layernorm",
                 "post_ffw_norm": "post_feedforward_layernorm"}
_PHI3_LAYER = {**_LAYER, "ffn_up": "mlp.gate_up_proj"}  # phi3 stores gate and up fused
_TOP = {"token_embd": "model.embed_tokens", "output_norm": "model.norm", "output": "lm_head"}


def unpermute(w: np.ndarray, n_heads: int) -> np.ndarray:
    """Undo llama.cpp's Q/K row interleaving for its RoPE (rows = output features)."""
    rows = w.shape[0]
    return w.reshape(n_heads, rows // n_heads // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


@dataclass(frozen=True)
class Architecture:
    """One GGUF architecture: its mlx-lm model_type, tensor names and fix-ups."""

    model_type: str
    layer_names: dict[str, str]
    permuted_qk: bool = False  # llama.cpp permuted Q/K rows (llama-style converters)
    norm_shift: float = 0.0  # llama.cpp stored norm weights as w + shift
    extra_config: Callable[[Callable[..., Any], dict[str, Any]], dict[str, Any]] = field(
        default=lambda get, config: {})


def _gemma3_extra(get: Callable[..., Any], config: dict[str, Any]) -> dict[str, Any]:
    head_dim = config["head_dim"]
    # llama.cpp scales queries by 1/sqrt(head_dim), except Gemma 3 27B (hidden / heads).
    scalar = config["hidden_size"] // config["num_attention_heads"] if config["num_hidden_layers"] == 62 \
        else head_dim
    return {"query_pre_attn_scalar": scalar, "sliding_window": get("attention.sliding_window", 4096),
            "sliding_window_pattern": 6, "rope_local_base_freq": 10000.0}


ARCHITECTURES: dict[str, Architecture] = {
    "llama": Architecture("llama", _LAYER, permuted_qk=True),
    "mistral3": Architecture("mistral", _LAYER, permuted_qk=True),
    "qwen2": Architecture("qwen2", _LAYER),
    "qwen3": Architecture("qwen3", _LAYER),
    "gemma3": Architecture("gemma3_text", _GEMMA3_LAYER, norm_shift=1.0, extra_config=_gemma3_extra),
    "phi3": Architecture("phi3", _PHI3_LAYER),
}


def architecture(md: dict[str, Any]) -> tuple[str, Architecture]:
    arch = md.get("general.architecture")
    if arch not in ARCHITECTURES:
        raise GGUFArchError(f"GGUF architecture {arch!r} is not supported; supported: "
                            f"{', '.join(sorted(ARCHITECTURES))}")
    return arch, ARCHITECTURES[arch]


def hf_config(md: dict[str, Any], has_output: bool) -> dict[str, Any]:
    """An HF-style config.json dict of the file's family from its metadata."""
    arch, spec = architecture(md)

    def get(key: str, default: Any = None) -> Any:
        value = md.get(f"{arch}.{key}", default)
        if value is None:
            raise GGUFArchError(f"metadata lacks {arch}.{key}")
        return value

    n_heads = get("attention.head_count")
    hidden = get("embedding_length")
    kv_heads = get("attention.head_count_kv", n_heads)
    if isinstance(n_heads, list) or isinstance(kv_heads, list):
        raise GGUFArchError(f"{arch}: per-layer head counts are not supported")
    config: dict[str, Any] = {
        "model_type": spec.model_type,
        "hidden_size": hidden,
        "num_hidden_layers": get("block_count"),
        "intermediate_size": get("feed_forward_length"),
        "num_attention_heads": n_heads,
        "num_key_value_heads": kv_heads,
        "head_dim": get("attention.key_length", hidden // n_heads),
        "rms_norm_eps": get("attention.layer_norm_rms_epsilon"),
        "rope_theta": get("rope.freq_base", 10000.0),
        "max_position_embeddings": get("context_length"),
        "vocab_size": get("vocab_size", len(md.get("tokenizer.ggml.tokens", []))),
        "tie_word_embeddings": not has_output,
    }
    if md.get(f"{arch}.rope.scaling.type") == "linear":
        config["rope_scaling"] = {"rope_type": "linear", "type": "linear",
                                  "factor": get("rope.scaling.factor")}
    config.update(spec.extra_config(get, config))
    return config


def hf_name(gguf_name: str, spec: Architecture) -> str | None:
    stem, _, suffix = gguf_name.rpartition(".")
    parts = stem.split(".")
    if parts[0] == "blk" and len(parts) == 3 and parts[2] in spec.layer_names:
        return f"model.layers.{parts[1]}.{spec.layer_names[parts[2]]}.{suffix}"
    if stem in _TOP:
        return f"{_TOP[stem]}.{suffix}"
    return None


def hf_weights(tensors: dict[str, np.ndarray], md: dict[str, Any], config: dict[str, Any]
               ) -> dict[str, np.ndarray]:
    """The file's tensors under HF names, as the HF checkpoint held them."""
    _, spec = architecture(md)
    out: dict[str, np.ndarray] = {}
    for name, value in tensors.items():
        if name == "rope_freqs.weight" and spec.model_type == "llama":
            config["rope_scaling"] = {"rope_type": "freq_factors",
                                      "factors": value.astype(np.float32).tolist()}
            continue
        hf = hf_name(name, spec)
        if hf is None:
            raise GGUFArchError(f"unexpected tensor {name!r} for architecture "
                                f"{md.get('general.architecture')!r}")
        if spec.permuted_qk and hf.endswith("self_attn.q_proj.weight"):
            value = unpermute(value, config["num_attention_heads"])
        elif spec.permuted_qk and hf.endswith("self_attn.k_proj.weight"):
            value = unpermute(value, config["num_key_value_heads"])
        elif spec.norm_shift and hf.endswith("norm.weight"):
            value = value - np.float32(spec.norm_shift)
        out[hf] = value
    return out
