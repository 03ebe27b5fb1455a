import { useRef, useState, type MouseEvent } from "react";
import { fmt } from "../format";
import { outcomeColor, shownOutcome, type ColourMode, type Reclassify } from "../outcomes";
import { makeScale, sqrtTicks, ticks, type ScaleKind } from "../scale";
import type { TokenRecord } from "../trace";
import { svgPoint } from "./pointer";

interface Props {
  tokens: TokenRecord[];
  rc: Reclassify | null;
  mode: ColourMode;
  hover: number | null;
  selected: number | null;
  unit: string;
  onHover: (i: number | null) => void;
  onSelect: (i: number) => void;
}

const W = 460;
const H = 400;
const M = { left: 50, right: 14, top: 14, bottom: 40 };
const HIT_RADIUS = 14;

/**
 * Entropy against varentropy, one point per token, with the threshold lines and
 * the regions each rule owns tinted. The domain always includes the thresholds
 * so the lines stay in view; a √ scale spreads out the crowded corner near zero.
 */
export function QuadrantChart({ tokens, rc, mode, hover, selected, unit, onHover, onSelect }: Props) {
  const [kind, setKind] = useState<ScaleKind>("sqrt");
  const svgRef = useRef<SVGSVGElement>(null);
  const t = rc?.now ?? null;
  const maxH = Math.max(t ? t.high_ent : 0, ...tokens.map((k) => k.metrics.entropy), 0.5) * 1.08;
  const maxV = Math.max(t ? t.high_vent : 0, ...tokens.map((k) => k.metrics.varentropy), 0.5) * 1.08;
  const x = makeScale(kind, 0, maxH, M.left, W - M.right);
  const y = makeScale(kind, 0, maxV, H - M.bottom, M.top);
  const xt = kind === "sqrt" ? sqrtTicks(maxH) : ticks(0, maxH);
  const yt = kind === "sqrt" ? sqrtTicks(maxV) : ticks(0, maxV);
  const [x0, x1, y0, y1] = [M.left, W - M.right, H - M.bottom, M.top];

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

  const region = (o: string, xa: number, xb: number, ya: number, yb: number) => (
    <rect
      key={o}
      className="region"
      x={Math.min(xa, xb)}
      y={Math.min(ya, yb)}
      width={Math.abs(xb - xa)}
      height={Math.abs(yb - ya)}
      fill={`var(--o-${o})`}
    />
  );

  return (
    <figure className="chart quadrant">
      <figcaption>
        <span>Entropy × varentropy</span>
        <label className="inline-toggle">
          <input type="checkbox" checked={kind === "sqrt"} onChange={(e) => setKind(e.target.checked ? "sqrt" : "linear")} />√ scale
        </label>
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
        {t ? (
          <g>
            {region("argmax", x0, x(t.low_ent), y0, y(t.low_vent))}
            {region("think", x(t.high_ent), x1, y0, y(t.low_vent))}
            {region("explore", x0, x(t.med_ent), y(t.high_vent), y1)}
            {region("resample", x(t.med_ent), x1, y(t.high_vent), y1)}
          </g>
        ) : null}
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
              <g key={k}>
                <line x1={x(t[k])} x2={x(t[k])} y1={y0} y2={y1} />
                <text
                  x={x(t[k]) > x1 - 50 ? x(t[k]) - 3 : x(t[k]) + 3}
                  y={y1 + 10 + (k === "med_ent" ? 10 : k === "high_ent" ? 20 : 0)}
                  textAnchor={x(t[k]) > x1 - 50 ? "end" : "start"}
                >
                  {k}
                </text>
              </g>
            ))}
            {(["low_vent", "high_vent"] as const).map((k) => (
              <g key={k}>
                <line x1={x0} x2={x1} y1={y(t[k])} y2={y(t[k])} />
                <text x={x1 - 3} y={y(t[k]) - 3} textAnchor="end">{k}</text>
              </g>
            ))}
          </g>
        ) : null}
        <g className="corner-labels">
          <text x={x0 + 6} y={y0 - 6}>Argmax</text>
          <text x={x1 - 6} y={y0 - 6} textAnchor="end">Insert thinking token</text>
          <text x={x0 + 6} y={y1 + 44}>Branch</text>
          <text x={x1 - 6} y={y1 + 44} textAnchor="end">Resample</text>
        </g>
        <polyline
          className="trail"
          points={tokens.map((k) => `${x(k.metrics.entropy)},${y(k.metrics.varentropy)}`).join(" ")}
        />
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
