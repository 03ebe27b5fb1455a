"""A model without a fit gets one on first use before a fitted preset runs
(the conftest shrinks the fit to one prompt of four tokens): the CLI with a
progress line, the server at start-up with its progress in /api/config."""

import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from gguf import GGMLQuantizationType as T
from typer.testing import CliRunner

import mlx_entropix.cli.app as cli
from mlx_entropix.first_fit import PROMPTS_ENV, FirstFitPlan, first_fit, needs_first_fit
from mlx_entropix.load import load
from mlx_entropix.sampler.fitted import find_fit, resolve_preset
from mlx_entropix.server import ServerSettings, create_app
from tests.gguf_fixtures import hf_config, random_hf_weights, write_gguf


def tiny_gguf(tmp_path, seed: int):
    config = hf_config("qwen2", vocab_size=258)
    path = tmp_path / f"tiny-{seed}.gguf"
    write_gguf(path, "qwen2", config, random_hf_weights(config, seed=seed), {"proj": T.Q8_0})
    return path


def run_cli(*args: str):
    return CliRunner().invoke(cli.app, cli.with_optional_values(list(args)))


def test_default_preset_fits_on_first_use_then_reuses_the_fit(tmp_path):
    path = tiny_gguf(tmp_path, seed=11)
    assert find_fit(load(str(path))) is None
    first = run_cli("--model", str(path), "--input", "Hi", "--max-tokens", "3")
    assert first.exit_code == 0, first.output
    assert "Fitting thresholds for tiny-11 on first use (once per model): 1 prompts of up to 4" in first.stderr
    assert "\r  prompt 1/1, " in first.stderr
    assert "Fitted thresholds for tiny-11 on first use" in first.stderr
    assert "Thresholds: fitted for tiny-11" in first.stdout
    lm = load(str(path))
    fit = find_fit(lm)
    assert fit is not None and resolve_preset("no_branch", lm).thresholds == "fitted"
    assert "first use" in fit.path.read_text()

    again = run_cli("--model", str(path), "--input", "Hi", "--max-tokens", "3")
    assert again.exit_code == 0 and "Fitting" not in again.stderr
    assert "Thresholds: fitted for tiny-11" in again.stdout


def test_presets_without_fitted_thresholds_do_not_fit(tmp_path):
    path = tiny_gguf(tmp_path, seed=12)
    for preset in ("greedy", "entropix-paper"):
        r = run_cli("--model", str(path), "--input", "Hi", "--max-tokens", "2", "--preset", preset)
        assert r.exit_code == 0 and "Fitting" not in r.stderr, r.output
    assert find_fit(load(str(path))) is None


def test_fit_size_comes_from_the_environment(tmp_path, monkeypatch):
    lm = load(str(tiny_gguf(tmp_path, seed=13)))
    monkeypatch.setenv(PROMPTS_ENV, "2")
    items = list(first_fit(lm))
    assert [i.done for i in items[:-1]] == [1, 2] and items[-1].prompts == 2
    assert needs_first_fit(lm, ["no_branch"]) is False
    monkeypatch.setenv(PROMPTS_ENV, "zero")
    with pytest.raises(ValueError, match=f"{PROMPTS_ENV}='zero' must be a whole number"):
        FirstFitPlan.from_env()


def test_server_fits_at_start_up_and_shows_it_in_config(tmp_path):
    lm = load(str(tiny_gguf(tmp_path, seed=14)))
    app = create_app(lm, ServerSettings(ui_dir=None))
    with TestClient(app, raise_server_exceptions=False) as client:
        status = client.get("/api/config").json()["first_fit"]
        assert status["state"] in ("running", "done") and status["total"] == 1
        while status["state"] == "running":
            time.sleep(0.05)
            status = client.get("/api/config").json()["first_fit"]
        config = client.get("/api/config").json()
        assert status["state"] == "done" and status["tokens"] > 0 and status["path"].endswith(".toml")
        assert config["thresholds"]["no_branch"].startswith("fitted for tiny-14")

        # While a first-use fit runs (the fit not yet written), a fitted preset is
        # refused with 503; greedy is served.
        fit_path = Path(status["path"])
        fit_text = fit_path.read_text()
        fit_path.unlink()
        app.state.ctx.first_fit.state = "running"
        body = {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2, "stream": False}
        refused = client.post("/v1/chat/completions", json=body)
        assert refused.status_code == 503 and refused.json()["error"]["code"] == "fitting_thresholds"
        assert refused.headers["Retry-After"]
        tuned = client.post("/v1/chat/completions", json={**body, "temperature": 0.5})
        assert tuned.status_code == 503  # the default preset's thresholds, overridden elsewhere
        fit_path.write_text(fit_text)
        assert client.post("/v1/chat/completions", json={**body, "temperature": 0.5}).status_code == 200
        served = client.post("/v1/chat/completions", json={**body, "sampler": "greedy"})
        assert served.status_code == 200, served.text


def test_server_with_a_fit_does_not_fit(lm):
    app = create_app(lm, ServerSettings(ui_dir=None))
    with TestClient(app) as client:
        assert client.get("/api/config").json()["first_fit"]["state"] == "not_needed"
