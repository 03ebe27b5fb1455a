/** Outcome colours, labels and the actual-versus-re-classified choice shared by every view. */

import type { ServerConfig } from "./api";
import { classify, type Thresholds } from "./classify";
import { OUTCOME_LABELS, OUTCOMES, type Outcome, type TokenRecord } from "./trace";

export function outcomeColor(o: Outcome): string {
  return `var(--o-${o})`;
}

export function outcomeLabel(config: ServerConfig | null, o: string): string {
  return config?.outcomes?.find((x) => x.name === o)?.label ?? OUTCOME_LABELS[o as Outcome] ?? o;
}

/** What re-classification compares against: the thresholds now, and those the run was made with. */
export interface Reclassify {
  now: Thresholds;
  /** The run's own thresholds (its sampler config), to recognise a think-region token whose insertion budget was spent. */
  ran: Thresholds | null;
  /** The sampler's branch_fraction: a branch also opens where H > f·high_ent and V > f·high_vent. */
  branchFraction: number;
}

/**
 * What the current thresholds would have chosen for a token, or null when that is
 * not a threshold decision (plain sampling, or an inserted think-text token).
 *
 * Mirrors decide.py: a branch point stays a branch while its branch condition
 * (explore region, or both H and V above branch_fraction of the high thresholds,
 * outside the think and argmax regions) still holds; an "adaptive" token in the think region
 * of the run's own thresholds was a think whose budget was spent, so it stays
 * adaptive while the new thresholds keep it there. Re-classification never
 * invents a branch (a branch's continuation tokens are not branch points).
 */
export function reclassified(tok: TokenRecord, r: Reclassify | null): Outcome | null {
  if (!r || tok.outcome === "sample" || tok.inserted) return null;
  const region = classify(tok.metrics, r.now);
  if (tok.outcome === "branch") {
    const f = r.branchFraction;
    const bothHigh = tok.metrics.entropy > f * r.now.high_ent && tok.metrics.varentropy > f * r.now.high_vent;
    return region === "explore" || (bothHigh && region !== "think" && region !== "argmax") ? "branch" : region;
  }
  if (tok.outcome === "adaptive" && region === "think" && r.ran && classify(tok.metrics, r.ran) === "think") return "adaptive";
  return region;
}

export type ColourMode = "actual" | "reclassified";

/** The outcome a chart colours a token by: the same verdict the changed-count counts. */
export function shownOutcome(tok: TokenRecord, r: Reclassify | null, mode: ColourMode): Outcome {
  return mode === "reclassified" ? (reclassified(tok, r) ?? tok.outcome) : tok.outcome;
}

/** How many tokens the current thresholds would decide differently. */
export function changedCount(tokens: TokenRecord[], r: Reclassify | null): number {
  return tokens.filter((t) => shownOutcome(t, r, "reclassified") !== t.outcome).length;
}

export { OUTCOMES };
