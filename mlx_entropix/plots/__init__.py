"""Plots of a trace: per-token timelines and the entropy/varentropy quadrant
scatter, as a PNG or as a self-contained interactive HTML page."""

from __future__ import annotations

from pathlib import Path

import importlib

from mlx_entropix.plots.common import OUTCOME_COLORS, check_outcomes, resolve_thresholds
from mlx_entropix.trace import Trace

__all__ = ["OUTCOME_COLORS", "plot_trace"]

# Renderer modules by suffix, imported on first use (they import matplotlib).
_RENDERERS = {".png": ("mlx_entropix.plots.png", "render_png"),
              ".html": ("mlx_entropix.plots.html", "render_html")}


def plot_trace(trace: Trace, path: str | Path, thresholds: dict[str, float] | None = None) -> Path:
    """Write the plots of `trace` to `path`, as PNG or HTML by its suffix.

    Thresholds (nats) default to those the sampler ran with
    (`trace.sampler["config"]`); with none there, no threshold lines are drawn.
    """
    path = Path(path)
    renderer = _RENDERERS.get(path.suffix.lower())
    if renderer is None:
        raise ValueError(f"cannot plot to {path.name!r}: the file name must end in .png or .html")
    check_outcomes(trace)
    render = getattr(importlib.import_module(renderer[0]), renderer[1])
    render(trace, path, resolve_thresholds(trace, thresholds))
    return path
