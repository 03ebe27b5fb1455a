"""POST /api/calibrate: fit thresholds to the loaded model from the UI, as an
SSE stream of progress events then the fitted config. It runs on the model's
worker thread, queued like any generation (the model serves one job at a time)."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import AsyncIterator
from contextlib import aclosing

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from sse_starlette import EventSourceResponse

from ..sampler import ConfigError, get_preset
from .context import ServerContext, dumps
from .errors import ERROR_RESPONSES, busy, invalid
from .fitting import FitResult, fit_thresholds, fitting_prompt_count
from .worker import QueueFull

log = logging.getLogger(__name__)


class CalibrateRequest(BaseModel):
    """What to fit: the preset the other fields come from, and how much to generate."""

    model_config = ConfigDict(extra="forbid")

    preset: str = "entropix"
    prompts: int = Field(8, ge=1, description="how many of the built-in fitting prompts to run")
    max_tokens: int = Field(32, ge=1, le=1024, description="tokens generated per prompt")
    seed: int = Field(0, ge=0)


def router(ctx: ServerContext) -> APIRouter:
    api = APIRouter(prefix="/api", tags=["native"])

    @api.post("/calibrate", responses=ERROR_RESPONSES)
    async def calibrate(body: CalibrateRequest) -> EventSourceResponse:
        """Fit thresholds: `progress` events ({done, total, tokens}), then `done` ({config, tokens, prompts}) or `error`."""
        try:
            base = get_preset(body.preset)
        except ConfigError as e:
            raise invalid(str(e), "preset") from None
        available = fitting_prompt_count()
        if body.prompts > available:
            raise invalid(f"prompts must be at most {available} (the fitting prompt set's size), "
                          f"got {body.prompts}", "prompts")
        try:
            task = ctx.worker.submit_task(lambda cancelled: fit_thresholds(
                ctx.lm, base, body.prompts, body.max_tokens, body.seed, cancelled))
        except QueueFull:
            raise busy(ctx.worker.queue_size) from None

        async def events() -> AsyncIterator[dict[str, str]]:
            try:
                async with aclosing(task.responses()) as items:
                    async for item in items:
                        kind = "done" if isinstance(item, FitResult) else "progress"
                        yield {"event": kind, "data": dumps(dataclasses.asdict(item))}
            except Exception as e:  # the stream has started: the error goes in it
                log.exception("threshold fitting failed")
                yield {"event": "error", "data": dumps({"message": f"{type(e).__name__}: {e}"})}

        return EventSourceResponse(events(), sep="\n")

    return api
