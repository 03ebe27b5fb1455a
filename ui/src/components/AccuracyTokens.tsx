import { useRef, useState } from "react";
import type { EvalRun } from "../api";
import { accuracyPoints, budgetCurves } from "../evals";
import { fmt, pct } from "../format";
import { makeScale, ticks } from "../scale";
import { ExportButtons } from "./ExportButtons";

const W = 640;
const H = 320;
const M = { left: 48, right: 110, top: 14, bottom: 40 };

/** Each method of an eval run as a point, accuracy with its 95% CI against mean tokens per question; a multi-trace method's budgets joined in order of k. */
export function AccuracyTokens({ run }: { run: EvalRun }) {
  const svgRef = useRef<SVGSVGElement>(null);
  const categories = Object.keys(run.summary.categories ?? {});
  const [category, setCategory] = useState<string | null>(null);
  const points = accuracyPoints(run, category);
  const curves = budgetCurves(points);
  const maxTokens = Math.max(1, ...points.map((p) => p.meanTokens)) * 1.08;
  const x = makeScale("linear", 0, maxTokens, M.left, W - M.right);
  const y = makeScale("linear", 0, 1, H - M.bottom, M.top);
  const n = points[0]?.n;
  return (
    <figure className="chart accuracy-tokens" data-testid="accuracy-tokens">
      <figcaption>
        <span>Accuracy against tokens</span>
        <span className="muted">{n !== undefined ? `${n} questions` : "no methods"}; bars: 95% CI{curves.length ? "; lines join budgets k" : ""}</span>
        <select value={category ?? ""} onChange={(e) => setCategory(e.target.value || null)} name="accuracy-category" aria-label="category">
          <option value="">all categories</option>
          {categories.map((c) => <option key={c} value={c}>{c}</option>)}
        </select>
        <ExportButtons svg={svgRef} name="accuracy-tokens" />
      </figcaption>
      <svg ref={svgRef} viewBox={`0 0 ${W} ${H}`} role="img" aria-label="accuracy against mean tokens per question">
        <line className="axis" x1={M.left} x2={W - M.right} y1={H - M.bottom} y2={H - M.bottom} />
        <line className="axis" x1={M.left} x2={M.left} y1={M.top} y2={H - M.bottom} />
        {ticks(0, maxTokens).map((v) => (
          <text key={`x${v}`} className="tick" x={x(v)} y={H - M.bottom + 14} textAnchor="middle">{fmt(v, 3)}</text>
        ))}
        {[0, 0.25, 0.5, 0.75, 1].map((v) => (
          <g key={`y${v}`}>
            <line className="grid" x1={M.left} x2={W - M.right} y1={y(v)} y2={y(v)} />
            <text className="tick" x={M.left - 4} y={y(v) + 3} textAnchor="end">{pct(v)}</text>
          </g>
        ))}
        <text className="tl-label" x={(M.left + W - M.right) / 2} y={H - 6} textAnchor="middle">mean tokens per question</text>
        <text className="tl-label" transform={`translate(12 ${(M.top + H - M.bottom) / 2}) rotate(-90)`} textAnchor="middle">accuracy</text>
        {curves.map((c) => (
          <path key={c.family} className="budget-curve" data-family={c.family} fill="none"
            d={c.points.map((p, i) => `${i ? "L" : "M"}${x(p.meanTokens).toFixed(1)},${y(p.accuracy).toFixed(1)}`).join("")} />
        ))}
        {points.map((p) => (
          <g key={p.method} className="method-point" data-method={p.method}>
            <title>{`${p.method}: ${pct(p.accuracy)} [${pct(p.ci95[0])}, ${pct(p.ci95[1])}], ${fmt(p.meanTokens)} tokens per question`}</title>
            <line className="ci" x1={x(p.meanTokens)} x2={x(p.meanTokens)} y1={y(p.ci95[0])} y2={y(p.ci95[1])} />
            <circle cx={x(p.meanTokens)} cy={y(p.accuracy)} r={4} />
            <text className="point-label" x={x(p.meanTokens) + 6} y={y(p.accuracy) + 3}>{p.k !== null ? `${p.family} k=${p.k}` : p.method}</text>
          </g>
        ))}
      </svg>
    </figure>
  );
}
