/**
 * Re-classification of already generated tokens against other thresholds, so
 * moving a threshold recolours the charts at once without regenerating.
 *
 * Mirrors `_regions` and the rule order of the server's sampler
 * (mlx_entropix/sampler/decide.py); keep the two in step. "Low" is strictly below
 * its threshold, "high" strictly above, and resample takes H >= med_ent. Only the
 * logits entropy H and varentropy V pick the region; attention signals shape the
 * parameters within it. (decide.py reports a think-region token as "adaptive" once
 * the insertion budget is spent; the region itself is still "think".)
 */

import type { Metrics, Outcome } from "./trace";

export interface Thresholds {
  low_ent: number;
  med_ent: number;
  high_ent: number;
  low_vent: number;
  high_vent: number;
}

export const THRESHOLD_NAMES = ["low_ent", "med_ent", "high_ent", "low_vent", "high_vent"] as const;

/** The quadrant outcomes classify can give (branch and sample are not threshold decisions). */
export type QuadrantOutcome = Extract<Outcome, "argmax" | "think" | "explore" | "resample" | "adaptive">;

/** Which rule the thresholds pick for a token with these metrics; the rules are checked in this order. */
export function classify(m: Pick<Metrics, "entropy" | "varentropy">, t: Thresholds): QuadrantOutcome {
  const h = m.entropy;
  const v = m.varentropy;
  if (h < t.low_ent && v < t.low_vent) return "argmax";
  if (h > t.high_ent && v < t.low_vent) return "think";
  if (h < t.med_ent && v > t.high_vent) return "explore";
  if (h >= t.med_ent && v > t.high_vent) return "resample";
  return "adaptive";
}

/** The thresholds of a sampler config (a preset or a trace's `sampler.config`), or null if any is missing. */
export function thresholdsOf(config: Record<string, unknown> | undefined | null): Thresholds | null {
  if (!config) return null;
  const out: Partial<Thresholds> = {};
  for (const k of THRESHOLD_NAMES) {
    const v = config[k];
    if (typeof v !== "number" || !Number.isFinite(v)) return null;
    out[k] = v;
  }
  return out as Thresholds;
}
