"""Our Llama against mlx-lm's own Llama on the same weights, and the attention
statistics against a numpy reference computed from the full attention matrix."""

import mlx.core as mx
import numpy as np
import pytest
from mlx_lm.models.cache import KVCache

from mlx_entropix.gguf import load_gguf
from mlx_entropix.load import build_model
from mlx_entropix.metrics import attention_signals
from tests.llama_fixtures import mlx_lm_model, random_weights, tiny_config

LLAMA3_SCALING = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                  "high_freq_factor": 4.0, "original_max_position_embeddings": 64}

CASES = {
    "float-tied-gqa": tiny_config(),
    "float-untied-mha": tiny_config(tie_word_embeddings=False, num_key_value_heads=4),
    "q4-tied-llama3": tiny_config(quantization={"group_size": 32, "bits": 4},
                                  rope_scaling=LLAMA3_SCALING),
    "q8-untied-linear": tiny_config(quantization={"group_size": 64, "bits": 8},
                                    tie_word_embeddings=False,
                                    rope_scaling={"type": "linear", "factor": 2.0}),
}


@pytest.mark.parametrize("name", CASES)
def test_logits_match_mlx_lm_on_tiny_checkpoints(name):
    config = CASES[name]
    weights = random_weights(config)
    ours, theirs = build_model(dict(weights), config), mlx_lm_model(weights, config)
    tokens = mx.array([[1, 5, 9, 33, 2, 71, 70, 4, 8, 90, 11, 3]])
    np.testing.assert_allclose(np.array(ours(tokens)), np.array(theirs(tokens)), atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("name", ["float-tied-gqa", "q4-tied-llama3"])
def test_incremental_decode_matches_full_forward(name):
    config = CASES[name]
    model = build_model(dict(random_weights(config)), config)
    tokens = mx.array([[3, 14, 15, 92, 65, 35, 89, 79]])
    full = np.array(model(tokens)[0])
    cache = model.make_cache()
    model.forward(tokens[:, :5], cache)
    steps = [np.array(model.forward(tokens[:, i:i + 1], cache, with_stats=True)[0][0, -1])
             for i in range(5, 8)]
    np.testing.assert_allclose(np.stack(steps), full[5:8], atol=1e-4, rtol=1e-4)


def test_embedded_model_logits_match_mlx_lm(lm, embedded_gguf_path):
    weights, config, _ = load_gguf(embedded_gguf_path)
    theirs = mlx_lm_model(weights, config)
    tokens = mx.array([lm.tokenizer.encode("The capital of France is")])
    np.testing.assert_allclose(np.array(lm.model(tokens)), np.array(theirs(tokens)), atol=1e-3, rtol=1e-3)


def numpy_attention_reference(q, k, scale):
    """Full attention matrix of one query over all keys, then the statistics."""
    B, H, _, D = q.shape
    rep = H // k.shape[1]
    k = np.repeat(k, rep, axis=1)
    s = np.einsum("bhd,bhsd->bhs", q[:, :, 0].astype(np.float64), k.astype(np.float64)) * scale
    a = np.exp(s - s.max(-1, keepdims=True))
    a /= a.sum(-1, keepdims=True)
    ent = -(a * np.log(a)).sum(-1)
    vent = (a * (np.log(a) + ent[..., None]) ** 2).sum(-1)
    agreement = np.abs(a - a.mean(1, keepdims=True)).mean((1, 2))
    interaction = np.abs(s).mean((1, 2))
    return ent, vent, agreement, interaction


def test_attention_stats_equal_numpy_reference_and_ignore_spare_capacity():
    config = tiny_config()
    model = build_model(dict(random_weights(config)), config)
    attn = model.layers[0].self_attn
    tokens = mx.array([[7, 1, 8, 2, 8, 1, 8, 2, 8, 4]])
    captured = {}
    original = attn._attend_exposed

    def spy(q, k, v, mask):
        captured["q"], captured["k"] = np.array(q), np.array(k)
        return original(q, k, v, mask)

    attn._attend_exposed = spy
    results = []
    for step in (KVCache.step, 4096):  # default spare capacity, then a huge one
        KVCache.step = step
        try:
            cache = model.make_cache()
            model.forward(tokens[:, :-1], cache)
            _, stats = model.forward(tokens[:, -1:], cache, with_stats=True)
            assert cache[0].keys.shape[2] >= 10 and cache[0].offset == 10
        finally:
            KVCache.step = 256
        results.append(stats)
        ent, vent, agreement, interaction = numpy_attention_reference(captured["q"], captured["k"], attn.scale)
        assert captured["k"].shape[2] == 10  # only the valid keys reach the statistics
        np.testing.assert_allclose(np.array(stats.head_entropy[:, 0]), ent, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(np.array(stats.head_varentropy[:, 0]), vent, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(np.array(stats.agreement[:, 0]), agreement, rtol=1e-4, atol=1e-7)
        np.testing.assert_allclose(np.array(stats.interaction[:, 0]), interaction, rtol=1e-4, atol=1e-6)
    for a, b in zip((results[0].head_entropy, results[0].agreement), (results[1].head_entropy, results[1].agreement)):
        np.testing.assert_array_equal(np.array(a), np.array(b))

    signals = attention_signals(results[0])
    ent_all = np.array(results[0].head_entropy)[0]
    assert np.isclose(signals["attn_entropy"].item(), ent_all.mean(), rtol=1e-5)
    assert np.isclose(signals["attn_varentropy"].item(), ent_all.var(axis=1).mean(), rtol=1e-4)
    one = attention_signals(results[0], layer=1)
    assert np.isclose(one["attn_entropy"].item(), ent_all[1].mean(), rtol=1e-5)


def test_sliding_window_layers_are_refused_as_mlx_lm_computes_another_model():
    """mlx-lm's Llama honours layer_types/sliding_window; ours attends over every
    key. On a prompt longer than the window the two differ, so such a config is
    refused with one line rather than run wrong; a window as long as the
    context (or no sliding layer) changes nothing and loads."""
    from mlx_entropix.load import LoadError

    config = tiny_config(layer_types=["sliding_attention", "full_attention"], sliding_window=4)
    full = {k: v for k, v in config.items() if k not in ("layer_types", "sliding_window")}
    weights = random_weights(full, seed=9)
    tokens = mx.array([[1, 5, 9, 3, 7, 2, 8, 4, 6, 10]])
    ours = build_model(dict(weights), full)(tokens)
    windowed = mlx_lm_model(dict(weights), config)(tokens)
    assert np.allclose(np.array(ours), np.array(mlx_lm_model(dict(weights), full)(tokens)), atol=1e-4)
    assert not np.allclose(np.array(ours[:, 4:]), np.array(windowed[:, 4:]), atol=1e-3)
    with pytest.raises(LoadError, match=r"layers \[0\] use sliding-window attention \(window 4\).*does not"):
        build_model(dict(weights), config)
    build_model(dict(weights), {**config, "sliding_window": config["max_position_embeddings"]})
    build_model(dict(weights), {**config, "layer_types": ["full_attention"] * 2})
