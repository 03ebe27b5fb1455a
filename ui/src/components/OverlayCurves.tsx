import { useRef, useState, type MouseEvent } from "react";
import type { Thresholds } from "../classify";
import { fmt } from "../format";
import { tokenAxis } from "../layout";
import { makeScale } from "../scale";
import type { TokenRecord } from "../trace";
import { ExportButtons } from "./ExportButtons";
import { svgPoint } from "./pointer";

export interface Curve {
  name: string;
  tokens: TokenRecord[];
  className: string;
}

interface Props {
  curves: Curve[];
  thresholds: Thresholds | null;
  unit: string;
}

const W = 900;
const ROW_H = 120;
const GAP = 26;
const M = { left: 84, right: 12, top: 20 };

const ROWS = [
  { metric: "entropy" as const, lines: ["low_ent", "med_ent", "high_ent"] as const, unit: (u: string) => u },
  { metric: "varentropy" as const, lines: ["low_vent", "high_vent"] as const, unit: (u: string) => `${u}²` },
];

/** Entropy and varentropy of several runs overlaid on one token axis, with the thresholds; hover reads every run at that token. */
export function OverlayCurves({ curves, thresholds, unit }: Props) {
  const svgRef = useRef<SVGSVGElement>(null);
  const [hover, setHover] = useState<number | null>(null);
  const n = Math.max(1, ...curves.map((c) => c.tokens.length));
  const axis = tokenAxis(n, M.left, W - M.right);
  const height = M.top + ROWS.length * (ROW_H + GAP);
  const onMove = (e: MouseEvent) => {
    const p = svgRef.current && svgPoint(svgRef.current, e.clientX, e.clientY);
    setHover(p && p.x >= M.left ? axis.index(p.x) : null);
  };
  return (
    <figure className="chart overlay" data-testid="overlay-curves">
      <figcaption>
        <span>Entropy and varentropy, token by token</span>
        <span className="legend-lines">
          {curves.map((c) => (
            <span key={c.name} className={`legend-line ${c.className}`}>
              <svg width="22" height="8" aria-hidden="true"><line x1="0" x2="22" y1="4" y2="4" /></svg>
              {c.name}
            </span>
          ))}
        </span>
        <ExportButtons svg={svgRef} name="compare-curves" />
      </figcaption>
      <svg ref={svgRef} viewBox={`0 0 ${W} ${height}`} role="img" aria-label="entropy and varentropy of both runs over the tokens" onMouseMove={onMove} onMouseLeave={() => setHover(null)}>
        {ROWS.map((row, r) => {
          const top = M.top + r * (ROW_H + GAP);
          const lines = thresholds ? row.lines.map((k) => ({ name: k, v: thresholds[k] })) : [];
          const hi = Math.max(0.5, ...curves.flatMap((c) => c.tokens.map((t) => t.metrics[row.metric])), ...lines.map((l) => l.v)) * 1.05;
          const y = makeScale("linear", 0, hi, top + ROW_H, top);
          return (
            <g key={row.metric} data-metric={row.metric}>
              <rect className="frame" x={M.left} y={top} width={W - M.left - M.right} height={ROW_H} />
              <text className="tl-label" x={M.left - 6} y={top + 14} textAnchor="end">{row.metric}</text>
              <text className="tl-range" x={M.left - 6} y={top + 28} textAnchor="end">{row.unit(unit)}</text>
              <text className="tl-range" x={M.left - 6} y={top + ROW_H} textAnchor="end">0</text>
              <text className="tl-range" x={M.left - 6} y={top + 40} textAnchor="end">max {fmt(hi, 2)}</text>
              {lines.map((l, j) => (
                <g key={l.name} className="thresholds">
                  <line x1={M.left} x2={W - M.right} y1={y(l.v)} y2={y(l.v)} />
                  <text className="threshold-label" x={W - M.right - 3 - j * 56} y={y(l.v) - 2} textAnchor="end">{l.name}</text>
                </g>
              ))}
              {curves.map((c) => (
                <path
                  key={c.name}
                  className={`curve ${c.className}`}
                  data-run={c.name}
                  d={c.tokens.map((t, i) => `${i ? "L" : "M"}${axis.centre(i)},${y(t.metrics[row.metric])}`).join("")}
                />
              ))}
              {hover !== null
                ? curves.map((c, k) =>
                    hover < c.tokens.length ? (
                      <text key={c.name} className={`hover-value ${c.className}`} x={M.left + 4} y={top + 12 + 12 * k}>
                        {c.name} #{hover}: {fmt(c.tokens[hover].metrics[row.metric])}
                      </text>
                    ) : null,
                  )
                : null}
            </g>
          );
        })}
        <text className="tl-range" x={M.left} y={height - 4}>token 0</text>
        <text className="tl-range" x={W - M.right} y={height - 4} textAnchor="end">token {n - 1}</text>
        {hover !== null ? <line className="hover-line" x1={axis.centre(hover)} x2={axis.centre(hover)} y1={M.top} y2={height - GAP} /> : null}
      </svg>
    </figure>
  );
}
