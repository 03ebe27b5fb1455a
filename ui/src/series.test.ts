import { describe, expect, it } from "vitest";
import { startRun } from "./run";
import { compareSummary, histogram, layerMeans } from "./series";
import type { TokenRecord } from "./trace";

const METRICS = { entropy: 0.5, varentropy: 1, attn_entropy: 2, attn_varentropy: 0.1, attn_head_varentropy: 1, agreement: 0.01, interaction_strength: 3 };
const tok = (outcome: TokenRecord["outcome"], entropy: number, layers?: Record<string, number[][]>): TokenRecord => ({
  index: 0, id: 1, text: "a", outcome, inserted: false, logprob: 0, params: { temperature: 1, top_p: 1, top_k: 0, min_p: 0 },
  metrics: { ...METRICS, entropy }, top: [], ...(layers ? { layers } : {}),
});

describe("histogram", () => {
  it("counts every value once, the maximum in the last bin", () => {
    const h = histogram([0, 0.1, 0.99, 1, 5], 1, 10);
    expect(h.counts.reduce((a, b) => a + b, 0)).toBe(5);
    expect(h.counts[0]).toBe(1);
    expect(h.counts[1]).toBe(1);
    expect(h.counts[9]).toBe(3);
    expect(h.edges[1]).toBeCloseTo(0.1);
  });
});

describe("layerMeans", () => {
  it("averages the heads of each layer, null without per-layer arrays", () => {
    expect(layerMeans(tok("argmax", 0, { attn_entropy: [[1, 3], [2, 2]] }), "attn_entropy")).toEqual([2, 2]);
    expect(layerMeans(tok("argmax", 0), "attn_entropy")).toBeNull();
  });
});

describe("compareSummary", () => {
  it("gives tokens, mean entropy and outcome shares of a run", () => {
    const run = startRun({}, 0);
    const s = compareSummary({ ...run, trace: { ...run.trace, tokens: [tok("argmax", 1), tok("argmax", 2), tok("branch", 3), tok("adaptive", 2)] } });
    expect(s.tokens).toBe(4);
    expect(s.meanEntropy).toBe(2);
    expect(s.shares).toEqual({ argmax: 0.5, branch: 0.25, adaptive: 0.25 });
    expect(s.tokensPerSecond).toBeNull();
  });
});
