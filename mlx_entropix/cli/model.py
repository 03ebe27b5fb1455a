"""The model loader as the CLI's commands call it: imported on first use, so
that `--help` and bad-argument errors never wait for MLX, mlx-lm and the model code."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlx_entropix.load import LoadedModel


def load(ref: str | None, weights: str = "auto") -> LoadedModel:
    from mlx_entropix.load import load as load_model

    return load_model(ref, weights)
