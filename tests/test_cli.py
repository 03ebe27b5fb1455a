"""mlx_main.py end to end on the embedded model: in-process through typer's
runner (the session's loaded model stands in for load()), plus a few
subprocesses for what only the real entry point shows (exit codes, usage
errors, colour detection, a downloaded-style model folder)."""

import json
import math
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import mlx.core as mx
import pytest
from mlx.utils import tree_flatten
from typer.testing import CliRunner

import mlx_entropix.cli.app as cli
from mlx_entropix.model import Model, ModelArgs
from mlx_entropix.trace import load_trace
from tests.llama_fixtures import gguf_bytes

ROOT = Path(__file__).resolve().parents[1]
ANSI = re.compile(r"\x1b\[")
CLOSING = re.compile(r"Prompt: \d+ tokens, \d+\.\d{3} tokens-per-sec\n"
                     r"Generation: (\d+) tokens, \d+\.\d{3} tokens-per-sec\n"
                     r"Peak memory: \d+\.\d{3} GB\n"
                     r"Outcomes: [a-z0-9 ,]+\n")
FAST = ["--preset", "no_branch", "--system-prompt", "Be brief."]  # no branching, a short prompt


@pytest.fixture
def invoke(lm, monkeypatch):
    """Run the CLI in-process; the default model is the session's."""
    real_load = cli.load
    monkeypatch.setattr(cli, "load", lambda ref, weights="auto": lm if ref is None else real_load(ref, weights))
    runner = CliRunner()

    def call(*args: str, stdin: str | None = None):
        return runner.invoke(cli.app, cli.with_optional_values(list(args)), input=stdin)

    return call


def error_line(result) -> str:
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_input_streams_the_answer_then_mlx_lm_closing_lines(invoke):
    r = invoke("--input", "Say hi", "--max-tokens", "3", *FAST)
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith("==========\n")
    assert int(CLOSING.search(r.stdout).group(1)) <= 3
    assert not ANSI.search(r.stdout)


def test_input_from_stdin(invoke, tmp_path):
    r = invoke("--input", "-", "--max-tokens", "2", *FAST, "--trace", str(tmp_path / "t.json"), stdin="Say hi")
    assert r.exit_code == 0, r.output
    assert load_trace(tmp_path / "t.json").prompt["messages"][-1]["content"] == "Say hi"


def test_normal_baseline_with_its_flags(invoke, tmp_path):
    path = tmp_path / "n.json"
    r = invoke("--input", "Say hi", "--normal", "--temp", "0.5", "--top-k", "5", "--max-tokens", "3",
               "--system-prompt", "Be brief.",
               "--trace", str(path))
    assert r.exit_code == 0, r.output
    trace = load_trace(path)
    assert trace.sampler["method"] == "normal"
    assert trace.sampler["normal"] == {"temperature": 0.5, "top_p": 0.9, "min_p": 0.03, "top_k": 5}
    assert {t.outcome for t in trace.tokens} == {"sample"}


def test_compare_runs_both_and_writes_one_trace_each(invoke, tmp_path):
    r = invoke("--input", "Say hi", "--compare", "--max-tokens", "2", "--system-prompt", "Be brief.",
               "--seed", "3", "--trace", str(tmp_path / "c.json"))
    assert r.exit_code == 0, r.output
    assert "── entropix ──" in r.stdout and "── normal ──" in r.stdout
    assert len(CLOSING.findall(r.stdout)) == 2
    table = r.stdout[r.stdout.index("entropix vs normal"):]
    for field in ("tokens", "tok/s", "secs", "outcomes", "mean H"):
        assert field in table
    runs = {m: load_trace(tmp_path / f"c.{m}.json") for m in ("entropix", "normal")}
    assert runs["entropix"].sampler["method"] == "entropix" and runs["normal"].sampler["method"] == "normal"
    assert runs["entropix"].sampler["seed"] == runs["normal"].sampler["seed"] == 3


def test_compare_takes_presets_and_config_files(invoke, tmp_path):
    config = tmp_path / "mine.toml"
    config.write_text("branching = false\nmax_think_insertions = 0\n")
    r = invoke("--input", "Say hi", "--compare", f"greedy,{config}", "--max-tokens", "2",
               "--system-prompt", "Be brief.", "--trace", str(tmp_path / "c.json"))
    assert r.exit_code == 0, r.output
    assert "── greedy ──" in r.stdout and "── mine ──" in r.stdout and "greedy vs mine" in r.stdout
    mine = load_trace(tmp_path / "c.mine.json")
    assert mine.sampler["label"] == "mine" and mine.sampler["config"]["branching"] is False
    assert load_trace(tmp_path / "c.greedy.json").sampler["preset"] == "greedy"


