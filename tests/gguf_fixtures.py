"""Tiny GGUF files written the way llama.cpp's converter writes them, with the
gguf package's own writer, tensor name map and quantisers: an independent
path from an mlx-lm model's HF-named weights to a GGUF file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gguf
import mlx.core as mx
import numpy as np
from gguf import GGMLQuantizationType as T
from mlx.utils import tree_flatten
from tokenizers import pre_tokenizers

# GGUF architecture -> mlx-lm model_type, and llama.cpp's transforms on the way in.
ARCHS = {"llama": "llama", "mistral3": "mistral", "qwen2": "qwen2", "qwen3": "qwen3",
         "gemma3": "gemma3_text", "phi3": "phi3"}
PERMUTED = {"llama", "mistral3"}  # Q/K rows interleaved for llama.cpp's RoPE
NORM_SHIFT = {"gemma3": 1.0}  # norm weights stored as 1 + w

SHAPE = {"hidden_size": 64, "num_hidden_layers": 2, "intermediate_size": 256,
         "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16, "rms_norm_eps": 1e-5,
         "max_position_embeddings": 512, "rope_theta": 10000.0}
EXTRA = {"gemma3": {"num_hidden_layers": 6, "query_pre_attn_scalar": 16, "sliding_window": 6, "sliding_window_pattern": 6,
                    "rope_local_base_freq": 10000.0},
         "qwen2": {"tie_word_embeddings": False}, "qwen3": {"tie_word_embeddings": False},
         "phi3": {"tie_word_embeddings": False}}

# Where each K-quant keeps its float16 super-block scales (d, dmin), by byte offset.
K_SCALES = {T.Q2_K: (80, 82), T.Q3_K: (108,), T.Q4_K: (0, 2), T.Q5_K: (0, 2), T.Q6_K: (208,)}


def byte_vocab() -> dict[str, Any]:
    """A byte-level BPE vocabulary of 256 bytes and two specials, with a chat template."""
    tokens = ["<|im_start|>", "<|im_end|>", *sorted(pre_tokenizers.ByteLevel.alphabet())]
    return {"tokens": tokens, "types": [3, 3] + [1] * (len(tokens) - 2)}


def hf_config(arch: str, vocab_size: int) -> dict[str, Any]:
    config = {"model_type": ARCHS[arch], "vocab_size": vocab_size, **SHAPE, **EXTRA.get(arch, {})}
    config.setdefault("tie_word_embeddings", arch == "llama")
    return config


def random_hf_weights(config: dict[str, Any], seed: int) -> dict[str, np.ndarray]:
    """mlx-lm's model of `config` (its own class names the weights), every value random."""
    from mlx_lm.utils import _get_classes

    model_class, args_class = _get_classes(config)
    model = model_class(args_class.from_dict(config))
    rng = np.random.default_rng(seed)
    weights = {k: rng.normal(0, 0.2 if v.ndim > 1 else 0.1, v.shape).astype(np.float32)
               + (1.0 if v.ndim == 1 and "norm" in k and config["model_type"] != "gemma3_text" else 0.0)
               for k, v in tree_flatten(model.parameters())}
    if config.get("tie_word_embeddings"):
        weights.pop("lm_head.weight", None)
    return weights


