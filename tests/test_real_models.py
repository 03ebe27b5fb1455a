"""The GGUF files people download (issue 18), where they are on disk: each
loads, its greedy tokens equal mlx-lm's on a folder built from the same file
by an independent path (tests/gguf_reference.py), its metrics are finite and
its chat template is applied. Outside CI: fetch them with
`python ../shared/models/fetch.py --list`; absent files skip with one line.

Conversions go to the user's converted cache (a first run converts, later
runs reuse it) and the reference folders to ~/.cache/mlx-entropix/reference.
"""

import gc
import math
import os
from pathlib import Path

import mlx.core as mx
import pytest

from mlx_entropix.engine import GenerationOptions
from mlx_entropix.gguf_cache import CACHE_ENV
from mlx_entropix.runner import RunRequest, run

MODELS_DIR = Path(os.environ.get("MLX_ENTROPIX_MODELS") or Path.home() / ".cache" / "mlx-entropix" / "models")
REFERENCE_DIR = MODELS_DIR.parent / "reference"
N_TOKENS = 12
CASES = {
    "qwen2.5-coder-0.5b-instruct": ([{"role": "user", "content": "What is 12 times 7? Answer with the number."}],
                                    "84"),
    "qwen2.5-coder-1.5b-instruct": ([{"role": "user", "content": "Write a Python function that adds two numbers."}],
                                    "def"),
    "gemma-3-270m": ([{"role": "user", "content": "The capital of France is"}], None),
}


@pytest.fixture(scope="module", autouse=True)
def user_converted_cache():
    """The user's converted cache (converting these files costs minutes)."""
    saved = os.environ.pop(CACHE_ENV, None)
    yield
    if saved is not None:
        os.environ[CACHE_ENV] = saved


def model_file(name: str) -> Path:
    path = MODELS_DIR / f"{name}.gguf"
    if not path.is_file():
        pytest.skip(f"{path} absent: fetch it with `python ../shared/models/fetch.py {name}`")
    return path


def reference_greedy(folder: Path, prompt: list[int], n: int) -> list[int]:
    from mlx_lm.generate import generate_step
    from mlx_lm.utils import load

    model, _ = load(str(folder))
    model.set_dtype(mx.float32)
    tokens = []
    for token, _ in generate_step(mx.array(prompt), model, max_tokens=n, sampler=lambda x: mx.argmax(x, axis=-1)):
        tokens.append(int(token))
    return tokens


@pytest.mark.parametrize("name", sorted(CASES))
def test_real_gguf_greedy_equals_mlx_lm_on_an_independent_conversion(name):
    from mlx_entropix.load import load
    from tests.gguf_reference import build_reference_folder

    path = model_file(name)
    messages, expected = CASES[name]
    lm = load(str(path))
    assert lm.weights.mode == "dense" or mx.default_device() != mx.cpu
    trace = run(lm, RunRequest(messages=messages, method="greedy", options=GenerationOptions(max_tokens=N_TOKENS)))
    ours = [t.id for t in trace.tokens]
    assert ours and all(math.isfinite(v) for t in trace.tokens for v in vars(t.metrics).values()
                        if isinstance(v, float))
    prompt = lm.tokenizer.prompt_tokens(messages)
    has_template = lm.tokenizer.has_chat_template
    del lm
    gc.collect()

    folder = REFERENCE_DIR / name
    if not (folder / "config.json").is_file():
        build_reference_folder(path, folder)
    from transformers import PreTrainedTokenizerFast

    ref_tok = PreTrainedTokenizerFast.from_pretrained(str(folder))
    assert has_template == (ref_tok.chat_template is not None)
    if has_template:
        assert prompt == ref_tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
        assert "<|im_start|>assistant" in ref_tok.decode(prompt)  # the template ran
    else:
        assert prompt == ref_tok.encode(messages[0]["content"])  # raw completion, BOS as the file says
    reference = reference_greedy(folder, prompt, len(ours))
    assert ours == reference[:len(ours)]
    if expected is not None:
        assert expected in trace.text
