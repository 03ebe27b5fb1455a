import json
from pathlib import Path

import pytest
from eval_fakes import FakeDecoder, make_fake_generate_many, write_sum_dataset

from mlx_entropix.eval.dataset import file_sha256, load_dataset, select_split
from mlx_entropix.eval.errors import EvalError
from mlx_entropix.eval.runner import item_seed, run_eval
from mlx_entropix.eval.stats import mcnemar_exact
from mlx_entropix.eval.store import RunSettings
from mlx_entropix.methods import resolve_methods
from mlx_entropix.sampler import SamplerConfig, save_config
from mlx_entropix.trace import load_trace

METHODS = ("entropix", "greedy", "normal")
SPECS = resolve_methods(",".join(METHODS))


def _settings(dataset: Path, n: int, **changes) -> RunSettings:
    base = dict(
        dataset=str(dataset),
        dataset_sha256=file_sha256(dataset),
        methods=METHODS,
        n=n,
        seed=3,
        max_tokens=64,
        model=None,
        configs={s.label: s.describe() for s in SPECS},
    )
    return RunSettings(**(base | changes))


@pytest.fixture
def dataset(tmp_path):
    return write_sum_dataset(tmp_path / "sums.jsonl", 30)


def _run(dataset, out, **kw):
    items = load_dataset(dataset)
    settings = _settings(dataset, len(items), **kw.pop("settings", {}))
    specs = kw.pop("specs", SPECS)
    decoder = FakeDecoder(kw.pop("generate", make_fake_generate_many()), kw.pop("batch", 8))
    return run_eval(items, settings, specs, decoder, out, show_progress=False, **kw)


def test_full_run_writes_results_traces_and_report(dataset, tmp_path):
    calls = []
    fake = make_fake_generate_many()

    def recording(requests):
        calls.extend((json.dumps(r.chat), r.spec.label, r.seed, r.max_tokens) for r in requests)
        return fake(requests)

    out = tmp_path / "run"
    summary = _run(dataset, out, generate=recording, command="mlx_main.py eval")
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [r["index"] for r in records] == list(range(30))

    # Every method saw the same messages and the same per-item seed.
    for i in range(30):
        mine = [c for c in calls if f"What is {i} + {2 * i + 1}?" in c[0]]
        assert [c[1] for c in mine] == list(METHODS)
        assert len({(c[0], c[2], c[3]) for c in mine}) == 1
        assert mine[0][2] == item_seed(3, i) == records[i]["seed"]
    assert len({r["seed"] for r in records}) == 30

    for r in records:
        for m in METHODS:
            res = r["methods"][m]
            assert res["correct"] == (res["extracted"] == r["gold"])
            trace = load_trace(out / res["trace"])
            assert trace.sampler["label"] == m and trace.text == res["text"]
            assert res["trace"] == f"traces/{r['index']:05d}-{METHODS.index(m):02d}.json"
            assert res["tokens"] == trace.stats.generation_tokens
            assert r["traces"][res["chosen"]]["method"] == m

    for m in METHODS:
        s = summary["methods"][m]
        assert s["correct"] == sum(r["methods"][m]["correct"] for r in records)
        assert s["ci95"][0] <= s["accuracy"] <= s["ci95"][1]
    pair = summary["pairs"][0]
    assert [(p["a"], p["b"]) for p in summary["pairs"]] == [
        ("entropix", "greedy"), ("normal", "greedy"), ("entropix", "normal")]
    assert pair["mcnemar_p"] == mcnemar_exact(pair["only_a_correct"], pair["only_b_correct"])
    assert pair["significant"] == (pair["mcnemar_p"] < 0.05)
    assert len(summary["pairs"]) == 3
    assert summary["setup"]["model"] == "fake-adder"

    assert json.loads((out / "summary.json").read_text()) == summary
    report = (out / "report.md").read_text()
    assert "| entropix vs normal |" in report and "chat template" in report
    assert "`mlx_main.py eval`" in report


