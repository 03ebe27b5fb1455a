"""`uv run benchmarks/bench.py`: our engine against mlx-lm, same weights, same prompt."""

from __future__ import annotations

import json
import os
import shlex
import tempfile
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..convert import ConvertError
from ..load import LoadError, load
from ..server.launch import ServerStartError
from ..convert import convert
from .baseline import DEFAULT_INSTALL, default_install
from .branches import branch_costs
from .family import family_overhead
from .interleaved import interleaved_decode, interleaved_table
from .measure import BenchError, ratios, repeat
from .report import check_targets, machine, markdown
from .server import server_comparison
from .variants import SAME_WEIGHTS, engine_variants, load_mlx_lm, mlx_lm_variant, synthetic_prompt

# Environment that changes what is measured, repeated in the recorded command.
RELEVANT_ENV = ("MLX_ENTROPIX_BLAS", "MLX_ENTROPIX_DENSE_RAM_SHARE")


def parse_ints(text: str, option: str, minimum: int) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise BenchError(f"{option} must be comma-separated integers, got {text!r}") from None
    if any(v < minimum for v in values):
        raise BenchError(f"{option} values must be >= {minimum}, got {text!r}")
    return values


def command_line(options: dict[str, object]) -> str:
    """The command that repeats this run: the relevant environment and every option."""
    env = [f"{k}={shlex.quote(os.environ[k])}" for k in RELEVANT_ENV if os.environ.get(k)]
    args = []
    for name, value in options.items():
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            args.append(flag if value else f"--no-{name.replace('_', '-')}")
        elif value is not None:
            args += [flag, shlex.quote(",".join(map(str, value)) if isinstance(value, list) else str(value))]
    return " ".join([*env, "uv run benchmarks/bench.py", *args])


def run_benchmark(model: str | None, contexts: list[int], max_tokens: int, reps: int,
                  warmup: int, branches: list[int], branch_steps: int, server: bool,
                  weights: str = "auto", family: str | None = None) -> dict:
    """Every measurement of one benchmark run, as the JSON report.

    Ratios are to mlx-lm as installed (its own process, the quantized weights as
    float32 activations, the mlx wheel's BLAS); greedy tokens are checked against
    mlx-lm on our very weights in this process."""
    lm = load(model, weights)
    quantized = lm if lm.weights.mode == "quantized" else load(model, "quantized")
    prompts = {c: synthetic_prompt(lm, c) for c in contexts}
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-mlx-lm-") as tmp:
        installed = default_install(convert(quantized, Path(tmp) / "quantized", float32=True),
                                    list(prompts.values()), max_tokens, reps, warmup)
        same_weights = mlx_lm_variant(*load_mlx_lm(lm, Path(tmp) / "same"))
        for context, prompt in prompts.items():
            baseline = installed[context]
            results.append({"context": context, "variant": DEFAULT_INSTALL, "summary": baseline.to_dict(),
                            "ratio_to_mlx_lm": ratios(baseline, baseline), "same_tokens": None})
            reference = repeat(same_weights.stream, prompt, max_tokens, reps, warmup)
            expected = reference.runs[0].tokens
            results.append({"context": context, "variant": SAME_WEIGHTS, "summary": reference.to_dict(),
                            "ratio_to_mlx_lm": ratios(reference, baseline), "same_tokens": True})
            for variant in engine_variants(lm):
                summary = repeat(variant.stream, prompt, max_tokens, reps, warmup)
                same = summary.runs[0].tokens == expected if "greedy" in variant.name else None
                results.append({"context": context, "variant": variant.name,
                                "summary": summary.to_dict(),
                                "ratio_to_mlx_lm": ratios(summary, baseline), "same_tokens": same})
    if branches:
        branching = branch_costs(lm, prompts[contexts[0]], branches, branch_steps, reps, warmup)
    else:
        branching = {"skipped": "no --branches given"}
    serving = (server_comparison(lm, model, max_tokens, reps, warmup) if server
               else {"skipped": "--no-server"})
    families = (family_overhead(family, lm.tokenizer, contexts[0], max_tokens, reps, warmup)
                if family else {"skipped": "no --family given"})
    options = {"model": model, "weights": weights, "contexts": contexts, "max_tokens": max_tokens,
               "reps": reps, "warmup": warmup, "branches": branches, "branch_steps": branch_steps,
               "server": server, "family": family}
    return {
        "command": command_line(options),
        "machine": machine(lm),
        "settings": {"model": lm.name, "contexts": contexts, "max_tokens": max_tokens, "reps": reps,
                     "warmup": warmup, "branches": branches, "branch_steps": branch_steps},
        "results": results,
        "targets": check_targets(results, branching),
        "branching": branching,
        "server": serving,
        "family": families,
    }


