"""What the benchmark times: mlx-lm's own generator and our engine, on one
LoadedModel, with a synthetic prompt of an exact length."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import mlx.core as mx
import mlx.nn as nn
from mlx_lm.generate import stream_generate as mlx_lm_stream_generate
from mlx_lm.tokenizer_utils import TokenizerWrapper
from mlx_lm.utils import load as mlx_lm_load

from ..convert import convert
from ..engine import GenerationOptions
from ..generate import stream_generate
from ..load import LoadedModel, activation_dtype
from ..sampler import SamplerConfig, get_preset
from ..sampler.fitted import resolve_preset
from ..sync import SyncCounter, observed_syncs
from .measure import BenchError, TokenStream

SAME_WEIGHTS = "mlx-lm greedy, same weights and BLAS"

FILLER = ("The history of the river town is long. Farmers brought grain to the market "
          "every week, and the mill by the bridge ground it into flour for the bakers. ")


def synthetic_prompt(lm: LoadedModel, n_tokens: int) -> list[int]:
    """Exactly n_tokens ids of plain prose (a paragraph repeated)."""
    if n_tokens < 2:
        raise BenchError(f"a context of {n_tokens} tokens is too short; use at least 2")
    if n_tokens >= lm.context_length:
        raise BenchError(f"a context of {n_tokens} tokens does not fit the model's "
                         f"{lm.context_length}; lower --contexts")
    unit = lm.tokenizer.encode(FILLER)
    return (unit * math.ceil(n_tokens / len(unit)))[:n_tokens]


@dataclass(frozen=True)
class Variant:
    name: str
    stream: TokenStream


def engine_variant(name: str, lm: LoadedModel, cfg: SamplerConfig, metrics: str) -> Variant:
    """Our stream_generate under a sampler config and a metrics level."""
    def stream(prompt: list[int], max_tokens: int, syncs: SyncCounter) -> Iterator[int]:
        opts = GenerationOptions(max_tokens=max_tokens, metrics=metrics)
        for r in stream_generate(lm, prompt, cfg, opts, syncs):
            if r.record is not None:
                yield r.token

    return Variant(name, stream)


def engine_variants(lm: LoadedModel) -> list[Variant]:
    greedy = get_preset("greedy")
    return [engine_variant(f"ours greedy, metrics {m}", lm, greedy, m)
            for m in ("none", "logits", "all")] + [
        engine_variant("ours entropix preset", lm, resolve_preset("entropix", lm), "all")]


def load_mlx_lm(lm: LoadedModel, folder: Path) -> tuple[nn.Module, TokenizerWrapper]:
    """mlx-lm's own model from our weights, exported to `folder`, in the same
    activation dtype as ours (float32 on the CPU, where the loader widens too)."""
    convert(lm, folder)
    model, tokenizer = mlx_lm_load(str(folder))
    model.set_dtype(activation_dtype(mx.float16))
    mx.eval(model.parameters())
    return model, tokenizer


def mlx_lm_variant(model: nn.Module, tokenizer: TokenizerWrapper) -> Variant:
    """mlx-lm's stream_generate, greedy (its default sampler is argmax).

    Its syncs are measured: its blocking calls are counted while its generator
    runs (sync.observed_syncs), not while ours consumes the tokens.
    """
    eos = set(tokenizer.eos_token_ids)

    def stream(prompt: list[int], max_tokens: int, syncs: SyncCounter) -> Iterator[int]:
        responses = mlx_lm_stream_generate(model, tokenizer, prompt, max_tokens=max_tokens)
        while True:
            with observed_syncs(syncs):
                r = next(responses, None)
            if r is None:
                return
            if r.token not in eos:
                yield r.token

    return Variant(SAME_WEIGHTS, stream)

