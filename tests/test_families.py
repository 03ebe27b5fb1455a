"""mlx-lm's model families under entropix: the recorder of mlx-lm's attention
against our Llama port, tiny random-weight models of each family against
mlx-lm's own greedy decode, and the one-line refusal of unsupported families."""

import json

import httpx
import mlx.core as mx
import mlx.nn as nn
import numpy as np
import pytest
from mlx.utils import tree_flatten
from mlx_lm.generate import generate_step
from mlx_lm.utils import load as mlx_lm_load
from typer.testing import CliRunner

import mlx_entropix.cli.app as cli
from mlx_entropix import engine
from mlx_entropix.bench.family import random_model, write_random_family
from mlx_entropix.branching import fork_cache, select_row
from mlx_entropix.convert import convert
from mlx_entropix.engine import GenerationOptions
from mlx_entropix.families import FamilyModel, UnsupportedFamily, check_family, family_of
from mlx_entropix.families.model import layer_stats
from mlx_entropix.families.recorder import MLX_LM_SDPA, exposed_attention
from mlx_entropix.generate import rewind, stream_generate
from mlx_entropix.load import LoadError, build_model, load
from mlx_entropix.model import attention_stats
from mlx_entropix.runner import RunRequest, run
from mlx_entropix.sampler import get_preset
from mlx_entropix.server.launch import running_server
from mlx_entropix.trace import load_trace
from tests.family_fixtures import FAMILY_CONFIGS, LOGIT_ONLY, MAMBA_CONFIG, family_config
from tests.llama_fixtures import mlx_lm_model, random_weights, tiny_config, write_checkpoint
from tests.server_process import sse_events

N_TOKENS = 6
PROMPT = "Tell me about the sea and the sky"
FIELDS = ("head_entropy", "head_varentropy", "agreement", "interaction")


@pytest.fixture(scope="module")
def folders(lm, tmp_path_factory):
    root = tmp_path_factory.mktemp("families")
    vocab = lm.model.args.vocab_size
    return {f: write_random_family(root / f, family_config(f, vocab), lm.tokenizer) for f in FAMILY_CONFIGS}


def greedy(lm, prompt, metrics="all"):
    opts = GenerationOptions(max_tokens=N_TOKENS, metrics=metrics)
    return [r for r in stream_generate(lm, prompt, get_preset("greedy"), opts) if r.record]


def test_recorder_on_mlx_lm_llama_equals_our_port():
    """Same weights: the recorder's statistics equal our port's, its logits mlx-lm's."""
    config = tiny_config()
    weights = random_weights(config)
    ours = build_model(dict(weights), config)
    theirs = FamilyModel(mlx_lm_model(weights, config), "llama")
    plain = mlx_lm_model(weights, config)
    caches = [ours.make_cache(), theirs.make_cache(), plain.make_cache()]
    tokens = [[5, 17, 3, 44, 9]] + [[t] for t in (12, 7, 30, 2)]
    for step in tokens:
        x = mx.array([step], dtype=mx.int32)
        logits_ours, stats_ours = ours.forward(x, caches[0], with_stats=True)
        logits_rec, stats_rec = theirs.forward(x, caches[1], with_stats=True)
        logits_plain = plain(x, cache=caches[2])
        assert np.allclose(np.array(logits_rec), np.array(logits_plain), atol=1e-4)
        assert np.allclose(np.array(logits_rec), np.array(logits_ours), atol=1e-4)
        if len(step) > 1:
            assert stats_ours is None and stats_rec is None
            continue
        for f in FIELDS:
            assert np.allclose(np.array(getattr(stats_rec, f)), np.array(getattr(stats_ours, f)),
                               rtol=1e-5, atol=1e-5), f
    assert theirs.args.num_attention_heads == 4 and theirs.args.num_key_value_heads == 2


