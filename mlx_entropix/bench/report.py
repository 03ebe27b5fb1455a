"""The benchmark's results as JSON and as markdown tables, with the machine."""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
from pathlib import Path

import mlx.core as mx

from .. import blas, heap, vocab_stats
from ..engine import syncs_per_step
from ..load import LoadedModel

# Targets for our engine with every metric on, as ratios to mlx-lm as installed.
TARGET_VARIANT = "ours greedy, metrics all"
METRICS_OFF_VARIANT = "ours greedy, metrics none"
TARGETS = {"prompt_tps": (">=", 3.0), "decode_tps": (">=", 1.3), "ttft_s": ("<=", 0.35)}
METRICS_COST = (">=", 0.97)  # decode with every metric over decode with none
BRANCH_COST = (4, "<=", 2.0)  # a branch point with N = 4 over one sequence step


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine(lm: LoadedModel) -> dict:
    return {
        "platform": platform.platform(),
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "mlx": importlib.metadata.version("mlx"),
        "mlx_lm": importlib.metadata.version("mlx-lm"),
        "backend": "cpu" if mx.default_device() == mx.cpu else "gpu",
        "blas": blas.info().describe(),
        "heap": heap.describe(),
        "logit_stats": vocab_stats.describe(),
        "weights": lm.weights.describe(),
    }


def _check(context: int | None, figure: str, value: float | None, op: str, bound: float) -> dict:
    met = value is not None and (value >= bound if op == ">=" else value <= bound)
    return {"context": context, "figure": figure, "value": value, "target": f"{op} {bound}", "met": met}


def check_targets(results: list[dict], branching: dict) -> list[dict]:
    """Each target at each context length (and the branch cost): value, bound, met."""
    checks = []
    off = {e["context"]: e for e in results if e["variant"] == METRICS_OFF_VARIANT}
    for entry in results:
        if entry["variant"] != TARGET_VARIANT:
            continue
        context = entry["context"]
        for figure, (op, bound) in TARGETS.items():
            checks.append(_check(context, f"{figure} ratio", entry["ratio_to_mlx_lm"][figure], op, bound))
        checks.append(_check(context, "decode_tps, all metrics / none",
                             entry["summary"]["median"]["decode_tps"]
                             / max(off[context]["summary"]["median"]["decode_tps"], 1e-9), *METRICS_COST))
        checks.append(_check(context, "syncs_per_token (max)", entry["summary"]["max"]["syncs_per_token"],
                             "<=", float(syncs_per_step())))
        checks.append(_check(context, "greedy tokens equal mlx-lm's (1 = yes)",
                             float(bool(entry["same_tokens"])), ">=", 1.0))
    n, op, bound = BRANCH_COST
    for row in branching.get("rows", []):
        if row["n"] == n:
            checks.append(_check(branching["context"], f"branch point cost, N = {n}",
                                 row["cost_vs_one_sequence"], op, bound))
    return checks


def _ratio(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}x"


