"""Request bodies -> the runner's RunRequest, checking every value against the
loaded model and the sampler before anything is queued."""

from __future__ import annotations

import dataclasses
import secrets
from typing import Any

from ..engine import GenerationOptions
from ..load import LoadedModel
from ..runner import NormalParams, RunRequest
from ..sampler import ConfigError, SamplerConfig
from ..sampler.config import DEFAULT_PRESET
from ..sampler.fitted import resolve_preset
from .errors import invalid
from .schemas import ChatCompletionRequest, CompletionRequest, GenerateRequest

DEFAULT_MAX_TOKENS = 256


def max_tokens_default(lm: LoadedModel) -> int:
    return min(DEFAULT_MAX_TOKENS, lm.context_length)


def checked_max_tokens(requested: int | None, lm: LoadedModel, param: str) -> int:
    """max_tokens, at most the context length (the schema already refused < 1)."""
    if requested is None:
        return max_tokens_default(lm)
    if requested > lm.context_length:
        raise invalid(f"{param} = {requested} exceeds the model's context of {lm.context_length} "
                      f"tokens; ask for at most {lm.context_length}", param)
    return requested


def _config(base: SamplerConfig, overrides: dict[str, Any], given: dict[str, dict[str, Any]],
            lm: LoadedModel) -> SamplerConfig:
    """base with overrides, checked against the model's depth; the error names
    the request field that caused it (`given` maps a param prefix, "" for
    top-level fields, to the fields it set)."""
    try:
        return base.with_overrides(overrides).check_depth(lm.model.args.num_hidden_layers)
    except ConfigError as e:
        param = next((f"{prefix}{name}" for prefix, fields in given.items() for name in fields
                      if f"'{name}'" in str(e)), None)
        hint = ("; for argmax decoding use \"sampler\": \"greedy\""
                if param == "temperature" and overrides.get("temperature") == 0 else "")
        raise invalid(f"{e}{hint}", param) from None


def _normal(fields: dict[str, Any], param: str, lm: LoadedModel) -> NormalParams:
    try:
        return NormalParams(**fields).check(lm.model.args.vocab_size)
    except ValueError as e:
        raise invalid(str(e), param) from None


def openai_run_request(body: ChatCompletionRequest | CompletionRequest, lm: LoadedModel,
                       default_method: str) -> RunRequest:
    """temperature/top_p/top_k/min_p set the normal sampler's parameters, or the
    entropix sampler's base values (which `sampler_config` can still override);
    greedy ignores them."""
    method = body.sampler or default_method
    sampling = {name: getattr(body, name) for name in ("temperature", "top_p", "top_k", "min_p")
                if getattr(body, name) is not None}
    config, normal = None, NormalParams()
    if method == "entropix":
        extra = body.sampler_config or {}
        if sampling or extra:  # else the trace names the preset, not "custom"
            config = _config(resolve_preset(DEFAULT_PRESET, lm), {**sampling, **extra},
                             {"sampler_config.": extra, "": sampling}, lm)
    elif method == "normal":
        normal = _normal({**dataclasses.asdict(normal), **sampling}, "temperature", lm)
    if isinstance(body, ChatCompletionRequest):
        requested = body.max_completion_tokens or body.max_tokens
        param = "max_completion_tokens" if body.max_completion_tokens else "max_tokens"
        source: dict[str, Any] = {"messages": [m.plain() for m in body.messages]}
    else:
        requested, param = body.max_tokens, "max_tokens"
        source = {"prompt": body.prompt}
    seed = body.seed if body.seed is not None else secrets.randbelow(2**31)
    options = GenerationOptions(max_tokens=checked_max_tokens(requested, lm, param), seed=seed)
    return RunRequest(**source, method=method, config=config, normal=normal, options=options)


def native_run_request(body: GenerateRequest, lm: LoadedModel, default_method: str) -> RunRequest:
    try:
        base = resolve_preset(body.preset, lm)
    except ConfigError as e:
        raise invalid(str(e), "preset") from None
    options = GenerationOptions(max_tokens=checked_max_tokens(body.max_tokens, lm, "max_tokens"),
                                seed=body.seed, layers=body.layers)
    config = _config(base, body.config, {"config.": body.config}, lm) if body.config else None
    return RunRequest(messages=[m.plain() for m in body.messages], method=body.method or default_method,
                      config=config, preset=None if config else body.preset,
                      normal=_normal(body.normal.model_dump(), "normal", lm), options=options)
