"""The UI's routes (docs/api.md): /api/config and the /api/generate event stream."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

from fastapi import APIRouter
from sse_starlette import EventSourceResponse

from ..calibrate import CHOSEN_TARGETS
from ..generate import GenerationResponse
from ..runner import NormalParams
from ..sampler import config_fields
from ..sampler.config import DEFAULT_PRESET
from ..sampler.fitted import describe_thresholds, presets_for
from ..trace import OUTCOME_LABELS, OUTCOMES, UNIT
from .context import ServerContext, dumps
from .convert import max_tokens_default, native_run_request
from .errors import ERROR_RESPONSES
from .fitting import fitting_prompt_count
from .schemas import GenerateRequest
from .worker import Generation

log = logging.getLogger(__name__)


def server_config(ctx: ServerContext) -> dict[str, Any]:
    """Everything the UI must not hard-code."""
    return {
        "model": ctx.lm.info(),
        "unit": UNIT,
        "default_method": ctx.default_method,
        "default_preset": DEFAULT_PRESET,
        "presets": {name: cfg.to_dict() for name, cfg in presets_for(ctx.lm).items()},
        "thresholds": {name: describe_thresholds(cfg, ctx.lm) for name, cfg in presets_for(ctx.lm).items()},
        "first_fit": dataclasses.asdict(ctx.first_fit),
        "config_fields": config_fields(),
        "normal_defaults": dataclasses.asdict(NormalParams()),
        "max_tokens_default": max_tokens_default(ctx.lm),
        "max_tokens_limit": ctx.lm.context_length,
        "outcomes": [{"name": name, "label": OUTCOME_LABELS[name]} for name in OUTCOMES],
        # What /api/calibrate does: greedy answers to at most fit_prompts_limit prompts,
        # thresholds set so each rule takes its target share of their tokens.
        "fit_prompts_limit": fitting_prompt_count(),
        "fit_targets": dataclasses.asdict(CHOSEN_TARGETS),
    }


def _event(name: str, data: Any) -> dict[str, str]:
    return {"event": name, "data": dumps(data)}


async def _events(generation: Generation) -> AsyncIterator[dict[str, str]]:
    trace = generation.trace
    yield _event("start", {"model": trace.model, "prompt": trace.prompt, "sampler": trace.sampler})
    last: GenerationResponse | None = None
    try:
        async with aclosing(generation.responses()) as responses:
            async for last in responses:
                record = last.record
                if record is None:
                    continue
                trace.tokens.append(record)
                yield _event("token", record.to_dict())
                if record.branch is not None:
                    yield _event("branch", {"index": record.index,
                                            "branch": dataclasses.asdict(record.branch)})
        trace = generation.finish(last)
        yield _event("done", {"text": trace.text, "stats": dataclasses.asdict(trace.stats)})
    except Exception as e:  # the stream has started: the error goes in it
        log.exception("generation failed")
        yield _event("error", {"message": f"{type(e).__name__}: {e}"})


def router(ctx: ServerContext) -> APIRouter:
    api = APIRouter(prefix="/api", tags=["native"])

    @api.get("/config")
    async def config() -> dict[str, Any]:
        """Model info, sampler presets and fields, defaults and limits, outcome labels."""
        return server_config(ctx)

    @api.post("/generate", responses=ERROR_RESPONSES)
    async def generate(body: GenerateRequest) -> EventSourceResponse:
        """One generation as named SSE events: start, token (and branch) per token, then done or error."""
        generation = ctx.submit(native_run_request(body, ctx.lm, ctx.default_method))
        return EventSourceResponse(_events(generation), sep="\n")

    return api
