"""Method lists on the command line: normal, presets and config files, each
under one label."""

import pytest

from mlx_entropix.engine import GenerationOptions
from mlx_entropix.methods import MethodError, resolve_methods
from mlx_entropix.sampler import PRESETS, ConfigError, SamplerConfig, save_config

MESSAGES = [{"role": "user", "content": "Hi"}]


class UnfittedModel:
    """A model with no fitted thresholds anywhere: presets resolve to themselves."""

    name, config = "unfitted", {"hidden_size": 3}

    def __init__(self, path):
        self.path = str(path)


def test_builtins_presets_and_files_resolve_in_order(tmp_path, monkeypatch):
    path = tmp_path / "fitted.toml"
    save_config(SamplerConfig(low_ent=0.5, med_ent=1.0, high_ent=2.0), path)
    monkeypatch.setitem(PRESETS, "late_preset", SamplerConfig(branching=False))
    specs = resolve_methods(f"greedy, normal,no_branch,{path},late_preset")
    assert [s.label for s in specs] == ["greedy", "normal", "no_branch", "fitted", "late_preset"]
    assert specs[1].is_normal and specs[1].describe() == {"source": "normal", "config": None}
    assert specs[2].describe() == {"source": "preset", "config": PRESETS["no_branch"].to_dict()}
    assert specs[3].config.low_ent == 0.5 and specs[3].source == str(path)
    assert specs[4].config == SamplerConfig(branching=False)


def test_each_method_becomes_a_labelled_request(tmp_path, monkeypatch):
    monkeypatch.setenv("MLX_ENTROPIX_FITTED_DIR", str(tmp_path / "fits"))
    lm = UnfittedModel(tmp_path / "no-weights")
    path = tmp_path / "mine.json"
    save_config(SamplerConfig(n_branches=2), path)
    normal, preset, custom = resolve_methods(f"normal,no_branch,{path}")
    opts = GenerationOptions(max_tokens=3, seed=1)
    req = normal.request(MESSAGES, opts)
    assert (req.method, req.label) == ("normal", "normal")
    req = preset.request(MESSAGES, opts)
    assert (req.method, req.preset, req.label) == ("entropix", "no_branch", "no_branch")
    assert req.sampler_config(lm) == PRESETS["no_branch"]
    req = custom.request(MESSAGES, opts)
    assert (req.label, req.sampler_config(lm).n_branches) == ("mine", 2)


@pytest.mark.parametrize("text, message", [
    ("", "empty"),
    ("greedy,,greedy", "'greedy' twice"),
    ("beam", "unknown method 'beam'.*normal, entropix, entropix-paper, greedy, no_branch"),
    ("missing.toml", "not found"),
])
def test_bad_lists_are_refused_with_one_line(text, message):
    with pytest.raises((MethodError, ConfigError), match=message):
        resolve_methods(text)


def test_labels_must_be_unique_and_safe_for_file_names(tmp_path):
    save_config(SamplerConfig(), tmp_path / "greedy.toml")
    with pytest.raises(MethodError, match="two methods are labelled 'greedy'"):
        resolve_methods(f"greedy,{tmp_path / 'greedy.toml'}")
    save_config(SamplerConfig(), tmp_path / "my config.json")
    with pytest.raises(MethodError, match="rename the file"):
        resolve_methods(str(tmp_path / "my config.json"))


def test_presets_resolve_once_against_the_model_and_requests_run_that_config(tmp_path, monkeypatch):
    """A preset's recorded config (describe) is the fitted one the run uses; the trace keeps its name."""
    from mlx_entropix.methods import for_model
    from mlx_entropix.sampler.fitted import write_fit

    monkeypatch.setenv("MLX_ENTROPIX_FITTED_DIR", str(tmp_path / "fits"))
    lm = UnfittedModel(tmp_path / "weights")
    table = {"low_ent": 2.5, "low_vent": 9.0, "med_ent": 3.0, "high_ent": 4.0, "high_vent": 12.0}
    write_fit(tmp_path / "fits", lm, {"quadrant": table}, {})
    paper, entropix, normal = for_model(resolve_methods("entropix-paper,entropix,normal"), lm)
    assert entropix.describe()["config"]["thresholds"] == "fitted"
    assert entropix.describe()["config"]["low_ent"] == 2.5
    assert paper.config == PRESETS["entropix-paper"] and normal.config is None
    req = entropix.request(MESSAGES, GenerationOptions())
    assert req.sampler_config(lm) is entropix.config and req.preset_name == "entropix"
    write_fit(tmp_path / "fits", lm, {"quadrant": {**table, "low_ent": 2.0}}, {})
    assert req.sampler_config(lm).low_ent == 2.5  # resolved once: a later re-fit is not silently mixed in
