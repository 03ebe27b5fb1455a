"""An mlx-lm model folder built from a GGUF file by a path independent of our
loader: the gguf package reads and dequantises the tensors and names them
(its own tensor name map, inverted over mlx-lm's parameter names);
transformers' GGUF tables give the config (GGUF_CONFIG_MAPPING) and its GGUF
tokenizer converter the tokenizer and chat template. Only llama.cpp's
documented transforms are undone here (Gemma's norms stored as 1 + w)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import gguf
import mlx.core as mx
import numpy as np
from mlx.utils import tree_flatten

MODEL_TYPES = {"qwen2": "qwen2", "gemma3": "gemma3_text", "llama": "llama", "qwen3": "qwen3"}


def _metadata(reader: gguf.GGUFReader) -> dict[str, Any]:
    return {k: f.contents() for k, f in reader.fields.items()}


def reference_config(md: dict[str, Any], tensor_names: set[str]) -> dict[str, Any]:
    from transformers.integrations.ggml import GGUF_CONFIG_MAPPING

    arch = md["general.architecture"]
    config: dict[str, Any] = {"model_type": MODEL_TYPES[arch]}
    for key, hf in GGUF_CONFIG_MAPPING[arch].items():
        if hf is not None and f"{arch}.{key}" in md:
            config[hf] = md[f"{arch}.{key}"]
    config.setdefault("vocab_size", len(md["tokenizer.ggml.tokens"]))
    config["tie_word_embeddings"] = "output.weight" not in tensor_names
    return config


def reference_tokenizer(md: dict[str, Any]):
    from transformers import PreTrainedTokenizerFast
    from transformers.integrations.gguf.gguf_tokenizer_mapping import (
        _SPECIAL_TOKENS,
        GGUF_TOKENIZER_MAPPING,
        convert_gguf_tokenizer,
    )

    grouped = {group: {name: md[f"tokenizer.{key}"] for key, name in renames.items() if f"tokenizer.{key}" in md}
               for group, renames in GGUF_TOKENIZER_MAPPING.items()}
    tok, tok_config = grouped["tokenizer"], grouped["tokenizer_config"]
    if tok.get("tokenizer_type") == "llama":
        tok_config.setdefault("add_bos_token", True)
    for name, key in _SPECIAL_TOKENS.items():
        token_id = md.get(f"tokenizer.ggml.{key}")
        tok_config[name] = tok["tokens"][token_id] if token_id is not None else None
    backend, _ = convert_gguf_tokenizer(md["general.architecture"], tok)
    return PreTrainedTokenizerFast(tokenizer_object=backend, **tok_config)


def build_reference_folder(path: Path, out: Path) -> Path:
    """Write config.json, model.safetensors (float32) and the tokenizer into `out`."""
    from mlx_lm.utils import _get_classes

    reader = gguf.GGUFReader(str(path))
    md = _metadata(reader)
    names = {t.name for t in reader.tensors}
    config = reference_config(md, names)
    model_class, args_class = _get_classes(config)
    skeleton = model_class(args_class.from_dict(config))
    arch_enum = next(a for a, n in gguf.MODEL_ARCH_NAMES.items() if n == md["general.architecture"])
    name_map = gguf.get_tensor_name_map(arch_enum, config["num_hidden_layers"])
    to_hf = {}
    for hf, _ in tree_flatten(skeleton.parameters()):
        stem, suffix = hf.rsplit(".", 1)
        gguf_stem = name_map.get_name(stem)
        if gguf_stem is not None:
            to_hf[f"{gguf_stem}.{suffix}"] = hf
    weights = {}
    for t in reader.tensors:
        value = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32)
        value = value.reshape([int(n) for n in reversed(t.shape)])
        if md["general.architecture"] == "gemma3" and t.name.endswith("norm.weight"):
            value = value - 1.0
        weights[to_hf[t.name]] = mx.array(value)
    out.mkdir(parents=True, exist_ok=True)
    mx.save_safetensors(str(out / "model.safetensors"), weights)
    (out / "config.json").write_text(json.dumps(config))
    reference_tokenizer(md).save_pretrained(str(out))
    return out
