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


def fit_on_first_use(lm: LoadedModel, presets: list[str | None]) -> None:
    """Fit the model's thresholds before a fitted preset runs on a model without
    a fit (first_fit.py), with one progress line on stderr."""
    import time

    from mlx_entropix.first_fit import FirstFitDone, FirstFitPlan, first_fit, needs_first_fit

    if not needs_first_fit(lm, presets):
        return
    t0 = time.perf_counter()
    plan = FirstFitPlan.from_env()
    print(f"Fitting thresholds for {lm.name} on first use (once per model): {plan.prompts} prompts of up "
          f"to {plan.max_tokens} tokens ...", file=sys.stderr, flush=True)
    for item in first_fit(lm, plan):
        if isinstance(item, FirstFitDone):
            print(f"\nFitted thresholds for {lm.name} on first use: {item.tokens} tokens of "
                  f"{item.prompts} prompts in {time.perf_counter() - t0:.0f} s; saved {item.path}",
                  file=sys.stderr, flush=True)
        else:
            print(f"\r  prompt {item.done}/{item.total}, {item.tokens} tokens, "
                  f"{time.perf_counter() - t0:.0f} s", end="", file=sys.stderr, flush=True)
