/** The per-layer heatmap's grid, colours, zoom and its standalone SVG (drawn on a canvas in the page). */

import { layerMeans } from "./series";
import type { TokenRecord } from "./trace";

export const CELL_H = 8;
export const LABEL_W = 34;
/** Pixels per token the zoom offers. */
export const ZOOMS = [1, 2, 4, 8, 16] as const;

export interface HeatGrid {
  /** Per token, the signal's mean over heads per layer (null where the token has no arrays). */
  columns: (number[] | null)[];
  layers: number;
  lo: number;
  hi: number;
}

export function heatGrid(tokens: TokenRecord[], key: string): HeatGrid {
  const columns = tokens.map((t) => layerMeans(t, key));
  let layers = 0;
  let lo = Infinity;
  let hi = -Infinity;
  for (const c of columns) {
    if (!c) continue;
    layers = Math.max(layers, c.length);
    for (const v of c) {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
  }
  return { columns, layers, lo: Number.isFinite(lo) ? lo : 0, hi: Number.isFinite(hi) ? hi : 1 };
}

/** A dark-to-bright ramp, readable in both themes. */
export function heatColour(u: number): string {
  const t = Math.min(1, Math.max(0, u));
  return `hsl(${(250 - 200 * t).toFixed(1)} 70% ${(18 + 55 * t).toFixed(1)}%)`;
}

/** The zoom a trace opens at: its tokens across about `width` pixels, never under 2 px (then it scrolls). */
export function defaultZoom(tokens: number, width = 900): number {
  const fit = width / Math.max(1, tokens);
  return Math.max(2, [...ZOOMS].reverse().find((z) => z <= fit) ?? 2);
}

/** Every layer label on the left every few layers, every token a cell: the chart as a standalone SVG file. */
export function heatmapSvg(g: HeatGrid, key: string, zoom: number, background: string, text: string): string {
  const w = LABEL_W + g.columns.length * zoom;
  const h = g.layers * CELL_H + 14;
  const step = Math.max(1, Math.ceil(g.layers / 8));
  const parts: string[] = [];
  for (let l = 0; l < g.layers; l += step) {
    parts.push(`<text x="2" y="${l * CELL_H + CELL_H}" font-size="9" font-family="monospace" fill="${text}">L${l}</text>`);
  }
  g.columns.forEach((col, i) =>
    col?.forEach((v, l) => {
      parts.push(`<rect x="${LABEL_W + i * zoom}" y="${l * CELL_H}" width="${zoom}" height="${CELL_H}" fill="${heatColour((v - g.lo) / (g.hi - g.lo || 1))}"/>`);
    }),
  );
  parts.push(`<text x="${LABEL_W}" y="${h - 3}" font-size="9" font-family="monospace" fill="${text}">${key}: layers × ${g.columns.length} tokens, ${g.lo.toPrecision(3)} (dark) to ${g.hi.toPrecision(3)} (bright)</text>`);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}"><rect width="100%" height="100%" fill="${background}"/>${parts.join("")}</svg>`;
}
