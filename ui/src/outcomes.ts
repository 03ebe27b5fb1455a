/** Outcome colours, labels and the actual-versus-re-classified choice shared by every view. */

import type { ServerConfig } from "./api";
import { classify, type Thresholds } from "./classify";
import { OUTCOME_LABELS, OUTCOMES, type Outcome, type TokenRecord } from "./trace";

/** Outcomes a threshold decides; only for these is a re-classification comparable. */
const QUADRANT: ReadonlySet<Outcome> = new Set<Outcome>(["argmax", "think", "explore", "resample", "adaptive"]);

export function outcomeColor(o: Outcome): string {
  return `var(--o-${o})`;
}

export function outcomeLabel(config: ServerConfig | null, o: string): string {
  return config?.outcomes?.find((x) => x.name === o)?.label ?? OUTCOME_LABELS[o as Outcome] ?? o;
}

/** What the current thresholds would have chosen, or null when that is not comparable or unknown. */
export function reclassified(tok: TokenRecord, t: Thresholds | null): Outcome | null {
  return t && QUADRANT.has(tok.outcome) ? classify(tok.metrics, t) : null;
}

export type ColourMode = "actual" | "reclassified";

/** The outcome a chart colours a token by. */
export function shownOutcome(tok: TokenRecord, t: Thresholds | null, mode: ColourMode): Outcome {
  return mode === "reclassified" && t ? classify(tok.metrics, t) : tok.outcome;
}

export { OUTCOMES };
