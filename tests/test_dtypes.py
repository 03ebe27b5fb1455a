"""The GPU's activation dtypes, run on the CPU: a tiny Llama in float16 and
bfloat16 gives finite statistics close to float32's and mlx-lm's greedy tokens
in the same dtype.

Stated tolerances (absolute, nats): on the tiny model, attention entropy 0.002
(float16) and 0.01 (bfloat16, 8 mantissa bits), logits entropy 0.005 and 0.02;
on the embedded SmolLM2 (30 layers), the first token's logits entropy within
0.05 (float16) and 0.15 (bfloat16) of float32's, attention entropy within 0.02.
Thresholds fitted in float32 therefore carry over to float16 and, less tightly,
to bfloat16."""

import mlx.core as mx
import numpy as np
import pytest
from mlx_lm.generate import generate_step

from mlx_entropix.gguf import load_gguf
from mlx_entropix.load import build_model
from mlx_entropix.metrics import logit_statistics
from tests.llama_fixtures import mlx_lm_model, random_weights, tiny_config

TOLERANCE = {mx.float16: {"attn": 0.002, "logits": 0.005}, mx.bfloat16: {"attn": 0.01, "logits": 0.02}}
EMBEDDED_TOLERANCE = {mx.float16: 0.05, mx.bfloat16: 0.15}
CONFIG = tiny_config(num_hidden_layers=4)
TOKENS = [1, 5, 9, 33, 2, 71, 70, 4, 8, 90, 11, 3]


def decode_signals(model) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per decode step: attention entropy [layers, heads], logits entropy and varentropy."""
    cache = model.make_cache()
    model.forward(mx.array([TOKENS[:6]]), cache)
    attn, ent, vent = [], [], []
    for t in TOKENS[6:]:
        logits, stats = model.forward(mx.array([[t]]), cache, with_stats=True)
        _, h, v = logit_statistics(logits[:, -1])
        attn.append(np.array(stats.head_entropy[0]))
        ent.append(float(h[0]))
        vent.append(float(v[0]))
    return np.stack(attn), np.array(ent), np.array(vent)


@pytest.fixture(scope="module")
def weights():
    return random_weights(CONFIG, seed=7)


@pytest.mark.parametrize("dtype", [mx.float16, mx.bfloat16], ids=["float16", "bfloat16"])
def test_statistics_in_half_precision_stay_close_to_float32(weights, dtype):
    ref = decode_signals(build_model(dict(weights), CONFIG, dtype=mx.float32))
    got = decode_signals(build_model(dict(weights), CONFIG, dtype=dtype))
    assert all(np.isfinite(x).all() for x in got)
    np.testing.assert_allclose(got[0], ref[0], atol=TOLERANCE[dtype]["attn"])
    np.testing.assert_allclose(got[1], ref[1], atol=TOLERANCE[dtype]["logits"])
    assert got[0].std() > 0 and got[1].std() > 0  # not trivially constant


@pytest.mark.parametrize("dtype", [mx.float16, mx.bfloat16], ids=["float16", "bfloat16"])
def test_greedy_tokens_match_mlx_lm_in_the_same_dtype(weights, dtype):
    ours = build_model(dict(weights), CONFIG, dtype=dtype)
    theirs = mlx_lm_model(weights, CONFIG)
    theirs.set_dtype(dtype)
    prompt = mx.array(TOKENS[:6])
    expected = [int(t) for t, _ in generate_step(prompt, theirs, max_tokens=12)]
    got, cache = [], ours.make_cache()
    logits, _ = ours.forward(prompt[None], cache)
    for _ in range(12):
        got.append(int(mx.argmax(logits[0, -1])))
        logits, _ = ours.forward(mx.array([[got[-1]]]), cache, with_stats=True)
    assert got == expected


def first_step(model, prompt: list[int]) -> tuple[float, float]:
    """Logits entropy and mean attention entropy at the last prompt position."""
    cache = model.make_cache()
    model.forward(mx.array([prompt[:-1]]), cache)
    logits, stats = model.forward(mx.array([[prompt[-1]]]), cache, with_stats=True)
    _, h, _ = logit_statistics(logits[:, -1])
    return float(h[0]), float(stats.head_entropy.mean())


@pytest.mark.parametrize("dtype", [mx.float16, mx.bfloat16], ids=["float16", "bfloat16"])
def test_embedded_model_first_entropy_carries_across_dtypes(lm, embedded_gguf_path, dtype):
    weights, config, _ = load_gguf(embedded_gguf_path)
    prompt = lm.tokenizer.prompt_tokens([{"role": "user", "content": "Which number is larger, 9.9 or 9.11?"}])
    ref = first_step(build_model(dict(weights), config, dense=True, dtype=mx.float32), prompt)
    got = first_step(build_model(dict(weights), config, dense=True, dtype=dtype), prompt)
    assert abs(got[0] - ref[0]) < EMBEDDED_TOLERANCE[dtype], (got, ref)
    assert abs(got[1] - ref[1]) < 0.02, (got, ref)
