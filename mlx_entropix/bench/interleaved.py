"""Decode speed of a real model against mlx-lm's own decode of the very same
float32 weights, with the same BLAS, in one process: for a GGUF file, mlx-lm
loads the folder our loader converted it into (gguf_cache.py); for any other
model, our weights exported by `convert`.

The rounds are interleaved (mlx-lm, then each of ours, then mlx-lm again...)
because this machine is shared: a burst of load from another process hits
the neighbouring runs of every variant alike, so the per-round ratios are
steadier than the absolute speeds. The report gives both, and each round's
ratio, so the spread is visible.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from pathlib import Path

import mlx.core as mx
from mlx_lm.utils import load as mlx_lm_load

from ..gguf_cache import converted_folder
from ..load import LoadedModel, activation_dtype, load
from ..sampler import get_preset
from ..sampler.config import DEFAULT_PRESET
from ..sampler.fitted import describe_thresholds, resolve_preset
from .measure import RunTiming, measure
from .report import machine
from .variants import Variant, engine_variant, load_mlx_lm, mlx_lm_variant, synthetic_prompt


def _baseline(lm: LoadedModel, ref: str, tmp: Path) -> Variant:
    """mlx-lm on the same float32 weights: the GGUF's converted folder, else an
    export (also for the embedded model, `ref` None)."""
    path = Path(ref).expanduser() if ref else None
    if path is not None and path.is_file() and path.suffix == ".gguf" and lm.config.get("gguf"):
        model, tokenizer = mlx_lm_load(str(converted_folder(path)))
        model.set_dtype(activation_dtype(mx.float16))
        mx.eval(model.parameters())
    else:
        model, tokenizer = load_mlx_lm(lm, tmp / "mlx-lm")
    return mlx_lm_variant(model, tokenizer)


def interleaved_decode(ref: str, weights: str, context: int, max_tokens: int, rounds: int) -> dict:
    """Each round: mlx-lm, ours greedy without metrics, ours greedy with every
    metric, ours under the default preset; one warm-up round first."""
    lm = load(ref, weights)
    with tempfile.TemporaryDirectory(prefix="bench-interleaved-") as tmp:
        baseline = _baseline(lm, ref, Path(tmp))
        default = resolve_preset(DEFAULT_PRESET, lm)
        variants = [baseline,
                    engine_variant("ours greedy, metrics none", lm, get_preset("greedy"), "none"),
                    engine_variant("ours greedy, metrics all", lm, get_preset("greedy"), "all"),
                    engine_variant(f"ours {DEFAULT_PRESET} preset", lm, default, "all")]
        prompt = synthetic_prompt(lm, context)
        for v in variants:
            measure(v.stream, prompt, max_tokens)
        runs: dict[str, list[RunTiming]] = {v.name: [] for v in variants}
        for i in range(rounds):
            for v in variants:
                runs[v.name].append(measure(v.stream, prompt, max_tokens))
                print(f"round {i + 1}/{rounds}, {v.name}: decode {runs[v.name][-1].decode_tps:.3f} tok/s",
                      file=sys.stderr, flush=True)  # a run cut short still shows its rounds
    base = runs[baseline.name]
    rows = []
    for v in variants:
        mine = runs[v.name]
        per_round = [m.decode_tps / b.decode_tps for m, b in zip(mine, base) if b.decode_tps]
        rows.append({
            "variant": v.name,
            "decode_tps": [r.decode_tps for r in mine],
            "prompt_tps": [r.prompt_tps for r in mine],
            "median_decode_tps": statistics.median(r.decode_tps for r in mine),
            "median_prompt_tps": statistics.median(r.prompt_tps for r in mine),
            "decode_ratio_per_round": per_round,
            "median_decode_ratio": statistics.median(per_round) if per_round else None,
            "same_tokens": mine[0].tokens == base[0].tokens if "greedy" in v.name else None,
        })
    return {"model": lm.name, "machine": machine(lm), "weights": lm.weights.describe(), "context": context,
            "max_tokens": max_tokens, "rounds": rounds,
            "default_preset_thresholds": describe_thresholds(default, lm), "rows": rows}


def interleaved_table(report: dict) -> list[str]:
    m = report["machine"]
    lines = [f"Machine: {m['cpu']} ({m['cpu_count']} cores), mlx {m['mlx']}, mlx-lm {m['mlx_lm']}, "
             f"BLAS {m['blas']} (both sides).", "",
             f"{report['model']}, weights {report['weights']}: {report['rounds']} interleaved rounds "
             f"after one warm-up round, prompt {report['context']} tokens, {report['max_tokens']} "
             f"generated; the default preset ran thresholds {report['default_preset_thresholds']}.", "",
             "| variant | decode tok/s (median) | prompt tok/s (median) | decode / mlx-lm (median of "
             "per-round ratios) | per-round ratios | same greedy tokens |",
             "|---|---|---|---|---|---|"]
    for r in report["rows"]:
        ratio = "n/a" if r["median_decode_ratio"] is None else f"{r['median_decode_ratio']:.2f}"
        same = "" if r["same_tokens"] is None else ("yes" if r["same_tokens"] else "NO")
        lines.append(f"| {r['variant']} | {r['median_decode_tps']:.2f} | {r['median_prompt_tps']:.1f} | "
                     f"{ratio} | {' '.join(f'{x:.2f}' for x in r['decode_ratio_per_round'])} | {same} |")
    return lines
