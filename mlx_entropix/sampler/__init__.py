"""The entropix sampler: configuration, the filter chain and the per-token
decision, all computed on device."""

from mlx_entropix.sampler.config import (
    FIELD_DOCS,
    PRESETS,
    ConfigError,
    SamplerConfig,
    config_fields,
    get_preset,
    load_config,
    save_config,
)
from mlx_entropix.sampler.decide import (
    OUTCOME_CODES,
    Decision,
    compiled_decide,
    decide,
)
from mlx_entropix.sampler.filters import (
    apply_min_p,
    apply_temperature,
    apply_top_k,
    apply_top_p,
    filtered_logprobs,
    pool_top_p,
    sample,
    top_tokens,
)

__all__ = [
    "FIELD_DOCS",
    "OUTCOME_CODES",
    "PRESETS",
    "ConfigError",
    "Decision",
    "SamplerConfig",
    "apply_min_p",
    "apply_temperature",
    "apply_top_k",
    "apply_top_p",
    "compiled_decide",
    "config_fields",
    "decide",
    "filtered_logprobs",
    "get_preset",
    "load_config",
    "pool_top_p",
    "sample",
    "save_config",
    "top_tokens",
]
