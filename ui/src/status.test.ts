import { describe, expect, it } from "vitest";
import type { ServerConfig } from "./api";
import { defaultSettings } from "./settings";
import { firstFitLine, queueState, thresholdState } from "./status";

const CONFIG = {
  model: { name: "m" }, unit: "nats", default_method: "entropix", default_preset: "no_branch",
  presets: { no_branch: { low_ent: 1, thresholds: "fitted" }, "entropix-paper": { low_ent: 0.07, thresholds: "published" }, greedy: { greedy: true, thresholds: "published" } },
  thresholds: { no_branch: "fitted for m", "entropix-paper": "published", greedy: "none (greedy)" },
  config_fields: [], normal_defaults: { temperature: 0.6, top_p: 0.9, min_p: 0.03, top_k: 0 }, max_tokens_default: 8, max_tokens_limit: 64, outcomes: [],
} as unknown as ServerConfig;

describe("status", () => {
  it("says which thresholds run: fitted, published, custom once one is edited, none for greedy", () => {
    const s = defaultSettings(CONFIG);
    expect(thresholdState(CONFIG, s)).toEqual({ source: "fitted", detail: "fitted for m" });
    expect(thresholdState(CONFIG, { ...s, preset: "entropix-paper" }).source).toBe("published");
    expect(thresholdState(CONFIG, { ...s, overrides: { low_int: 2 } })).toEqual({ source: "custom", detail: "no_branch with low_int changed" });
    expect(thresholdState(CONFIG, { ...s, overrides: { temperature: 1 } }).source).toBe("fitted");
    expect(thresholdState(CONFIG, { ...s, preset: "greedy" }).source).toBe("none");
    expect(thresholdState(CONFIG, { ...s, method: "normal" }).source).toBe("none");
  });

  it("shows a running first-use fit's progress and a failed one's error, nothing when not needed", () => {
    expect(firstFitLine({ state: "not_needed" })).toBeNull();
    expect(firstFitLine(undefined)).toBeNull();
    expect(firstFitLine({ state: "running", done: 3, total: 8, tokens: 141 })).toMatchObject({ fraction: 3 / 8, text: expect.stringContaining("3 / 8 prompts, 141 tokens") });
    expect(firstFitLine({ state: "failed", error: "out of memory" })).toMatchObject({ failed: true, text: expect.stringContaining("out of memory") });
  });

  it("reads running and waiting from a batching server's /health, and busy from one without", () => {
    expect(queueState({ running: 3, waiting: 2, max_batch: 8 })).toEqual({ running: 3, waiting: 2, maxBatch: 8, meanRows: null });
    expect(queueState({ busy: true, waiting: 1 })).toEqual({ running: 1, waiting: 1, maxBatch: null, meanRows: null });
    expect(queueState(null)).toBeNull();
  });

  it("reads how full the decode steps ran, once the server has stepped", () => {
    expect(queueState({ running: 0, batching: { steps: 40, mean_rows: 5.72 } })?.meanRows).toBe(5.72);
    expect(queueState({ running: 0, batching: { steps: 0, mean_rows: 0 } })?.meanRows).toBeNull();
  });
});
