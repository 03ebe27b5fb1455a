"""The UI's side of the server: the built UI at `/`, its favicon, and when
there is no build, a short page at `/` that says why and how to get one
(instead of FastAPI's bare `{"detail": "Not Found"}`)."""

from __future__ import annotations

import html
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

from .ui_build import HOW_TO_BUILD, UI_ROOT

FAVICON = UI_ROOT / "public" / "favicon.svg"


def fallback_page(problem: str) -> str:
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>mlx-entropix: no web UI</title>
<link rel="icon" type="image/svg+xml" href="/favicon.ico"></head>
<body style="font-family: system-ui, sans-serif; max-width: 44rem; margin: 3rem auto; line-height: 1.5">
<h1>mlx-entropix: the web UI is not built</h1>
<p id="problem">{html.escape(problem)}</p>
<p>To build it: <code>{html.escape(HOW_TO_BUILD)}</code>.</p>
<p>The API works meanwhile: <a href="/docs">/docs</a>, <a href="/api/config">/api/config</a>,
<a href="/health">/health</a>, and the OpenAI routes under <code>/v1</code>.</p>
</body></html>
"""


def install_ui(app: FastAPI, dist: Path | None, problem: str | None) -> None:
    """Mount the build at `/` when it exists, else the fallback page; always a favicon."""

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> Response:
        return Response(FAVICON.read_bytes(), media_type="image/svg+xml")

    if dist is not None and (dist / "index.html").is_file():
        app.mount("/", StaticFiles(directory=dist, html=True), name="ui")
        return
    reason = problem or (f"{dist} holds no build" if dist else "this server was started without the UI")

    @app.get("/", include_in_schema=False)
    async def no_ui() -> HTMLResponse:
        return HTMLResponse(fallback_page(reason), status_code=503)
