"""mlx-lm as a user runs it by default, in a process of its own.

The benchmark's reference is mlx-lm's own `stream_generate` with its default
install: the quantized checkpoint and the BLAS the mlx wheel links. This
process must not get the optimised BLAS that importing mlx_entropix loads, so
the parent starts it with MLX_ENTROPIX_BLAS=off and reads its timings as JSON:

    MLX_ENTROPIX_BLAS=off python -m mlx_entropix.bench.baseline FOLDER SPEC.json
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

from .measure import BenchError, RunTiming, Summary, repeat

DEFAULT_INSTALL = "mlx-lm greedy, default install"


def run_in_process(folder: str, spec: dict) -> dict:
    """Time mlx-lm on each prompt of `spec`; {context: Summary.to_dict()}."""
    from mlx_lm.utils import load as mlx_lm_load

    from .variants import mlx_lm_variant

    model, tokenizer = mlx_lm_load(folder)
    variant = mlx_lm_variant(model, tokenizer)
    return {str(len(p)): repeat(variant.stream, p, spec["max_tokens"], spec["reps"], spec["warmup"]).to_dict()
            for p in spec["prompts"]}


def summary_from_dict(d: dict) -> Summary:
    names = {f.name for f in dataclasses.fields(RunTiming)}
    return Summary([RunTiming(**{k: v for k, v in run.items() if k in names}) for run in d["runs"]])


def default_install(folder: Path, prompts: list[list[int]], max_tokens: int, reps: int,
                    warmup: int) -> dict[int, Summary]:
    """mlx-lm's timings on `folder` (a quantized mlx-lm export), measured in a
    fresh process with the mlx wheel's own BLAS."""
    spec = folder / "bench-spec.json"
    spec.write_text(json.dumps({"prompts": prompts, "max_tokens": max_tokens, "reps": reps,
                                "warmup": warmup}))
    env = {**os.environ, "MLX_ENTROPIX_BLAS": "off"}
    done = subprocess.run([sys.executable, "-m", "mlx_entropix.bench.baseline", str(folder), str(spec)],
                          capture_output=True, text=True, env=env,
                          cwd=Path(__file__).resolve().parents[2])
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise BenchError(f"the mlx-lm baseline process failed: {tail}")
    return {int(k): summary_from_dict(v) for k, v in json.loads(done.stdout).items()}


if __name__ == "__main__":
    print(json.dumps(run_in_process(sys.argv[1], json.loads(Path(sys.argv[2]).read_text()))))
