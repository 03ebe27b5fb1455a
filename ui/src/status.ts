/**
 * Model and fit state for the status box: which thresholds run (fitted, published
 * or custom), a first-use fit's progress (/api/config `first_fit`, docs/api.md),
 * and the server's running and waiting generations (/health).
 */

import type { FirstFit, Health, ServerConfig } from "./api";

export type { FirstFit, Health };
import { ATTN_THRESHOLD_NAMES, THRESHOLD_NAMES } from "./classify";
import type { Settings } from "./settings";

/** Where the thresholds of the chosen preset with the user's edits come from, and the server's line about it. */
export function thresholdState(config: ServerConfig, s: Settings): { source: "fitted" | "published" | "custom" | "none"; detail: string } {
  const preset = config.presets[s.preset] ?? {};
  if (preset.greedy === true || s.method === "greedy") return { source: "none", detail: "greedy: no thresholds" };
  if (s.method === "normal") return { source: "none", detail: "normal sampling: no thresholds" };
  const edited = [...THRESHOLD_NAMES, ...ATTN_THRESHOLD_NAMES].filter((k) => k in s.overrides);
  if (edited.length) return { source: "custom", detail: `${s.preset} with ${edited.join(", ")} changed` };
  const source = preset.thresholds === "fitted" ? "fitted" : preset.thresholds === "custom" ? "custom" : "published";
  return { source, detail: config.thresholds?.[s.preset] ?? source };
}

/** A first-use fit worth showing (running, or finished this session with a result or an error), else null. */
export function firstFitLine(fit: FirstFit | null | undefined): { text: string; fraction: number | null; failed: boolean } | null {
  if (!fit || fit.state === "not_needed") return null;
  if (fit.state === "running") {
    const frac = fit.total ? (fit.done ?? 0) / fit.total : null;
    return { text: `fitting thresholds to this model: ${fit.done ?? 0} / ${fit.total ?? "?"} prompts, ${fit.tokens ?? 0} tokens; fitted presets wait`, fraction: frac, failed: false };
  }
  if (fit.state === "failed") return { text: `first-use fit failed: ${fit.error ?? "unknown error"}`, fraction: null, failed: true };
  if (fit.state === "done") return { text: `thresholds fitted on first use${fit.path ? ` (${fit.path})` : ""}`, fraction: 1, failed: false };
  return null;
}

/** Running and waiting generations: `running` from a batching server, else 1 while it is busy;
 * and how full its decode steps have run (rows per step on average), once it has stepped. */
export function queueState(
  h: Health | null,
): { running: number; waiting: number; maxBatch: number | null; meanRows: number | null } | null {
  if (!h) return null;
  const running = typeof h.running === "number" ? h.running : h.busy ? 1 : 0;
  const b = h.batching;
  const meanRows = b && typeof b.steps === "number" && b.steps > 0 && typeof b.mean_rows === "number" ? b.mean_rows : null;
  return {
    running,
    waiting: typeof h.waiting === "number" ? h.waiting : 0,
    maxBatch: typeof h.max_batch === "number" ? h.max_batch : null,
    meanRows,
  };
}
