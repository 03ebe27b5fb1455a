import { describe, expect, it } from "vitest";
import type { Thresholds } from "./classify";
import { changedCount, reclassified, shownOutcome, type Reclassify } from "./outcomes";
import type { Outcome, TokenRecord } from "./trace";

const T: Thresholds = { low_ent: 0.1, med_ent: 2.0, high_ent: 3.0, low_vent: 0.2, high_vent: 4.0, gating: "quadrant", attention: {}, greedy: false };
const RC: Reclassify = { now: T, ran: T, branchFraction: 0.8 };

function tok(outcome: Outcome, entropy: number, varentropy: number, inserted = false): TokenRecord {
  const metrics = { entropy, varentropy, attn_entropy: 0, attn_varentropy: 0, attn_head_varentropy: 0, agreement: 0, interaction_strength: 0 };
  return { index: 0, id: 1, text: "x", outcome, inserted, logprob: 0, params: { temperature: 1, top_p: 1, top_k: 0, min_p: 0 }, metrics, top: [] };
}

// A run as the sampler made it with T: every token's outcome is what decide.py gave.
const RUN = [
  tok("argmax", 0.05, 0.1),
  tok("branch", 1.0, 5.0), // explore region, branched
  tok("explore", 1.2, 4.5), // explore region inside a branch's continuation: not a branch point
  tok("branch", 2.6, 3.5), // both above 0.8 × the high thresholds (adaptive region), branched
  tok("branch", 2.5, 5.0), // resample region, both high
  tok("think", 3.5, 0.1),
  tok("think", 0.3, 0.05, true), // inserted think text
  tok("adaptive", 3.6, 0.1), // think region, insertion budget spent
  tok("explore", 1.0, 5.0),
  tok("resample", 2.5, 5.0),
  tok("adaptive", 1.0, 1.0),
  tok("adaptive", 0.5, 0.5),
];

describe("re-classification", () => {
  it("changes nothing at the run's own thresholds: the count and every colour agree", () => {
    expect(changedCount(RUN, RC)).toBe(0);
    expect(RUN.map((t) => shownOutcome(t, RC, "reclassified"))).toEqual(RUN.map((t) => t.outcome));
  });

  it("counts exactly the tokens whose colour changes when a threshold moves", () => {
    for (const high_vent of [1.02, 3.0, 4.5, 6.0]) {
      const rc = { ...RC, now: { ...T, high_vent } };
      const recoloured = RUN.filter((t) => shownOutcome(t, rc, "reclassified") !== t.outcome).length;
      expect(changedCount(RUN, rc)).toBe(recoloured);
    }
  });

  it("keeps a branch a branch while its branch condition holds, and moves it when it does not", () => {
    expect(reclassified(RUN[1], { ...RC, now: { ...T, med_ent: 1.5 } })).toBe("branch");
    expect(reclassified(RUN[1], { ...RC, now: { ...T, high_vent: 6.0 } })).toBe("adaptive");
    expect(reclassified(RUN[1], { ...RC, now: { ...T, med_ent: 0.5, high_ent: 10 } })).toBe("resample");
  });

  it("never re-classifies plain sampling or inserted think text", () => {
    expect(reclassified(tok("sample", 3.5, 0.1), RC)).toBeNull();
    expect(reclassified(RUN[6], { ...RC, now: { ...T, low_ent: 5, low_vent: 5 } })).toBeNull();
    expect(shownOutcome(tok("sample", 0.01, 0.01), RC, "reclassified")).toBe("sample");
  });

  it("keeps a spent-budget think-region token adaptive, but a token newly in the think region is think", () => {
    expect(reclassified(RUN[7], RC)).toBe("adaptive");
    expect(reclassified(RUN[10], { ...RC, now: { ...T, high_ent: 0.5, low_vent: 2 } })).toBe("think");
  });
});
