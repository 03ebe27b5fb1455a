"""What a run is asked to do, without the model code that does it: the
generation options, the baseline's parameters and the runner's request.

Kept apart from runner.py (which imports the model, the engine and mlx-lm's
generator) so that methods.py, the eval harness and the CLI can build and
record requests without loading a model, and no module imports back into
the one that imports it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import StrEnum
from typing import Callable

from .sampler import SamplerConfig, get_preset
from .sampler.config import DEFAULT_PRESET, MAX_TEMPERATURE
from .sampler.fitted import ModelLike, resolve_preset

METHODS = ("entropix", "greedy", "normal")
SEED_LIMIT = 2**64  # MLX keys are unsigned 64-bit
DEFAULT_MAX_BATCH = 8  # runs per decode step (batch.py); the 0.5B model's tokens/s flatten past 8


class MetricsLevel(StrEnum):
    """What a decode step measures. The entropix rules read every signal, so
    only ALL can drive them; LOGITS (no attention statistics, those signals
    are zero) and NONE (every signal zero) are for greedy decoding and the
    baseline, whose choices do not depend on them."""

    ALL = "all"
    LOGITS = "logits"
    NONE = "none"


@dataclass
class GenerationOptions:
    max_tokens: int = 256
    seed: int = 0
    metrics: MetricsLevel = MetricsLevel.ALL  # a plain "all" | "logits" | "none" is converted
    layers: bool = False  # include per-layer, per-head attention arrays in the records
    cancelled: Callable[[], bool] | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.seed < SEED_LIMIT:
            raise ValueError(f"the seed must be in [0, 2**64), got {self.seed}")
        try:
            self.metrics = MetricsLevel(self.metrics)
        except ValueError:
            raise ValueError(f"metrics must be one of {', '.join(MetricsLevel)}, "
                             f"got {self.metrics!r}") from None

    def check_sampler(self, cfg: SamplerConfig) -> None:
        """Refuse entropix rules fed by zeros: they need every signal measured."""
        if not cfg.greedy and self.metrics is not MetricsLevel.ALL:
            raise ValueError(f"the entropix sampler decides from every metric, but metrics is "
                             f"{self.metrics.value!r}: use metrics 'all', or the greedy preset")


@dataclass(frozen=True)
class NormalParams:
    """The plain-sampling baseline's parameters (the original entropix baseline's)."""

    temperature: float = 0.666
    top_p: float = 0.9
    min_p: float = 0.03
    top_k: int = 0

    def check(self, vocab_size: int | None = None) -> "NormalParams":
        """Refuse what mlx-lm's sampler cannot take; top_k against the model's
        vocabulary when it is known (mlx-lm wants 0 < top_k < vocabulary)."""
        if not 0 <= self.temperature <= MAX_TEMPERATURE:
            raise ValueError(f"temperature must be in [0, {MAX_TEMPERATURE:g}], got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if not 0 <= self.min_p < 1:
            raise ValueError(f"min_p must be in [0, 1), got {self.min_p}")
        if self.top_k < 0:
            raise ValueError(f"top_k must be >= 0 (0 = off), got {self.top_k}")
        if vocab_size is not None and self.top_k >= vocab_size:
            raise ValueError(f"top_k must be below the model's vocabulary of {vocab_size} tokens "
                             f"(0 = off), got {self.top_k}")
        return self


@dataclass
class RunRequest:
    """One run. `config` is the sampler config to run as given; `preset` names
    it (a preset already resolved against the model, as methods.py passes
    them), or, without a config, is resolved against the model here. A config
    without a preset is "custom"."""

    messages: list[dict[str, str]] | None = None
    prompt: str | None = None  # raw text, no chat template
    method: str = "entropix"
    config: SamplerConfig | None = None
    preset: str | None = None
    normal: NormalParams = NormalParams()
    options: GenerationOptions = dataclasses.field(default_factory=GenerationOptions)
    label: str | None = None  # the method's name in an eval or a comparison, kept in the trace
    # Forced start of the answer (CoT decoding's first token, a branch's path so
    # far): fed after the prompt, then the method continues. The forced tokens
    # are part of the answer's text (trace.prompt["prefix"] holds them); they are
    # not counted as generated, since the model did not choose them here.
    prefix_ids: tuple[int, ...] = ()

    def sampler_config(self, lm: ModelLike) -> SamplerConfig:
        """The config itself, else the preset as it applies to this model."""
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; choose one of {', '.join(METHODS)}")
        if self.method == "greedy":
            return get_preset("greedy")
        return self.config or resolve_preset(self.preset_name, lm)

    @property
    def preset_name(self) -> str:
        """The name the trace records for the sampler config."""
        if self.method == "greedy":
            return "greedy"
        if self.preset is not None:
            return self.preset
        return "custom" if self.config is not None else DEFAULT_PRESET
