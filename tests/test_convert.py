"""convert: a GGUF model exported as an mlx-lm folder loads in both loaders and
generates the same greedy tokens."""

import json

import mlx.core as mx
import pytest
from mlx_lm.generate import generate_step
from mlx_lm.utils import load as mlx_lm_load

from mlx_entropix.convert import ConvertError, convert, stored_dtype
from mlx_entropix.engine import GenerationOptions
from mlx_entropix.generate import stream_generate
from mlx_entropix.load import build_model, load
from mlx_entropix.gguf import load_gguf
from mlx_entropix.sampler import get_preset

N_TOKENS = 8
MESSAGES = [{"role": "user", "content": "What is the capital of France?"}]


def ours_greedy(lm, prompt: list[int], n: int = N_TOKENS) -> list[int]:
    opts = GenerationOptions(max_tokens=n, metrics="none")
    return [r.token for r in stream_generate(lm, prompt, get_preset("greedy"), opts)]


def mlx_lm_greedy(model, prompt: list[int], n: int = N_TOKENS) -> list[int]:
    steps = generate_step(mx.array(prompt), model, max_tokens=n)
    return [int(token) for token, _ in steps]


@pytest.fixture(scope="module")
def prompt(lm) -> list[int]:
    return lm.tokenizer.prompt_tokens(MESSAGES)


@pytest.fixture(scope="module")
def expected(lm, prompt) -> list[int]:
    return ours_greedy(lm, prompt)


@pytest.fixture(scope="module")
def folder(lm, tmp_path_factory):
    return convert(lm, tmp_path_factory.mktemp("converted") / "model")


def test_folder_has_mlx_lm_files(folder):
    config = json.loads((folder / "config.json").read_text())
    assert config["quantization"]["bits"] == 4
    assert config["quantization"]["model.embed_tokens"] == {"group_size": 32, "bits": 8}
    assert (folder / "model.safetensors").is_file()
    assert (folder / "tokenizer.json").is_file()


def test_export_is_exact_and_keeps_packed_weights(folder, embedded_gguf_path):
    gguf, _, _ = load_gguf(embedded_gguf_path)
    written = mx.load(str(folder / "model.safetensors"))
    assert written.keys() == gguf.keys()
    for name, value in gguf.items():
        if value.dtype != mx.float32:  # packed uint32 weights, float16 scales and biases
            assert written[name].dtype == value.dtype, name
        assert mx.array_equal(written[name].astype(value.dtype), value).item(), name


def test_our_loader_reads_the_folder(folder, prompt, expected):
    assert ours_greedy(load(str(folder)), prompt) == expected


def test_mlx_lm_reads_the_folder(lm, folder, prompt, expected):
    model, tokenizer = mlx_lm_load(str(folder))
    model.set_dtype(mx.float32)  # as our loader does on the CPU (float16 is ~45x slower there)
    assert mlx_lm_greedy(model, prompt) == expected
    assert set(tokenizer.eos_token_ids) == set(lm.tokenizer.eos_token_ids)


def test_float32_export_runs_in_mlx_lm_as_is(lm, prompt, expected, tmp_path):
    out = convert(lm, tmp_path / "f32", float32=True)
    model, _ = mlx_lm_load(str(out))
    dtypes = {v.dtype for v in mx.load(str(out / "model.safetensors")).values()}
    assert dtypes == {mx.float32, mx.uint32}
    assert mlx_lm_greedy(model, prompt) == expected


def test_stored_dtype_narrows_only_when_exact():
    exact = mx.array([0.5, -2.0, 1024.0], dtype=mx.float32)
    inexact = mx.array([0.1], dtype=mx.float32)
    packed = mx.array([7], dtype=mx.uint32)
    assert stored_dtype(exact).dtype == mx.float16
    assert stored_dtype(inexact).dtype == mx.float32
    assert stored_dtype(packed).dtype == mx.uint32


def test_refuses_a_non_empty_folder(lm, tmp_path):
    (tmp_path / "keep.txt").write_text("x")
    with pytest.raises(ConvertError, match="not an empty folder"):
        convert(lm, tmp_path)


def test_dequantized_model_exports_dense_and_agrees(lm, prompt, expected, embedded_gguf_path,
                                                   tmp_path):
    weights, config, _ = load_gguf(embedded_gguf_path)
    dense = lm.__class__(build_model(weights, config, dense=True), lm.tokenizer, config,
                         lm.name, lm.path)
    assert ours_greedy(dense, prompt) == expected
    out = convert(dense, tmp_path / "dense")
    assert "quantization" not in json.loads((out / "config.json").read_text())
    assert ours_greedy(load(str(out)), prompt) == expected
