"""GGUF files of every family with a GGUF architecture (llama, mistral3, qwen2,
qwen3, gemma3, phi3), written by the gguf package as llama.cpp's converter
would, in every ggml type our loader takes: they load to the model mlx-lm
builds from the same weights, converted once and cached."""

import mlx.core as mx
import mlx.nn as nn
import numpy as np
import pytest
from gguf import GGMLQuantizationType as T

from mlx_entropix import gguf_cache
from mlx_entropix.gguf import read_gguf, tensor_types
from mlx_entropix.load import LoadError, load
from tests.gguf_fixtures import ARCHS, hf_config, random_hf_weights, reference_model, write_gguf

# Every type of issue 18 appears at least once; K-quants need rows of 256 (down_proj's input).
TYPES = {
    "llama": {"q_proj": T.Q4_0, "down_proj": T.Q4_K, "embed_tokens": T.Q8_0},
    "mistral3": {"k_proj": T.Q4_1, "down_proj": T.Q5_K, "v_proj": T.BF16},
    "qwen2": {"gate_proj": T.Q5_0, "down_proj": T.Q6_K, "lm_head": T.Q8_0},
    "qwen3": {"up_proj": T.Q5_1, "down_proj": T.Q3_K, "o_proj": T.F16},
    "gemma3": {"q_proj": T.Q8_0, "down_proj": T.Q2_K, "embed_tokens": T.Q5_0},
    "phi3": {"qkv_proj": T.Q8_0, "gate_up_proj": T.Q4_0, "down_proj": T.Q4_K},
}
TOKENS = mx.array([[5, 17, 42, 100, 7, 250]])


@pytest.mark.parametrize("arch", sorted(TYPES))
def test_tiny_gguf_of_every_family_loads_as_mlx_lm_builds_it(tmp_path, arch):
    config = hf_config(arch, vocab_size=258)
    path = tmp_path / f"{arch}.gguf"
    held = write_gguf(path, arch, config, random_hf_weights(config, seed=3), TYPES[arch])
    assert {t.name for t in TYPES[arch].values()} <= set(tensor_types(path).values())

    lm = load(str(path), weights="dense")
    assert lm.info()["family"] == ARCHS[arch] and lm.path == str(path) and lm.name == arch
    assert lm.tokenizer.has_chat_template
    ours = np.array(lm.model(TOKENS))
    reference = np.array(reference_model(config, held)(TOKENS))
    np.testing.assert_allclose(ours, reference, atol=2e-4, rtol=2e-4)


def test_q4_k_block_with_known_values_dequantises_to_them(tmp_path):
    """One Q4_K super-block per row with d = 1, dmin = 0.5, every sub-block
    scale 1 and min 2: value = q - 1, q the 4-bit code we chose."""
    rows = 4
    q = np.arange(rows * 256).reshape(rows, 256) % 16
    block = np.zeros((rows, 144), np.uint8)
    block[:, 0:2] = np.frombuffer(np.float16(1.0).tobytes(), np.uint8)
    block[:, 2:4] = np.frombuffer(np.float16(0.5).tobytes(), np.uint8)
    block[:, 4:8] = 1  # scales of sub-blocks 0-3 (6 bits)
    block[:, 8:12] = 2  # mins of sub-blocks 0-3
    block[:, 12:16] = 1 | (2 << 4)  # scale (low 4 bits) and min (high 4 bits) of sub-blocks 4-7
    for chunk in range(4):  # 64 values per 32 bytes: low nibbles first, then high nibbles
        lo, hi = q[:, chunk * 64:chunk * 64 + 32], q[:, chunk * 64 + 32:chunk * 64 + 64]
        block[:, 16 + chunk * 32:16 + chunk * 32 + 32] = lo | (hi << 4)

    import gguf

    w = gguf.GGUFWriter(str(tmp_path / "k.gguf"), "llama")
    w.add_tensor("blk.0.ffn_down.weight", block, raw_dtype=T.Q4_K)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    _, tensors, types = read_gguf(tmp_path / "k.gguf")
    assert types == {"blk.0.ffn_down.weight": "Q4_K"}
    np.testing.assert_array_equal(tensors["blk.0.ffn_down.weight"], q - 1.0)


@pytest.fixture
def qwen2_gguf(tmp_path):
    config = hf_config("qwen2", vocab_size=258)
    path = tmp_path / "qwen2.gguf"
    held = write_gguf(path, "qwen2", config, random_hf_weights(config, seed=5),
                      {"proj": T.Q8_0, "down_proj": T.Q6_K})
    return path, config, held


def test_conversion_is_cached_and_reused(qwen2_gguf, monkeypatch):
    path, _, _ = qwen2_gguf
    first = load(str(path))
    folder = gguf_cache.cache_dir() / gguf_cache.fingerprint(path)
    assert (folder / "model.safetensors").is_file() and (folder / "tokenizer.json").is_file()

    def no_conversion(*_):
        raise AssertionError("converted again")

    monkeypatch.setattr(gguf_cache, "write_folder", no_conversion)
    again = load(str(path))
    np.testing.assert_array_equal(np.array(again.model(TOKENS)), np.array(first.model(TOKENS)))


def test_quantized_weights_requantize_with_mlx(qwen2_gguf):
    """--weights quantized (the GPU's choice) MLX-quantizes the dequantised file
    at its own most common width (Q8_0: 8 bits); logits stay close."""
    path, config, held = qwen2_gguf
    lm = load(str(path), weights="quantized")
    assert lm.weights.mode == "quantized"
    layers = [m for _, m in lm.model.inner.named_modules() if isinstance(m, nn.QuantizedLinear)]
    assert layers and {m.bits for m in layers} == {8}
    reference = np.array(reference_model(config, held)(TOKENS))
    error = np.abs(np.array(lm.model(TOKENS)) - reference).mean()
    assert 0 < error < 0.05 * np.abs(reference).mean()
    assert load(str(path), weights="dense").weights.mode == "dense"


def test_base_model_without_template_completes_raw_text(tmp_path):
    config = hf_config("gemma3", vocab_size=258)
    path = tmp_path / "base.gguf"
    write_gguf(path, "gemma3", config, random_hf_weights(config, seed=1), {}, chat_template=None)
    lm = load(str(path))
    assert not lm.tokenizer.has_chat_template and lm.info()["chat_template"] is False
    assert lm.tokenizer.chat_prompt([{"role": "user", "content": "Once upon"}]) == "Once upon"


def test_unknown_architecture_is_one_clear_line(tmp_path):
    import gguf

    w = gguf.GGUFWriter(str(tmp_path / "m.gguf"), "mamba")
    w.add_tensor("token_embd.weight", np.zeros((4, 32), np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    with pytest.raises(LoadError, match="architecture 'mamba' is not supported; supported: .*qwen2"):
        load(str(tmp_path / "m.gguf"))
