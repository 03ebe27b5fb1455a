"""The benchmark end to end on a tiny configuration, and the sync accounting.
No timing is asserted: only structure and counts."""

import json
import math

import pytest
import typer
from typer.testing import CliRunner

from mlx_entropix.bench.cli import bench_command, parse_ints
from mlx_entropix.bench.family import MAX_DECODE_OVERHEAD, SMOLLM2_135M_SHAPE, family_overhead
from mlx_entropix.bench.measure import FIGURES, BenchError, measure
from mlx_entropix.bench.report import TARGET_VARIANT, family_table
from mlx_entropix.bench.variants import engine_variant, synthetic_prompt
from mlx_entropix import engine
from mlx_entropix.sampler import get_preset
from mlx_entropix.generate import stream_generate
from mlx_entropix.requests import GenerationOptions
from mlx_entropix.sync import SyncCounter, observed_syncs

VARIANTS = ["mlx-lm greedy, default install", "mlx-lm greedy, same weights and BLAS",
            "ours greedy, metrics none", "ours greedy, metrics logits",
            "ours greedy, metrics all", "ours entropix preset"]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    app = typer.Typer()
    app.command()(bench_command)
    result = CliRunner().invoke(app, ["--contexts", "12", "--max-tokens", "3", "--reps", "1",
                                      "--warmup", "0", "--branches", "2,4", "--branch-steps", "2",
                                      "--no-server", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / "bench.md").read_text() in result.output
    return json.loads((out / "bench.json").read_text())


def test_report_has_machine_command_and_settings(report):
    assert set(report) == {"command", "machine", "settings", "results", "targets", "branching", "server",
                           "family"}
    assert report["family"] == {"skipped": "no --family given"}
    assert report["command"].startswith("uv run benchmarks/bench.py")
    assert "--contexts 12" in report["command"]
    for key in ("platform", "cpu", "mlx", "mlx_lm", "backend", "blas", "weights"):
        assert key in report["machine"]
    assert report["settings"]["contexts"] == [12]


def test_every_variant_has_every_figure(report):
    assert [r["variant"] for r in report["results"]] == VARIANTS
    for entry in report["results"]:
        assert entry["context"] == 12
        summary = entry["summary"]
        assert len(summary["runs"]) == 1
        run = summary["runs"][0]
        assert run["prompt_tokens"] == 12 and 1 <= run["generated"] <= 3
        for stat in ("median", "min", "max"):
            assert set(summary[stat]) == set(FIGURES)
            assert all(math.isfinite(v) and v >= 0 for v in summary[stat].values())
        assert set(entry["ratio_to_mlx_lm"]) == set(FIGURES)
    baseline = report["results"][0]
    assert all(v == 1.0 for v in baseline["ratio_to_mlx_lm"].values())
    assert baseline["same_tokens"] is None  # other weights: tokens may differ
    greedy = [e for e in report["results"][1:] if "greedy" in e["variant"]]
    assert len(greedy) == 4 and all(e["same_tokens"] for e in greedy)


def test_targets_branching_and_server_sections(report):
    figures = {t["figure"] for t in report["targets"]}
    assert figures == {"prompt_tps ratio", "decode_tps ratio", "ttft_s ratio",
                       "decode_tps, all metrics / none", "syncs_per_token (max)",
                       "greedy tokens equal mlx-lm's (1 = yes)", "branch point cost, N = 4"}
    assert all(isinstance(t["met"], bool) for t in report["targets"])
    rows = report["branching"]["rows"]
    assert [r["n"] for r in rows] == [1, 2, 4]
    assert rows[0]["cost_vs_one_sequence"] == 1.0
    assert all(r["median_s"] > 0 for r in rows)
    assert report["server"] == {"skipped": "--no-server"}


@pytest.mark.parametrize("metrics", ["none", "all"])
def test_engine_greedy_syncs_within_the_budget_per_token(lm, metrics, monkeypatch):
    monkeypatch.setattr(engine, "PREFILL_CHUNK", 8)  # a short prompt in several chunks
    prompt = synthetic_prompt(lm, 20)
    variant = engine_variant(TARGET_VARIANT, lm, get_preset("greedy"), metrics)
    run = measure(variant.stream, prompt, 16)
    assert run.generated == 16
    assert run.prefill_syncs == math.ceil((len(prompt) - 1) / 8)
    assert run.decode_syncs <= run.generated * engine.syncs_per_step()


@pytest.mark.parametrize("preset, metrics", [("greedy", "none"), ("greedy", "all"), ("no_branch", "all")])
def test_engine_host_reads_seen_from_outside_are_within_the_budget_per_token(lm, preset, metrics, monkeypatch):
    """The budget checked without trusting the engine's own SyncCounter: every
    mx.eval, array read and numpy conversion in the process is counted."""
    monkeypatch.setattr(engine, "PREFILL_CHUNK", 8)
    prompt = synthetic_prompt(lm, 20)
    stream = stream_generate(lm, prompt, get_preset(preset), GenerationOptions(max_tokens=16, seed=0, metrics=metrics))
    seen = SyncCounter()
    with observed_syncs(seen):
        tokens = [next(stream)]
        prefill = seen.total
        tokens += list(stream)
    generated = sum(r.record is not None for r in tokens)
    assert generated >= 8
    per_step = engine.syncs_per_step()  # the packed read, and the logits' where the host computes their statistics
    chunks = math.ceil((len(prompt) - 1) / 8)
    # By the first token: the prompt's chunks, the first step, and the queued second step's wait for its logits.
    assert prefill <= chunks + per_step + (per_step - 1)
    assert seen.total <= chunks + generated * per_step


def test_sync_counter_counts_reads_and_explicit_syncs():
    import mlx.core as mx

    syncs = SyncCounter()
    assert syncs.to_host(mx.arange(3)).tolist() == [0, 1, 2]
    syncs.count()
    assert syncs.total == 2


def test_synthetic_prompt_has_the_exact_length(lm):
    assert len(synthetic_prompt(lm, 300)) == 300
    with pytest.raises(BenchError, match="does not fit"):
        synthetic_prompt(lm, lm.context_length)


def test_bad_lists_are_named():
    assert parse_ints("128, 512", "--contexts", 2) == [128, 512]
    with pytest.raises(BenchError, match="--contexts must be comma-separated integers"):
        parse_ints("128,abc", "--contexts", 2)
    with pytest.raises(BenchError, match="--branches values must be >= 2"):
        parse_ints("1,4", "--branches", 2)


def test_family_row_times_mlx_lm_and_the_recorder_on_the_same_model(lm):
    """The --family row on a tiny qwen3: mlx-lm's greedy tokens, ours with every
    metric through the recorder, and the overhead read from their decode rates."""
    shape = {**SMOLLM2_135M_SHAPE, "hidden_size": 32, "num_hidden_layers": 2,
             "intermediate_size": 64, "num_attention_heads": 4, "num_key_value_heads": 2,
             "head_dim": 8}
    family = family_overhead("qwen3", lm.tokenizer, 12, 4, reps=1, warmup=0, shape=shape)
    assert [r["variant"] for r in family["rows"]] == [
        "mlx-lm greedy, same weights and BLAS", "ours greedy, metrics none", "ours greedy, metrics all"]
    assert family["attention_metrics"] and all(r["same_tokens"] for r in family["rows"])
    ratio = family["rows"][-1]["ratio_to_mlx_lm"]["decode_tps"]
    assert family["decode_overhead"] == pytest.approx(1 - ratio)
    assert family["met"] == (family["decode_overhead"] <= MAX_DECODE_OVERHEAD)
    text = "\n".join(family_table(family))
    assert "Model family qwen3" in text and "Recorder decode overhead" in text


def test_family_row_refuses_an_unsupported_family(lm):
    with pytest.raises(BenchError, match="keeps a state"):
        family_overhead("mamba", lm.tokenizer, 12, 4, reps=1, warmup=0,
                        shape={**SMOLLM2_135M_SHAPE, "state_size": 4, "conv_kernel": 4,
                               "use_bias": False, "use_conv_bias": True, "time_step_rank": 4})


def test_step_width_times_full_batches_and_reads_the_branch_choice_off_them(lm):
    from mlx_entropix.bench.step_width import branch_choice, step_seconds

    times = step_seconds(lm, width=3, context=12, steps=2, warmup=1)
    assert len(times) == 2 and all(t > 0 for t in times)
    choice = branch_choice({4: 0.10, 7: 0.15, 11: 0.19}, batch=8, branches=4)
    assert choice["wait_s"] == 0.10  # the 4 rollouts alone, the other 7 rows idle
    assert math.isclose(choice["extra_rows_s"], 0.04)  # 11 rows instead of 7
    assert math.isclose(choice["wait_over_extra_rows"], 2.5)


def eval_batching(*args: str):
    """benchmarks/eval_batching.py's CLI on the embedded model: its result."""
    from mlx_entropix.bench.eval_batching import main

    app = typer.Typer()
    app.command()(main)
    return CliRunner().invoke(app, list(args))


def test_eval_batching_runs_both_batch_sizes_to_the_same_results_and_accounts_their_time(tmp_path):
    out = tmp_path / "eval.json"
    result = eval_batching("--n", "2", "--max-tokens", "3", "--batch", "2", "--methods", "greedy", "--out", str(out))
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    wide, one = report["runs"]
    assert (wide["batch"], one["batch"]) == (2, 1) and report["same_results"]
    assert wide["tokens"] == one["tokens"] > 0
    assert set(one["time"]["by_width"]) == {"1"} and "2" in wide["time"]["by_width"]
    for run in (wide, one):  # every row-step is a token or an end of sequence: at most one of those a trace
        assert run["tokens"] <= run["time"]["row_steps"] <= run["tokens"] + 2
        assert run["time"]["prefill"]["tokens"] > 0
    assert math.isclose(report["ratio"], one["wall_s"] / wide["wall_s"])


def test_eval_batching_ceilings_come_from_the_runs_own_steps():
    from mlx_entropix.bench.batch_ceilings import between, ceilings

    def run(wall, prefill, widths):
        row_steps = sum(int(w) * s for w, (s, _) in widths.items())
        return {"wall_s": wall, "tokens": 990,
                "time": {"prefill": {"seconds": prefill}, "row_steps": row_steps,
                         "step_seconds": sum(t for _, t in widths.values()),
                         "by_width": {w: {"steps": s, "seconds": t} for w, (s, t) in widths.items()}}}

    one = run(110.0, 10.0, {"1": (1000, 100.0)})
    wide = run(51.0, 10.0, {"4": (200, 30.0), "2": (100, 10.0)})  # 1.0 s outside prefill and steps
    c = ceilings(one, wide, 4)
    assert math.isclose(c["steady_step_ratio"], 4 * 0.1 / 0.15)
    assert math.isclose(c["wall_at_full_width_s"], 10.0 + 1000 / 4 * 0.15 + 1.0)  # 1000 row-steps
    assert math.isclose(c["ratio_at_full_width"], 110.0 / c["wall_at_full_width_s"])  # the same tokens
    assert math.isclose(c["ratio_without_prefill"], 100.0 / (1000 / 4 * 0.15 + 1.0))
    with pytest.raises(BenchError, match="no full-width step"):
        ceilings(one, wide, 8)
    grown = {"prefill": {"passes": 3, "tokens": 30, "seconds": 1.5},
             "by_width": {"1": {"steps": 5, "seconds": 0.5}, "2": {"steps": 4, "seconds": 0.8}}}
    before = {"prefill": {"passes": 1, "tokens": 10, "seconds": 0.5}, "by_width": {"1": {"steps": 5, "seconds": 0.5}}}
    assert between(before, grown) == {"prefill": {"passes": 2, "tokens": 20, "seconds": 1.0}, "steps": 4,
                                      "step_seconds": 0.8, "row_steps": 8, "mean_rows": 2.0,
                                      "by_width": {"2": {"steps": 4, "seconds": 0.8}}}


def test_eval_batching_says_when_it_has_no_ceiling_and_refuses_bad_input_in_one_line(tmp_path):
    out = tmp_path / "eval.json"
    result = eval_batching("--n", "1", "--max-tokens", "2", "--batch", "4", "--methods", "greedy", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["ceilings"] is None  # one trace never fills 4 rows
    assert "ceilings: none" in result.output
    bad = eval_batching("--dataset", str(tmp_path / "missing.jsonl"))
    assert bad.exit_code != 0 and "dataset file not found" in str(bad.exception)
    assert "\n" not in str(bad.exception)
