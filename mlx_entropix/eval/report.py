"""Turn the per-item records into the numbers that answer "does entropix
help?" (summary.json) and a page a person reads (report.md).

Every figure is computed from the methods' texts by the strict scorer
(scoring.py), so the same records re-scored later (eval-report) give the same
table. Accuracy is strict; the lenient column is labelled. A method is
compared with greedy and with self-consistency at matched compute: the
self-consistency point (`self_consistency@k=N`, or `normal` as k = 1) with
the fewest mean generated tokens that is still at least the method's.
"""

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
from .dataset import EvalItem
from .multitrace import sc_points
from .plot import plot_accuracy_vs_tokens
from .scoring import score_text
from .store import RunSettings, write_json_atomic

ALPHA = 0.05
PLOT_FILE = "accuracy_vs_tokens.png"
BASELINE = "greedy"  # the method every other one is paired with first, and timed against
TEMPLATE_NOTE = (
    "Every method gets the same chat messages, formatted with the model's chat "
    "template by the engine (the one public entropix GSM8K comparison skipped "
    "the template and so measured a broken baseline)."
)


def score_records(records: list[dict[str, Any]], items: dict[int, EvalItem]) -> list[dict[str, Any]]:
    """The records with each method's strict and lenient answer and correctness
    (and the item's gold) filled in from its text; the records are not changed."""
    scored = []
    for r in records:
        item = items.get(r["index"])
        if item is None:
            raise ValueError(f"result for item {r['index']} ({r.get('id')}) is not in the dataset selection")
        methods = {}
        for m, res in r["methods"].items():
            sc = score_text(res["text"], item.kind, item.gold, item.choices)
            methods[m] = {**res, "extracted": sc.answer, "correct": sc.correct,
                          "lenient_extracted": sc.lenient_answer, "lenient_correct": sc.lenient_correct}
        scored.append({**r, "answer": item.answer, "gold": item.gold, "methods": methods})
    return scored


def _method_summary(results: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(results)
    correct = sum(r["correct"] for r in results)
    lenient = sum(r["lenient_correct"] for r in results)
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
        "lenient_correct": lenient,
        "lenient_accuracy": lenient / n if n else 0.0,
        "mean_tokens": sum(r["tokens"] for r in results) / n if n else 0.0,
        "mean_time_s": sum(r["time_s"] for r in results) / n if n else 0.0,
        "no_answer": sum(r["extracted"] is None for r in results),  # strict format failures
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


def matched_sc(label: str, per_method: dict[str, Any], points: dict[str, int]) -> tuple[str | None, bool]:
    """The SC point to compare `label` with: the cheapest one with at least its
    mean tokens (matched, True); when every SC point is cheaper, the most
    expensive one (False: SC had fewer tokens, the comparison favours the method)."""
    if not points or label in points:
        return None, False
    tokens = per_method[label]["mean_tokens"]
    richer = [p for p in points if per_method[p]["mean_tokens"] >= tokens]
    if richer:
        return min(richer, key=lambda p: per_method[p]["mean_tokens"]), True
    return max(points, key=lambda p: per_method[p]["mean_tokens"]), False


def summarize(settings: RunSettings, records: list[dict[str, Any]], command: str) -> dict[str, Any]:
    methods = list(settings.methods)
    correct = {m: [r["methods"][m]["correct"] for r in records] for m in methods}
    per_method = {m: _method_summary([r["methods"][m] for r in records]) for m in methods}
    if BASELINE in per_method and per_method[BASELINE]["mean_time_s"] > 0:
        for s in per_method.values():
            s["time_vs_greedy"] = s["mean_time_s"] / per_method[BASELINE]["mean_time_s"]
    categories = sorted({r["category"] for r in records if r.get("category")})
    points = sc_points(settings.configs)
    matched = []
    for m in methods:
        sc, fair = matched_sc(m, per_method, points)
        if sc is not None:
            matched.append({**_pair_summary(m, sc, correct[m], correct[sc]), "matched": fair,
                            "a_tokens": per_method[m]["mean_tokens"], "b_tokens": per_method[sc]["mean_tokens"]})
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
            "sealed": settings.sealed,
            "scoring": "strict: the answer directly after the last 'The answer is' (scoring.py); "
                       "lenient: any marker, else the last number or letter (extract.py)",
        },
        "methods": per_method,
        "pairs": [_pair_summary(a, b, correct[a], correct[b]) for a, b in method_pairs(methods)],
        "vs_self_consistency": matched,
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
    if described.get("source") == "multi-trace":
        params = ", ".join(f"{k}={v}" for k, v in described["params"].items())
        return f"multi-trace {described['family']} ({params}); greedy and plain-sampling traces"
    cfg = described.get("config")
    if cfg is None:
        return f"{described['source']}: plain sampling (mlx-lm's sampler alone; the engine's, same filters, in a batch)"
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
        "Accuracy is strict (the answer directly after the last \"The answer is\"); "
        "a format failure is a reply without one. The lenient column (any marker, else the last "
        "number or letter) is for comparison only. Tokens: generated per question, all traces "
        "a method used.",
        "",
        "| method | accuracy [95% Wilson CI] | correct | format failures | lenient (labelled) "
        "| mean tokens | s/question | time × greedy | hit max tokens | outcome shares (tokens) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for m in methods:
        s = summary["methods"][m]
        outcomes = ", ".join(
            f"{k} {_pct(share)} ({s['outcome_counts'][k]})" for k, share in s["outcome_shares"].items()
        ) or "-"
        lines.append(
            f"| {m} | {_pct(s['accuracy'])} [{_pct(s['ci95'][0])}, {_pct(s['ci95'][1])}] "
            f"| {s['correct']}/{s['n']} | {s['no_answer']} | {_pct(s['lenient_accuracy'])} "
            f"| {s['mean_tokens']:.1f} | {s['mean_time_s']:.2f} "
            f"| {_ratio(s.get('time_vs_greedy'))} | {s['hit_max_tokens']} | {outcomes} |"
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
    if summary["vs_self_consistency"]:
        lines += [
            "",
            "## Against self-consistency at matched tokens",
            "",
            "Each method against the self-consistency point with the fewest mean tokens that is "
            "still at least the method's (`normal` is k = 1). *fewer* marks a method that cost more "
            "than every SC point in the run: SC had fewer tokens, so the comparison favours the method.",
            "",
            "| method vs SC | tokens (method / SC) | difference [95% CI] | only method right | only SC right "
            "| McNemar p | significant |",
            "|---|---|---|---|---|---|---|",
        ]
        for p in summary["vs_self_consistency"]:
            lines.append(
                f"| {p['a']} vs {p['b']}{'' if p['matched'] else ' (*fewer*)'} "
                f"| {p['a_tokens']:.1f} / {p['b_tokens']:.1f} | {_signed_pct(p['diff'])} "
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
    """Write summary.json, report.md and the accuracy-against-tokens plot into `out`; return the summary."""
    summary = summarize(settings, records, command)
    write_json_atomic(out / "summary.json", summary)
    (out / "report.md").write_text(render_markdown(summary, records), encoding="utf-8")
    plot_accuracy_vs_tokens(summary, out / PLOT_FILE)
    return summary
