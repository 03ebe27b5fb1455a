import { useRef, useState, type MouseEvent } from "react";
import { fmt } from "../format";
import { clearBox, placeLabels, regionBoxes, type Label } from "../layout";
import { outcomeColor, shownOutcome, type ColourMode, type Reclassify } from "../outcomes";
import { makeScale, sqrtTicks, ticks, type ScaleKind } from "../scale";
import type { TokenRecord } from "../trace";
import { ExportButtons } from "./ExportButtons";
import { svgPoint } from "./pointer";

interface Props {
  tokens: TokenRecord[];
  /** A second run drawn with hollow squares (compare view), coloured by its own outcomes. */
  second?: TokenRecord[];
  rc: Reclassify | null;
  mode: ColourMode;
  hover: number | null;
  selected: number | null;
  unit: string;
  onHover: (i: number | null) => void;
  onSelect: (i: number) => void;
  /** Legend of the two marker styles when `second` is given. */
  names?: [string, string];
}

const W = 460;
const H = 400;
// Threshold names sit outside the frame (entropy's above it, varentropy's and a thin adaptive band's to its right), clear of the dashed lines.
const M = { left: 50, right: 66, top: 40, bottom: 40 };
const HIT_RADIUS = 14;
const SQUARE = 7;

type ChartLabel = Label & { kind: "threshold" | "region"; outcome?: string };

/**
 * Entropy against varentropy, one point per token, with the threshold lines and
 * the regions each rule owns tinted and named after that rule (the legend's names
 * and colours). The domain always includes the thresholds so the lines stay in
 * view; a √ scale spreads out the crowded corner near zero.
 */
