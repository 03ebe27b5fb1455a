/**
 * Re-classification of already generated tokens against other thresholds, so
 * moving a threshold recolours the charts at once without regenerating.
 *
 * The regions are not written here: `decision_rule.json` is the sampler's own
 * table (`REGION_RULES` of mlx_entropix/sampler/decide.py, written by
 * ui/scripts/decision_fixture.py and checked against it by
 * tests/test_ui_decisions.py). For each gating it lists, per rule in the order
 * the rules are checked, the conditions (signal, comparison, threshold field)
 * that must all hold; a token in none of them is adaptive. Quadrant gating looks
 * at entropy and varentropy only; frog gating at all six signals.
 * (decide.py reports a think-region token as "adaptive" once the insertion budget
 * is spent; the region itself is still "think".)
 */

import rule from "./decision_rule.json";
import type { Metrics, Outcome } from "./trace";

/** The entropy and varentropy thresholds the charts draw. */
export const THRESHOLD_NAMES = ["low_ent", "med_ent", "high_ent", "low_vent", "high_vent"] as const;
/** Frog gating's thresholds on the four attention signals. */
export const ATTN_THRESHOLD_NAMES = [
  "low_attn_ent", "high_attn_ent", "low_attn_vent", "high_attn_vent", "low_agree", "high_agree", "low_int", "high_int",
] as const;
export type ThresholdName = (typeof THRESHOLD_NAMES)[number];
export type AttnThresholdName = (typeof ATTN_THRESHOLD_NAMES)[number];

/** What decides a token's region: the gating and its thresholds (a sampler config's). */
export type Thresholds = Record<ThresholdName, number> & {
  gating: string;
  /** Frog's attention thresholds (absent under quadrant gating when a config lacks them). */
  attention: Partial<Record<AttnThresholdName, number>>;
  /** Greedy: every token is argmax, whatever the thresholds. */
  greedy: boolean;
};

/** The quadrant outcomes classify can give (branch and sample are not threshold decisions). */
export type QuadrantOutcome = Extract<Outcome, "argmax" | "think" | "explore" | "resample" | "adaptive">;

type Condition = [string, string, string];
interface DecisionRule {
  order: QuadrantOutcome[];
  fallback: QuadrantOutcome;
  gatings: Record<string, Record<string, Condition[]>>;
}
export const DECISION_RULE = rule as unknown as DecisionRule;
export const GATINGS = Object.keys(DECISION_RULE.gatings);

type Signals = Pick<Metrics, "entropy" | "varentropy"> & Partial<Metrics>;

function thresholdValue(t: Thresholds, field: string): number | undefined {
  return (THRESHOLD_NAMES as readonly string[]).includes(field) ? t[field as ThresholdName] : t.attention[field as AttnThresholdName];
}

/** One condition, compared as the sampler compares: a float32 signal against the float32 threshold. */
function holds([signal, op, field]: Condition, m: Signals, t: Thresholds): boolean {
  const raw = m[signal as keyof Metrics];
  const v = thresholdValue(t, field);
  if (typeof raw !== "number" || v === undefined) return false;
  const x = Math.fround(raw);
  const y = Math.fround(v);
  return op === "<" ? x < y : op === ">" ? x > y : op === ">=" ? x >= y : false;
}

/** Which rule the thresholds pick for a token with these signals; the rules are checked in order. */
export function classify(m: Signals, t: Thresholds): QuadrantOutcome {
  if (t.greedy) return "argmax";
  const rules = DECISION_RULE.gatings[t.gating] ?? DECISION_RULE.gatings.quadrant;
  for (const name of DECISION_RULE.order) {
    if (rules[name].every((c) => holds(c, m, t))) return name;
  }
  return DECISION_RULE.fallback;
}

/**
 * The thresholds of a sampler config (a preset or a trace's `sampler.config`), or
 * null if any it needs is missing: the five entropy/varentropy ones always, the
 * attention ones under frog gating.
 */
export function thresholdsOf(config: Record<string, unknown> | undefined | null): Thresholds | null {
  if (!config) return null;
  const num = (k: string) => {
    const v = config[k];
    return typeof v === "number" && Number.isFinite(v) ? v : undefined;
  };
  const gating = typeof config.gating === "string" ? config.gating : "quadrant";
  if (!(gating in DECISION_RULE.gatings)) return null;
  const out: Partial<Record<ThresholdName, number>> = {};
  for (const k of THRESHOLD_NAMES) {
    const v = num(k);
    if (v === undefined) return null;
    out[k] = v;
  }
  const attention: Thresholds["attention"] = {};
  for (const k of ATTN_THRESHOLD_NAMES) {
    const v = num(k);
    if (v === undefined && gating !== "quadrant") return null;
    if (v !== undefined) attention[k] = v;
  }
  return { ...(out as Record<ThresholdName, number>), gating, attention, greedy: config.greedy === true };
}
