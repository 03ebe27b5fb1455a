"""`mlx_main.py convert`: a model as an mlx-lm folder (logic in mlx_entropix/convert.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer


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
    from mlx_entropix.convert import convert
    from mlx_entropix.load import load

    lm = load(model, weights)
    convert(lm, out, float32)
    typer.echo(f"wrote {lm.name} to {out}")
