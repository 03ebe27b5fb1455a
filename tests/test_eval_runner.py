import json
from pathlib import Path

import pytest
from eval_fakes import make_fake_generate, write_sum_dataset

from mlx_entropix.eval.dataset import file_sha256, load_dataset
from mlx_entropix.eval.errors import EvalError
from mlx_entropix.eval.runner import item_seed, run_eval
from mlx_entropix.eval.stats import mcnemar_exact
from mlx_entropix.eval.store import RunSettings
from mlx_entropix.trace import load_trace

METHODS = ("entropix", "greedy", "normal")


def _settings(dataset: Path, n: int, **changes) -> RunSettings:
    base = dict(
        dataset=str(dataset),
        dataset_sha256=file_sha256(dataset),
        methods=METHODS,
        n=n,
        seed=3,
        max_tokens=64,
        model=None,
    )
    return RunSettings(**(base | changes))


@pytest.fixture
def dataset(tmp_path):
    return write_sum_dataset(tmp_path / "sums.jsonl", 30)


def _run(dataset, out, **kw):
    items = load_dataset(dataset)
    settings = _settings(dataset, len(items), **kw.pop("settings", {}))
    return run_eval(items, settings, kw.pop("generate", make_fake_generate()), out, show_progress=False, **kw)


def test_full_run_writes_results_traces_and_report(dataset, tmp_path):
    calls = []
    fake = make_fake_generate()

    def recording(messages, method, seed, max_tokens):
        calls.append((json.dumps(messages), method, seed, max_tokens))
        return fake(messages, method, seed, max_tokens)

    out = tmp_path / "run"
    summary = _run(dataset, out, generate=recording, command="mlx_main.py eval")
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [r["index"] for r in records] == list(range(30))

    # Every method saw the same messages and the same per-item seed.
    for i in range(30):
        mine = calls[3 * i : 3 * i + 3]
        assert [c[1] for c in mine] == list(METHODS)
        assert len({(c[0], c[2], c[3]) for c in mine}) == 1
        assert mine[0][2] == item_seed(3, i) == records[i]["seed"]
    assert len({r["seed"] for r in records}) == 30

    for r in records:
        for m in METHODS:
            res = r["methods"][m]
            assert res["correct"] == (res["extracted"] == r["gold"])
            trace = load_trace(out / res["trace"])
            assert trace.sampler["method"] == m and trace.text == res["text"]
            assert res["tokens"] == trace.stats.generation_tokens

    for m in METHODS:
        s = summary["methods"][m]
        assert s["correct"] == sum(r["methods"][m]["correct"] for r in records)
        assert s["ci95"][0] <= s["accuracy"] <= s["ci95"][1]
    pair = summary["pairs"][0]
    assert (pair["a"], pair["b"]) == ("entropix", "greedy")
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

    def counting(*args):
        calls.append(args)
        return make_fake_generate()(*args)

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
