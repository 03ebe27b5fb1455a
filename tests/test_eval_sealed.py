"""Preregistered (sealed) runs: they start only with a committed plan, show and
store no score before the last item, and `eval-report` re-derives the tables
from the raw results alone."""

import gzip
import json
import subprocess

import pytest
from eval_fakes import FakeDecoder, make_fake_generate_many, write_sum_dataset

from mlx_entropix.eval.dataset import file_sha256, load_dataset
from mlx_entropix.eval.errors import EvalError
from mlx_entropix.eval.multitrace import resolve_eval_methods
from mlx_entropix.eval.rederive import rederive_all
from mlx_entropix.eval.runner import run_eval
from mlx_entropix.eval.sealed import check_plan_committed
from mlx_entropix.eval.store import RunSettings

SCORE_KEYS = {"correct", "extracted", "lenient_correct", "lenient_extracted"}


def _git(repo, *args):
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def test_a_sealed_run_needs_its_plan_committed_and_unchanged(tmp_path):
    repo = tmp_path / "repo"
    out = repo / "docs" / "results" / "run1"
    out.mkdir(parents=True)
    _git(repo, "init", "-q")
    _git(repo, "config", "user.email", "t@t")
    _git(repo, "config", "user.name", "t")
    with pytest.raises(EvalError, match="--sealed needs .*plan.md: write the plan"):
        check_plan_committed(out)
    (out / "plan.md").write_text("# plan\n")
    with pytest.raises(EvalError, match="not committed"):
        check_plan_committed(out)
    _git(repo, "add", "docs/results/run1/plan.md")
    with pytest.raises(EvalError, match="differs from its committed version"):  # staged is not committed
        check_plan_committed(out)
    _git(repo, "commit", "-qm", "plan")
    assert check_plan_committed(out) == out / "plan.md"
    (out / "plan.md").write_text("# plan, changed after the fact\n")
    with pytest.raises(EvalError, match="differs from its committed version"):
        check_plan_committed(out)


class Stop(Exception):
    pass


def _stopping(after_calls):
    fake = make_fake_generate_many()
    calls = []

    def generate_many(requests):
        calls.append(1)
        if len(calls) > after_calls:
            raise Stop
        return fake(requests)

    return generate_many


@pytest.fixture
def sealed_setup(tmp_path):
    path = write_sum_dataset(tmp_path / "sums.jsonl", 10)
    items = load_dataset(path)
    methods = resolve_eval_methods("greedy,self_consistency@k=3,egb@b=1:tau=2")
    settings = RunSettings(dataset=str(path), dataset_sha256=file_sha256(path),
                           methods=tuple(m.label for m in methods), n=10, seed=0, max_tokens=64, model=None,
                           configs={m.label: m.describe() for m in methods}, sealed=True)
    return items, methods, settings


def test_a_sealed_run_stores_no_score_until_its_last_item(sealed_setup, tmp_path):
    items, methods, settings = sealed_setup
    root = tmp_path / "results"
    out = root / "sealed-run"
    with pytest.raises(Stop):  # interrupted after a few items
        run_eval(items, settings, methods, FakeDecoder(_stopping(after_calls=4)), out, save_traces=False)
    lines = (out / "results.jsonl").read_text().splitlines()
    assert 0 < len(lines) < 10
    for line in lines:
        record = json.loads(line)
        assert "gold" not in record and "answer" not in record
        for res in record["methods"].values():
            assert not SCORE_KEYS & res.keys() and res["text"]
    assert not (out / "summary.json").exists() and not (out / "report.md").exists()
    assert "not scored until finished" in rederive_all(root)  # eval-report does not peek either

    summary = run_eval(items, settings, methods, FakeDecoder(), out, resume=True,
                       save_traces=False, show_progress=False)
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert len(records) == 10 and all(SCORE_KEYS <= r["methods"]["greedy"].keys() for r in records)
    assert summary["setup"]["sealed"] and summary["methods"]["greedy"]["n"] == 10


def test_eval_report_rederives_the_summary_from_raw_results(sealed_setup, tmp_path):
    items, methods, settings = sealed_setup
    root = tmp_path / "results"
    out = root / "run"
    summary = run_eval(items, settings, methods, FakeDecoder(), out, save_traces=False,
                       show_progress=False)
    raw = (out / "results.jsonl").read_bytes()
    # keep only what a committed run keeps: settings and raw results (gzipped), no report
    for name in ("summary.json", "report.md", "accuracy_vs_tokens.png", "results.jsonl"):
        (out / name).unlink()
    (out / "results.jsonl.gz").write_bytes(gzip.compress(raw))
    tables = rederive_all(root)
    again = json.loads((out / "summary.json").read_text())
    assert again["methods"] == json.loads(json.dumps(summary["methods"]))
    assert again["vs_self_consistency"] == json.loads(json.dumps(summary["vs_self_consistency"]))
    g = summary["methods"]["greedy"]
    assert f"| greedy | {100 * g['accuracy']:.1f} [" in tables and "#### run:" in tables
    assert "vs self_consistency@k=3" in tables
