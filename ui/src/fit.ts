/** What the threshold fit does, in words, and when its result cannot separate the rules. */

import type { ServerConfig } from "./api";
import { pct } from "./format";

/** The fit as the server runs it (/api/calibrate, the CLI's `calibrate`). */
export function fitDescription(config: Pick<ServerConfig, "fit_targets">): string {
  const t = config.fit_targets;
  const shares = t
    ? `argmax on ${pct(t.argmax)} of them, high varentropy on ${pct(t.high_vent)}, ${pct(t.explore)} of those explore rather than resample`
    : "each rule takes its target share of them";
  return `Generates greedy answers to the first prompts of the built-in set and sets the thresholds so that, on those tokens, ${shares} (as \`mlx_main.py calibrate\`).`;
}

/** Why fitted thresholds leave rules indistinguishable (equal thresholds), or null when they do not. */
export function degenerateFit(config: Record<string, unknown>): string | null {
  const v = (k: string) => Number(config[k]);
  const problems: string[] = [];
  const ent = ["low_ent", "med_ent", "high_ent"];
  if (v("low_ent") === v("high_ent")) problems.push(`${ent.join(", ")} are all ${v("low_ent").toPrecision(3)}`);
  else if (v("low_ent") === v("med_ent") || v("med_ent") === v("high_ent")) {
    problems.push(v("low_ent") === v("med_ent") ? "low_ent equals med_ent" : "med_ent equals high_ent");
  }
  if (v("low_vent") === v("high_vent")) problems.push(`low_vent and high_vent are both ${v("low_vent").toPrecision(3)}`);
  if (!problems.length) return null;
  return `Degenerate fit: ${problems.join("; ")}, so some rules can never fire. Too few distinct tokens: fit on more prompts or more tokens each.`;
}
