import { describe, expect, it } from "vitest";
import { parseTrace, parseTraceJson, traceToJson, TraceError, type Trace } from "./trace";

function sampleTrace(): Record<string, unknown> {
  const metrics = {
    entropy: 0.08,
    varentropy: 0.3,
    attn_entropy: 2.1,
    attn_varentropy: 0.4,
    attn_head_varentropy: 1.9,
    agreement: 0.01,
    interaction_strength: 3.2,
  };
  const params = { temperature: 0.666, top_p: 0.9, top_k: 27, min_p: 0.03 };
  return {
    version: 1,
    unit: "nats",
    model: { name: "SmolLM2-135M-Instruct (Q4_1 GGUF)", n_layers: 30, n_heads: 9, backend: "cpu" },
    prompt: { messages: [{ role: "user", content: "Which number is larger, 9.9 or 9.11?" }], text: "<|im_start|>...", n_tokens: 42 },
    sampler: { method: "entropix", preset: "entropix", seed: 0, config: { low_ent: 0.1 } },
    text: "9.9 …",
    tokens: [
      {
        index: 0, id: 28, text: "9", outcome: "argmax", inserted: false, logprob: -0.02, params: { ...params }, metrics: { ...metrics },
        top: [{ id: 28, text: "9", logprob: -0.02 }, { id: 33, text: "The", logprob: -4.1 }],
      },
      {
        index: 1, id: 30, text: ".9", outcome: "branch", inserted: false, logprob: -0.7, params: { ...params }, metrics: { ...metrics },
        top: [],
        branch: { score_kind: "entropy", winner: 1, candidates: [
          { tokens: [30, 31], text: ".1", score: 0.9 }, { tokens: [30], text: ".9", score: 0.7 }] },
        layers: { attn_entropy: [[2.0, 2.2], [1.9, 2.1]] },
      },
      { index: 2, id: 2564, text: " …", outcome: "think", inserted: true, logprob: -9.5, params: { ...params }, metrics: { ...metrics }, top: [] },
    ],
    stats: {
      prompt_tokens: 42, generation_tokens: 3, prompt_tps: 15.2, generation_tps: 8.1,
      time_to_first_token_s: 2.7, total_time_s: 4.8, peak_memory_gb: 0.21,
      finish_reason: "stop", outcome_counts: { argmax: 1, branch: 1, think: 1 }, mean_entropy: 0.61,
    },
  };
}

function expectRejected(mutate: (d: any) => void, message: RegExp): void {
  const d: any = sampleTrace();
  mutate(d);
  expect(() => parseTrace(d)).toThrow(TraceError);
  expect(() => parseTrace(d)).toThrow(message);
}

describe("trace round trip", () => {
  it("save then load gives the same trace, and the same JSON again", () => {
    const trace = parseTrace(sampleTrace());
    const text = traceToJson(trace);
    const again: Trace = parseTraceJson(text);
    expect(again).toEqual(trace);
    expect(traceToJson(again)).toBe(text);
  });

  it("writes exactly the fields of the format, leaving absent branch/layers out", () => {
    const saved = JSON.parse(traceToJson(parseTrace(sampleTrace())));
    expect(saved).toEqual(sampleTrace());
    // Same key order everywhere as the Python writer, so the files are byte-comparable.
    expect(JSON.stringify(saved)).toBe(JSON.stringify(sampleTrace()));
    expect(Object.keys(saved)).toEqual(["version", "unit", "model", "prompt", "sampler", "text", "tokens", "stats"]);
    expect("branch" in saved.tokens[0]).toBe(false);
    expect("layers" in saved.tokens[0]).toBe(false);
  });

  it("accepts a trace without stats (a cancelled or unfinished run) and a missing top", () => {
    const d: any = sampleTrace();
    d.stats = null;
    delete d.tokens[0].top;
    const t = parseTrace(d);
    expect(t.stats).toBeNull();
    expect(t.tokens[0].top).toEqual([]);
  });
});

describe("trace validation", () => {
  it("rejects text that is not JSON, naming the file", () => {
    expect(() => parseTraceJson("{not json", "run.json")).toThrow(/run\.json is not JSON/);
  });
  it("rejects a non-object", () => {
    expect(() => parseTrace([1, 2])).toThrow(/trace: expected an object/);
  });
  it("rejects another version or unit", () => {
    expectRejected((d) => (d.version = 2), /unsupported trace version 2/);
    expectRejected((d) => (d.unit = "bits"), /unit is "bits"/);
  });
  it("rejects an unknown outcome", () => {
    expectRejected((d) => (d.tokens[1].outcome = "guess"), /tokens\[1\]: unknown outcome "guess"/);
  });
  it("rejects a missing or non-finite metric", () => {
    expectRejected((d) => delete d.tokens[0].metrics.agreement, /tokens\[0\]\.metrics\.agreement: expected a finite number/);
    expectRejected((d) => (d.tokens[2].metrics.entropy = "NaN"), /tokens\[2\]\.metrics\.entropy/);
  });
  it("rejects missing tokens, params and wrong types", () => {
    expectRejected((d) => delete d.tokens, /tokens: expected a list/);
    expectRejected((d) => delete d.tokens[0].params, /tokens\[0\]\.params: expected an object/);
    expectRejected((d) => (d.tokens[0].inserted = "no"), /tokens\[0\]\.inserted: expected true or false/);
    expectRejected((d) => (d.tokens[0].id = 1.5), /tokens\[0\]\.id: expected an integer/);
  });
  it("rejects a branch whose winner is not a candidate", () => {
    expectRejected((d) => (d.tokens[1].branch.winner = 5), /tokens\[1\]\.branch\.winner: 5 is not the index/);
  });
  it("rejects malformed stats", () => {
    expectRejected((d) => delete d.stats.finish_reason, /stats\.finish_reason: expected a string/);
  });
});
