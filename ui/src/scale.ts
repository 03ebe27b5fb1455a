/** Minimal scales and ticks for the hand-written SVG charts. */

export type ScaleKind = "linear" | "sqrt";

export interface Scale {
  (v: number): number;
  invert(px: number): number;
}

/** Maps [0, max] (or [min, max]) onto [r0, r1]; sqrt spreads out the crowded low region. */
export function makeScale(kind: ScaleKind, d0: number, d1: number, r0: number, r1: number): Scale {
  const f = kind === "sqrt" ? (v: number) => Math.sqrt(Math.max(0, v)) : (v: number) => v;
  const g = kind === "sqrt" ? (u: number) => u * u : (u: number) => u;
  const a = f(d0);
  const span = f(d1) - a || 1;
  const s = ((v: number) => r0 + ((f(v) - a) / span) * (r1 - r0)) as Scale;
  s.invert = (px: number) => g(a + ((px - r0) / (r1 - r0 || 1)) * span);
  return s;
}

/** About `count` round tick values within [d0, d1]. */
export function ticks(d0: number, d1: number, count = 5): number[] {
  if (!(d1 > d0)) return [d0];
  const raw = (d1 - d0) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(d0 / step) * step; v <= d1 + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

/** Ticks that look evenly spread on a sqrt axis: 1-2-5 values, thinned where they crowd. */
export function sqrtTicks(max: number, count = 6): number[] {
  const cands = [0];
  for (let e = -2; 10 ** e <= max; e++) for (const m of [1, 2, 5]) if (m * 10 ** e <= max) cands.push(Number((m * 10 ** e).toPrecision(6)));
  const minGap = Math.sqrt(max) / (count + 1);
  const out: number[] = [];
  for (const c of cands) if (out.length === 0 || Math.sqrt(c) - Math.sqrt(out[out.length - 1]) >= minGap) out.push(c);
  return out;
}