def test_builtin_prompts_batch_ends_with_a_table(invoke):
    r = invoke("--prompts", "--max-tokens", "1", *FAST)
    assert r.exit_code == 0, r.output
    assert len(CLOSING.findall(r.stdout)) == 5
    table = r.stdout[r.stdout.index("runs: no_branch"):]
    for name in ("larger", "capital", "story", "puzzle", "code"):
        assert name in table
    assert "expected" in table
    assert "decoding: 1 steps of 5.00 rows on average" in r.stderr  # the 5 one-token runs in one step


def test_prompt_csv_batch_writes_one_file_per_prompt(invoke, tmp_path):
    csv = tmp_path / "p.csv"
    csv.write_text("name,prompt,system,expected\nhello,Say hello,Be brief.,hello\ncount,Count to three,,\n")
    r = invoke("--prompt_csv", str(csv), "--max-tokens", "2", *FAST, "--trace", str(tmp_path / "b.json"))
    assert r.exit_code == 0, r.output
    assert load_trace(tmp_path / "b.hello.json").prompt["messages"][0] == {"role": "system", "content": "Be brief."}
    assert load_trace(tmp_path / "b.count.json").prompt["messages"][-1]["content"] == "Count to three"


def test_malformed_prompt_csv_is_one_line(invoke, tmp_path):
    csv = tmp_path / "bad.csv"
    csv.write_text("name,prompt\nok,fine\nbroken,a,b\n")
    line = error_line(invoke("--prompt_csv", str(csv)))
    assert "line 3" in line and "3 fields but the header has 2" in line


def test_trace_and_plots_of_a_branching_run(invoke, tmp_path):
    trace_path, png = tmp_path / "t.json", tmp_path / "t.png"
    r = invoke("--input", "Which number is larger, 9.9 or 9.11?", "--max-tokens", "3",
               "--preset", "entropix-paper", "--trace", str(trace_path), "--plot", str(png))
    assert r.exit_code == 0, r.output
    data = json.loads(trace_path.read_text())
    trace = load_trace(trace_path)
    n = int(CLOSING.search(r.stdout).group(1))
    assert len(data["tokens"]) == len(trace.tokens) == trace.stats.generation_tokens == n > 0
    assert all(math.isfinite(v) for t in data["tokens"] for v in t["metrics"].values())
    assert trace.stats.outcome_counts.get("branch"), "this prompt branches at its first token (published thresholds)"
    answer = r.stdout.split("==========\n")[1]
    assert answer == trace.text + "\n"  # the words alone; branch details below them
    points = sum(t.branch is not None for t in trace.tokens)
    assert f"Branch points: {points}, kept by entropy (--branch-details" in r.stdout
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000

    html = tmp_path / "t.html"
    r = invoke("plot", str(trace_path), "--out", str(html))
    assert r.exit_code == 0, r.output
    page = html.read_text()
    assert len(page) > 5_000 and "<svg" in page and trace.tokens[0].text in page


def test_layers_puts_per_layer_arrays_in_the_trace(invoke, lm, tmp_path):
    path = tmp_path / "t.json"
    r = invoke("--input", "Hi", "--max-tokens", "2", *FAST, "--layers", "--trace", str(path))
    assert r.exit_code == 0, r.output
    tokens = load_trace(path).tokens
    layers, heads = lm.model.args.num_hidden_layers, lm.model.args.num_attention_heads
    assert tokens and all(len(t.layers["attn_entropy"]) == layers for t in tokens)
    assert all(len(row) == heads for t in tokens for row in t.layers["attn_entropy"])


@pytest.mark.parametrize("args, message", [
    (["--input", "x", "--layers"], "--layers records per-layer arrays into the trace: add --trace FILE.json"),
    (["--input", "x", "--model", "/no/such/model"], "not found"),
    (["--input", "x", "--max-tokens", "0"], "--max-tokens must be at least 1, got 0"),
    (["--input", "x", "--normal", "--top-p", "2"], "top_p must be in (0, 1], got 2.0"),
    (["--input", "x", "--temp", "0.5"], "add --normal or --compare"),
    (["--input", "x", "--preset", "bogus"], "unknown preset 'bogus'"),
    (["--input", "x", "--normal", "--compare"], "drop --normal"),
    (["--input", "x", "--compare", "greedy", "--preset", "no_branch"], "drop --preset/--config"),
    (["--input", "x", "--compare", "greedy,beam"], "unknown method 'beam'"),
    (["--input", "x", "--compare", "greedy,greedy"], "lists 'greedy' twice"),
    (["--input", "x", "--prompts"], "only one prompt source"),
    (["--input", "  "], "the prompt is empty"),
    ([], "nothing to generate"),
    (["--input", "x", "--plot", "out.jpg"], "must end in .png or .html"),
    (["--input", "x", "--trace", "/no/such/dir/t.json"], "does not exist"),
    (["plot", "/no/such/trace.json"], "trace file not found"),
])
def test_bad_input_is_one_error_line(invoke, args, message):
    assert message in error_line(invoke(*args))


