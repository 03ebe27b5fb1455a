"""What the PNG and the HTML plots share, so both draw the same picture:
the outcome colours, the thresholds, the quadrant names and the scatter scale."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from mlx_entropix.trace import OUTCOMES, Trace

# One colour per outcome (Okabe-Ito palette: distinguishable with colour blindness).
OUTCOME_COLORS: dict[str, str] = {
    "argmax": "#0072B2",
    "think": "#E69F00",
    "explore": "#009E73",
    "resample": "#D55E00",
    "adaptive": "#CC79A7",
    "branch": "#56B4E9",
    "sample": "#7F7F7F",
}

THRESHOLD_KEYS = ("low_ent", "med_ent", "high_ent", "low_vent", "high_vent")
ENTROPY_THRESHOLDS = ("low_ent", "med_ent", "high_ent")
VARENTROPY_THRESHOLDS = ("low_vent", "high_vent")

# The four corners of the entropy/varentropy plane, named after the rule that
# fires there: (name, x side, y side), "lo"/"hi" meaning low/high entropy (x)
# and varentropy (y).
QUADRANTS = (
    ("Argmax", "lo", "lo"),
    ("Insert thinking token", "hi", "lo"),
    ("Branch", "lo", "hi"),
    ("Resample", "hi", "hi"),
)

# Timeline panels: (metric, axis label, thresholds drawn on it).
TIMELINE_PANELS = (
    ("entropy", "entropy H (nats)", ENTROPY_THRESHOLDS),
    ("varentropy", "varentropy (nats²)", VARENTROPY_THRESHOLDS),
    ("attn_entropy", "attn entropy (nats)", ()),
    ("attn_varentropy", "attn varentropy (nats²)", ()),
)

AGREEMENT_NOTE = (
    "agreement shrinks like 1/context length: compare it only between tokens at similar positions"
)

# The scatter uses an asinh scale: linear below ASINH_WIDTH, logarithmic above,
# so thresholds as far apart as 0.1 and 5 nats are all readable on one axis.
ASINH_WIDTH = 0.1
_SCATTER_TICKS = (0.0, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0)


def resolve_thresholds(trace: Trace, thresholds: dict[str, float] | None) -> dict[str, float]:
    """The thresholds to draw: the given ones, else those the sampler ran with.

    Raises ValueError for a key that is not a threshold, so a typo does not
    silently draw nothing.
    """
    if thresholds is None:
        config = trace.sampler.get("config") or {}
        return {k: float(config[k]) for k in THRESHOLD_KEYS if isinstance(config.get(k), (int, float))}
    unknown = sorted(set(thresholds) - set(THRESHOLD_KEYS))
    if unknown:
        raise ValueError(f"unknown threshold {unknown[0]!r} (expected some of {', '.join(THRESHOLD_KEYS)})")
    return {k: float(v) for k, v in thresholds.items()}


def check_outcomes(trace: Trace) -> None:
    for t in trace.tokens:
        if t.outcome not in OUTCOME_COLORS:
            raise ValueError(f"token {t.index}: unknown outcome {t.outcome!r} (expected one of {', '.join(OUTCOMES)})")


def outcomes_present(trace: Trace) -> list[str]:
    """Outcomes that occur in the trace, in the legend order of OUTCOMES."""
    seen = {t.outcome for t in trace.tokens}
    return [o for o in OUTCOMES if o in seen]


def model_name(trace: Trace) -> str:
    return str(trace.model.get("name") or trace.model.get("path") or "unknown model")


def plot_title(trace: Trace) -> str:
    prompt = prompt_summary(trace)
    return f"{model_name(trace)} — {prompt}" if prompt else model_name(trace)


def prompt_summary(trace: Trace, limit: int = 120) -> str:
    """The last user message (or the raw prompt text), on one line, shortened."""
    messages: list[dict[str, Any]] = trace.prompt.get("messages") or []
    users = [m.get("content", "") for m in messages if m.get("role") == "user"]
    text = " ".join(str(users[-1] if users else trace.prompt.get("text", "")).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def asinh_scale(v: float) -> float:
    """The scatter's axis transform (matplotlib's "asinh" scale, same width)."""
    return ASINH_WIDTH * math.asinh(v / ASINH_WIDTH)


@dataclass
class ScatterRange:
    """Axis limits of the quadrant scatter, always past the high thresholds so
    that each corner of the plot lies inside the quadrant named there."""

    x_max: float
    y_max: float


def scatter_range(trace: Trace, thresholds: dict[str, float]) -> ScatterRange:
    xs = [t.metrics.entropy for t in trace.tokens] + [thresholds.get(k, 0.0) for k in ENTROPY_THRESHOLDS]
    ys = [t.metrics.varentropy for t in trace.tokens] + [thresholds.get(k, 0.0) for k in VARENTROPY_THRESHOLDS]
    # 1.4x past the largest value (at least 1, so an all-zero trace still has room).
    return ScatterRange(x_max=max(1.0, 1.4 * max(xs)), y_max=max(1.0, 1.4 * max(ys)))


def scatter_ticks(vmax: float) -> list[float]:
    return [t for t in _SCATTER_TICKS if t <= vmax]