def test_existing_run_needs_resume_and_same_settings(dataset, tmp_path):
    out = tmp_path / "run"
    _run(dataset, out)
    with pytest.raises(EvalError, match="pass --resume"):
        _run(dataset, out)
    with pytest.raises(EvalError, match="seed was 3, now 4"):
        _run(dataset, out, resume=True, settings={"seed": 4})
    with pytest.raises(EvalError, match="max_tokens"):
        _run(dataset, out, resume=True, settings={"max_tokens": 8})
    with pytest.raises(EvalError, match="methods"):
        _run(dataset, out, resume=True, settings={"methods": ("greedy",)})
    dataset.write_text(dataset.read_text().replace('"q0"', '"first"'))
    with pytest.raises(EvalError, match="dataset_sha256"):
        _run(dataset, out, resume=True)


def test_resume_of_a_finished_run_changes_nothing(dataset, tmp_path):
    out = tmp_path / "run"
    first = _run(dataset, out)
    lines = (out / "results.jsonl").read_text()
    calls = []

    def counting(requests):
        calls.append(requests)
        return make_fake_generate_many()(requests)

    again = _run(dataset, out, resume=True, generate=counting)
    assert calls == [] and again == first and (out / "results.jsonl").read_text() == lines


def test_truncated_last_line_is_dropped_and_redone(dataset, tmp_path):
    out = tmp_path / "run"
    full = _run(dataset, tmp_path / "reference")
    reference = (tmp_path / "reference" / "results.jsonl").read_text().splitlines(keepends=True)
    out.mkdir()
    (out / "settings.json").write_text((tmp_path / "reference" / "settings.json").read_text())
    (out / "results.jsonl").write_text("".join(reference[:5]) + reference[5][:40])
    resumed = _run(dataset, out, resume=True)
    assert (out / "results.jsonl").read_text().splitlines(keepends=True) == reference
    assert resumed == full


def test_corrupt_middle_line_is_reported(dataset, tmp_path):
    out = tmp_path / "run"
    _run(dataset, out)
    lines = (out / "results.jsonl").read_text().splitlines(keepends=True)
    lines[2] = "garbage\n"
    (out / "results.jsonl").write_text("".join(lines))
    with pytest.raises(EvalError, match=r"results.jsonl:3: corrupt result line"):
        _run(dataset, out, resume=True)


def test_item_seed_is_stable_and_spread():
    assert item_seed(0, 0) == item_seed(0, 0)
    assert item_seed(0, 1) != item_seed(1, 0)
    assert all(0 <= item_seed(s, i) < 2**32 for s in range(3) for i in range(50))


def test_a_changed_config_of_a_method_refuses_resume(dataset, tmp_path):
    out = tmp_path / "run"
    path = tmp_path / "mine.toml"
    save_config(SamplerConfig(n_branches=2), path)
    specs = resolve_methods(f"greedy,{path}")
    configs = {s.label: s.describe() for s in specs}
    summary = _run(dataset, out, specs=specs, settings={"methods": ("greedy", "mine"), "configs": configs})
    assert list(summary["methods"]) == ["greedy", "mine"]
    assert summary["setup"]["configs"]["mine"]["config"]["n_branches"] == 2
    assert summary["methods"]["mine"]["time_vs_greedy"] == pytest.approx(
        summary["methods"]["mine"]["mean_time_s"] / summary["methods"]["greedy"]["mean_time_s"])
    assert (out / "traces" / "00000-01.json").exists()
    save_config(SamplerConfig(n_branches=3), path)
    specs = resolve_methods(f"greedy,{path}")
    configs = {s.label: s.describe() for s in specs}
    with pytest.raises(EvalError, match="sampler config of mine changed"):
        _run(dataset, out, resume=True, specs=specs, settings={"methods": ("greedy", "mine"), "configs": configs})


def test_a_split_keeps_file_indices_for_seeds_and_traces(tmp_path):
    path = tmp_path / "split.jsonl"
    path.write_text("".join(
        json.dumps({"question": f"What is {i} + 1?", "answer": str(i + 1), "split": "dev" if i % 3 else "test"})
        + "\n" for i in range(9)))
    items = select_split(load_dataset(path), "test", path)
    assert [it.index for it in items] == [0, 3, 6]
    settings = _settings(path, 3, split="test")
    out = tmp_path / "run"
    summary = run_eval(items, settings, SPECS, FakeDecoder(), out, show_progress=False)
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [r["index"] for r in records] == [0, 3, 6]
    assert [r["seed"] for r in records] == [item_seed(3, i) for i in (0, 3, 6)]
    assert (out / "traces" / "00006-01.json").exists()
    assert summary["setup"]["split"] == "test" and "split test (3 items" in (out / "report.md").read_text()
