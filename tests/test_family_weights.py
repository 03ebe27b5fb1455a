"""mlx-lm families follow the Llama port's weight rule (weights.py): a
quantized folder runs dense float32 under `dense` (and `auto` on a Linux CPU
with the optimised BLAS), packed under `quantized`; a float16 folder computes
in float32 on the CPU."""

import json

import mlx.core as mx
import mlx.nn as nn
import numpy as np
from mlx.utils import tree_flatten

from mlx_entropix.bench.family import random_model
from mlx_entropix.load import load
from tests.family_fixtures import family_config


def write_folder(folder, model, config, tokenizer):
    folder.mkdir()
    mx.save_safetensors(str(folder / "model.safetensors"), dict(tree_flatten(model.parameters())))
    (folder / "config.json").write_text(json.dumps(config))
    tokenizer.hf.save_pretrained(str(folder))
    return folder


def quantized_layers(lm) -> int:
    return sum(isinstance(m, nn.QuantizedLinear) for _, m in lm.model.inner.named_modules())


def test_quantized_family_folder_dense_or_packed(tmp_path, lm):
    config = family_config("qwen3", vocab_size=lm.model.args.vocab_size)
    model = random_model(config, seed=4)
    nn.quantize(model, group_size=32, bits=4)
    folder = write_folder(tmp_path / "q", model, {**config, "quantization": {"group_size": 32, "bits": 4}},
                          lm.tokenizer)
    dense, packed = load(str(folder), "dense"), load(str(folder), "quantized")
    assert dense.weights.mode == "dense" and quantized_layers(dense) == 0
    assert packed.weights.mode == "quantized" and quantized_layers(packed) > 0
    tokens = mx.array([[1, 2, 3, 4]])
    np.testing.assert_allclose(np.array(dense.model(tokens)), np.array(packed.model(tokens)), atol=1e-3)
    auto = load(str(folder))
    assert auto.weights.reason.startswith("auto")


def test_float16_family_folder_computes_in_float32_on_the_cpu(tmp_path, lm):
    config = family_config("gemma3_text", vocab_size=lm.model.args.vocab_size)
    model = random_model(config, seed=5)
    model.set_dtype(mx.float16)
    loaded = load(str(write_folder(tmp_path / "f16", model, config, lm.tokenizer)))
    dtypes = {v.dtype for _, v in tree_flatten(loaded.model.parameters())}
    assert dtypes == ({mx.float32} if mx.default_device() == mx.cpu else {mx.float16})
    assert loaded.weights.mode == "dense"
