"""A one-token prompt (e.g. "hi" to /v1/completions with SmolLM2, whose
tokenizer adds no BOS) makes the attention statistics run over a single key,
where a shapeless compiled graph crashed MLX and with it the CLI or the whole
server. Run in a subprocess so a crash is a failing test, not a dead test
session. Found by tests/test_fuzz.py."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = """
import mlx.core as mx
from mlx_entropix.engine import GenerationOptions
from mlx_entropix.generate import stream_generate
from mlx_entropix.load import LoadedModel, build_model
from mlx_entropix.sampler import get_preset
from mlx_entropix.tokenizer import Tokenizer
from tests.llama_fixtures import random_weights, tiny_config
from tests.test_tokenizer import byte_level_metadata

tok = Tokenizer.from_gguf(byte_level_metadata("gpt2"))
config = tiny_config(vocab_size=len(tok.hf))
lm = LoadedModel(build_model(random_weights(config), config), tok, config, "tiny", "tiny")
records = [r.record for r in stream_generate(lm, [5], get_preset("no_branch"), GenerationOptions(2)) if r.record]
assert records, "nothing generated"
"""


def test_a_one_token_prompt_generates():
    r = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"exit {r.returncode}: {r.stderr[-2000:]}"