@pytest.mark.parametrize("family", sorted(FAMILY_CONFIGS))
def test_family_streams_mlx_lm_greedy_tokens_with_statistics(family, folders, lm):
    fam = load(str(folders[family]))
    prompt = lm.tokenizer.encode(PROMPT)
    records = [r.record for r in greedy(fam, prompt)]
    expected = [int(t) for t, _ in generate_step(mx.array(prompt), fam.model.inner,
                                                 max_tokens=N_TOKENS)]
    assert [r.id for r in records] == expected
    info = fam.info()
    assert info["family"] == family and info["n_layers"] == FAMILY_CONFIGS[family]["num_hidden_layers"]
    entropies = np.array([r.metrics.attn_entropy for r in records])
    if family in LOGIT_ONLY:
        assert not info["attention_metrics"] and "logit metrics only" in info["attention_note"]
        assert (entropies == 0).all()
        return
    kv_heads = 1 if family == "deepseek_v3" else 2  # latent attention caches one shared head
    assert info["attention_metrics"] and info["n_heads"] == 4 and info["n_kv_heads"] == kv_heads
    assert np.isfinite(entropies).all() and (entropies > 0).all()
    # at most ln(S) nats over S keys, and it changes as keys accumulate
    assert (entropies <= np.log(len(prompt) + N_TOKENS) + 1e-5).all() and np.ptp(entropies) > 0
    assert all(r.metrics.attn_varentropy > 0 and r.metrics.interaction_strength > 0 for r in records)


def test_logit_only_family_says_so_in_the_trace_header(folders):
    fam = load(str(folders["gemma2"]))
    trace = run(fam, RunRequest(prompt=PROMPT, method="greedy",
                                options=GenerationOptions(max_tokens=2)))
    assert trace.model["attention_metrics"] is False
    assert "logit metrics only" in trace.model["attention_note"]
    assert trace.tokens and all(t.metrics.entropy > 0 for t in trace.tokens)


def test_sliding_window_statistics_cover_the_window_only(lm):
    """gemma3_text with a 6-key window: sliding layers see 6 keys, the global
    layer all of them; each layer's statistics equal attention_stats of its own
    scores, whatever the mix of key counts."""
    config = family_config("gemma3_text", 96)
    model = FamilyModel(random_model(config), "gemma3_text")
    cache = model.make_cache()
    model.forward(mx.array([list(range(1, 10))], dtype=mx.int32), cache)
    with model.recorder.recording() as exposed:
        model.inner(mx.array([[11]], dtype=mx.int32), cache=cache)
    assert [a.scores.shape[-1] for a in exposed] == [6, 6, 10]
    stats = layer_stats(exposed)
    for i, a in enumerate(exposed):
        alone = attention_stats([a])
        for f in FIELDS:
            assert np.allclose(np.array(getattr(stats, f))[:, i], np.array(getattr(alone, f))[:, 0],
                               atol=1e-6), (f, i)


@pytest.mark.parametrize("case", ["gqa", "additive mask", "sinks"])
def test_exposed_attention_equals_mlx_attention(case):
    mx.random.seed(1)
    q, k, v = mx.random.normal((2, 6, 1, 8)), mx.random.normal((2, 3, 7, 8)), mx.random.normal((2, 3, 7, 8))
    mask = mx.random.normal((2, 6, 1, 7)) if case == "additive mask" else None
    sinks = mx.random.normal((6,)) if case == "sinks" else None
    out, exposed = exposed_attention(q, k, v, 0.3, mask, sinks)
    expected = mx.fast.scaled_dot_product_attention(q, k, v, scale=0.3, mask=mask, sinks=sinks)
    assert np.allclose(np.array(out), np.array(expected), atol=1e-5)
    raw = (q * 0.3) @ mx.repeat(k, 2, axis=1).swapaxes(-1, -2)
    raw = raw + mask if mask is not None else raw
    assert np.allclose(np.array(exposed.scores), np.array(raw[:, :, 0]), atol=1e-5)
    # the statistics' softmax is over the keys alone: a sink is no key
    assert np.allclose(np.array(exposed.probs), np.array(mx.softmax(raw[:, :, 0], axis=-1)), atol=1e-6)


