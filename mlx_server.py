"""Serve one model over HTTP: OpenAI-compatible streaming with entropix metrics,
the web UI's native event stream, and the built UI at /.

    uv run mlx_server.py [--model M] [--host 127.0.0.1] [--port 8000] [--normal]
                         [--allowed-origins ORIGIN ...] [--queue-size N] [--max-batch N]
                         [--prompt-cache-tokens N] [--eval-dir out]

The first start builds the UI (ui/dist) with the bun that `uv` installed, and
rebuilds it whenever ui/src is newer; without a build, / says why.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import uvicorn

from mlx_entropix import blas
from mlx_entropix.load import LoadError, load
from mlx_entropix.prompt_cache import DEFAULT_PROMPT_CACHE_TOKENS
from mlx_entropix.requests import DEFAULT_MAX_BATCH
from mlx_entropix.server import ServerSettings, create_app
from mlx_entropix.server.ui_build import ensure_ui

log = logging.getLogger("mlx_server")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Serve one model: OpenAI-compatible streaming with "
                                            "entropix metrics, the UI's event stream, the UI at /.")
    p.add_argument("--model", default=None,
                   help="a .gguf file, a model folder or a cached repo id (default: the embedded SmolLM2-135M)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port to listen on (default: 8000)")
    p.add_argument("--normal", action="store_true",
                   help="decode with plain sampling unless a request asks for entropix")
    p.add_argument("--allowed-origins", nargs="+", metavar="ORIGIN",
                   help="CORS origins allowed (default: any http(s)://localhost or 127.0.0.1 port)")
    p.add_argument("--weights", default="auto", choices=("auto", "dense", "quantized"),
                   help="dense float32 or quantized weights; auto: dense on a Linux CPU with the "
                        "optimised BLAS when they fit in a quarter of RAM (default: auto)")
    p.add_argument("--queue-size", type=int, default=8,
                   help="requests that may wait for the model; more get 503 (default: 8)")
    p.add_argument("--max-batch", type=int, default=DEFAULT_MAX_BATCH,
                   help="entropix/greedy requests decoded together, sharing each step "
                        f"(continuous batching; default: {DEFAULT_MAX_BATCH})")
    p.add_argument("--prompt-cache-tokens", type=int, default=DEFAULT_PROMPT_CACHE_TOKENS,
                   help="prefilled prompts kept so that a repeated prompt is not prefilled again, "
                        f"up to this many tokens in all; 0 keeps none (default: {DEFAULT_PROMPT_CACHE_TOKENS})")
    p.add_argument("--eval-dir", type=Path, default=Path("out"),
                   help="the folder whose eval outputs (mlx_main.py eval --out) the UI may open (default: out)")
    p.add_argument("--no-ui-build", action="store_true",
                   help="serve ui/dist as it is, without building it when missing or stale")
    args = p.parse_args(argv)
    if args.queue_size < 1:
        p.error(f"--queue-size must be at least 1, got {args.queue_size}")
    if args.max_batch < 1:
        p.error(f"--max-batch must be at least 1, got {args.max_batch}")
    if args.prompt_cache_tokens < 0:
        p.error(f"--prompt-cache-tokens must be at least 0, got {args.prompt_cache_tokens}")
    if not 0 < args.port < 65536:
        p.error(f"--port must be in 1..65535, got {args.port}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    ui = None if args.no_ui_build else ensure_ui(say=lambda line: print(line, flush=True))
    try:
        lm = load(args.model, args.weights)
    except LoadError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    settings = ServerSettings(default_method="normal" if args.normal else "entropix",
                              queue_size=args.queue_size, max_batch=args.max_batch,
                              prompt_cache_tokens=args.prompt_cache_tokens,
                              allowed_origins=args.allowed_origins,
                              ui_problem=ui.problem if ui else None, eval_dir=args.eval_dir)
    app = create_app(lm, settings)
    host = f"[{args.host}]" if ":" in args.host else args.host
    log.info("model: %s (%s), context %d tokens", lm.name, lm.path, lm.context_length)
    log.info("backend: %s; %s weights (%s); BLAS: %s; default sampler: %s; queue size: %d; "
             "max batch: %d; prompt cache: %d tokens",
             lm.backend, lm.weights.mode, lm.weights.reason, blas.info().describe(),
             settings.default_method, settings.queue_size, settings.max_batch, settings.prompt_cache_tokens)
    log.info("serving on http://%s:%d (OpenAI API under /v1, UI at /)", host, args.port)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")
    return 0


if __name__ == "__main__":
    sys.exit(main())