export function QuadrantChart({ tokens, second, rc, mode, hover, selected, unit, onHover, onSelect, names }: Props) {
  const [kind, setKind] = useState<ScaleKind>("sqrt");
  const svgRef = useRef<SVGSVGElement>(null);
  const t = rc?.now ?? null;
  const all = second ? [...tokens, ...second] : tokens;
  const maxH = Math.max(t ? t.high_ent : 0, ...all.map((k) => k.metrics.entropy), 0.5) * 1.08;
  const maxV = Math.max(t ? t.high_vent : 0, ...all.map((k) => k.metrics.varentropy), 0.5) * 1.08;
  const x = makeScale(kind, 0, maxH, M.left, W - M.right);
  const y = makeScale(kind, 0, maxV, H - M.bottom, M.top);
  const xt = kind === "sqrt" ? sqrtTicks(maxH) : ticks(0, maxH);
  const yt = kind === "sqrt" ? sqrtTicks(maxV) : ticks(0, maxV);
  const plot = { x0: M.left, x1: W - M.right, y0: H - M.bottom, y1: M.top };
  const { x0, x1, y0, y1 } = plot;
  const regions = t ? regionBoxes(t, x, y, plot) : [];

  // Threshold names first, outside the frame at their lines (moved outwards when they
  // crowd), then each region's name at its centre; a band too thin for its name (the
  // adaptive band between close varentropy thresholds) is named in the right margin.
  // Each region's name goes in its largest part between the threshold lines that cross it.
  const xs = t ? (["low_ent", "med_ent", "high_ent"] as const).map((k) => x(t[k])) : [];
  const ys = t ? (["low_vent", "high_vent"] as const).map((k) => y(t[k])) : [];
  const spots = regions.map((r) => ({ ...clearBox(r, xs, ys), outcome: r.outcome }));
  // A 12 px bold name needs about 7.5 px a letter and 18 px of height clear of the lines.
  const fits = (r: { w: number; h: number; outcome: string }) => r.w > r.outcome.length * 7.5 + 4 && r.h > 18;
  const labels: ChartLabel[] = t
    ? [
        ...(["low_ent", "med_ent", "high_ent"] as const).map((k) => ({
          kind: "threshold" as const,
          text: k,
          x: x(t[k]),
          y: y1 - 4,
          anchor: "middle" as const,
          step: { dx: 0, dy: -12 },
          size: 9,
        })),
        ...(["high_vent", "low_vent"] as const).map((k) => ({
          kind: "threshold" as const,
          text: k,
          x: x1 + 4,
          y: y(t[k]) + 3,
          anchor: "start" as const,
          step: { dx: 0, dy: k === "high_vent" ? -12 : 12 },
          size: 9,
        })),
        ...spots.filter(fits).map((r) => ({ kind: "region" as const, outcome: r.outcome, text: r.outcome, x: r.x + r.w / 2, y: r.y + r.h / 2 + 4, anchor: "middle" as const, size: 12 })),
        ...spots
          .filter((r) => r.outcome === "adaptive" && !fits(r))
          .map((r) => ({ kind: "region" as const, outcome: r.outcome, text: r.outcome, x: x1 + 4, y: r.y + r.h / 2 + 4, anchor: "start" as const, step: { dx: 0, dy: 16 }, size: 12 })),
      ]
    : [];
  const placed = placeLabels(labels);

  const nearest = (e: MouseEvent): number | null => {
    const p = svgRef.current && svgPoint(svgRef.current, e.clientX, e.clientY);
    if (!p) return null;
    let best: number | null = null;
    let bestD = HIT_RADIUS ** 2;
    tokens.forEach((k, i) => {
      const d = (x(k.metrics.entropy) - p.x) ** 2 + (y(k.metrics.varentropy) - p.y) ** 2;
      if (d <= bestD) {
        bestD = d;
        best = i;
      }
    });
    return best;
  };

  return (
    <figure className="chart quadrant">
      <figcaption>
        <span>Entropy × varentropy</span>
        <label className="inline-toggle">
          <input type="checkbox" checked={kind === "sqrt"} onChange={(e) => setKind(e.target.checked ? "sqrt" : "linear")} />√ scale
        </label>
        <ExportButtons svg={svgRef} name="quadrant" />
      </figcaption>
      <svg
        ref={svgRef}
        viewBox={`0 0 ${W} ${H}`}
        role="img"
        aria-label="entropy against varentropy, one point per token"
        onMouseMove={(e) => onHover(nearest(e))}
        onMouseLeave={() => onHover(null)}
        onClick={(e) => {
          const i = nearest(e);
          if (i !== null) onSelect(i);
        }}
      >
        <g>
          {regions
            .filter((r) => r.outcome !== "adaptive")
            .map((r) => (
              <rect key={r.outcome} className="region" data-outcome={r.outcome} x={r.x} y={r.y} width={r.w} height={r.h} fill={outcomeColor(r.outcome)} />
            ))}
        </g>
        <g className="grid">
          {xt.map((v) => (
            <g key={`x${v}`}>
              <line x1={x(v)} x2={x(v)} y1={y0} y2={y1} />
              <text x={x(v)} y={y0 + 14} textAnchor="middle">{fmt(v, 2)}</text>
            </g>
          ))}
          {yt.map((v) => (
            <g key={`y${v}`}>
              <line x1={x0} x2={x1} y1={y(v)} y2={y(v)} />
              <text x={x0 - 5} y={y(v) + 3} textAnchor="end">{fmt(v, 2)}</text>
            </g>
          ))}
        </g>
        <rect className="frame" x={x0} y={y1} width={x1 - x0} height={y0 - y1} />
        {t ? (
          <g className="thresholds">
            {(["low_ent", "med_ent", "high_ent"] as const).map((k) => (
              <line key={k} x1={x(t[k])} x2={x(t[k])} y1={y0} y2={y1} />
            ))}
            {(["low_vent", "high_vent"] as const).map((k) => (
              <line key={k} x1={x0} x2={x1} y1={y(t[k])} y2={y(t[k])} />
            ))}
          </g>
        ) : null}
        <polyline className="trail" points={tokens.map((k) => `${x(k.metrics.entropy)},${y(k.metrics.varentropy)}`).join(" ")} />
        {second ? (
          <g className="points second">
            {second.map((k, i) => (
              <rect
                key={i}
                className="pt-second"
                data-outcome={k.outcome}
                x={x(k.metrics.entropy) - SQUARE / 2}
                y={y(k.metrics.varentropy) - SQUARE / 2}
                width={SQUARE}
                height={SQUARE}
                stroke={outcomeColor(k.outcome)}
              />
            ))}
          </g>
        ) : null}
        <g className="points">
          {tokens.map((k, i) => {
            const o = shownOutcome(k, rc, mode);
            return (
              <circle
                key={i}
                data-index={i}
                data-outcome={o}
                className={i === hover ? "pt hover" : i === selected ? "pt selected" : "pt"}
                cx={x(k.metrics.entropy)}
                cy={y(k.metrics.varentropy)}
                r={i === hover ? 7 : 4.5}
                fill={outcomeColor(o)}
              />
            );
          })}
        </g>
        <g className="chart-labels">
          {placed.map((l) => (
            <text
              key={l.text}
              className={`${l.kind}-label`}
              data-outcome={l.outcome}
              x={l.x}
              y={l.y}
              textAnchor={l.anchor}
            >
              {l.text}
            </text>
          ))}
        </g>
        {second && names ? (
          <g className="marker-legend" transform={`translate(${x0 + 8} ${y1 + 40})`}>
            <circle cx={4} cy={-4} r={4} fill="var(--muted)" />
            <text x={12} y={0}>{names[0]}</text>
            <rect x={0} y={6} width={SQUARE} height={SQUARE} className="marker-key" stroke="var(--muted)" />
            <text x={12} y={14}>{names[1]}</text>
          </g>
        ) : null}
        <text className="axis-label" x={(x0 + x1) / 2} y={H - 6} textAnchor="middle">
          entropy H ({unit})
        </text>
        <text className="axis-label" transform={`translate(12 ${(y0 + y1) / 2}) rotate(-90)`} textAnchor="middle">
          varentropy V ({unit}²)
        </text>
      </svg>
    </figure>
  );
}
