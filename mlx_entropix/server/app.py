"""The FastAPI application around one loaded model: OpenAI-compatible routes,
the UI's native routes, /health, and the built UI at `/`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse

from ..load import LoadedModel
from ..prompt_cache import DEFAULT_PROMPT_CACHE_TOKENS
from ..requests import DEFAULT_MAX_BATCH
from . import calibrate_api, eval_results, native, v1
from .context import ServerContext
from .errors import install_handlers
from .fitting import start_first_fit
from .ui_build import UI_ROOT
from .ui_serve import install_ui
from .worker import Worker

LOCALHOST_ORIGINS = r"^https?://(localhost|127\.0\.0\.1|\[::1\])(:\d+)?$"


@dataclass
class ServerSettings:
    default_method: str = "entropix"  # "normal" with --normal
    queue_size: int = 8
    max_batch: int = DEFAULT_MAX_BATCH  # generations sharing each decode step
    prompt_cache_tokens: int = DEFAULT_PROMPT_CACHE_TOKENS  # prefilled prompts kept for reuse (0: none)
    allowed_origins: list[str] | None = None  # None: any localhost origin
    ui_dir: Path | None = UI_ROOT / "dist"  # served at / when it holds a build
    eval_dir: Path = Path("out")  # eval outputs the UI may open (/api/evals), nothing outside it
    ui_problem: str | None = None  # why there is no build, for the page at / (ui_build.ensure_ui)


def create_app(lm: LoadedModel, settings: ServerSettings | None = None) -> FastAPI:
    settings = settings or ServerSettings()
    ctx = ServerContext(lm, Worker(lm, settings.queue_size, settings.max_batch, settings.prompt_cache_tokens),
                        settings.default_method)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        ctx.worker.start()
        start_first_fit(lm, ctx.first_fit, ctx.worker.submit_task)
        yield
        ctx.worker.stop()

    app = FastAPI(title="mlx-entropix", version="1", lifespan=lifespan,
                  summary="Entropix sampling on MLX: OpenAI-compatible streaming with per-token metrics.")
    app.state.ctx = ctx
    install_handlers(app)
    if settings.allowed_origins is None:
        app.add_middleware(CORSMiddleware, allow_origin_regex=LOCALHOST_ORIGINS,
                           allow_methods=["*"], allow_headers=["*"])
    else:
        app.add_middleware(CORSMiddleware, allow_origins=settings.allowed_origins,
                           allow_methods=["*"], allow_headers=["*"])

    @app.get("/health", tags=["server"])
    async def health() -> JSONResponse:
        """200 while the generation worker runs, else 503; with the queue's state:
        `running` generations share the decode steps (up to `max_batch`), `waiting` ones queue;
        `prompt_cache`: prefilled prompts kept (count, tokens, budget) and how often one was reused;
        `batching`: since the start, the batch's prompt prefill (passes, tokens, seconds) and its decode
        steps by width, with the rows per step on average (how full the shared steps ran)."""
        worker, prompts = ctx.worker, ctx.worker.prompts
        body: dict[str, Any] = {"status": "ok" if worker.alive else "worker stopped",
                                "model": lm.name, "backend": lm.backend, "busy": worker.busy,
                                "running": worker.running, "max_batch": worker.max_batch,
                                "waiting": worker.waiting, "queue_size": worker.queue_size,
                                "prompt_cache": {"prompts": len(prompts), "tokens": prompts.tokens,
                                                 "max_tokens": prompts.max_tokens, "hits": prompts.hits},
                                "batching": worker.timing.to_dict()}
        return JSONResponse(body, status_code=200 if worker.alive else 503)

    app.include_router(v1.router(ctx))
    app.include_router(native.router(ctx))
    app.include_router(calibrate_api.router(ctx))
    app.include_router(eval_results.router(settings.eval_dir))
    install_ui(app, settings.ui_dir, settings.ui_problem)
    return app
