"""The UI's view of evaluation runs (`mlx_main.py eval --out DIR`): list the
runs under the server's eval root, open one's summary and per-item results,
and hand out any item's trace. Only folders inside that root are served: a
path that leads outside it (`..`, an absolute path, a symlink) is refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi import APIRouter
from fastapi.responses import FileResponse

from ..eval.store import RESULTS_FILE, SETTINGS_FILE
from .errors import ApiError

SUMMARY_FILE = "summary.json"


def inside(root: Path, rel: str, what: str) -> Path:
    """`root / rel`, resolved, or a 403 when it is not inside `root`."""
    base = root.resolve()
    path = (base / rel).resolve()
    if not path.is_relative_to(base):
        raise ApiError(403, f"{what} {rel!r} is outside the eval folder {root}; "
                            "give a path relative to it (start the server with --eval-dir to change it)",
                       what, "outside_eval_dir")
    return path


def _run_folder(root: Path, rel: str) -> Path:
    folder = inside(root, rel, "dir")
    if not (folder / SUMMARY_FILE).is_file():
        raise ApiError(404, f"{rel!r} is not an eval output folder (no {SUMMARY_FILE}); "
                            f"write one with `mlx_main.py eval --out {root}/NAME`", "dir", "not_an_eval")
    return folder


def list_runs(root: Path) -> list[dict[str, Any]]:
    """Every eval folder under `root` (newest first), with its methods' accuracies."""
    if not root.is_dir():
        return []
    runs = []
    for summary in root.resolve().rglob(SUMMARY_FILE):
        try:
            data = json.loads(summary.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        runs.append({
            "dir": summary.parent.relative_to(root.resolve()).as_posix(),
            "modified": summary.stat().st_mtime,
            "n": data.get("setup", {}).get("n"),
            "accuracy": {m: s.get("accuracy") for m, s in data.get("methods", {}).items()},
        })
    return sorted(runs, key=lambda r: -r["modified"])


def read_run(folder: Path) -> dict[str, Any]:
    """The run's settings, summary and per-item records (results.jsonl)."""
    results = folder / RESULTS_FILE
    items = [json.loads(line) for line in results.read_text(encoding="utf-8").splitlines()
             if line.strip()] if results.is_file() else []
    settings = folder / SETTINGS_FILE
    return {
        "settings": json.loads(settings.read_text(encoding="utf-8")) if settings.is_file() else None,
        "summary": json.loads((folder / SUMMARY_FILE).read_text(encoding="utf-8")),
        "items": items,
    }


def router(root: Path) -> APIRouter:
    api = APIRouter(prefix="/api/evals", tags=["native"])

    @api.get("")
    async def runs() -> dict[str, Any]:
        """The eval output folders under the server's --eval-dir."""
        return {"root": str(root), "runs": list_runs(root)}

    @api.get("/run")
    async def run(dir: str) -> dict[str, Any]:
        """One eval folder: settings, summary (methods, pairs, categories) and every item."""
        folder = _run_folder(root, dir)
        return {"dir": dir, **read_run(folder)}

    @api.get("/trace")
    async def trace(dir: str, file: str) -> FileResponse:
        """One item's trace (a path from results.jsonl, relative to the eval folder)."""
        folder = _run_folder(root, dir)
        path = inside(folder, file, "file")
        if path.suffix != ".json" or not path.is_file():
            raise ApiError(404, f"no trace {file!r} in {dir!r}", "file", "no_trace")
        return FileResponse(path, media_type="application/json")

    return api