def test_boolean_decode_mask_hides_keys_from_the_output_and_the_statistics():
    """A batch's left padding (a boolean mask) is as if those keys were absent."""
    q = mx.random.normal((1, 2, 1, 4), key=mx.random.key(1))
    k = mx.random.normal((1, 2, 5, 4), key=mx.random.key(2))
    v = mx.random.normal((1, 2, 5, 4), key=mx.random.key(3))
    keep = mx.array([False, False, True, True, True])
    out, exposed = exposed_attention(q, k, v, 1.0, keep, None)
    ref_out, ref = exposed_attention(q, k[:, :, 2:], v[:, :, 2:], 1.0, None, None)
    assert np.allclose(np.array(out), np.array(ref_out), atol=1e-6)
    assert np.isneginf(np.array(exposed.scores[..., :2])).all()
    for f in FIELDS:
        assert np.allclose(np.array(getattr(attention_stats([exposed]), f)),
                           np.array(getattr(attention_stats([ref]), f)), atol=1e-6), f


def test_recorder_restores_mlx_lm_attention_even_on_error():
    config = family_config("qwen3", 96)
    model = FamilyModel(random_model(config), "qwen3")
    module = model.recorder.modules[0]
    with pytest.raises(ValueError):
        with model.recorder.recording():
            raise ValueError("boom")
    assert module.scaled_dot_product_attention is MLX_LM_SDPA


def test_family_forward_runs_our_swiglu_and_gives_mlx_lm_its_own_back(monkeypatch):
    """Each layer's swiglu is exp2's in our passes (prefill and decode, metrics
    or not), the logits equal mlx-lm's own to float32 rounding, and after the
    pass (an error too) the module has mlx-lm's function again."""
    import mlx_entropix.families.model as family_model
    from mlx_entropix.exp2 import swiglu

    config = family_config("qwen3", 96)
    model = FamilyModel(random_model(config), "qwen3")
    module = model.swiglu_modules[0]
    calls = []
    monkeypatch.setattr(family_model, "swiglu", lambda g, x: calls.append(1) or swiglu(g, x))
    tokens = mx.array([[1, 5, 9, 2]], dtype=mx.int32)
    cache, reference = model.make_cache(), model.make_cache()
    ours, _ = model.forward(tokens, cache)
    theirs = model.inner(tokens, cache=reference)
    assert module.swiglu is family_model.MLX_LM_SWIGLU
    assert np.allclose(np.array(ours), np.array(theirs), atol=1e-5)
    _, stats = model.forward(mx.array([[3]], dtype=mx.int32), cache, with_stats=True)
    assert stats is not None and len(calls) == 2 * config["num_hidden_layers"]

    def boom(g, x):
        raise ValueError("boom")

    monkeypatch.setattr(family_model, "swiglu", boom)
    with pytest.raises(ValueError):
        model.forward(tokens, model.make_cache())
    assert module.swiglu is family_model.MLX_LM_SWIGLU


@pytest.mark.parametrize("config,message", [
    (MAMBA_CONFIG, r"keeps a state \(ArraysCache\)"),
    ({"model_type": "no_such_family"}, "is not a model family mlx-lm knows"),
])
def test_unsupported_family_is_one_sentence_naming_what_is_supported(config, message, tmp_path, lm):
    with pytest.raises(UnsupportedFamily, match=message):
        check_family(config)
    (tmp_path / "config.json").write_text(json.dumps(config))
    lm.tokenizer.hf.save_pretrained(str(tmp_path))
    mx.save_safetensors(str(tmp_path / "model.safetensors"), {"x": mx.zeros((1,))})
    with pytest.raises(LoadError) as e:
        load(str(tmp_path))
    text = str(e.value)
    assert "\n" not in text and "supported: llama" in text and "qwen3" in text


