"""The model loader as the CLI's commands call it: imported on first use, so
that `--help` and bad-argument errors never wait for MLX, mlx-lm and the model code."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlx_entropix.load import LoadedModel


def load(ref: str | None, weights: str = "auto") -> LoadedModel:
    """The model, with a note on stderr (once, here) when it is a base model
    whose chat prompts run as raw completions."""
    from mlx_entropix.load import load as load_model
    from mlx_entropix.tokenizer.chat import RAW_COMPLETION_NOTE

    lm = load_model(ref, weights)
    if not lm.tokenizer.has_chat_template:
        print(f"note: {lm.name} {RAW_COMPLETION_NOTE}", file=sys.stderr)
    return lm
