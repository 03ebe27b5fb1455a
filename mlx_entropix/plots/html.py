"""The interactive plot: one self-contained HTML file (inline SVG drawn here,
a little vanilla JS for the hover details), so it opens offline anywhere.

Every piece of trace text is HTML-escaped where it enters the markup; the
tooltip data travels as JSON with '<', '>' and '&' escaped, and the script
only ever writes it with textContent.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import asdict
from pathlib import Path

from matplotlib.ticker import MaxNLocator

from mlx_entropix.plots.common import (
    AGREEMENT_NOTE,
    ENTROPY_THRESHOLDS,
    OUTCOME_COLORS,
    QUADRANTS,
    TIMELINE_PANELS,
    VARENTROPY_THRESHOLDS,
    asinh_scale,
    model_name,
    plot_title,
    outcomes_present,
    prompt_summary,
    scatter_range,
    scatter_ticks,
)
from mlx_entropix.trace import OUTCOME_LABELS, Trace

_ASSETS = Path(__file__).parent / "assets"

# Timeline geometry (SVG user units).
_TL_WIDTH, _TL_LEFT, _TL_RIGHT, _TL_TOP = 900, 64, 12, 8
_PANEL_H, _PANEL_GAP, _STRIP_H, _AXIS_H = 130, 14, 20, 34
# Scatter geometry.
_SC_WIDTH, _SC_HEIGHT, _SC_LEFT, _SC_RIGHT, _SC_TOP, _SC_BOTTOM = 540, 500, 64, 14, 14, 48


def render_html(trace: Trace, path: Path, thresholds: dict[str, float]) -> None:
    title = plot_title(trace)
    if trace.tokens:
        body = "\n".join(
            [
                _legend(trace),
                '<div class="plots">',
                _timeline(trace, thresholds),
                _scatter(trace, thresholds),
                "</div>",
                f'<p class="note">{html.escape(AGREEMENT_NOTE)}.</p>',
                '<h2>Generated text</h2>',
                _text_view(trace),
            ]
        )
    else:
        body = '<p class="empty">no tokens: this trace has no generated tokens to plot.</p>'
    page = (_ASSETS / "trace.html").read_text()
    replacements = {
        "__TITLE__": html.escape(title),
        "__MODEL__": html.escape(model_name(trace)),
        "__PROMPT__": html.escape(prompt_summary(trace, limit=400)),
        "__META__": html.escape(_meta(trace, thresholds)),
        "__STYLE__": (_ASSETS / "trace.css").read_text(),
        "__BODY__": body,
        "__DATA__": _json_for_script(_tooltip_data(trace)),
        "__SCRIPT__": (_ASSETS / "trace.js").read_text(),
    }
    # One pass over the template, so text inserted for one slot is never read as another slot.
    page = re.sub(r"__[A-Z]+__", lambda m: replacements[m.group(0)], page)
    path.write_text(page, encoding="utf-8")


def _meta(trace: Trace, thresholds: dict[str, float]) -> str:
    method = trace.sampler.get("method", "?")
    drawn = ", ".join(f"{k} {v:.3g}" for k, v in thresholds.items()) or "none"
    return f"{len(trace.tokens)} tokens · sampler {method} · unit {trace.unit} · thresholds: {drawn}"


def _json_for_script(data: object) -> str:
    """JSON that cannot close its <script> element or start markup."""
    text = json.dumps(data, ensure_ascii=False, allow_nan=False)
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def _tooltip_data(trace: Trace) -> dict[str, object]:
    return {
        "unit": trace.unit,
        "colors": OUTCOME_COLORS,
        "tokens": [
            {
                "index": t.index,
                "text": t.text,
                "outcome": t.outcome,
                "inserted": t.inserted,
                "logprob": t.logprob,
                "metrics": asdict(t.metrics),
                "params": asdict(t.params),
            }
            for t in trace.tokens
        ],
    }


def _el(tag: str, content: str = "", **attrs: object) -> str:
    """One SVG/HTML element; attribute names use '_' for '-', 'cls' for class."""
    parts = []
    for name, value in attrs.items():
        name = "class" if name == "cls" else name.replace("_", "-")
        parts.append(f' {name}="{html.escape(value if isinstance(value, str) else _num(value))}"')
    return f"<{tag}{''.join(parts)}>{content}</{tag}>"


def _num(v: object) -> str:
    return f"{v:.2f}".rstrip("0").rstrip(".") if isinstance(v, float) else str(v)


def _legend(trace: Trace) -> str:
    counts = {o: sum(t.outcome == o for t in trace.tokens) for o in outcomes_present(trace)}
    items = "".join(
        _el("li", _el("span", cls="swatch", style=f"background:{OUTCOME_COLORS[o]}")
            + html.escape(f"{o} ({n}): {OUTCOME_LABELS[o]}"))
        for o, n in counts.items()
    )
    return _el("ul", items, cls="legend")


def _threshold_line(x1: float, y1: float, x2: float, y2: float, label: str, lx: float, ly: float, anchor: str) -> str:
    return _el("line", cls="threshold", x1=x1, y1=y1, x2=x2, y2=y2) + _el(
        "text", html.escape(label), cls="threshold-label", x=lx, y=ly, text_anchor=anchor
    )


def _timeline(trace: Trace, thresholds: dict[str, float]) -> str:
    n = len(trace.tokens)
    plot_w = _TL_WIDTH - _TL_LEFT - _TL_RIGHT
    step = plot_w / n

    def x_of(i: int) -> float:
        return _TL_LEFT + (i + 0.5) * step

    parts: list[str] = []
    top = _TL_TOP
    for metric, label, keys in TIMELINE_PANELS:
        values = [getattr(t.metrics, metric) for t in trace.tokens]
        shown = [thresholds[k] for k in keys if k in thresholds]
        y_max = max(values + shown) * 1.05 or 1.0

        def y_of(v: float, top: float = top, y_max: float = y_max) -> float:
            return top + _PANEL_H * (1 - v / y_max)

        parts.append(_el("rect", cls="frame", x=_TL_LEFT, y=top, width=plot_w, height=_PANEL_H))
        for tick in MaxNLocator(nbins=4).tick_values(0, y_max):
            if 0 <= tick <= y_max:
                y = y_of(tick)
                parts.append(_el("line", cls="grid", x1=_TL_LEFT, y1=y, x2=_TL_LEFT + plot_w, y2=y))
                parts.append(_el("text", f"{tick:g}", cls="tick", x=_TL_LEFT - 4, y=y + 3, text_anchor="end"))
        parts.append(_el("text", html.escape(label), cls="axis-label",
                         transform=f"translate(14 {top + _PANEL_H / 2:.1f}) rotate(-90)", text_anchor="middle"))
        for key in keys:
            if key in thresholds:
                y = y_of(thresholds[key])
                parts.append(_threshold_line(_TL_LEFT, y, _TL_LEFT + plot_w, y, f"{key} {thresholds[key]:.3g}",
                                             _TL_LEFT + plot_w - 2, y - 2, "end"))
        points = " ".join(f"{x_of(i):.1f},{y_of(v):.1f}" for i, v in enumerate(values))
        parts.append(_el("polyline", cls="series", points=points))
        parts.extend(_el("circle", cls="tp", cx=x_of(i), cy=y_of(v), r=2.5, fill=OUTCOME_COLORS[t.outcome])
                     for i, (t, v) in enumerate(zip(trace.tokens, values)))
        top += _PANEL_H + _PANEL_GAP
    parts.append(_el("text", "outcome", cls="axis-label", x=_TL_LEFT - 4, y=top + _STRIP_H * 0.7, text_anchor="end"))
    parts.extend(_el("rect", cls="strip", x=_TL_LEFT + i * step, y=top, width=step, height=_STRIP_H,
                     fill=OUTCOME_COLORS[t.outcome]) for i, t in enumerate(trace.tokens))
    bottom = top + _STRIP_H
    for tick in MaxNLocator(nbins=10, integer=True).tick_values(0, n - 1):
        if 0 <= tick <= n - 1:
            parts.append(_el("text", f"{trace.tokens[int(tick)].index}", cls="tick", x=x_of(int(tick)), y=bottom + 14,
                             text_anchor="middle"))
    parts.append(_el("text", "token index", cls="axis-label", x=_TL_LEFT + plot_w / 2, y=bottom + 30, text_anchor="middle"))
    # Transparent columns on top: hovering anywhere above a token selects it.
    parts.extend(_el("rect", cls="col", data_i=i, x=_TL_LEFT + i * step, y=_TL_TOP, width=step, height=bottom - _TL_TOP)
                 for i in range(n))
    height = bottom + _AXIS_H
    return _el("svg", "".join(parts), cls="timeline", viewBox=f"0 0 {_TL_WIDTH} {height}",
               xmlns="http://www.w3.org/2000/svg", role="img", aria_label="per-token timeline")


def _scatter(trace: Trace, thresholds: dict[str, float]) -> str:
    limits = scatter_range(trace, thresholds)
    plot_w = _SC_WIDTH - _SC_LEFT - _SC_RIGHT
    plot_h = _SC_HEIGHT - _SC_TOP - _SC_BOTTOM
    x_left, x_right = _SC_LEFT, _SC_LEFT + plot_w
    y_top, y_bottom = _SC_TOP, _SC_TOP + plot_h

    def x_of(v: float) -> float:
        return x_left + plot_w * asinh_scale(v) / asinh_scale(limits.x_max)

    def y_of(v: float) -> float:
        return y_bottom - plot_h * asinh_scale(v) / asinh_scale(limits.y_max)

    parts = [_el("rect", cls="frame", x=x_left, y=y_top, width=plot_w, height=plot_h)]
    for tick in scatter_ticks(limits.x_max):
        parts.append(_el("line", cls="grid", x1=x_of(tick), y1=y_top, x2=x_of(tick), y2=y_bottom))
        parts.append(_el("text", f"{tick:g}", cls="tick", x=x_of(tick), y=y_bottom + 14, text_anchor="middle"))
    for tick in scatter_ticks(limits.y_max):
        parts.append(_el("line", cls="grid", x1=x_left, y1=y_of(tick), x2=x_right, y2=y_of(tick)))
        parts.append(_el("text", f"{tick:g}", cls="tick", x=x_left - 4, y=y_of(tick) + 3, text_anchor="end"))
    for key in ENTROPY_THRESHOLDS:
        if key in thresholds:
            x = x_of(thresholds[key])
            parts.append(_el("line", cls="threshold", x1=x, y1=y_top, x2=x, y2=y_bottom))
            parts.append(_el("text", f"{key} {thresholds[key]:.3g}", cls="threshold-label", text_anchor="middle",
                             transform=f"translate({x - 3:.1f} {y_top + plot_h / 2:.1f}) rotate(-90)"))
    for key in VARENTROPY_THRESHOLDS:
        if key in thresholds:
            y = y_of(thresholds[key])
            parts.append(_threshold_line(x_left, y, x_right, y, f"{key} {thresholds[key]:.3g}", x_left + plot_w / 2, y - 3, "middle"))
    for name, x_side, y_side in QUADRANTS:
        parts.append(_el("text", html.escape(name), cls="quadrant",
                         x=x_left + 6 if x_side == "lo" else x_right - 6,
                         y=y_bottom - 6 if y_side == "lo" else y_top + 16,
                         text_anchor="start" if x_side == "lo" else "end"))
    for i, t in enumerate(trace.tokens):
        tip = f"#{t.index} {t.text!r} {t.outcome}"
        parts.append(_el("circle", _el("title", html.escape(tip)), cls="pt", data_i=i,
                         cx=x_of(t.metrics.entropy), cy=y_of(t.metrics.varentropy), r=4.5, fill=OUTCOME_COLORS[t.outcome]))
    parts.append(_el("text", "entropy H (nats, asinh scale)", cls="axis-label", x=x_left + plot_w / 2,
                     y=_SC_HEIGHT - 12, text_anchor="middle"))
    parts.append(_el("text", "varentropy (nats², asinh scale)", cls="axis-label",
                     transform=f"translate(14 {y_top + plot_h / 2:.1f}) rotate(-90)", text_anchor="middle"))
    return _el("svg", "".join(parts), cls="scatter", viewBox=f"0 0 {_SC_WIDTH} {_SC_HEIGHT}",
               xmlns="http://www.w3.org/2000/svg", role="img", aria_label="entropy vs varentropy quadrants")


def _text_view(trace: Trace) -> str:
    spans = "".join(
        _el("span", html.escape(t.text), cls="tok inserted" if t.inserted else "tok", data_i=i,
            style=f"border-bottom-color:{OUTCOME_COLORS[t.outcome]}")
        for i, t in enumerate(trace.tokens)
    )
    return _el("p", spans, cls="text")