def llama_cpp_permute(w: np.ndarray, n_heads: int) -> np.ndarray:
    return w.reshape(n_heads, 2, w.shape[0] // n_heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def k_quant_bytes(qtype: T, rows: int, cols: int, rng: np.random.Generator) -> np.ndarray:
    """Random K-quant blocks whose float16 scales are small and finite."""
    size, block = gguf.GGML_QUANT_SIZES[qtype][1], gguf.GGML_QUANT_SIZES[qtype][0]
    raw = rng.integers(0, 256, (rows, cols // block, size), dtype=np.uint8)
    for offset in K_SCALES[qtype]:
        raw[..., offset:offset + 2] = np.frombuffer(np.float16(0.01).tobytes(), np.uint8)
    return raw.reshape(rows, -1)


def stored(value: np.ndarray, qtype: T, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(what the file holds, what the gguf package dequantises it to)."""
    if qtype in K_SCALES:
        raw = k_quant_bytes(qtype, value.shape[0], value.shape[1], rng)
    elif qtype == T.F32:
        raw = value
    elif qtype == T.F16:
        raw = value.astype(np.float16)
    else:
        raw = gguf.quants.quantize(value, qtype)
    return raw, gguf.quants.dequantize(raw, qtype).reshape(value.shape).astype(np.float32)


def write_gguf(path: Path, arch: str, config: dict[str, Any], weights: dict[str, np.ndarray],
               types: dict[str, T], seed: int = 0, vocab: dict[str, Any] | None = None,
               chat_template: str | None = "{% for m in messages %}<|im_start|>{{ m['content'] }}<|im_end|>"
                                           "{% endfor %}{% if add_generation_prompt %}<|im_start|>{% endif %}"
               ) -> dict[str, np.ndarray]:
    """Write the HF-named weights as llama.cpp would (matrix types by HF name
    suffix, default F32); returns the HF weights as the file holds them."""
    rng = np.random.default_rng(seed)
    vocab = vocab or byte_vocab()
    arch_enum = next(a for a, name in gguf.MODEL_ARCH_NAMES.items() if name == arch)
    names = gguf.get_tensor_name_map(arch_enum, config["num_hidden_layers"])
    w = gguf.GGUFWriter(str(path), arch)
    w.add_uint32(f"{arch}.block_count", config["num_hidden_layers"])
    w.add_uint32(f"{arch}.context_length", config["max_position_embeddings"])
    w.add_uint32(f"{arch}.embedding_length", config["hidden_size"])
    w.add_uint32(f"{arch}.feed_forward_length", config["intermediate_size"])
    w.add_uint32(f"{arch}.attention.head_count", config["num_attention_heads"])
    w.add_uint32(f"{arch}.attention.head_count_kv", config["num_key_value_heads"])
    w.add_float32(f"{arch}.attention.layer_norm_rms_epsilon", config["rms_norm_eps"])
    w.add_float32(f"{arch}.rope.freq_base", config["rope_theta"])
    if config["head_dim"] != config["hidden_size"] // config["num_attention_heads"]:
        w.add_uint32(f"{arch}.attention.key_length", config["head_dim"])
        w.add_uint32(f"{arch}.attention.value_length", config["head_dim"])
    if arch == "gemma3":
        w.add_uint32(f"{arch}.attention.sliding_window", config["sliding_window"])
    w.add_string("tokenizer.ggml.model", "gpt2")
    w.add_string("tokenizer.ggml.pre", "qwen2")
    w.add_array("tokenizer.ggml.tokens", vocab["tokens"])
    w.add_array("tokenizer.ggml.token_type", vocab["types"])
    w.add_array("tokenizer.ggml.merges", [])
    w.add_uint32("tokenizer.ggml.eos_token_id", 1)
    w.add_uint32("tokenizer.ggml.bos_token_id", 0)
    if chat_template is not None:
        w.add_string("tokenizer.chat_template", chat_template)
    held = {}
    for name, value in weights.items():
        stem, suffix = name.rsplit(".", 1)
        gguf_name = f"{names.get_name(stem)}.{suffix}"
        assert not gguf_name.startswith("None"), name
        qtype = next((t for key, t in types.items() if stem.endswith(key)), T.F32) if value.ndim == 2 else T.F32
        raw, held[name] = stored(value, qtype, rng)
        if arch in PERMUTED and stem.endswith("q_proj"):
            raw = llama_cpp_permute(raw, config["num_attention_heads"])
        elif arch in PERMUTED and stem.endswith("k_proj"):
            raw = llama_cpp_permute(raw, config["num_key_value_heads"])
        elif arch in NORM_SHIFT and stem.endswith("norm"):
            raw = raw + np.float32(NORM_SHIFT[arch])
        w.add_tensor(gguf_name, raw, raw_dtype=qtype if qtype not in (T.F32, T.F16) else None)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return held


def reference_model(config: dict[str, Any], weights: dict[str, np.ndarray]):
    """mlx-lm's own model of `config` holding these weights in float32."""
    from mlx_lm.utils import _get_classes

    model_class, args_class = _get_classes(config)
    model = model_class(args_class.from_dict(config))
    weights = {k: mx.array(v) for k, v in weights.items()}
    if hasattr(model, "sanitize"):
        weights = model.sanitize(weights)
    model.load_weights(list(weights.items()), strict=True)
    model.set_dtype(mx.float32)
    mx.eval(model.parameters())
    return model
