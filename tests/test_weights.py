"""Dense or quantized weights: the automatic choice, its overrides, and greedy
parity with mlx-lm in both modes."""

import mlx.core as mx
import pytest
from mlx_lm.generate import generate_step

from mlx_entropix.blas import BlasInfo
from mlx_entropix.engine import GenerationOptions
from mlx_entropix.generate import stream_generate
from mlx_entropix.gguf import load_gguf
from mlx_entropix.load import LoadError, load
from mlx_entropix.sampler import get_preset
from mlx_entropix.weights import (RAM_SHARE_ENV, WeightModeError, choose, dense_size,
                                  dequantize_weights, ram_share)
from tests.llama_fixtures import mlx_lm_model

FAST = BlasInfo("OpenBLAS test", True)
SLOW = BlasInfo("reference", False, note="not installed")
GIB = 2**30


def test_auto_goes_dense_on_a_cpu_with_an_optimised_blas_when_it_fits():
    c = choose("auto", quantized=True, dense_bytes=GIB, on_gpu=False, blas_info=FAST, ram=8 * GIB,
               share=0.25)
    assert c.dense and c.reason.startswith("auto")


@pytest.mark.parametrize("why, kwargs", [
    ("too big", dict(dense_bytes=3 * GIB, on_gpu=False, blas_info=FAST)),
    ("gpu", dict(dense_bytes=GIB, on_gpu=True, blas_info=FAST)),
    ("slow blas", dict(dense_bytes=GIB, on_gpu=False, blas_info=SLOW)),
])
def test_auto_keeps_quantized_weights_otherwise(why, kwargs):
    c = choose("auto", quantized=True, ram=8 * GIB, share=0.25, **kwargs)
    assert c.mode == "quantized"
    if why == "too big":
        assert RAM_SHARE_ENV in c.reason and "3.0 GiB" in c.reason


def test_an_explicit_mode_wins_and_dense_checkpoints_stay_dense():
    assert choose("quantized", True, GIB, False, FAST, 8 * GIB, 0.25).mode == "quantized"
    assert choose("dense", True, 7 * GIB, True, SLOW, 8 * GIB, 0.25).mode == "dense"
    assert choose("quantized", False, GIB, False, FAST, 8 * GIB, 0.25).mode == "dense"
    with pytest.raises(WeightModeError, match="unknown weight mode 'fast'; choose one of auto, dense, quantized"):
        choose("fast", True, GIB, False, FAST)


def test_the_ram_share_setting_is_checked(monkeypatch):
    monkeypatch.setenv(RAM_SHARE_ENV, "0.5")
    assert ram_share() == 0.5
    for bad in ("0", "1.5", "half"):
        monkeypatch.setenv(RAM_SHARE_ENV, bad)
        with pytest.raises(WeightModeError, match=f"{RAM_SHARE_ENV}='{bad}' must be a number in"):
            ram_share()


def test_dense_size_counts_unpacked_float32(embedded_gguf_path):
    weights, config, _ = load_gguf(embedded_gguf_path)
    dense = dequantize_weights(weights, config["quantization"])
    assert dense_size(weights, config["quantization"]) == sum(v.size * 4 for v in dense.values())


def test_a_bad_mode_is_a_load_error():
    with pytest.raises(LoadError, match="unknown weight mode"):
        load(None, "fp8")


@pytest.fixture(scope="module")
def lm_quantized():
    return load(None, "quantized")


@pytest.mark.parametrize("mode", ["dense", "quantized"])
def test_greedy_matches_mlx_lm_in_both_weight_modes(mode, lm, lm_quantized, embedded_gguf_path):
    ours = lm if mode == "dense" else lm_quantized
    assert ours.weights.mode == mode and ours.info()["weights"] == mode
    weights, config, _ = load_gguf(embedded_gguf_path)
    if mode == "dense":
        weights = dequantize_weights({k: v.astype(mx.float32) if mx.issubdtype(v.dtype, mx.floating)
                                      else v for k, v in weights.items()}, config["quantization"])
        config = {k: v for k, v in config.items() if k != "quantization"}
    theirs = mlx_lm_model(weights, config)
    prompt = ours.tokenizer.prompt_tokens([{"role": "user", "content": "Write a short story about a brave cat."}])
    expected = [int(t) for t, _ in generate_step(mx.array(prompt), theirs, max_tokens=32)]
    got = [r.token for r in stream_generate(ours, prompt, get_preset("greedy"),
                                            GenerationOptions(max_tokens=32)) if r.record]
    assert got == expected
