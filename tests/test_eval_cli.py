"""`mlx_main.py eval` options, in-process with the fake model: methods from
presets and config files, the split, and one-line errors."""

import json

import pytest
import typer
from eval_fakes import FakeDecoder, make_fake_generate_many
from typer.testing import CliRunner

import mlx_entropix.eval.model
from mlx_entropix.eval.cli import eval_command
from mlx_entropix.sampler import SamplerConfig, save_config

app = typer.Typer()
app.command()(eval_command)


@pytest.fixture
def invoke(monkeypatch):
    monkeypatch.setattr(mlx_entropix.eval.model, "make_decoder",
                        lambda model, specs, batch: (FakeDecoder(max_batch=batch), specs))
    return lambda *args: CliRunner().invoke(app, list(args))


@pytest.fixture
def dataset(tmp_path):
    path = tmp_path / "sums.jsonl"
    path.write_text("".join(
        json.dumps({"id": f"q{i}", "question": f"What is {i} + 1?", "answer": str(i + 1),
                    "split": "dev" if i % 3 == 0 else "test"}) + "\n" for i in range(12)))
    return path


def test_methods_from_presets_and_files_on_one_split(invoke, dataset, tmp_path):
    config = tmp_path / "fitted.toml"
    save_config(SamplerConfig(branching=False), config)
    out = tmp_path / "run"
    r = invoke("--dataset", str(dataset), "--methods", f"greedy,no_branch,{config}", "--split", "test",
               "--out", str(out))
    assert r.exit_code == 0, r.output
    summary = json.loads((out / "summary.json").read_text())
    assert list(summary["methods"]) == ["greedy", "no_branch", "fitted"]
    assert summary["setup"]["n"] == 8 and summary["setup"]["split"] == "test"
    assert summary["setup"]["configs"]["fitted"]["config"]["branching"] is False
    assert [(p["a"], p["b"]) for p in summary["pairs"][:2]] == [("no_branch", "greedy"), ("fitted", "greedy")]
    assert "fitted - greedy" in r.output and "strict accuracy" in r.output
    assert "decoding (this process): " in r.output and " rows on average" in r.output
    assert sorted(p.name for p in (out / "traces").iterdir())[:3] == [
        "00001-00.json", "00001-01.json", "00001-02.json"]


@pytest.mark.parametrize("args, message", [
    (["--methods", "greedy,beam"], "unknown method 'beam'"),
    (["--methods", "greedy,missing.toml"], "not found"),
    (["--split", "train"], "choose dev, test or all"),
])
def test_bad_options_are_one_line(invoke, dataset, tmp_path, args, message):
    r = invoke("--dataset", str(dataset), "--out", str(tmp_path / "o"), *args)
    assert r.exit_code == 2
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]


def test_n_items_are_spread_through_the_split_not_the_first_ones():
    from pathlib import Path

    from mlx_entropix.eval.cli import select_items
    from mlx_entropix.eval.dataset import load_dataset, select_split

    path = Path("data/eval/basics.jsonl")
    test = select_split(load_dataset(path), "test", path)
    chosen = select_items(test, 8, path)
    assert len(chosen) == 8 and chosen[0] == test[0] and chosen[-1] == test[-1]
    assert len({it.category for it in chosen}) > 2  # the split is ordered by category
    assert select_items(test, None, path) == test


class FittedModel:
    """A model with a fit in the (test's) cache: presets that take fitted thresholds change."""

    name, config, path = "fitted-fake", {"hidden_size": 5}, "/nonexistent/fitted-fake"


def test_settings_record_the_fitted_config_that_ran_and_resume_refuses_a_refit(monkeypatch, dataset,
                                                                                tmp_path):
    """Presets are resolved once against the loaded model: settings.json and
    report.md carry the thresholds that ran, and a re-fit is a changed method."""
    from mlx_entropix.eval.model import for_model
    from mlx_entropix.sampler.fitted import write_fit

    fits = tmp_path / "fits"
    monkeypatch.setenv("MLX_ENTROPIX_FITTED_DIR", str(fits))
    ran = []

    def make_decoder(model, specs, batch):
        resolved = for_model(specs, FittedModel())
        fake = make_fake_generate_many()

        def generate_many(requests):
            ran.extend(r.spec.config for r in requests)
            return fake(requests)

        return FakeDecoder(generate_many, batch), resolved

    monkeypatch.setattr(mlx_entropix.eval.model, "make_decoder", make_decoder)
    table = {"low_ent": 3.5, "low_vent": 9.0, "med_ent": 4.0, "high_ent": 5.0, "high_vent": 12.0}
    write_fit(fits, FittedModel(), {"quadrant": table}, {})
    out = tmp_path / "run"
    args = ["--dataset", str(dataset), "--methods", "greedy,entropix", "--n", "2", "--out", str(out)]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    recorded = json.loads((out / "settings.json").read_text())["configs"]["entropix"]["config"]
    assert recorded["thresholds"] == "fitted" and recorded["low_ent"] == 3.5
    assert all(c.low_ent == 3.5 for c in ran if not c.greedy)
    assert "- entropix: preset: fitted thresholds (low_ent 3.5, " in (out / "report.md").read_text()
    write_fit(fits, FittedModel(), {"quadrant": {**table, "low_ent": 3.0}}, {})
    r = CliRunner().invoke(app, [*args, "--resume"])
    assert r.exit_code == 2 and "the sampler config of entropix changed" in r.output


def test_a_sealed_run_without_a_committed_plan_does_not_start(invoke, dataset, tmp_path):
    r = invoke("--dataset", str(dataset), "--methods", "greedy,self_consistency@k=3", "--sealed",
               "--out", str(tmp_path / "run"))
    assert r.exit_code == 2 and "--sealed needs" in r.output and "plan.md" in r.output
    assert not (tmp_path / "run" / "results.jsonl").exists()


def test_the_batching_line_says_how_full_the_steps_ran():
    from mlx_entropix.batch_time import BatchTime, describe

    timing = BatchTime()
    timing.add_prefill(120, 0.75)
    for rows in (8, 8, 4, 2):
        timing.add_step(rows, 0.25)
    assert describe(timing.to_dict()) == "4 steps of 5.50 rows on average, 1.0 s; prefill 0.8 s (120 prompt tokens)"
