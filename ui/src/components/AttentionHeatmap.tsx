import { useEffect, useRef, useState } from "react";
import { download } from "../export";
import { fmt } from "../format";
import { CELL_H, defaultZoom, heatColour, heatGrid, heatmapSvg, LABEL_W, ZOOMS } from "../heatmap";
import type { TokenRecord } from "../trace";

interface Props {
  tokens: TokenRecord[];
  focus: number | null;
  onSelect: (i: number) => void;
}

/**
 * Layers × tokens of a per-layer attention signal (mean over heads), drawn on a
 * canvas so a 2,000-token trace stays fast. Drawn at its own size (never shrunk, so
 * the layer labels stay legible): a long trace scrolls sideways, and the zoom sets
 * the pixels per token. The focused token's column is outlined and kept in view.
 */
export function AttentionHeatmap({ tokens, focus, onSelect }: Props) {
  const keys = [...new Set(tokens.flatMap((t) => Object.keys(t.layers ?? {})))];
  const [key, setKey] = useState<string | null>(null);
  const [zoomChoice, setZoom] = useState<number | null>(null);
  const active = key && keys.includes(key) ? key : (keys[0] ?? null);
  const canvasRef = useRef<HTMLCanvasElement>(null);
  const scrollRef = useRef<HTMLDivElement>(null);
  const g = active ? heatGrid(tokens, active) : { columns: [], layers: 0, lo: 0, hi: 1 };
  const zoom = zoomChoice ?? defaultZoom(tokens.length);
  const width = LABEL_W + tokens.length * zoom;

  useEffect(() => {
    const c = canvasRef.current;
    const ctx = c?.getContext("2d");
    if (!c || !ctx || !active) return;
    ctx.clearRect(0, 0, c.width, c.height);
    g.columns.forEach((col, i) => {
      col?.forEach((v, l) => {
        ctx.fillStyle = heatColour((v - g.lo) / (g.hi - g.lo || 1));
        ctx.fillRect(LABEL_W + i * zoom, l * CELL_H, zoom, CELL_H);
      });
    });
    if (focus !== null && focus < tokens.length) {
      ctx.strokeStyle = "#ff2";
      ctx.lineWidth = 2;
      ctx.strokeRect(LABEL_W + focus * zoom, 0, Math.max(2, zoom), g.layers * CELL_H);
    }
    // Layer labels last, on a band of their own at the left.
    ctx.clearRect(0, 0, LABEL_W, c.height);
    ctx.fillStyle = getComputedStyle(c).color;
    ctx.font = "9px ui-monospace, monospace";
    for (let l = 0; l < g.layers; l += Math.max(1, Math.ceil(g.layers / 8))) ctx.fillText(`L${l}`, 2, l * CELL_H + CELL_H);
  });

  // Keep the focused token's column in view when the trace is wider than the box.
  useEffect(() => {
    const box = scrollRef.current;
    if (!box || focus === null) return;
    const x = LABEL_W + focus * zoom;
    if (x < box.scrollLeft + LABEL_W || x > box.scrollLeft + box.clientWidth - zoom) box.scrollLeft = Math.max(0, x - box.clientWidth / 2);
  }, [focus, zoom]);

  if (!keys.length) {
    return (
      <figure className="chart heatmap" data-testid="heatmap-empty">
        <figcaption><span>Per-layer attention</span></figcaption>
        <p className="muted">
          This run has no per-layer arrays. Tick “per-layer attention” in the settings before Generate (or run{" "}
          <code>mlx_main.py --layers --trace FILE</code>) for a layers × tokens heatmap here.
        </p>
      </figure>
    );
  }
  const saveSvg = () => {
    const cs = getComputedStyle(document.body);
    download(`heatmap-${active}.svg`, new Blob([heatmapSvg(g, active!, zoom, cs.backgroundColor, cs.color)], { type: "image/svg+xml" }));
  };
  return (
    <figure className="chart heatmap" data-testid="heatmap">
      <figcaption>
        <span>Per-layer attention</span>
        <select value={active ?? ""} onChange={(e) => setKey(e.target.value)} aria-label="per-layer signal">
          {keys.map((k) => (
            <option key={k} value={k}>{k}</option>
          ))}
        </select>
        <label className="muted">
          zoom{" "}
          <select value={zoom} onChange={(e) => setZoom(Number(e.target.value))} name="heatmap-zoom" aria-label="pixels per token">
            {ZOOMS.map((z) => <option key={z} value={z}>{z} px/token</option>)}
          </select>
        </label>
        <span className="export" data-testid="export-heatmap">
          <button className="link" onClick={saveSvg} title="save this chart as SVG">SVG</button>
          <button className="link" onClick={() => canvasRef.current?.toBlob((b) => b && download(`heatmap-${active}.png`, b))} title="save this chart as PNG">PNG</button>
        </span>
      </figcaption>
      <p className="muted chart-note">
        {g.layers} layers × {tokens.length} tokens, mean over heads, {fmt(g.lo)} (dark) to {fmt(g.hi)} (bright)
      </p>
      <div className="heatmap-scroll" ref={scrollRef} data-testid="heatmap-scroll">
        {/* The layer names stay at the left edge while the tokens scroll under them. */}
        <div className="heatmap-labels" data-testid="heatmap-labels" style={{ width: LABEL_W, marginRight: -LABEL_W, height: g.layers * CELL_H }}>
          {Array.from({ length: g.layers }, (_, l) => l)
            .filter((l) => l % Math.max(1, Math.ceil(g.layers / 8)) === 0)
            .map((l) => (
              <span key={l} style={{ top: l * CELL_H }}>L{l}</span>
            ))}
        </div>
        <canvas
          ref={canvasRef}
          width={width}
          height={g.layers * CELL_H}
          style={{ width, height: g.layers * CELL_H }}
          data-layers={g.layers}
          onClick={(e) => {
            const r = e.currentTarget.getBoundingClientRect();
            const i = Math.floor((e.clientX - r.left - LABEL_W) / zoom);
            if (i >= 0 && i < tokens.length) onSelect(i);
          }}
        />
      </div>
    </figure>
  );
}
