"""Tiny random-weight Llama checkpoints and mlx-lm's own Llama on the same weights."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten
from mlx_lm.models import llama as mlx_lm_llama

from mlx_entropix.model import Model, ModelArgs


def tiny_config(**overrides: Any) -> dict[str, Any]:
    config = {
        "model_type": "llama",
        "hidden_size": 64,
        "num_hidden_layers": 2,
        "intermediate_size": 128,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "rms_norm_eps": 1e-5,
        "vocab_size": 96,
        "rope_theta": 10000.0,
        "max_position_embeddings": 512,
        "tie_word_embeddings": True,
    }
    config.update(overrides)
    return config


def random_weights(config: dict[str, Any], seed: int = 0) -> dict[str, mx.array]:
    """HF-named weights of a random model; quantized when config has `quantization`."""
    mx.random.seed(seed)
    model = Model(ModelArgs.from_dict(config))
    quant = config.get("quantization")
    if quant:
        nn.quantize(model, group_size=quant["group_size"], bits=quant["bits"])
    weights = dict(tree_flatten(model.parameters()))
    mx.eval(weights)
    return weights


def mlx_lm_model(weights: dict[str, mx.array], config: dict[str, Any]) -> nn.Module:
    """mlx-lm's Llama on the same weights, float32 like ours on the CPU."""
    model = mlx_lm_llama.Model(mlx_lm_llama.ModelArgs.from_dict(config))
    quant = config.get("quantization")
    if quant:
        nn.quantize(model, group_size=quant["group_size"], bits=quant["bits"],
                    class_predicate=lambda p, m: quant.get(p, f"{p}.scales" in weights))
    cast = {k: v.astype(mx.float32) if mx.issubdtype(v.dtype, mx.floating) else v
            for k, v in weights.items()}
    model.load_weights(list(model.sanitize(cast).items()))
    return model


def write_checkpoint(folder: Path, config: dict[str, Any], weights: dict[str, mx.array],
                     tokenizer) -> Path:
    """An HF/mlx-community style folder: config.json, model.safetensors, tokenizer files."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config))
    mx.save_safetensors(str(folder / "model.safetensors"), weights)
    tokenizer.hf.save_pretrained(str(folder))
    return folder


def gguf_bytes(tensor_type: int, truncate: int = 0) -> bytes:
    """A minimal GGUF v3 file: one metadata string, one 256x2 tensor of the given ggml type."""

    def string(s: str) -> bytes:
        return struct.pack("<Q", len(s)) + s.encode()

    header = b"GGUF" + struct.pack("<IQQ", 3, 1, 1)
    header += string("general.architecture") + struct.pack("<I", 8) + string("llama")
    header += string("token_embd.weight") + struct.pack("<I", 2) + struct.pack("<QQ", 256, 2)
    header += struct.pack("<IQ", tensor_type, 0)
    header += b"\0" * (-len(header) % 32) + b"\0" * 4096
    return header[: len(header) - truncate] if truncate else header


def llama3_tiny_lm(seed: int):
    """Two random layers under a Llama 3 style byte-level tokenizer (which has a BOS)."""
    from mlx_entropix.load import LoadedModel, build_model
    from mlx_entropix.tokenizer import Tokenizer
    from tests.test_tokenizer import byte_level_metadata

    tok = Tokenizer.from_gguf(byte_level_metadata("llama-bpe"))
    config = tiny_config(vocab_size=len(tok.hf))
    return LoadedModel(build_model(random_weights(config, seed=seed), config), tok, config, "tiny", "tiny")
