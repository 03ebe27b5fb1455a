"""The static plot: matplotlib on its Agg canvas (no display, no pyplot global
state, so the server can render from any thread)."""

from __future__ import annotations

from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter

from mlx_entropix.plots.common import (
    ASINH_WIDTH,
    ENTROPY_THRESHOLDS,
    OUTCOME_COLORS,
    QUADRANTS,
    TIMELINE_PANELS,
    VARENTROPY_THRESHOLDS,
    plot_title,
    outcomes_present,
    scatter_range,
    scatter_ticks,
)
from mlx_entropix.trace import Trace

_THRESHOLD_STYLE = {"color": "#555555", "linestyle": "--", "linewidth": 0.8, "zorder": 1}
_NO_TOKENS = "no tokens"


def render_png(trace: Trace, path: Path, thresholds: dict[str, float]) -> None:
    fig = Figure(figsize=(16, 9), dpi=100, layout="constrained")
    fig.suptitle(_plain(plot_title(trace)), fontsize=12)
    grid = fig.add_gridspec(len(TIMELINE_PANELS) + 1, 2, width_ratios=[1.6, 1], height_ratios=[1] * len(TIMELINE_PANELS) + [0.3])
    strip = fig.add_subplot(grid[len(TIMELINE_PANELS), 0])
    panels = [fig.add_subplot(grid[row, 0], sharex=strip) for row in range(len(TIMELINE_PANELS))]
    _timeline(trace, panels, strip, thresholds)
    _scatter(trace, fig.add_subplot(grid[:, 1]), thresholds)
    fig.savefig(path, format="png")


def _plain(text: str) -> str:
    """Text shown as-is: matplotlib would read a pair of '$' as mathtext."""
    return text.replace("$", r"\$")


def _timeline(trace: Trace, panels: list[Axes], strip: Axes, thresholds: dict[str, float]) -> None:
    index = [t.index for t in trace.tokens]
    colors = [OUTCOME_COLORS[t.outcome] for t in trace.tokens]
    for ax, (metric, label, keys) in zip(panels, TIMELINE_PANELS):
        values = [getattr(t.metrics, metric) for t in trace.tokens]
        ax.plot(index, values, color="#444444", linewidth=0.8, zorder=2)
        ax.scatter(index, values, c=colors, s=12, zorder=3)
        for key in keys:
            if key in thresholds:
                ax.axhline(thresholds[key], **_THRESHOLD_STYLE)
                ax.annotate(f"{key} {thresholds[key]:.3g}", xy=(1.0, thresholds[key]), xycoords=("axes fraction", "data"),
                            xytext=(-2, 2), textcoords="offset points", ha="right", va="bottom", fontsize=7, color="#555555")
        ax.set_ylabel(label, fontsize=9)
        ax.set_ylim(bottom=0)
        ax.tick_params(labelbottom=False)
        if not trace.tokens:
            ax.text(0.5, 0.5, _NO_TOKENS, transform=ax.transAxes, ha="center", va="center", color="#888888")
    strip.bar(index, 1.0, width=1.0, color=colors, linewidth=0)
    strip.set_yticks([])
    strip.set_ylabel("outcome", fontsize=9)
    strip.set_xlabel("token index")
    if trace.tokens:
        strip.set_xlim(index[0] - 0.5, index[-1] + 0.5)
    else:
        strip.set_xticks([])


def _scatter(trace: Trace, ax: Axes, thresholds: dict[str, float]) -> None:
    for outcome in outcomes_present(trace):
        points = [t.metrics for t in trace.tokens if t.outcome == outcome]
        ax.scatter([m.entropy for m in points], [m.varentropy for m in points], s=22, alpha=0.85,
                   color=OUTCOME_COLORS[outcome], label=f"{outcome} ({len(points)})", zorder=3)
    for key in ENTROPY_THRESHOLDS:
        if key in thresholds:
            ax.axvline(thresholds[key], **_THRESHOLD_STYLE)
            ax.annotate(f"{key} {thresholds[key]:.3g}", xy=(thresholds[key], 0.5), xycoords=("data", "axes fraction"),
                        xytext=(2, 0), textcoords="offset points", rotation=90, va="center", fontsize=7, color="#555555")
    for key in VARENTROPY_THRESHOLDS:
        if key in thresholds:
            ax.axhline(thresholds[key], **_THRESHOLD_STYLE)
            ax.annotate(f"{key} {thresholds[key]:.3g}", xy=(0.5, thresholds[key]), xycoords=("axes fraction", "data"),
                        xytext=(0, 2), textcoords="offset points", ha="center", fontsize=7, color="#555555")
    limits = scatter_range(trace, thresholds)
    ax.set_xscale("asinh", linear_width=ASINH_WIDTH)
    ax.set_yscale("asinh", linear_width=ASINH_WIDTH)
    for axis, vmax in ((ax.xaxis, limits.x_max), (ax.yaxis, limits.y_max)):
        axis.set_major_locator(FixedLocator(scatter_ticks(vmax)))
        axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_xlim(0, limits.x_max)
    ax.set_ylim(0, limits.y_max)
    for name, x_side, y_side in QUADRANTS:
        ax.text(0.01 if x_side == "lo" else 0.99, 0.01 if y_side == "lo" else 0.99, name, transform=ax.transAxes,
                ha="left" if x_side == "lo" else "right", va="bottom" if y_side == "lo" else "top",
                fontsize=10, fontweight="bold", color="#333333", alpha=0.8,
                bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.7, "pad": 2})
    ax.set_xlabel("entropy H (nats, asinh scale)")
    ax.set_ylabel("varentropy (nats², asinh scale)")
    ax.set_title("quadrants: entropy vs varentropy, one point per token", fontsize=10)
    if trace.tokens:
        ax.legend(title="outcome", loc="center right", fontsize=8)
    else:
        ax.text(0.5, 0.5, _NO_TOKENS, transform=ax.transAxes, ha="center", va="center", color="#888888")
