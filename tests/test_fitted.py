"""Fitted thresholds: found by the model's fingerprint, user cache before the
shipped fits, applied to the presets that take them and to no other."""

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from mlx_entropix.sampler import ConfigError, get_preset
from mlx_entropix.sampler import fitted
from mlx_entropix.sampler.fitted import (
    describe_thresholds,
    find_fit,
    model_fingerprint,
    presets_for,
    resolve_preset,
    write_fit,
)

QUADRANT = {"low_ent": 0.8, "low_vent": 1.5, "med_ent": 1.6, "high_ent": 3.0, "high_vent": 9.0}
FROG = {**QUADRANT, "low_attn_ent": 1.0, "high_attn_ent": 2.0, "low_attn_vent": 0.1, "high_attn_vent": 0.3,
        "low_agree": 0.01, "high_agree": 0.02, "low_int": 0.5, "high_int": 0.9}


@dataclass
class FakeModel:
    path: str
    name: str = "tiny"
    config: dict = field(default_factory=lambda: {"hidden_size": 8})


@pytest.fixture
def model(tmp_path, monkeypatch):
    weights = tmp_path / "w.gguf"
    weights.write_bytes(bytes(range(256)) * 20000)
    monkeypatch.setenv(fitted.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(fitted, "SHIPPED_DIR", tmp_path / "shipped")
    return FakeModel(str(weights))


def test_fingerprint_follows_content_and_config_not_place(model, tmp_path):
    fp = model_fingerprint(model)
    copy = tmp_path / "elsewhere" / "other-name.gguf"
    copy.parent.mkdir()
    copy.write_bytes(Path(model.path).read_bytes())
    assert model_fingerprint(FakeModel(str(copy))) == fp
    assert model_fingerprint(FakeModel(model.path, config={"hidden_size": 16})) != fp
    tail_changed = bytearray(copy.read_bytes())
    tail_changed[-1] ^= 1
    copy.write_bytes(bytes(tail_changed))
    assert model_fingerprint(FakeModel(str(copy))) != fp


def test_without_a_fit_every_preset_is_the_published_one(model):
    assert find_fit(model) is None
    assert presets_for(model) == {name: get_preset(name) for name in presets_for(model)}
    assert describe_thresholds(resolve_preset("entropix", model), model).startswith("published (no fit for tiny")


def test_a_fit_in_the_cache_sets_the_fitted_presets_only(model):
    path = write_fit(fitted.cache_dir(), model, {"quadrant": QUADRANT, "frog": FROG}, {"seed": 0})
    assert path.name == f"{model_fingerprint(model)}.toml"
    entropix = resolve_preset("entropix", model)
    assert {k: getattr(entropix, k) for k in QUADRANT} == QUADRANT
    assert entropix.thresholds == "fitted" and entropix.gating == "quadrant"
    assert describe_thresholds(entropix, model) == f"fitted for tiny ({path})"
    no_branch = resolve_preset("no_branch", model)
    assert no_branch.low_ent == 0.8 and not no_branch.branching
    assert resolve_preset("no_think", model).max_think_insertions == 0
    assert resolve_preset("cot_margin", model).low_ent == 0.8
    frog = resolve_preset("frog", model)
    assert frog.gating == "frog" and frog.high_int == 0.9 and frog.low_ent == 0.8
    assert resolve_preset("entropix-paper", model) == get_preset("entropix-paper")
    assert describe_thresholds(get_preset("entropix-paper"), model) == "published"
    assert resolve_preset("greedy", model) == get_preset("greedy")


def test_the_users_cache_comes_before_the_shipped_fit(model):
    write_fit(fitted.SHIPPED_DIR, model, {"quadrant": QUADRANT}, {})
    assert resolve_preset("entropix", model).low_ent == 0.8
    assert resolve_preset("frog", model) == get_preset("frog")  # the shipped fit has no frog table
    write_fit(fitted.cache_dir(), model, {"quadrant": {**QUADRANT, "low_ent": 0.5}}, {})
    assert resolve_preset("entropix", model).low_ent == 0.5


@pytest.mark.parametrize("text, message", [
    ("[quadrant]\nlow_ent = 0.9\nlow_attn_ent = 1.0\n", r"\[quadrant\] has unknown threshold 'low_attn_ent'"),
    ("[quadrant]\nlow_ent = 9.0\n", r"\[quadrant\]: entropy thresholds must satisfy low_ent <= med_ent <= high_ent"),
    ("[frog]\nlow_int = 9.0\n", r"\[frog\]: low_int must be <= high_int"),
    ("model = \n", r"is not valid TOML.*calibrate"),
    ("model = 'x'\n", r"no \[quadrant\] or \[frog\] table"),
])
def test_a_broken_fit_file_names_itself_and_the_fix(model, text, message):
    path = write_fit(fitted.cache_dir(), model, {"quadrant": QUADRANT}, {})
    path.write_text(text)
    with pytest.raises(ConfigError, match=f"^{path}.*{message}"):
        find_fit(model)


def test_the_embedded_model_has_its_fit_shipped(lm, tmp_path, monkeypatch):
    monkeypatch.setenv(fitted.CACHE_ENV, str(tmp_path))
    fit = find_fit(lm)
    assert fit is not None and fit.path.parent == fitted.SHIPPED_DIR
    assert set(fit.tables) == {"quadrant", "frog"}
    assert resolve_preset("entropix", lm).thresholds == "fitted"


def test_a_run_names_its_thresholds_in_the_trace(lm, tmp_path, monkeypatch):
    from mlx_entropix.engine import GenerationOptions
    from mlx_entropix.runner import RunRequest, run

    monkeypatch.setenv(fitted.CACHE_ENV, str(tmp_path))
    options = GenerationOptions(max_tokens=2, seed=0)
    messages = [{"role": "user", "content": "Hi"}]
    trace = run(lm, RunRequest(messages=messages, preset="no_branch", options=options))
    assert trace.sampler["thresholds"].startswith("fitted for SmolLM2")
    assert trace.sampler["config"]["thresholds"] == "fitted"
    paper = run(lm, RunRequest(messages=messages, preset="entropix-paper", options=options))
    assert paper.sampler["thresholds"] == "published"
