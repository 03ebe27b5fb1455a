"""`bench.py --interleaved`: ours against mlx-lm on the very float32 weights a
GGUF file was converted into, rounds interleaved; checked for what it
reports (same greedy tokens, a ratio per round), never for speed."""

import json

from gguf import GGMLQuantizationType as T
from typer.testing import CliRunner

from mlx_entropix.bench.interleaved import _baseline, interleaved_decode
from mlx_entropix.load import load
from tests.gguf_fixtures import hf_config, random_hf_weights, write_gguf


def test_interleaved_decode_on_a_gguf_file(tmp_path):
    config = hf_config("qwen2", vocab_size=258)
    path = tmp_path / "bench.gguf"
    write_gguf(path, "qwen2", config, random_hf_weights(config, seed=21), {"proj": T.Q8_0})
    report = interleaved_decode(str(path), "auto", context=8, max_tokens=4, rounds=2)
    rows = {r["variant"]: r for r in report["rows"]}
    assert "mlx-lm" in list(rows)[0]
    assert rows["ours greedy, metrics none"]["same_tokens"] is True
    assert rows["ours greedy, metrics all"]["same_tokens"] is True
    assert all(len(r["decode_ratio_per_round"]) == 2 for r in rows.values())
    assert report["weights"].startswith("dense") and report["rounds"] == 2


def test_interleaved_command_writes_its_report(tmp_path):
    import mlx_entropix.bench.cli as bench

    config = hf_config("qwen2", vocab_size=258)
    path = tmp_path / "b.gguf"
    write_gguf(path, "qwen2", config, random_hf_weights(config, seed=22), {})
    app = __import__("typer").Typer()
    app.command()(bench.bench_command)
    r = CliRunner().invoke(app, ["--model", str(path), "--interleaved", "1", "--contexts", "8",
                                 "--max-tokens", "3", "--out", str(tmp_path / "out")])
    assert r.exit_code == 0, r.output
    assert "--interleaved 1" in r.stdout and "| ours greedy, metrics all |" in r.stdout
    assert json.loads((tmp_path / "out" / "bench.json").read_text())["rounds"] == 1


def test_without_a_model_path_mlx_lm_gets_an_export(tmp_path):
    """The embedded default has no file to pass (`--model` unset): mlx-lm runs
    an export of our weights, as in the full bench, instead of a traceback."""
    config = hf_config("qwen2", vocab_size=258)
    path = tmp_path / "e.gguf"
    write_gguf(path, "qwen2", config, random_hf_weights(config, seed=23), {})
    baseline = _baseline(load(str(path)), None, tmp_path / "export")
    assert "mlx-lm" in baseline.name and (tmp_path / "export" / "mlx-lm").is_dir()