def test_convert_writes_a_family_folder_both_loaders_read(folders, lm, tmp_path):
    fam = load(str(folders["qwen3"]))
    prompt = lm.tokenizer.encode(PROMPT)
    expected = [r.record.id for r in greedy(fam, prompt, metrics="none")]
    out = convert(fam, tmp_path / "qwen3")
    written = json.loads((out / "config.json").read_text())
    assert written["model_type"] == "qwen3" and "architectures" not in written
    assert [r.record.id for r in greedy(load(str(out)), prompt, metrics="none")] == expected
    model, _ = mlx_lm_load(str(out))
    model.set_dtype(mx.float32)
    assert [int(t) for t, _ in generate_step(mx.array(prompt), model, max_tokens=N_TOKENS)] == expected


@pytest.mark.parametrize("family", ["mistral", "qwen2", "qwen3", "gemma3_text"])
def test_cli_streams_a_family_folder_with_attention_metrics(family, folders, tmp_path):
    trace_path = tmp_path / "t.json"
    r = CliRunner().invoke(cli.app, ["--model", str(folders[family]), "--input", "hi",
                                     "--max-tokens", "3", "--preset", "no_branch", "--no-color",
                                     "--trace", str(trace_path)])
    assert r.exit_code == 0, r.output
    trace = load_trace(trace_path)
    assert trace.model["family"] == family and trace.model["attention_metrics"]
    assert all(t.metrics.attn_entropy > 0 for t in trace.tokens)


def test_forked_sliding_window_row_equals_decoding_that_row_alone():
    """Branch rollouts overwrite a full window's oldest keys; the selected row
    must still be exactly the cache a lone decode of its tokens would hold."""
    model = FamilyModel(random_model(family_config("gemma3_text", 96)), "gemma3_text")

    def primed() -> list:
        cache = model.make_cache()
        model.forward(mx.array([list(range(1, 9))], dtype=mx.int32), cache)
        model.forward(mx.array([[9]], dtype=mx.int32), cache)
        return cache

    cache = primed()
    model.forward(mx.array([[20]], dtype=mx.int32), cache)  # a queued step, then discarded
    rewind(cache, 1)
    forked = fork_cache(cache, 3)
    for step in range(4):
        model.forward(mx.array([[30 + 10 * step + r] for r in range(3)], dtype=mx.int32), forked)
    kept = select_row(forked, 1, cache[0].offset + 2)
    logits, stats = model.forward(mx.array([[77]], dtype=mx.int32), kept, with_stats=True)

    alone = primed()
    for t in (31, 41):
        model.forward(mx.array([[t]], dtype=mx.int32), alone)
    ref_logits, ref_stats = model.forward(mx.array([[77]], dtype=mx.int32), alone, with_stats=True)
    assert [c.offset for c in kept] == [c.offset for c in alone]
    assert np.allclose(np.array(logits), np.array(ref_logits), atol=1e-5)
    for f in FIELDS:
        assert np.allclose(np.array(getattr(stats, f)), np.array(getattr(ref_stats, f)), atol=1e-5), f


def test_branching_runs_on_a_sliding_window_family(folders, lm):
    fam = load(str(folders["gemma3_text"]))
    cfg = get_preset("entropix").with_overrides(
        {"branch_fraction": 1e-6, "n_branches": 3, "branch_max_tokens": 3, "max_think_insertions": 0})
    prompt = lm.tokenizer.encode(PROMPT)
    records = [r.record for r in stream_generate(fam, prompt, cfg, GenerationOptions(8, seed=5))
               if r.record]
    branch_at = [i for i, r in enumerate(records) if r.branch is not None]
    assert branch_at, "no branch point opened"
    winner = records[branch_at[0]].branch.candidates[records[branch_at[0]].branch.winner].tokens
    after = branch_at[0] + len(winner)
    if after < len(records):  # decided from the winner's cache: as a fresh forward decides it
        logits = fam.model(mx.array([prompt + [r.id for r in records[:after]]]))[0, -1]
        assert [a.id for a in records[after].top[:3]] == np.argsort(-np.array(logits))[:3].tolist()


