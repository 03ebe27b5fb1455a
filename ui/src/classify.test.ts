import { describe, expect, it } from "vitest";
import { classify, thresholdsOf, type Thresholds } from "./classify";
import decisions from "./fixtures/decisions.json";
import drawn from "./fixtures/regions.json";
import { changedCount, reclassified } from "./outcomes";
import type { TokenRecord } from "./trace";

const Q = { low_ent: 0.1, med_ent: 2.0, high_ent: 3.0, low_vent: 0.2, high_vent: 4.0 };
const T: Thresholds = { ...Q, gating: "quadrant", attention: {}, greedy: false };
const at = (entropy: number, varentropy: number, t = T) => classify({ entropy, varentropy }, t);

describe("classify", () => {
  it("puts each quadrant's interior where the rules say", () => {
    expect(at(0.05, 0.1)).toBe("argmax");
    expect(at(3.5, 0.1)).toBe("think");
    expect(at(1.0, 5.0)).toBe("explore");
    expect(at(2.5, 5.0)).toBe("resample");
    expect(at(1.0, 1.0)).toBe("adaptive");
  });

  it("treats the boundaries exactly (strict inequalities except med_ent for resample)", () => {
    expect(at(0.1, 0.1)).toBe("adaptive"); // H == low_ent is not low
    expect(at(0.05, 0.2)).toBe("adaptive"); // V == low_vent is not low
    expect(at(3.0, 0.1)).toBe("adaptive"); // H == high_ent is not high
    expect(at(1.0, 4.0)).toBe("adaptive"); // V == high_vent is not high
    expect(at(2.0, 5.0)).toBe("resample"); // H == med_ent goes to resample
    expect(at(1.999, 5.0)).toBe("explore");
  });

  it("re-classifies the same metrics differently when a threshold moves", () => {
    const m = { entropy: 0.5, varentropy: 0.1 };
    expect(classify(m, T)).toBe("adaptive");
    expect(classify(m, { ...T, low_ent: 0.6 })).toBe("argmax");
    expect(classify(m, { ...T, high_ent: 0.4 })).toBe("think");
    expect(classify({ entropy: 2.5, varentropy: 5 }, { ...T, med_ent: 3 })).toBe("explore");
  });

  it("gives argmax precedence when regions overlap (rules checked in order)", () => {
    const odd = { ...T, low_ent: 5, high_ent: 1 };
    expect(at(2, 0.1, odd)).toBe("argmax");
  });
});

describe("thresholdsOf", () => {
  it("reads the five thresholds of a config and rejects an incomplete one", () => {
    expect(thresholdsOf({ ...Q, temperature: 0.6 })).toEqual(T);
    expect(thresholdsOf({ low_ent: 0.1 })).toBeNull();
    expect(thresholdsOf({ ...Q, high_vent: "x" })).toBeNull();
    expect(thresholdsOf(null)).toBeNull();
  });

  it("needs the attention thresholds under frog gating, and knows only the sampler's gatings", () => {
    expect(thresholdsOf({ ...Q, gating: "frog" })).toBeNull();
    expect(thresholdsOf({ ...Q, gating: "nonsense" })).toBeNull();
    const frog = thresholdsOf({ ...decisions.traces.find((t) => t.preset === "frog")!.config });
    expect(frog?.gating).toBe("frog");
    expect(Object.keys(frog!.attention)).toHaveLength(8);
  });
});

// The sampler's own decisions (ui/scripts/decision_fixture.py; tests/test_ui_decisions.py keeps them current).
describe("the re-classifier against the Python sampler", () => {
  it("gives every drawn row the region region_outcomes gave it, under each gating", () => {
    for (const g of drawn) {
      const t = thresholdsOf(g.config)!;
      const wrong = g.rows.filter((r) => classify(r.metrics, t) !== r.region);
      expect(wrong.length, `${g.config.gating}: ${JSON.stringify(wrong[0])}`).toBe(0);
      expect(new Set(g.rows.map((r) => r.region)).size).toBe(5);
    }
  });

  it("changes no token of a recorded run of any preset under that run's own thresholds", () => {
    expect(decisions.traces.map((t) => t.preset)).toContain("frog");
    for (const trace of decisions.traces) {
      const t = thresholdsOf(trace.config)!;
      const rc = { now: t, ran: t, branchFraction: trace.config.branch_fraction };
      const tokens = trace.tokens as unknown as TokenRecord[];
      const moved = tokens.filter((tok) => (reclassified(tok, rc) ?? tok.outcome) !== tok.outcome);
      expect(changedCount(tokens, rc), `${trace.preset}: ${JSON.stringify(moved[0])}`).toBe(0);
    }
  });

  it("sends frog's calm-signal argmax tokens elsewhere when an attention threshold moves", () => {
    const frog = decisions.traces.find((t) => t.preset === "frog")!;
    const t = thresholdsOf(frog.config)!;
    const tokens = frog.tokens as unknown as TokenRecord[];
    const stricter = { ...t, attention: { ...t.attention, low_int: 0 } };
    const n = tokens.filter((tok) => tok.outcome === "argmax").length;
    expect(n).toBeGreaterThan(0);
    expect(changedCount(tokens, { now: stricter, ran: t, branchFraction: 0.8 })).toBe(n);
  });
});
