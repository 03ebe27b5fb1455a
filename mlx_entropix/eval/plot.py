"""Accuracy against generated tokens per question: the picture of matched
compute. Self-consistency's points (k = 1, 3, 5, ...) are joined into a
curve; a method above that curve is better than voting at its cost."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .multitrace import sc_points


def plot_accuracy_vs_tokens(summary: dict[str, Any], path: Path, title: str = "") -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = summary["methods"]
    points = sc_points(summary["setup"]["configs"])
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    curve = sorted(points, key=lambda m: methods[m]["mean_tokens"])
    if curve:
        ax.plot([methods[m]["mean_tokens"] for m in curve], [100 * methods[m]["accuracy"] for m in curve],
                "-", color="#888", zorder=1, label="self-consistency (k = 1, ...)")
    for m, s in methods.items():
        lo, hi = s["ci95"]
        y = 100 * s["accuracy"]
        ax.errorbar(s["mean_tokens"], y, yerr=[[max(0.0, y - 100 * lo)], [max(0.0, 100 * hi - y)]], fmt="o", capsize=3,
                    color="#888" if m in points else None, zorder=2)
        ax.annotate(m, (s["mean_tokens"], y), textcoords="offset points", xytext=(5, 4), fontsize=7)
    ax.set_xlabel("mean generated tokens per question (all traces)")
    ax.set_ylabel("strict accuracy, % (95% Wilson CI)")
    ax.set_title(title or f"{summary['setup'].get('model') or 'model'}: {Path(summary['setup']['dataset']).name}, "
                 f"{summary['setup']['split']} split, n = {summary['setup']['n']}", fontsize=9)
    ax.grid(alpha=0.3)
    if curve:
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
