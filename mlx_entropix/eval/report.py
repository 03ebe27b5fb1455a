"""Turn the per-item records into the numbers that answer "does entropix
help?" (summary.json) and a page a person reads (report.md)."""

from __future__ import annotations

from collections import Counter
from itertools import combinations
from pathlib import Path
from typing import Any

from .stats import (
    BOOTSTRAP_SAMPLES,
    BOOTSTRAP_SEED,
    mcnemar_exact,
    paired_bootstrap_diff,
    wilson_interval,
)
from .store import RunSettings, write_json_atomic

ALPHA = 0.05
BASELINE = "greedy"  # the method every other one is paired with first, and timed against
TEMPLATE_NOTE = (
    "Every method gets the same chat messages, formatted with the model's chat "
    "template by the engine (the one public entropix GSM8K comparison skipped "
    "the template and so measured a broken baseline)."
)


def _method_summary(results: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(results)
    correct = sum(r["correct"] for r in results)
    lo, hi = wilson_interval(correct, n)
    outcomes: Counter[str] = Counter()
    for r in results:
        outcomes.update(r["outcome_counts"])
    total = sum(outcomes.values())
    return {
        "n": n,
        "correct": correct,
        "accuracy": correct / n if n else 0.0,
        "ci95": [lo, hi],
        "mean_tokens": sum(r["tokens"] for r in results) / n if n else 0.0,
        "mean_time_s": sum(r["time_s"] for r in results) / n if n else 0.0,
        "no_answer": sum(r["extracted"] is None for r in results),
        "hit_max_tokens": sum(r["finish_reason"] == "length" for r in results),
        "outcome_counts": dict(sorted(outcomes.items())),
        "outcome_shares": {k: v / total for k, v in sorted(outcomes.items())},
    }


def _pair_summary(a: str, b: str, first: list[bool], second: list[bool]) -> dict[str, Any]:
    only_a = sum(x and not y for x, y in zip(first, second))
    only_b = sum(y and not x for x, y in zip(first, second))
    n = len(first)
    p = mcnemar_exact(only_a, only_b)
    lo, hi = paired_bootstrap_diff(first, second)
    return {
        "a": a,
        "b": b,
        "n": n,
        "only_a_correct": only_a,
        "only_b_correct": only_b,
        "diff": (sum(first) - sum(second)) / n if n else 0.0,
        "ci95": [lo, hi],
        "mcnemar_p": p,
        "significant": p < ALPHA,
    }


def method_pairs(methods: list[str]) -> list[tuple[str, str]]:
    """Every pair once; with greedy among them, each method against greedy
    first (as method - greedy), then the pairs without it."""
    if BASELINE not in methods:
        return list(combinations(methods, 2))
    others = [m for m in methods if m != BASELINE]
    return [(m, BASELINE) for m in others] + list(combinations(others, 2))


def summarize(settings: RunSettings, records: list[dict[str, Any]], command: str) -> dict[str, Any]:
    methods = list(settings.methods)
    correct = {m: [r["methods"][m]["correct"] for r in records] for m in methods}
    per_method = {m: _method_summary([r["methods"][m] for r in records]) for m in methods}
    if BASELINE in per_method and per_method[BASELINE]["mean_time_s"] > 0:
        for s in per_method.values():
            s["time_vs_greedy"] = s["mean_time_s"] / per_method[BASELINE]["mean_time_s"]
    categories = sorted({r["category"] for r in records if r.get("category")})
    return {
        "setup": {
            "model": next((r["model"] for r in records if r.get("model")), None),
            "model_option": settings.model,
            "dataset": settings.dataset,
            "dataset_sha256": settings.dataset_sha256,
            "n": settings.n,
            "seed": settings.seed,
            "max_tokens": settings.max_tokens,
            "split": settings.split,
            "methods": methods,
            "configs": settings.configs,
            "processes": settings.world_size,
            "command": command,
            "chat_template": TEMPLATE_NOTE,
            "bootstrap": {"samples": BOOTSTRAP_SAMPLES, "seed": BOOTSTRAP_SEED},
            "significance_level": ALPHA,
        },
        "methods": per_method,
        "pairs": [_pair_summary(a, b, correct[a], correct[b]) for a, b in method_pairs(methods)],
        "categories": {
            c: {
                m: _method_summary([r["methods"][m] for r in records if r.get("category") == c])
                for m in methods
            }
            for c in categories
        },
    }


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _ratio(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def _signed_pct(x: float) -> str:
    return f"{100 * x:+.1f} pp"


THRESHOLD_NAMES = ("low_ent", "low_vent", "med_ent", "high_ent", "high_vent")


def _config_line(described: dict[str, Any] | None) -> str:
    """A method's source and, for the sampler, which thresholds ran and their values (nats)."""
    if described is None:
        return "unrecorded"
    cfg = described.get("config")
    if cfg is None:
        return f"{described['source']} (mlx-lm's sampler)"
    if cfg.get("greedy"):
        return f"{described['source']}: argmax, no thresholds"
    values = ", ".join(f"{k} {cfg[k]:.4g}" for k in THRESHOLD_NAMES if k in cfg)
    return f"{described['source']}: {cfg.get('thresholds', '?')} thresholds ({values})"


def render_markdown(summary: dict[str, Any], records: list[dict[str, Any]]) -> str:
    setup = summary["setup"]
    methods = setup["methods"]
    lines = [
        "# Evaluation report",
        "",
        f"- model: {setup['model'] or setup['model_option'] or 'default'}",
        f"- dataset: `{setup['dataset']}`, split {setup['split']} ({setup['n']} items, "
        f"sha256 {setup['dataset_sha256'][:12]})",
        f"- seed: {setup['seed']} (one seed per item, the same for every method)",
        f"- max tokens: {setup['max_tokens']}",
        f"- processes: {setup['processes']}",
        f"- command: `{setup['command']}`",
        f"- {setup['chat_template']}",
        "",
        "## Methods",
        "",
        "| method | accuracy [95% Wilson CI] | correct | mean tokens | s/answer | time × greedy "
        "| no answer found | hit max tokens | outcome shares (tokens) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for m in methods:
        s = summary["methods"][m]
        outcomes = ", ".join(
            f"{k} {_pct(share)} ({s['outcome_counts'][k]})" for k, share in s["outcome_shares"].items()
        ) or "-"
        lines.append(
            f"| {m} | {_pct(s['accuracy'])} [{_pct(s['ci95'][0])}, {_pct(s['ci95'][1])}] "
            f"| {s['correct']}/{s['n']} | {s['mean_tokens']:.1f} | {s['mean_time_s']:.2f} "
            f"| {_ratio(s.get('time_vs_greedy'))} | {s['no_answer']} | {s['hit_max_tokens']} | {outcomes} |"
        )
    lines += ["", "## What each method ran", "", "The sampler configs as resolved against the loaded model "
              "(presets with this model's fitted thresholds where it has them); all fields in summary.json.",
              ""]
    lines += [f"- {m}: {_config_line(setup['configs'].get(m))}" for m in methods]
    lines += [
        "",
        "## Pairwise comparisons",
        "",
        f"Paired over the same items. Difference = accuracy(A) - accuracy(B), with a "
        f"paired bootstrap 95% CI ({setup['bootstrap']['samples']} resamples, seed "
        f"{setup['bootstrap']['seed']}); exact McNemar test on the items only one "
        f"method got right; significant when p < {setup['significance_level']}.",
        "",
        "| A vs B | difference [95% CI] | only A right | only B right | McNemar p | significant |",
        "|---|---|---|---|---|---|",
    ]
    for p in summary["pairs"]:
        lines.append(
            f"| {p['a']} vs {p['b']} | {_signed_pct(p['diff'])} "
            f"[{_signed_pct(p['ci95'][0])}, {_signed_pct(p['ci95'][1])}] "
            f"| {p['only_a_correct']} | {p['only_b_correct']} | {p['mcnemar_p']:.4g} "
            f"| {'**yes**' if p['significant'] else 'no'} |"
        )
    if summary["categories"]:
        lines += ["", "## By category", "", "| category | " + " | ".join(methods) + " |"]
        lines.append("|---|" + "---|" * len(methods))
        for cat, per_method in summary["categories"].items():
            cells = [
                f"{_pct(s['accuracy'])} ({s['correct']}/{s['n']})" for s in (per_method[m] for m in methods)
            ]
            lines.append(f"| {cat} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "## Items",
        "",
        "Extracted answers (right or wrong); full replies are in results.jsonl and "
        "every answer's trace under traces/.",
        "",
        "| # | id | gold | " + " | ".join(methods) + " |",
        "|---|---|---|" + "---|" * len(methods),
    ]
    for r in records:
        cells = []
        for m in methods:
            res = r["methods"][m]
            mark = "ok" if res["correct"] else "x"
            cells.append(f"{mark} {_cell(res['extracted'] if res['extracted'] is not None else '-')}")
        lines.append(f"| {r['index']} | {_cell(r['id'])} | {_cell(r['gold'])} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_report(
    out: Path, settings: RunSettings, records: list[dict[str, Any]], command: str
) -> dict[str, Any]:
    """Write summary.json and report.md into `out`; return the summary."""
    summary = summarize(settings, records, command)
    write_json_atomic(out / "summary.json", summary)
    (out / "report.md").write_text(render_markdown(summary, records), encoding="utf-8")
    return summary
