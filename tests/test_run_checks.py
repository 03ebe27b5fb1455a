"""What a run refuses before it starts, against the loaded model: an
attention layer the model lacks, entropix rules without their metrics, text
that is not valid Unicode; and the one BOS of raw prompts."""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from mlx_entropix.engine import GenerationOptions, MetricsLevel
from mlx_entropix.generate import stream_generate
from mlx_entropix.load import LoadedModel
from mlx_entropix.runner import NormalParams, RunRequest, prompt_tokens, run, start_run
from mlx_entropix.sampler import ConfigError, SamplerConfig, get_preset
from mlx_entropix.text import TextError, checked_text, decoded_text
from tests.llama_fixtures import llama3_tiny_lm
from tests.test_cli import error_line, invoke  # noqa: F401 (the CLI fixture)

ROOT = Path(__file__).resolve().parents[1]
HI = [{"role": "user", "content": "Hi"}]


@pytest.fixture(scope="module")
def llama3_lm() -> LoadedModel:
    """Two random layers under a Llama 3 style tokenizer, which has a BOS."""
    return llama3_tiny_lm(seed=5)


# --- 1. attn_layer against the model's depth -----------------------------------------------------


def test_attn_layer_beyond_the_depth_is_refused_with_the_depth():
    with pytest.raises(ConfigError, match=r"'attn_layer' = 2 but the model has 2 layers; use 0\.\.1"):
        SamplerConfig(attn_layer=2).check_depth(2)
    for layer in (-1, 0, 1):
        SamplerConfig(attn_layer=layer).check_depth(2)


def test_a_run_refuses_it_before_generating(lm):
    n = lm.model.args.num_hidden_layers
    with pytest.raises(ConfigError, match=f"the model has {n} layers"):
        start_run(lm, RunRequest(messages=HI, config=SamplerConfig(attn_layer=99)))


def test_the_generator_refuses_it_too(llama3_lm):
    stream = stream_generate(llama3_lm, [3, 4, 5], SamplerConfig(attn_layer=2))
    with pytest.raises(ConfigError, match="attn_layer"):
        next(stream)


def test_the_last_layer_gives_finite_signals(llama3_lm):
    cfg = get_preset("no_branch").with_overrides({"attn_layer": 1})
    records = [r.record for r in stream_generate(llama3_lm, [3, 4, 5], cfg, GenerationOptions(3))
               if r.record]
    assert records and all(math.isfinite(v) for r in records for v in vars(r.metrics).values())
    assert all(r.params.top_k >= 0 for r in records)


def test_cli_config_with_a_missing_layer_is_one_error_line(invoke, lm, tmp_path):  # noqa: F811
    path = tmp_path / "deep.json"
    path.write_text(json.dumps({"attn_layer": 99}))
    line = error_line(invoke("--input", "x", "--config", str(path)))
    assert f"'attn_layer' = 99 but the model has {lm.model.args.num_hidden_layers} layers" in line


@pytest.mark.parametrize("path, body, param", [
    ("/v1/chat/completions", {"messages": HI, "sampler_config": {"attn_layer": 99}},
     "sampler_config.attn_layer"),
    ("/v1/completions", {"prompt": "Hi", "sampler_config": {"attn_layer": 99}}, "sampler_config.attn_layer"),
    ("/api/generate", {"messages": HI, "config": {"attn_layer": 99}}, "config.attn_layer"),
])
def test_server_refuses_it_with_a_400_naming_the_field(api, path, body, param):
    r = api.post(path, json=body)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] == param
    assert "layers" in r.json()["error"]["message"]


# --- 3. the metrics level is an enum, and entropix needs every metric ----------------------------


def test_metrics_is_checked_at_construction():
    assert GenerationOptions(metrics="logits").metrics is MetricsLevel.LOGITS
    with pytest.raises(ValueError, match="metrics must be one of all, logits, none, got 'nonee'"):
        GenerationOptions(metrics="nonee")


