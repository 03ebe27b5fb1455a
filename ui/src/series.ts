/** Numbers the charts derive from tokens: histograms, per-layer means, and a run's summary for the compare view. */

import type { Run } from "./run";
import type { TokenRecord } from "./trace";

export interface Hist {
  edges: number[];
  counts: number[];
}

/** Equal-width bins over [0, max]; values at or past max go in the last bin. */
export function histogram(values: number[], max: number, bins = 30): Hist {
  const width = max / bins || 1;
  const counts = new Array<number>(bins).fill(0);
  for (const v of values) counts[Math.min(bins - 1, Math.max(0, Math.floor(v / width)))]++;
  return { edges: counts.map((_, i) => i * width), counts };
}

/** Per layer, the mean over heads of one per-layer array of a token (null when the token has none). */
export function layerMeans(tok: TokenRecord, key: string): number[] | null {
  const grid = tok.layers?.[key];
  if (!grid || grid.length === 0) return null;
  return grid.map((heads) => (heads.length ? heads.reduce((a, b) => a + b, 0) / heads.length : 0));
}

export interface CompareSummary {
  tokens: number;
  meanEntropy: number | null;
  meanVarentropy: number | null;
  /** Share of the tokens per outcome, 0..1. */
  shares: Record<string, number>;
  seconds: number | null;
  tokensPerSecond: number | null;
}

function mean(xs: number[]): number | null {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null;
}

/** What the compare view's summary table shows for one run. */
export function compareSummary(run: Run): CompareSummary {
  const tokens = run.trace.tokens;
  const shares: Record<string, number> = {};
  for (const t of tokens) shares[t.outcome] = (shares[t.outcome] ?? 0) + 1 / tokens.length;
  return {
    tokens: tokens.length,
    meanEntropy: mean(tokens.map((t) => t.metrics.entropy)),
    meanVarentropy: mean(tokens.map((t) => t.metrics.varentropy)),
    shares,
    seconds: run.trace.stats?.total_time_s ?? null,
    tokensPerSecond: run.trace.stats?.generation_tps ?? null,
  };
}