def test_bad_config_files(invoke, tmp_path):
    bad_json = tmp_path / "c.json"
    bad_json.write_text("{not json")
    assert "is not valid JSON" in error_line(invoke("--input", "x", "--config", str(bad_json)))
    unknown = tmp_path / "u.json"
    unknown.write_text('{"low_entropy": 1}')
    assert str(unknown) in error_line(invoke("--input", "x", "--config", str(unknown)))
    assert "not found" in error_line(invoke("--input", "x", "--config", str(tmp_path / "none.toml")))


def test_unusable_model_files_are_one_error_line(invoke, tmp_path):
    k_quant = tmp_path / "k.gguf"
    k_quant.write_bytes(gguf_bytes(12))
    assert "metadata lacks llama.attention.head_count" in error_line(invoke("--input", "x", "--model", str(k_quant)))
    folder = tmp_path / "corrupt"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "llama"}')
    (folder / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not a header")
    assert "corrupt or truncated" in error_line(invoke("--input", "x", "--model", str(folder)))


def main(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "mlx_main.py"), *args], cwd=ROOT, input=stdin,
                          capture_output=True, text=True, timeout=300)


def test_entry_point_pipe_output_has_no_colour():
    r = main("--input", "hi", "--max-tokens", "2", *FAST)
    assert r.returncode == 0, r.stderr
    assert not ANSI.search(r.stdout) and CLOSING.search(r.stdout)


def on_terminal(*args: str) -> str:
    """Run mlx_main.py with stdout on a pseudo-terminal; returns what it printed there."""
    master, slave = pty.openpty()
    env = {**os.environ, "TERM": "xterm-256color"}
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen([sys.executable, str(ROOT / "mlx_main.py"), *args], cwd=ROOT, env=env,
                            stdout=slave, stderr=subprocess.PIPE, text=True)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    assert proc.wait(timeout=300) == 0, proc.stderr.read()
    return b"".join(chunks).decode()


def test_colour_on_a_terminal_unless_no_color():
    coloured = on_terminal("--input", "hi", "--max-tokens", "2", *FAST)
    assert ANSI.search(coloured) and "outcomes: " in coloured
    plain = on_terminal("--input", "hi", "--max-tokens", "2", *FAST, "--no-color")
    assert not ANSI.search(plain) and "Peak memory:" in plain


def test_entry_point_errors_are_one_line_and_debug_shows_traceback():
    r = main("--input", "x", "--max-tokens", "abc")
    assert r.returncode == 2
    assert r.stderr.startswith("error: ") and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "--max-tokens" in r.stderr
    r = main("--input", "x", "--model", "/no/such/model", "--debug")
    assert r.returncode != 0 and "Traceback" in r.stderr and "LoadError" in r.stderr
    for args in (["calibrate", "--argmax-share", "1.5"], ["convert", "--model", "/no/such"]):
        r = main(*args)
        assert r.returncode == 1 and r.stderr.startswith("error: "), r.stderr
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_downloaded_style_folder_loads_via_model(lm, tmp_path):
    folder = tmp_path / "tiny-llama"
    folder.mkdir()
    config = {"model_type": "llama", "hidden_size": 16, "num_hidden_layers": 1, "intermediate_size": 32,
              "num_attention_heads": 2, "num_key_value_heads": 1, "vocab_size": lm.model.args.vocab_size,
              "max_position_embeddings": 256, "tie_word_embeddings": True, "rms_norm_eps": 1e-5}
    (folder / "config.json").write_text(json.dumps(config))
    model = Model(ModelArgs.from_dict(config))
    mx.save_safetensors(str(folder / "model.safetensors"), dict(tree_flatten(model.parameters())))
    lm.tokenizer.hf.save_pretrained(str(folder))
    r = main("--model", str(folder), "--input", "hi", "--max-tokens", "3", "--trace", str(tmp_path / "t.json"))
    assert r.returncode == 0, r.stderr
    assert CLOSING.search(r.stdout)
    assert load_trace(tmp_path / "t.json").model["name"] == "tiny-llama"
