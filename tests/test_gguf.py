"""GGUF files written the way llama.cpp writes them (Q/K rows permuted for its
interleaved RoPE) load back to the same model."""

import re

import mlx.core as mx
import numpy as np
import pytest

from mlx_entropix.gguf import tensor_types
from mlx_entropix.load import build_model, load
from tests.llama_fixtures import random_weights, tiny_config

GGUF_NAMES = {"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
              "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
              "mlp.down_proj": "ffn_down", "input_layernorm": "attn_norm",
              "post_attention_layernorm": "ffn_norm"}


def llama_cpp_permute(w: mx.array, n_heads: int) -> mx.array:
    """What llama.cpp's convert_hf_to_gguf does to q_proj/k_proj rows."""
    rows = w.shape[0]
    return w.reshape(n_heads, 2, rows // n_heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def gguf_name(hf: str) -> str:
    layer = re.fullmatch(r"model\.layers\.(\d+)\.(.+)\.weight", hf)
    if layer:
        return f"blk.{layer[1]}.{GGUF_NAMES[layer[2]]}.weight"
    return {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
            "lm_head.weight": "output.weight"}[hf]


def write_gguf(path, config, weights, tokenizer_metadata, dtype):
    u32 = lambda v: mx.array(v, dtype=mx.uint32)  # noqa: E731
    metadata = {
        "general.architecture": "llama",
        "llama.embedding_length": u32(config["hidden_size"]),
        "llama.block_count": u32(config["num_hidden_layers"]),
        "llama.feed_forward_length": u32(config["intermediate_size"]),
        "llama.attention.head_count": u32(config["num_attention_heads"]),
        "llama.attention.head_count_kv": u32(config["num_key_value_heads"]),
        "llama.rope.dimension_count": u32(config["hidden_size"] // config["num_attention_heads"]),
        "llama.attention.layer_norm_rms_epsilon": mx.array(config["rms_norm_eps"], dtype=mx.float32),
        "llama.rope.freq_base": mx.array(config["rope_theta"], dtype=mx.float32),
        "llama.context_length": u32(config["max_position_embeddings"]),
        "llama.vocab_size": u32(config["vocab_size"]),
        **tokenizer_metadata,
    }
    tensors = {}
    for name, w in weights.items():
        if name.endswith("q_proj.weight"):
            w = llama_cpp_permute(w, config["num_attention_heads"])
        elif name.endswith("k_proj.weight"):
            w = llama_cpp_permute(w, config["num_key_value_heads"])
        tensors[gguf_name(name)] = w.astype(dtype if w.ndim == 2 else mx.float32)
    mx.save_gguf(str(path), tensors, metadata)


@pytest.fixture(scope="module")
def tokenizer_metadata(embedded_gguf_path):
    _, md = mx.load(str(embedded_gguf_path), return_metadata=True)
    return {k: v for k, v in md.items() if k.startswith("tokenizer.")}


@pytest.mark.parametrize("dtype,name,tol", [(mx.float32, "F32", 1e-4), (mx.float16, "F16", 2e-2)])
@pytest.mark.parametrize("tied", [True, False])
def test_float_gguf_loads_to_the_same_model(tmp_path, tokenizer_metadata, dtype, name, tol, tied):
    config = tiny_config(vocab_size=49152, hidden_size=64, num_attention_heads=4,
                         num_key_value_heads=2, tie_word_embeddings=tied)
    weights = random_weights(config, seed=7)
    path = tmp_path / f"tiny-{name}.gguf"
    write_gguf(path, config, weights, tokenizer_metadata, dtype)
    assert set(tensor_types(path).values()) == {name, "F32"}

    loaded = load(str(path))
    reference = build_model({k: v.astype(dtype).astype(mx.float32) for k, v in weights.items()}, config)
    tokens = mx.array([loaded.tokenizer.encode("Hello there, general")])
    np.testing.assert_allclose(np.array(loaded.model(tokens)), np.array(reference(tokens)), atol=tol, rtol=tol)
    assert loaded.config["tie_word_embeddings"] is tied
    assert loaded.tokenizer.encode("<|im_start|>") == [1]
