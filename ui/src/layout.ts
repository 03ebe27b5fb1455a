/** Geometry shared by the charts, kept pure so it can be tested without a browser. */

import type { Thresholds } from "./classify";
import type { QuadrantOutcome } from "./classify";

/** n token cells tiling [left, right]: a token's point sits at its cell's centre, so no cell leaves the plot. */
export interface TokenAxis {
  width: number;
  centre(i: number): number;
  start(i: number): number;
  /** The token under a horizontal position, clamped to the tokens. */
  index(px: number): number;
}

export function tokenAxis(n: number, left: number, right: number): TokenAxis {
  const width = (right - left) / Math.max(1, n);
  return {
    width,
    start: (i) => left + i * width,
    centre: (i) => left + (i + 0.5) * width,
    index: (px) => Math.min(Math.max(0, n - 1), Math.max(0, Math.floor((px - left) / width))),
  };
}

export interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
}

export interface Region extends Box {
  outcome: QuadrantOutcome;
}

/**
 * The rectangle each quadrant rule owns in pixel space (x: entropy, y: varentropy
 * growing upwards), in the classifier's priority order; "adaptive" is the band
 * between the varentropy thresholds, where most tokens fall.
 */
export function regionBoxes(t: Thresholds, x: (v: number) => number, y: (v: number) => number, plot: { x0: number; x1: number; y0: number; y1: number }): Region[] {
  const box = (outcome: QuadrantOutcome, xa: number, xb: number, ya: number, yb: number): Region => ({
    outcome,
    x: Math.min(xa, xb),
    y: Math.min(ya, yb),
    w: Math.abs(xb - xa),
    h: Math.abs(yb - ya),
  });
  const { x0, x1, y0, y1 } = plot;
  return [
    box("argmax", x0, x(t.low_ent), y0, y(t.low_vent)),
    box("think", x(t.high_ent), x1, y0, y(t.low_vent)),
    box("explore", x0, x(t.med_ent), y(t.high_vent), y1),
    box("resample", x(t.med_ent), x1, y(t.high_vent), y1),
    box("adaptive", x0, x1, y(t.low_vent), y(t.high_vent)),
  ];
}

/** The widest stretch of [a, b] that none of the cuts falls inside: where a name sits clear of the lines. */
export function clearSpan(a: number, b: number, cuts: number[]): [number, number] {
  const edges = [a, ...cuts.filter((c) => c > a && c < b).sort((u, v) => u - v), b];
  let best: [number, number] = [a, a];
  for (let i = 1; i < edges.length; i++) if (edges[i] - edges[i - 1] > best[1] - best[0]) best = [edges[i - 1], edges[i]];
  return best;
}

/** A region's largest part between the threshold lines crossing it (x: vertical lines, y: horizontal ones). */
export function clearBox(r: Box, xs: number[], ys: number[]): Box {
  const [x0, x1] = clearSpan(r.x, r.x + r.w, xs);
  const [y0, y1] = clearSpan(r.y, r.y + r.h, ys);
  return { x: x0, y: y0, w: x1 - x0, h: y1 - y0 };
}

export interface Label {
  text: string;
  x: number;
  y: number;
  anchor: "start" | "middle" | "end";
  /** The way to move it, one step a try, when it would collide (default: a line down). */
  step?: { dx: number; dy: number };
  /** Font size in px (default 10): bigger names take more room. */
  size?: number;
}

export type Placed<L extends Label> = L & { box: Box };


/** A label's box, from its font size: about 0.65 em a character (bold or monospace), 1.25 em high (as the browser measures text). */
function labelBox(l: Label): Box {
  const size = l.size ?? 10;
  const w = l.text.length * size * 0.65;
  const x = l.anchor === "start" ? l.x : l.anchor === "end" ? l.x - w : l.x - w / 2;
  return { x, y: l.y - size, w, h: size * 1.25 };
}

function overlaps(a: Box, b: Box): boolean {
  return a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
}

/**
 * Place labels in order, moving each one a step at a time (a line down unless it
 * says otherwise; a few tries) until it overlaps no label placed before it, else
 * dropping it; earlier labels win.
 */
export function placeLabels<L extends Label>(labels: L[], tries = 5): Placed<L>[] {
  const placed: Placed<L>[] = [];
  for (const l of labels) {
    const step = l.step ?? { dx: 0, dy: Math.ceil((l.size ?? 10) * 1.25) + 1 };
    for (let k = 0; k <= tries; k++) {
      const moved = { ...l, x: l.x + k * step.dx, y: l.y + k * step.dy };
      const box = labelBox(moved);
      if (!placed.some((p) => overlaps(p.box, box))) {
        placed.push({ ...moved, box });
        break;
      }
    }
  }
  return placed;
}