def results_table(results: list[dict]) -> list[str]:
    lines = ["| context | variant | prompt tok/s | × | TTFT s | × | decode tok/s (min–max) | × "
             "| peak MB above weights | × | syncs/token | × | same tokens |",
             "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for e in results:
        med, lo, hi, r = (e["summary"]["median"], e["summary"]["min"], e["summary"]["max"],
                          e["ratio_to_mlx_lm"])
        same = {True: "yes", False: "no", None: "n/a"}[e["same_tokens"]]
        lines.append(
            f"| {e['context']} | {e['variant']} | {med['prompt_tps']:.1f} | {_ratio(r['prompt_tps'])} "
            f"| {med['ttft_s']:.2f} | {_ratio(r['ttft_s'])} "
            f"| {med['decode_tps']:.2f} ({lo['decode_tps']:.2f}–{hi['decode_tps']:.2f}) "
            f"| {_ratio(r['decode_tps'])} | {med['peak_memory_gb'] * 1e3:.0f} "
            f"| {_ratio(r['peak_memory_gb'])} | {med['syncs_per_token']:.2f} "
            f"| {_ratio(r['syncs_per_token'])} | {same} |")
    return lines


def branching_table(branching: dict) -> list[str]:
    if "skipped" in branching:
        return [f"Branching: skipped ({branching['skipped']})."]
    lines = [f"Branching at a {branching['context']}-token context, up to {branching['steps']} "
             "tokens per continuation, N rows decoded as one batch (N = 1 is one sequence):", "",
             "| N | s per step, median (min–max) | cost vs one sequence |", "|---:|---:|---:|"]
    for row in branching["rows"]:
        lines.append(f"| {row['n']} | {row['median_s']:.2f} ({row['min_s']:.2f}–{row['max_s']:.2f}) "
                     f"| {row['cost_vs_one_sequence']:.2f}x |")
    return lines


def server_table(server: dict) -> list[str]:
    if "skipped" in server:
        return [f"Server: skipped ({server['skipped']})."]
    lines = [f"Server vs in-process, greedy chat request of {server['prompt_tokens']} prompt tokens:",
             "", "| path | TTFT s | decode tok/s (min–max) |", "|---|---:|---:|"]
    for name, key in (("in-process (runner)", "in_process"), ("SSE client", "sse")):
        s = server[key]
        lines.append(f"| {name} | {s['median']['ttft_s']:.2f} | {s['median']['decode_tps']:.2f} "
                     f"({s['min']['decode_tps']:.2f}–{s['max']['decode_tps']:.2f}) |")
    r = server["sse_vs_in_process"]
    lines.append(f"| SSE / in-process | {_ratio(r['ttft_s'])} | {_ratio(r['decode_tps'])} |")
    return lines


def family_table(family: dict) -> list[str]:
    if "skipped" in family:
        return [f"Other model family: skipped ({family['skipped']})."]
    shape = family["shape"]
    lines = [f"Model family {family['family']} (mlx-lm's class, random weights, "
             f"{shape['num_hidden_layers']} layers × {shape['hidden_size']}), "
             f"{family['context']}-token context; attention statistics through the recorder:", "",
             *results_table([{"context": family["context"], **row} for row in family["rows"]])]
    if family["decode_overhead"] is not None:
        lines += ["", f"Recorder decode overhead (all metrics vs mlx-lm): "
                  f"{family['decode_overhead'] * 100:.1f}% (target {family['target']}): "
                  f"{'met' if family['met'] else 'MISSED'}"]
    return lines


def markdown(report: dict) -> str:
    m = report["machine"]
    lines = [f"Command: `{report['command']}`", "",
             f"Machine: {m['platform']}, {m['cpu']} ({m['cpu_count']} cores), mlx {m['mlx']}, "
             f"mlx-lm {m['mlx_lm']}, backend {m['backend']}; ours: BLAS {m['blas']}, "
             f"weights {m['weights']}.", "",
             f"Medians of {report['settings']['reps']} runs after {report['settings']['warmup']} "
             f"warm-up, {report['settings']['max_tokens']} generated tokens; × = ratio to mlx-lm "
             "as installed (its own process, the mlx wheel's BLAS, the quantized weights in "
             "float32 activations) in the same run. Host syncs are observed for both (mlx-lm's "
             "blocking calls while its generator runs). Same tokens: greedy tokens equal to mlx-lm's on our very weights.", "",
             *results_table(report["results"]), "",
             *branching_table(report["branching"]), "",
             *server_table(report["server"]), "",
             *family_table(report["family"]), "",
             "Targets (ours greedy with all metrics, vs mlx-lm as installed):", ""]
    for t in report["targets"]:
        value = "n/a" if t["value"] is None else f"{t['value']:.2f}"
        lines.append(f"- context {t['context']}: {t['figure']} = {value} (target {t['target']}): "
                     f"{'met' if t['met'] else 'MISSED'}")
    return "\n".join(lines) + "\n"


def save_json(out: Path | None, report: dict) -> None:
    """Write a benchmark's JSON report to `out` (its folder made), if given."""
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=2) + "\n")
