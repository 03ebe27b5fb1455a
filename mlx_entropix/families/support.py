"""Which mlx-lm model families generation can run, decided from config.json alone
(before any weights are read or downloaded).

Generation rewinds the cache by one token (a queued step discarded for a
thinking-token insertion or a branch) and forks it into rows (branching), so a
family runs when every layer keeps a plain key-value cache: mlx-lm's `KVCache`
or the sliding-window `RotatingKVCache`. Recurrent states (state-space models,
linear attention, hybrids) can be neither rewound nor forked, so those families
are refused with one sentence saying what is supported.
"""

from __future__ import annotations

from typing import Any

import mlx.nn as nn
from mlx_lm.models.cache import KVCache, RotatingKVCache
from mlx_lm.utils import _get_classes

# Families proven by the tests with tiny models built from mlx-lm's own classes.
TESTED_FAMILIES = ("llama", "mistral", "qwen2", "qwen3", "gemma3_text", "phi3", "starcoder2",
                   "olmo2", "gpt_oss", "deepseek_v3", "cohere2", "granite", "smollm3",
                   "internlm3", "gemma2")
REWINDABLE_CACHES = (KVCache, RotatingKVCache)
SUPPORTED_SENTENCE = ("supported: llama (built in) and mlx-lm's transformer families with "
                      "key-value caches, e.g. " + ", ".join(TESTED_FAMILIES[1:]))


class UnsupportedFamily(ValueError):
    """A model family generation cannot run, with what is supported, in one line."""


def family_of(config: dict[str, Any]) -> str:
    """The config's model_type; a config without one is taken as llama."""
    return str(config.get("model_type") or "llama")


def family_skeleton(config: dict[str, Any]) -> nn.Module:
    """mlx-lm's model for this config, parameters unevaluated (MLX is lazy, so
    building even a large model here allocates nothing)."""
    model_type = family_of(config)
    config = {**config, "model_type": model_type}
    try:
        model_class, args_class = _get_classes(config)
    except ValueError:
        raise UnsupportedFamily(f"model_type {model_type!r} is not a model family mlx-lm knows; "
                                f"{SUPPORTED_SENTENCE}") from None
    try:
        return model_class(args_class.from_dict(config))
    except (TypeError, ValueError, KeyError, AttributeError) as e:
        detail = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise UnsupportedFamily(f"the {model_type!r} config does not build mlx-lm's model "
                                f"({detail}); check config.json") from None


def make_cache(model: nn.Module) -> list:
    """The model's own cache (sliding windows included), as mlx-lm makes it."""
    if hasattr(model, "make_cache"):
        return model.make_cache()
    return [KVCache() for _ in model.layers]


def check_cache(model: nn.Module, model_type: str) -> None:
    """Refuse a model whose cache generation could not rewind or fork."""
    for cache in make_cache(model):
        if type(cache) not in REWINDABLE_CACHES:
            raise UnsupportedFamily(
                f"model_type {model_type!r} keeps a state ({type(cache).__name__}) that generation "
                f"cannot rewind or fork; {SUPPORTED_SENTENCE}")


def check_family(config: dict[str, Any]) -> None:
    """Raise UnsupportedFamily unless this config's family can run."""
    if family_of(config) != "llama":
        check_cache(family_skeleton(config), family_of(config))