def test_server_reports_the_family_and_streams_a_logit_only_family(folders):
    with running_server("--model", str(folders["gemma2"])) as base:
        model = httpx.get(f"{base}/api/config").json()["model"]
        assert model["family"] == "gemma2" and model["n_layers"] == 2 and model["n_heads"] == 4
        assert model["attention_metrics"] is False and "logit metrics only" in model["attention_note"]
        body = {"messages": [{"role": "user", "content": PROMPT}], "method": "greedy", "max_tokens": 2}
        with httpx.stream("POST", f"{base}/api/generate", json=body, timeout=120) as r:
            events = list(sse_events(r.iter_lines()))
    assert [name for name, _ in events] == ["start", "token", "token", "done"]
    assert events[0][1]["model"]["attention_metrics"] is False


def test_quantized_family_folder_matches_mlx_lm(lm, tmp_path):
    """An mlx-community style 4-bit checkpoint: packed weights and scales load
    through mlx-lm's quantization, greedy tokens as mlx-lm's own load gives."""
    config = {**family_config("qwen3", lm.model.args.vocab_size),
              "quantization": {"group_size": 32, "bits": 4}}
    model = random_model(config)
    nn.quantize(model, group_size=32, bits=4)
    folder = write_checkpoint(tmp_path / "q4", config, dict(tree_flatten(model.parameters())),
                              lm.tokenizer)
    fam = load(str(folder))
    assert fam.info()["quantization"]["bits"] == 4 and fam.info()["attention_metrics"]
    reference, _ = mlx_lm_load(str(folder))
    reference.set_dtype(mx.float32)
    prompt = lm.tokenizer.encode(PROMPT)
    expected = [int(t) for t, _ in generate_step(mx.array(prompt), reference, max_tokens=N_TOKENS)]
    assert [r.record.id for r in greedy(fam, prompt)] == expected


def test_normal_baseline_records_a_familys_attention(folders):
    fam = load(str(folders["mistral"]))
    trace = run(fam, RunRequest(prompt=PROMPT, method="normal", options=GenerationOptions(max_tokens=3)))
    assert trace.tokens and all(t.metrics.attn_entropy > 0 for t in trace.tokens)


def test_incomplete_family_config_is_one_line(tmp_path):
    with pytest.raises(UnsupportedFamily) as e:
        check_family({"model_type": "qwen3", "hidden_size": 32})
    assert "\n" not in str(e.value) and "check config.json" in str(e.value)


def test_a_config_without_model_type_is_llama():
    assert family_of({}) == family_of({"model_type": None}) == "llama"
    check_family({"model_type": None})  # our own port, no mlx-lm class needed
    with pytest.raises(UnsupportedFamily, match="not a model family mlx-lm knows"):
        check_family({"model_type": ["qwen3"]})


def test_sliding_window_prefill_in_chunks_matches_mlx_lm(folders, lm, monkeypatch):
    monkeypatch.setattr(engine, "PREFILL_CHUNK", 4)  # chunks shorter and longer than the window
    fam = load(str(folders["gemma3_text"]))
    prompt = lm.tokenizer.encode(PROMPT + ", the wind and the waves")
    expected = [int(t) for t, _ in generate_step(mx.array(prompt), fam.model.inner, max_tokens=N_TOKENS)]
    assert [r.record.id for r in greedy(fam, prompt)] == expected


def test_family_weights_that_do_not_match_the_config_are_one_line(folders, tmp_path):
    broken = tmp_path / "qwen3-3-layers"
    broken.mkdir()
    for f in folders["qwen3"].iterdir():
        (broken / f.name).write_bytes(f.read_bytes())
    config = json.loads((broken / "config.json").read_text())
    (broken / "config.json").write_text(json.dumps({**config, "num_hidden_layers": 3}))
    with pytest.raises(LoadError) as e:
        load(str(broken))
    assert "\n" not in str(e.value) and "weights do not match the config" in str(e.value)
