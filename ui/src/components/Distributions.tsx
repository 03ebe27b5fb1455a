import { useRef } from "react";
import type { Thresholds } from "../classify";
import { fmt } from "../format";
import { makeScale, ticks } from "../scale";
import { histogram } from "../series";
import type { TokenRecord } from "../trace";
import { ExportButtons } from "./ExportButtons";

interface Props {
  tokens: TokenRecord[];
  thresholds: Thresholds | null;
  unit: string;
}

const W = 460;
const ROW_H = 110;
const M = { left: 40, right: 12, top: 18, bottom: 26 };
const ROWS = [
  { metric: "entropy" as const, label: "entropy", lines: ["low_ent", "med_ent", "high_ent"] as const, unit: (u: string) => u },
  { metric: "varentropy" as const, label: "varentropy", lines: ["low_vent", "high_vent"] as const, unit: (u: string) => `${u}²` },
];

/** How the run's entropy and varentropy are distributed, with the thresholds that cut them. */
export function Distributions({ tokens, thresholds, unit }: Props) {
  const svgRef = useRef<SVGSVGElement>(null);
  const height = ROWS.length * (ROW_H + M.top + M.bottom);
  return (
    <figure className="chart distributions">
      <figcaption>
        <span>Distributions</span>
        <span className="muted">{tokens.length} tokens, thresholds dashed</span>
        <ExportButtons svg={svgRef} name="distributions" />
      </figcaption>
      <svg ref={svgRef} viewBox={`0 0 ${W} ${height}`} role="img" aria-label="histograms of entropy and varentropy">
        {ROWS.map((row, r) => {
          const top = r * (ROW_H + M.top + M.bottom) + M.top;
          const values = tokens.map((t) => t.metrics[row.metric]);
          const lines = thresholds ? row.lines.map((k) => ({ name: k, v: thresholds[k] })) : [];
          const max = Math.max(0.5, ...values, ...lines.map((l) => l.v)) * 1.05;
          const h = histogram(values, max);
          const x = makeScale("linear", 0, max, M.left, W - M.right);
          const y = makeScale("linear", 0, Math.max(1, ...h.counts), top + ROW_H, top);
          const bw = x(h.edges[1] ?? max) - x(0);
          return (
            <g key={row.metric} className="hist" data-metric={row.metric}>
              <text className="tl-label" x={M.left} y={top - 5}>{row.label} ({row.unit(unit)})</text>
              {h.counts.map((c, i) =>
                c ? <rect key={i} className="bar" x={x(h.edges[i]) + 0.5} y={y(c)} width={Math.max(0.5, bw - 1)} height={top + ROW_H - y(c)} /> : null,
              )}
              <line className="axis" x1={M.left} x2={W - M.right} y1={top + ROW_H} y2={top + ROW_H} />
              {ticks(0, max).map((v) => (
                <text key={v} className="tick" x={x(v)} y={top + ROW_H + 12} textAnchor="middle">{fmt(v, 2)}</text>
              ))}
              <text className="tick" x={M.left - 4} y={top + 8} textAnchor="end">{Math.max(1, ...h.counts)}</text>
              {lines.map((l, j) => (
                <g key={l.name} className="thresholds" data-threshold={l.name}>
                  <line x1={x(l.v)} x2={x(l.v)} y1={top} y2={top + ROW_H} />
                  {/* Left of its line near the right edge, so the name is never clipped. */}
                  <text className="threshold-label" x={x(l.v) > W - M.right - 60 ? x(l.v) - 2 : x(l.v) + 2} y={top + 8 + 10 * j}
                    textAnchor={x(l.v) > W - M.right - 60 ? "end" : "start"}>{l.name}</text>
                </g>
              ))}
            </g>
          );
        })}
      </svg>
    </figure>
  );
}