def bench_command(
    model: Annotated[Optional[str], typer.Option(
        help="GGUF file, model folder or cached HF repo id (default: the embedded model)")] = None,
    contexts: Annotated[str, typer.Option(help="Prompt lengths in tokens, comma-separated")] = "128,512",
    max_tokens: Annotated[int, typer.Option(help="Tokens generated per run")] = 64,
    reps: Annotated[int, typer.Option(help="Measured repetitions (median, min, max)")] = 3,
    warmup: Annotated[int, typer.Option(help="Unmeasured warm-up runs before each measurement")] = 1,
    branches: Annotated[str, typer.Option(help="Branch counts N to time ('' to skip)")] = "2,4,8",
    branch_steps: Annotated[int, typer.Option(help="Tokens per branch continuation")] = 8,
    server: Annotated[bool, typer.Option(help="Also time mlx_server.py through an SSE client")] = True,
    weights: Annotated[str, typer.Option(help="Our weight mode: auto, dense or quantized")] = "auto",
    family: Annotated[Optional[str], typer.Option(
        help="Also time the recorder on a random-weight model of this mlx-lm family "
             "(SmolLM2-135M's size), e.g. qwen3")] = None,
    interleaved: Annotated[Optional[int], typer.Option(
        help="Only this: N interleaved rounds of decode, ours vs mlx-lm on the very float32 "
             "weights with the same BLAS in this process (a GGUF's converted folder), on the "
             "first --contexts length")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Folder for bench.md and bench.json")] = None,
) -> None:
    """Time mlx-lm and our engine (greedy, metrics none/logits/all, entropix), branching, the
    server and, with --family, the attention recorder on another model family."""
    try:
        context_list = parse_ints(contexts, "--contexts", 2)
        if not context_list:
            raise BenchError("--contexts is empty: give prompt lengths, e.g. 128,512")
        branch_list = parse_ints(branches, "--branches", 2)
        if max_tokens < 2 or reps < 1 or warmup < 0 or branch_steps < 1:
            raise BenchError("need --max-tokens >= 2, --reps >= 1, --warmup >= 0, --branch-steps >= 1")
        if interleaved is not None:
            if interleaved < 1:
                raise BenchError(f"--interleaved must be at least 1 round, got {interleaved}")
            report = interleaved_decode(model, weights, context_list[0], max_tokens, interleaved)
            report["command"] = command_line({"model": model, "weights": weights, "contexts": context_list[:1],
                                              "max_tokens": max_tokens, "interleaved": interleaved})
            _write(out, "\n".join([f"Command: `{report['command']}`", "", *interleaved_table(report)]) + "\n",
                   report)
            return
        report = run_benchmark(model, context_list, max_tokens, reps, warmup, branch_list,
                               branch_steps, server, weights, family)
    except (BenchError, ConvertError, LoadError, ServerStartError) as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(1) from None
    _write(out, markdown(report), report)


def _write(out: Path | None, text: str, report: dict) -> None:
    typer.echo(text)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "bench.md").write_text(text)
        (out / "bench.json").write_text(json.dumps(report, indent=2) + "\n")


def main() -> None:
    typer.run(bench_command)