@pytest.mark.parametrize("metrics", ["logits", "none"])
def test_entropix_without_every_metric_is_refused(llama3_lm, metrics):
    options = GenerationOptions(max_tokens=2, metrics=metrics)
    with pytest.raises(ValueError, match="the entropix sampler decides from every metric"):
        start_run(llama3_lm, RunRequest(prompt="12", options=options))
    with pytest.raises(ValueError, match="decides from every metric"):
        next(stream_generate(llama3_lm, [3, 4], get_preset("entropix"), options))
    for method in ("greedy", "normal"):  # their choices do not read the signals
        _, stream = start_run(llama3_lm, RunRequest(prompt="12", method=method, options=options))
        assert [r for r in stream if r.record]


# --- 2. raw prompts get exactly one BOS ----------------------------------------------------------


def test_raw_prompt_gets_one_bos_through_the_runner(llama3_lm):
    bos = llama3_lm.tokenizer.hf.bos_token_id
    for text in ("12345", "<|begin_of_text|>12345"):
        ids, header = prompt_tokens(llama3_lm, RunRequest(prompt=text))
        assert ids[0] == bos and ids.count(bos) == 1, ids
        assert header["n_tokens"] == len(ids)


# --- 9. text that is not valid Unicode -----------------------------------------------------------


def test_invalid_text_is_named_and_located():
    with pytest.raises(TextError, match="x is not valid Unicode text: a lone surrogate U\\+D800 at character 2"):
        checked_text("ab\ud800", "x")
    with pytest.raises(TextError, match="the byte 0xff, which is not UTF-8 at character 3"):
        checked_text(b"caf\xff".decode("utf-8", "surrogateescape"), "x")
    with pytest.raises(TextError, match="stdin is not valid UTF-8: the byte 0xff at byte 3"):
        decoded_text(b"caf\xff", "stdin")
    assert checked_text("café 😀", "x") == "café 😀"


def test_runner_and_config_refuse_invalid_text(llama3_lm):
    with pytest.raises(TextError, match=r"messages\[1\].content is not valid Unicode"):
        prompt_tokens(llama3_lm, RunRequest(messages=[*HI, {"role": "user", "content": "\ud800 x"}]))
    with pytest.raises(TextError, match="the prompt is not valid Unicode"):
        prompt_tokens(llama3_lm, RunRequest(prompt="\udcff"))
    with pytest.raises(ConfigError, match="sampler field 'think_text' is not valid Unicode"):
        SamplerConfig(think_text=" \ud800")


@pytest.mark.parametrize("path, body, param", [
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "\ud800 x"}]}, "messages.0.content"),
    ("/v1/chat/completions", {"messages": HI, "sampler_config": {"think_text": "\ud800"}},
     "sampler_config.think_text"),
    ("/v1/completions", {"prompt": "\udfff"}, "prompt"),
    ("/api/generate", {"messages": HI, "preset": "\ud800"}, "preset"),
])
def test_server_answers_invalid_text_with_a_json_400(api, path, body, param):
    r = api.post(path, content=json.dumps(body), headers={"content-type": "application/json"})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] == param
    assert api.get("/health").json()["status"] == "ok"


def test_cli_refuses_invalid_text_in_one_line(invoke):  # noqa: F811
    bad = b"caf\xff".decode("utf-8", "surrogateescape")
    assert "--input is not valid Unicode text: the byte 0xff" in error_line(invoke("--input", bad))
    assert "--system-prompt is not valid Unicode" in error_line(
        invoke("--input", "x", "--system-prompt", bad))
    assert "the text on stdin is not valid UTF-8" in error_line(invoke("--input", "-", stdin=b"caf\xff"))


@pytest.mark.parametrize("args, stdin", [([b"--input", b"caf\xff"], None),
                                         ([b"--input", b"-"], b"caf\xff")])
def test_entry_point_refuses_invalid_bytes_without_a_traceback(args, stdin):
    r = subprocess.run([sys.executable.encode(), str(ROOT / "mlx_main.py").encode(), *args], cwd=ROOT,
                       input=stdin, capture_output=True, timeout=300)
    err = r.stderr.decode()
    assert r.returncode == 1 and "Traceback" not in err, err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1, err


def test_the_baseline_at_temperature_zero_is_greedy(llama3_lm):
    def tokens(method, normal=NormalParams()):
        trace = run(llama3_lm, RunRequest(prompt="12 45", method=method, normal=normal,
                                          options=GenerationOptions(max_tokens=4)))
        return [t.id for t in trace.tokens]

    assert tokens("normal", NormalParams(temperature=0.0)) == tokens("greedy")
