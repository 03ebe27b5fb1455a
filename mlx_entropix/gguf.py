"""Read a llama.cpp GGUF file as Hugging Face-named weights and a config.

Two readers. A Llama file holding only the types `mx.load` decodes exactly
(Q4_0, Q4_1 and Q8_0 into MLX's affine quantized layout, F16/F32 as plain
arrays) is read by MLX (`load_gguf`): the quantized weights stay packed, bit
for bit. Every other file (other architectures, K-quants, Q5_0/Q5_1, BF16) is
read by the PyPI `gguf` package, llama.cpp's own Python reader, whose
dequantisers give float32 arrays (`read_gguf`); gguf_families.py maps them.
llama.cpp stores Q and K rows permuted for its interleaved RoPE; the
permutation is undone so the weights match HF's layout.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import mlx.core as mx
import numpy as np

from .gguf_families import ARCHITECTURES, hf_name, unpermute

# ggml tensor type ids (ggml.h) and the ones mx.load decodes faithfully.
GGML_TYPE_NAMES = {
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 6: "Q5_0", 7: "Q5_1", 8: "Q8_0", 9: "Q8_1",
    10: "Q2_K", 11: "Q3_K", 12: "Q4_K", 13: "Q5_K", 14: "Q6_K", 15: "Q8_K", 16: "IQ2_XXS",
    17: "IQ2_XS", 18: "IQ3_XXS", 19: "IQ1_S", 20: "IQ4_NL", 21: "IQ3_S", 22: "IQ2_S",
    23: "IQ4_XS", 24: "I8", 25: "I16", 26: "I32", 27: "I64", 28: "F64", 29: "IQ1_M",
    30: "BF16", 34: "TQ1_0", 35: "TQ2_0",
}
SUPPORTED_TYPES = {"F32", "F16", "Q4_0", "Q4_1", "Q8_0"}  # what mx.load decodes exactly
# What the gguf package dequantises, for the architectures gguf_families.py maps.
DEQUANTISED_TYPES = {"F32", "F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0",
                     "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"}
# MLX bit width that re-quantises a ggml type at about its own precision.
REQUANT_BITS = {"Q4_0": 4, "Q4_1": 4, "Q4_K": 4, "Q5_0": 5, "Q5_1": 5, "Q5_K": 5, "Q6_K": 6,
                "Q8_0": 8, "Q2_K": 3, "Q3_K": 3}
QUANT_BITS = {"Q4_0": 4, "Q4_1": 4, "Q8_0": 8}

# GGUF metadata value types: id -> struct format of a scalar (8 = string, 9 = array).
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?",
            10: "<Q", 11: "<q", 12: "<d"}

class GGUFError(ValueError):
    """A GGUF file this loader cannot use, with the reason."""


def _read(f: BinaryIO, fmt: str) -> Any:
    size = struct.calcsize(fmt)
    data = f.read(size)
    if len(data) != size:
        raise GGUFError("file is truncated")
    return struct.unpack(fmt, data)[0]


def _skip_string(f: BinaryIO) -> None:
    f.seek(_read(f, "<Q"), 1)


def _read_string(f: BinaryIO) -> str:
    n = _read(f, "<Q")
    data = f.read(n)
    if len(data) != n:
        raise GGUFError("file is truncated")
    return data.decode("utf-8", errors="replace")


def _skip_value(f: BinaryIO, vtype: int) -> None:
    if vtype in _SCALARS:
        f.seek(struct.calcsize(_SCALARS[vtype]), 1)
    elif vtype == 8:
        _skip_string(f)
    elif vtype == 9:
        itype, count = _read(f, "<I"), _read(f, "<Q")
        if itype in _SCALARS:
            f.seek(struct.calcsize(_SCALARS[itype]) * count, 1)
        else:
            for _ in range(count):
                _skip_value(f, itype)
    else:
        raise GGUFError(f"unknown metadata value type {vtype}")


@dataclass(frozen=True)
class Header:
    """What the header says before any tensor is read."""

    architecture: str | None
    types: dict[str, str]  # tensor name -> ggml type name

    def mlx_readable(self) -> bool:
        """A Llama file `mx.load` decodes exactly (load_gguf)."""
        return self.architecture == "llama" and set(self.types.values()) <= SUPPORTED_TYPES


def tensor_types(path: Path) -> dict[str, str]:
    """Name -> ggml type name of every tensor, from the header alone."""
    return read_header(path).types


def read_header(path: Path) -> Header:
    """The architecture and tensor types, skipping every other value (fast)."""
    with open(path, "rb") as f:
        if f.read(4) != b"GGUF":
            raise GGUFError("not a GGUF file (bad magic)")
        version = _read(f, "<I")
        if version not in (2, 3):
            raise GGUFError(f"unsupported GGUF version {version}")
        n_tensors, n_kv = _read(f, "<Q"), _read(f, "<Q")
        arch = None
        for _ in range(n_kv):
            key, vtype = _read_string(f), _read(f, "<I")
            if key == "general.architecture" and vtype == 8:
                arch = _read_string(f)
            else:
                _skip_value(f, vtype)
        types = {}
        for _ in range(n_tensors):
            name = _read_string(f)
            f.seek(8 * _read(f, "<I"), 1)
            type_id = _read(f, "<I")
            _read(f, "<Q")
            types[name] = GGML_TYPE_NAMES.get(type_id, f"type {type_id}")
        return Header(arch, types)


def _hf_name(gguf_name: str) -> str | None:
    return hf_name(gguf_name, ARCHITECTURES["llama"])


def _meta_value(v: Any) -> Any:
    return v.item() if isinstance(v, mx.array) and v.ndim == 0 else v


def config_from_metadata(md: dict[str, Any], quant: dict[str, int] | None,
                         has_output: bool) -> dict[str, Any]:
    """An HF-style Llama config.json dict from GGUF metadata."""
    arch = md.get("general.architecture")
    if arch != "llama":
        raise GGUFError(f"architecture {arch!r} is not supported (only llama)")

    def get(key: str, default: Any = None) -> Any:
        value = md.get(f"llama.{key}", default)
        if value is None:
            raise GGUFError(f"metadata lacks llama.{key}")
        return _meta_value(value)

    n_heads = get("attention.head_count")
    hidden = get("embedding_length")
    config: dict[str, Any] = {
        "model_type": "llama",
        "hidden_size": hidden,
        "num_hidden_layers": get("block_count"),
        "intermediate_size": get("feed_forward_length"),
        "num_attention_heads": n_heads,
        "num_key_value_heads": get("attention.head_count_kv", n_heads),
        "head_dim": get("rope.dimension_count", hidden // n_heads),
        "rms_norm_eps": get("attention.layer_norm_rms_epsilon"),
        "rope_theta": get("rope.freq_base", 10000.0),
        "max_position_embeddings": get("context_length"),
        "vocab_size": get("vocab_size", len(md.get("tokenizer.ggml.tokens", []))),
        "tie_word_embeddings": not has_output,
    }
    scaling = _meta_value(md.get("llama.rope.scaling.type"))
    if scaling == "linear":
        config["rope_scaling"] = {"rope_type": "linear",
                                  "factor": get("rope.scaling.factor")}
    if quant:
        config["quantization"] = quant
    return config


def quantization_config(types: dict[str, str]) -> dict[str, Any] | None:
    """mlx-lm style quantization block: the most common bit width as default,
    per-module overrides for the rest (SmolLM2's Q4_1 file has a Q8_0 embedding)."""
    bits = {_hf_name(n).rsplit(".", 1)[0]: QUANT_BITS[t] for n, t in types.items()
            if t in QUANT_BITS and _hf_name(n)}
    if not bits:
        return None
    values = list(bits.values())
    default = max(set(values), key=values.count)
    quant: dict[str, Any] = {"group_size": 32, "bits": default}
    for module, b in sorted(bits.items()):
        if b != default:
            quant[module] = {"group_size": 32, "bits": b}
    return quant


def load_gguf(path: Path) -> tuple[dict[str, mx.array], dict[str, Any], dict[str, Any]]:
    """(weights in HF naming, HF-style config, raw GGUF metadata)."""
    types = tensor_types(path)
    bad = sorted({t for t in types.values() if t not in SUPPORTED_TYPES})
    if bad:
        raise GGUFError(
            f"tensor type {', '.join(bad)} cannot be decoded by MLX; use a Q4_0, Q4_1, Q8_0, "
            "F16 or F32 GGUF, or a safetensors checkpoint"
        )
    try:
        raw, md = mx.load(str(path), return_metadata=True)
    except (RuntimeError, ValueError) as e:
        raise GGUFError(f"MLX could not read it ({e})") from None

    quant = quantization_config(types)
    config = config_from_metadata(md, quant, has_output="output.weight" in raw)
    weights: dict[str, mx.array] = {}
    for name, value in raw.items():
        hf = _hf_name(name)
        if hf is None:
            if name == "rope_freqs.weight":
                config["rope_scaling"] = {"rope_type": "freq_factors",
                                          "factors": value.astype(mx.float32).tolist()}
                continue
            raise GGUFError(f"unexpected tensor {name!r}")
        if ".self_attn.q_proj." in hf:
            value = unpermute(value, config["num_attention_heads"])
        elif ".self_attn.k_proj." in hf:
            value = unpermute(value, config["num_key_value_heads"])
        weights[hf] = value
    return weights, config, md


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def read_gguf(path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray], dict[str, str]]:
    """(metadata as plain Python, tensors dequantised to float32 by the gguf
    package in HF orientation [out, in], ggml type names) of any GGUF file."""
    from gguf import GGUFReader
    from gguf.quants import dequantize

    header = read_header(path)
    if header.architecture not in ARCHITECTURES:
        raise GGUFError(f"GGUF architecture {header.architecture!r} is not supported; supported: "
                        f"{', '.join(sorted(ARCHITECTURES))}")
    bad = sorted({t for t in header.types.values() if t not in DEQUANTISED_TYPES})
    if bad:
        raise GGUFError(f"tensor type {', '.join(bad)} is not supported; supported: "
                        f"{', '.join(sorted(DEQUANTISED_TYPES))}")
    try:
        reader = GGUFReader(str(path))
    except (ValueError, OSError) as e:
        raise GGUFError(f"the gguf package could not read it ({e})") from None
    metadata = {key: _plain(f.contents()) for key, f in reader.fields.items()
                if not key.startswith("GGUF.")}
    tensors = {}
    for t in reader.tensors:
        value = dequantize(t.data, t.tensor_type)
        tensors[t.name] = np.asarray(value, dtype=np.float32).reshape(
            tuple(int(n) for n in reversed(t.shape)))
    return metadata, tensors, header.types


def requant_bits(types: dict[str, str]) -> int | None:
    """The MLX bit width for re-quantising a file's matrices: the one of its most
    common quantized type; None for a float file."""
    bits = [REQUANT_BITS[t] for t in types.values() if t in REQUANT_BITS]
    return max(set(bits), key=bits.count) if bits else None
