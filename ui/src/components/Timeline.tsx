import { useRef, type MouseEvent } from "react";
import { rowTop } from "../format";
import { outcomeColor, shownOutcome, type ColourMode, type Reclassify } from "../outcomes";
import { tokenAxis } from "../layout";
import { makeScale } from "../scale";
import type { MetricName, TokenRecord } from "../trace";
import type { ThresholdName } from "../classify";
import { ExportButtons } from "./ExportButtons";
import { svgPoint } from "./pointer";

interface Props {
  tokens: TokenRecord[];
  rc: Reclassify | null;
  mode: ColourMode;
  hover: number | null;
  unit: string;
  onHover: (i: number | null) => void;
  onSelect: (i: number) => void;
}

interface Row {
  metric: MetricName;
  label: string;
  lines: ThresholdName[];
  note?: string;
}

const ROWS: Row[] = [
  { metric: "entropy", label: "entropy", lines: ["low_ent", "med_ent", "high_ent"] },
  { metric: "varentropy", label: "varentropy", lines: ["low_vent", "high_vent"] },
  { metric: "attn_entropy", label: "attn entropy", lines: [] },
  { metric: "attn_varentropy", label: "attn varentropy", lines: [] },
  { metric: "agreement", label: "agreement", lines: [], note: "∝ 1/context len" },
  { metric: "interaction_strength", label: "interaction", lines: [] },
];

const W = 640;
const ROW_H = 54;
const GAP = 8;
const STRIP_H = 14;
const M = { left: 92, right: 12, top: 6 };

/** Per-token metrics as small multiples, each on its own y scale, sharing the token axis and the hover line. */
export function Timeline({ tokens, rc, mode, hover, unit, onHover, onSelect }: Props) {
  const svgRef = useRef<SVGSVGElement>(null);
  const thresholds = rc?.now ?? null;
  const n = tokens.length;
  const axis = tokenAxis(n, M.left, W - M.right);
  const x = axis.centre;
  const stripY = M.top + ROWS.length * (ROW_H + GAP);
  const height = stripY + STRIP_H + 18;

  const indexAt = (e: MouseEvent): number | null => {
    const p = svgRef.current && svgPoint(svgRef.current, e.clientX, e.clientY);
    if (!p || n === 0 || p.x < M.left) return null;
    return axis.index(p.x);
  };

  return (
    <figure className="chart timeline">
      <figcaption>
        <span>Per-token signals</span>
        <span className="muted">{unit}; each row its own scale</span>
        <ExportButtons svg={svgRef} name="timeline" />
      </figcaption>
      <svg
        ref={svgRef}
        viewBox={`0 0 ${W} ${height}`}
        role="img"
        aria-label="per-token metrics over the generated tokens"
        onMouseMove={(e) => onHover(indexAt(e))}
        onMouseLeave={() => onHover(null)}
        onClick={(e) => {
          const i = indexAt(e);
          if (i !== null) onSelect(i);
        }}
      >
        {ROWS.map((row, r) => {
          const top = M.top + r * (ROW_H + GAP);
          const values = tokens.map((k) => k.metrics[row.metric]);
          const lines = thresholds ? row.lines.map((l) => ({ name: l, v: thresholds[l] })) : [];
          const lo = Math.min(0, ...values);
          const { hi, label } = rowTop(values, lines.map((l) => l.v), lo);
          const y = makeScale("linear", lo, hi, top + ROW_H, top + 4);
          const path = values.map((v, i) => `${i ? "L" : "M"}${x(i)},${y(v)}`).join("");
          return (
            <g key={row.metric} className="tl-row" data-metric={row.metric}>
              <rect className="frame" x={M.left} y={top} width={W - M.left - M.right} height={ROW_H} />
              <text className="tl-label" x={M.left - 6} y={top + 16} textAnchor="end">{row.label}</text>
              <text className="tl-range" x={M.left - 6} y={top + 30} textAnchor="end">{label}</text>
              {row.note ? <text className="tl-note" x={M.left - 6} y={top + 44} textAnchor="end">{row.note}</text> : null}
              {lines.map((l, j) => (
                <g key={l.name} className="thresholds">
                  <line x1={M.left} x2={W - M.right} y1={y(l.v)} y2={y(l.v)} />
                  <text x={W - M.right - 3 - j * 56} y={y(l.v) - 2 < top + 8 ? y(l.v) + 9 : y(l.v) - 2} textAnchor="end">
                    {l.name}
                  </text>
                </g>
              ))}
              <path className="tl-line" d={path} />
              {n <= 200
                ? values.map((v, i) => (
                    <circle key={i} cx={x(i)} cy={y(v)} r={1.8} fill={outcomeColor(shownOutcome(tokens[i], rc, mode))} />
                  ))
                : null}
            </g>
          );
        })}
        <g className="strip">
          {tokens.map((k, i) => (
            <rect
              key={i}
              data-index={i}
              x={axis.start(i)}
              y={stripY}
              width={axis.width}
              height={STRIP_H}
              fill={outcomeColor(shownOutcome(k, rc, mode))}
            />
          ))}
          <text className="tl-label" x={M.left - 6} y={stripY + 11} textAnchor="end">outcome</text>
          <text className="tl-range" x={W - M.right} y={stripY + STRIP_H + 13} textAnchor="end">token {Math.max(0, n - 1)}</text>
          <text className="tl-range" x={M.left} y={stripY + STRIP_H + 13}>token 0</text>
        </g>
        {hover !== null && hover < n ? <line className="hover-line" x1={x(hover)} x2={x(hover)} y1={M.top} y2={stripY + STRIP_H} /> : null}
      </svg>
      <p className="chart-note muted">
        Agreement is a mean over all keys, so it shrinks like 1/context length: compare it within one run, not across prompt lengths.
      </p>
    </figure>
  );
}
