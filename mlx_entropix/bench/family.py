"""The recorder's decode overhead on a non-Llama family: mlx-lm's own greedy
decode of a model against ours with every metric (attention statistics through
the recorder, families/recorder.py), same weights, same prompt.

The model has random weights at SmolLM2-135M's size, built with mlx-lm's own
class for the family: decode speed does not depend on the weights' values, and
no download is needed.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten
from mlx_lm.utils import _get_classes

from ..families import UnsupportedFamily, check_family
from ..load import load
from ..sampler import get_preset
from ..tokenizer import Tokenizer
from .measure import BenchError, ratios, repeat
from .variants import engine_variant, load_mlx_lm, mlx_lm_variant, synthetic_prompt

# SmolLM2-135M's shape; each family's ModelArgs takes the fields it knows.
SMOLLM2_135M_SHAPE: dict[str, Any] = {
    "hidden_size": 576, "num_hidden_layers": 30, "intermediate_size": 1536,
    "num_attention_heads": 9, "num_key_value_heads": 3, "head_dim": 64, "vocab_size": 49152,
    "rms_norm_eps": 1e-5, "rope_theta": 100000.0, "max_position_embeddings": 8192,
    "tie_word_embeddings": True,
}
MAX_DECODE_OVERHEAD = 0.08  # the target for the recorder


def random_model(config: dict[str, Any], seed: int = 0) -> nn.Module:
    """mlx-lm's model of `config` (its family's own class) with random float32 weights."""
    mx.random.seed(seed)
    model_class, args_class = _get_classes(config)
    model = model_class(args_class.from_dict(config))
    model.set_dtype(mx.float32)
    mx.eval(model.parameters())
    return model


def write_random_family(folder: Path, config: dict[str, Any], tokenizer: Tokenizer,
                        seed: int = 0) -> Path:
    """A model folder (config.json, float16 model.safetensors, tokenizer files)
    holding mlx-lm's model of `config` with random weights."""
    try:
        check_family(config)
    except UnsupportedFamily as e:
        raise BenchError(str(e)) from None
    weights = {k: v.astype(mx.float16) if mx.issubdtype(v.dtype, mx.floating) else v
               for k, v in tree_flatten(random_model(config, seed).parameters())}
    folder.mkdir(parents=True, exist_ok=True)
    mx.save_safetensors(str(folder / "model.safetensors"), weights)
    (folder / "config.json").write_text(json.dumps(config))
    tokenizer.hf.save_pretrained(str(folder))
    return folder


def family_overhead(family: str, tokenizer: Tokenizer, context: int, max_tokens: int, reps: int,
                    warmup: int, shape: dict[str, Any] = SMOLLM2_135M_SHAPE) -> dict:
    """mlx-lm greedy, ours greedy without metrics and ours with every metric,
    on one random-weight model of `family`."""
    greedy = get_preset("greedy")
    with tempfile.TemporaryDirectory(prefix="bench-family-") as tmp:
        folder = write_random_family(Path(tmp) / family, {"model_type": family, **shape}, tokenizer)
        ours = load(str(folder))
        baseline_variant = mlx_lm_variant(*load_mlx_lm(ours, Path(tmp) / "mlx-lm"))
        prompt = synthetic_prompt(ours, context)
        baseline = repeat(baseline_variant.stream, prompt, max_tokens, reps, warmup)
        rows = [{"variant": baseline_variant.name, "summary": baseline.to_dict(),
                 "ratio_to_mlx_lm": ratios(baseline, baseline), "same_tokens": True}]
        for metrics in ("none", "all"):
            summary = repeat(engine_variant(f"ours greedy, metrics {metrics}", ours, greedy,
                                            metrics).stream, prompt, max_tokens, reps, warmup)
            rows.append({"variant": f"ours greedy, metrics {metrics}", "summary": summary.to_dict(),
                         "ratio_to_mlx_lm": ratios(summary, baseline),
                         "same_tokens": summary.runs[0].tokens == baseline.runs[0].tokens})
    decode_ratio = rows[-1]["ratio_to_mlx_lm"]["decode_tps"]
    overhead = None if decode_ratio is None else 1.0 - decode_ratio
    return {"family": family, "context": context, "shape": shape,
            "attention_metrics": ours.info()["attention_metrics"], "rows": rows,
            "decode_overhead": overhead, "target": f"<= {MAX_DECODE_OVERHEAD}",
            "met": overhead is not None and overhead <= MAX_DECODE_OVERHEAD}
