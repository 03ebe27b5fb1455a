import { useEffect, useRef, useState } from "react";
import { fmt } from "../format";
import { download } from "../export";
import { layerMeans } from "../series";
import type { TokenRecord } from "../trace";

interface Props {
  tokens: TokenRecord[];
  focus: number | null;
  onSelect: (i: number) => void;
}

const CELL_H = 8;
const LABEL_W = 34;

/** A dark-to-bright ramp, readable in both themes. */
function colour(u: number): string {
  const t = Math.min(1, Math.max(0, u));
  return `hsl(${250 - 200 * t} 70% ${18 + 55 * t}%)`;
}

/**
 * Layers × tokens of a per-layer attention signal (mean over heads), drawn on a
 * canvas so a 2,000-token trace stays fast; the focused token's column is outlined.
 */
export function AttentionHeatmap({ tokens, focus, onSelect }: Props) {
  const keys = [...new Set(tokens.flatMap((t) => Object.keys(t.layers ?? {})))];
  const [key, setKey] = useState<string | null>(null);
  const active = key && keys.includes(key) ? key : (keys[0] ?? null);
  const canvasRef = useRef<HTMLCanvasElement>(null);
  const columns = active ? tokens.map((t) => layerMeans(t, active)) : [];
  const layers = Math.max(0, ...columns.map((c) => c?.length ?? 0));
  const flat = columns.flatMap((c) => c ?? []);
  const lo = flat.length ? Math.min(...flat) : 0;
  const hi = flat.length ? Math.max(...flat) : 1;
  const width = Math.max(300, Math.min(1200, tokens.length * 6));
  const cw = (width - LABEL_W) / Math.max(1, tokens.length);

  useEffect(() => {
    const c = canvasRef.current;
    const ctx = c?.getContext("2d");
    if (!c || !ctx || !active) return;
    ctx.clearRect(0, 0, c.width, c.height);
    ctx.fillStyle = getComputedStyle(c).color;
    ctx.font = "9px ui-monospace, monospace";
    for (let l = 0; l < layers; l += Math.max(1, Math.ceil(layers / 8))) ctx.fillText(`L${l}`, 2, l * CELL_H + CELL_H);
    columns.forEach((col, i) => {
      col?.forEach((v, l) => {
        ctx.fillStyle = colour((v - lo) / (hi - lo || 1));
        ctx.fillRect(LABEL_W + i * cw, l * CELL_H, Math.ceil(cw), CELL_H);
      });
    });
    if (focus !== null && focus < tokens.length) {
      ctx.strokeStyle = "#ff2";
      ctx.lineWidth = 2;
      ctx.strokeRect(LABEL_W + focus * cw, 0, Math.max(2, cw), layers * CELL_H);
    }
  });

  if (!keys.length) {
    return (
      <figure className="chart heatmap" data-testid="heatmap-empty">
        <figcaption><span>Per-layer attention</span></figcaption>
        <p className="muted">
          This run has no per-layer arrays. Traces written with per-layer metrics (GenerationOptions(layers=True)) show a
          layers × tokens heatmap here.
        </p>
      </figure>
    );
  }
  return (
    <figure className="chart heatmap" data-testid="heatmap">
      <figcaption>
        <span>Per-layer attention</span>
        <select value={active ?? ""} onChange={(e) => setKey(e.target.value)} aria-label="per-layer signal">
          {keys.map((k) => (
            <option key={k} value={k}>{k}</option>
          ))}
        </select>
        <span className="muted">
          {layers} layers × {tokens.length} tokens, mean over heads, {fmt(lo)} (dark) to {fmt(hi)} (bright)
        </span>
        <button className="link export" onClick={() => canvasRef.current?.toBlob((b) => b && download(`heatmap-${active}.png`, b))}>PNG</button>
      </figcaption>
      <canvas
        ref={canvasRef}
        width={width}
        height={layers * CELL_H}
        style={{ width: "100%", maxWidth: width, imageRendering: "pixelated" }}
        data-layers={layers}
        onClick={(e) => {
          const r = e.currentTarget.getBoundingClientRect();
          const px = ((e.clientX - r.left) / r.width) * width;
          const i = Math.floor((px - LABEL_W) / cw);
          if (i >= 0 && i < tokens.length) onSelect(i);
        }}
      />
    </figure>
  );
}
