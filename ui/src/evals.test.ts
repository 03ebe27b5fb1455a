import { describe, expect, it } from "vitest";
import type { EvalItem, EvalRun } from "./api";
import { accuracyPoints, budgetCurves, choiceLines, keepItem, methodBudget } from "./evals";

const s = (accuracy: number, mean_tokens: number, k?: number) => ({
  n: 10, correct: accuracy * 10, accuracy, ci95: [accuracy / 2, (1 + accuracy) / 2] as [number, number], mean_tokens, mean_time_s: 1, hit_max_tokens: 0, ...(k ? { k } : {}),
});
const RUN: EvalRun = {
  dir: "study",
  settings: { configs: { vote: { method: "self_consistency", k: 4 } } },
  summary: {
    setup: {},
    methods: { greedy: s(0.5, 40), "self_consistency@k2": s(0.55, 80), "self_consistency@k8": s(0.7, 320), vote: s(0.6, 160), sc: s(0.65, 200, 6) },
    pairs: [],
    categories: { choice: { greedy: s(0.2, 10), "self_consistency@k2": s(0.4, 20) } },
  },
  items: [],
};

describe("accuracy against tokens", () => {
  it("makes each method a point, reading k from the summary, the config or the label", () => {
    const pts = accuracyPoints(RUN);
    expect(pts.map((p) => [p.method, p.family, p.k, p.meanTokens])).toEqual([
      ["greedy", "greedy", null, 40],
      ["self_consistency@k2", "self_consistency", 2, 80],
      ["self_consistency@k8", "self_consistency", 8, 320],
      ["vote", "self_consistency", 4, 160],
      ["sc", "sc", 6, 200],
    ]);
    expect(methodBudget(RUN, "model-2")).toEqual({ family: "model-2", k: null });
  });

  it("reads the eval harness's multi-trace labels and configs: k from params, a guard its own family", () => {
    const sc = (k: number, pick = "vote") => ({ source: "multi-trace", family: "self_consistency", params: { k, pick } });
    const run: EvalRun = {
      dir: "study",
      settings: { configs: { "self_consistency@k=3": sc(3), "self_consistency@k=5": sc(5), "self_consistency@k=5:pick=guard": sc(5, "guard") } },
      summary: { setup: {}, methods: { "self_consistency@k=3": s(0.5, 30), "self_consistency@k=5": s(0.6, 50), "self_consistency@k=5:pick=guard": s(0.55, 60) }, pairs: [] },
      items: [],
    };
    expect(accuracyPoints(run).map((p) => [p.family, p.k])).toEqual([
      ["self_consistency", 3], ["self_consistency", 5], ["self_consistency@pick=guard", 5],
    ]);
    expect(budgetCurves(accuracyPoints(run)).map((c) => c.points.map((p) => p.k))).toEqual([[3, 5]]);
  });

  it("joins one family's budgets into a curve ordered by k, and reads a category's own numbers", () => {
    const curves = budgetCurves(accuracyPoints(RUN));
    expect(curves).toHaveLength(1);
    expect(curves[0].points.map((p) => p.k)).toEqual([2, 4, 8]);
    expect(accuracyPoints(RUN, "choice").map((p) => p.accuracy)).toEqual([0.2, 0.4]);
    expect(accuracyPoints(RUN, "missing")).toEqual([]);
  });
});

const item = (correct: Record<string, boolean>, choices?: string[]): EvalItem => ({
  index: 0, question: "q", gold: "B", choices,
  methods: Object.fromEntries(Object.entries(correct).map(([m, c]) => [m, { text: "", extracted: null, correct: c, tokens: 1, time_s: 0, finish_reason: "stop", trace: "" }])),
});

describe("items", () => {
  it("letters a multiple-choice item's options", () => {
    expect(choiceLines(item({}, ["29", "68"]))).toEqual(["A. 29", "B. 68"]);
    expect(choiceLines({ choices: null })).toEqual([]);
  });

  it("keeps the items where methods disagree, or only one method is right", () => {
    const ms = ["a", "b", "c"];
    expect(keepItem(item({ a: true, b: false, c: false }), ms, { kind: "disagree" })).toBe(true);
    expect(keepItem(item({ a: true, b: true, c: true }), ms, { kind: "disagree" })).toBe(false);
    expect(keepItem(item({ a: false, b: false, c: false }), ms, { kind: "disagree" })).toBe(false);
    expect(keepItem(item({ a: true, b: false, c: false }), ms, { kind: "only", method: "a" })).toBe(true);
    expect(keepItem(item({ a: true, b: true, c: false }), ms, { kind: "only", method: "a" })).toBe(false);
    expect(keepItem(item({ a: false, b: true, c: false }), ms, { kind: "only", method: "a" })).toBe(false);
  });
});
