"""`mlx_main.py convert`: write a loaded model (GGUF, folder or cached repo) as an
mlx-lm model folder, loadable by `mlx_lm.utils.load` and by our own `load`.

The folder holds config.json (HF form, with mlx-lm's `quantization` block),
model.safetensors (HF-named parameters: quantized weights stay packed uint32
with their scales and biases) and the tokenizer files.

Dtypes: on the CPU the loader widens every floating tensor to float32. The
export narrows each one back to float16 when that is exact, which recovers the
checkpoint's float16 tensors (a GGUF's quantization scales and biases) and
keeps float32 whatever float16 cannot hold exactly (e.g. bfloat16 values):
nothing is rounded. A float32 tensor whose values all fit float16 (the
embedded GGUF's norms) is written as float16 too, with the same values.
mlx-lm computes in the dtype of the weights it loads, and on a CPU its float16
quantized kernels are ~45x slower than float32: `--float32` writes every
floating tensor as float32 for that use (or cast after loading, as
`model.set_dtype(mx.float32)`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import mlx.core as mx
import typer
from mlx.utils import tree_flatten

from .load import LoadedModel, load

WEIGHTS_FILE = "model.safetensors"


class ConvertError(ValueError):
    """An export that cannot be written as asked."""


def stored_dtype(value: mx.array) -> mx.array:
    """float16 when that loses nothing, the array unchanged otherwise."""
    if not mx.issubdtype(value.dtype, mx.floating) or value.dtype == mx.float16:
        return value
    narrow = value.astype(mx.float16)
    return narrow if mx.array_equal(narrow.astype(value.dtype), value).item() else value


def export_weights(lm: LoadedModel, float32: bool = False) -> dict[str, mx.array]:
    """The model's parameters by their HF names, in their stored dtypes (or float32)."""
    params = tree_flatten(lm.model.parameters())
    if float32:
        return {name: v.astype(mx.float32) if mx.issubdtype(v.dtype, mx.floating) else v
                for name, v in params}
    return {name: stored_dtype(v) for name, v in params}


def export_config(lm: LoadedModel) -> dict:
    """The HF config as mlx-lm reads it, with every end-of-sequence id of the
    tokenizer (mlx-lm takes them from config.json). The rope scaling the GGUF
    reader writes as llama.cpp frequency factors has no HF equivalent: refused."""
    config = dict(lm.config)
    config.setdefault("model_type", "llama")
    config.setdefault("architectures", ["LlamaForCausalLM"])
    config["eos_token_id"] = sorted(lm.tokenizer.eos_token_ids)
    if not any(name.endswith(".scales") for name, _ in tree_flatten(lm.model.parameters())):
        config.pop("quantization", None)  # loaded with dense weights: dense now
        config.pop("quantization_config", None)
    scaling = config.get("rope_scaling") or {}
    if scaling.get("rope_type") == "freq_factors":
        raise ConvertError(f"{lm.name} uses llama.cpp rope frequency factors, which an mlx-lm "
                           "folder cannot express; convert the original HF checkpoint instead")
    return config


def convert(lm: LoadedModel, out: Path, float32: bool = False) -> Path:
    """Write `lm` into the folder `out` (created; must be empty if it exists)."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConvertError(f"{out} already exists and is not an empty folder; choose a new --out")
    config = export_config(lm)
    out.mkdir(parents=True, exist_ok=True)
    mx.save_safetensors(str(out / WEIGHTS_FILE), export_weights(lm, float32), metadata={"format": "mlx"})
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    generation = {"eos_token_id": config["eos_token_id"]}
    (out / "generation_config.json").write_text(json.dumps(generation, indent=2) + "\n")
    lm.tokenizer.hf.save_pretrained(str(out))
    return out


def convert_command(
    model: Annotated[Optional[str], typer.Option(
        help="GGUF file, model folder or cached HF repo id (default: the embedded model)")] = None,
    out: Annotated[Path, typer.Option(help="Folder to create for the mlx-lm model")] = Path("mlx_model"),
    float32: Annotated[bool, typer.Option(
        help="Write float tensors as float32 (fast mlx-lm on a CPU) instead of the checkpoint's float16")] = False,
    weights: Annotated[str, typer.Option(
        help="quantized: keep the checkpoint's quantization; dense: write dequantized weights")] = "quantized",
) -> None:
    """Export a model as an mlx-lm folder (config.json, model.safetensors, tokenizer)."""
    lm = load(model, weights)
    convert(lm, out, float32)
    typer.echo(f"wrote {lm.name} to {out}")
