import { describe, expect, it } from "vitest";
import { promptProgress, startRun, summarize } from "./run";

describe("promptProgress", () => {
  it("tells the prompt's size, the time spent and, with an earlier prompt speed, the share done", () => {
    const run = startRun({ messages: [] }, 1000, 64);
    expect(promptProgress(run, 3000, null)).toEqual({ tokens: null, seconds: 2, fraction: null });
    const started = { ...run, trace: { ...run.trace, prompt: { n_tokens: 100 } } };
    expect(promptProgress(started, 6000, 50)).toEqual({ tokens: 100, seconds: 5, fraction: 0.99 });
    expect(promptProgress(started, 2000, 50)?.fraction).toBeCloseTo(0.5);
  });
  it("is null once tokens arrive or the run is over", () => {
    const run = startRun({ n_tokens: 10 }, 1000);
    expect(promptProgress({ ...run, status: "done" }, 2000, 10)).toBeNull();
  });
});

describe("a run that has just started", () => {
  it("shows no negative time, speed or share when the clock trails its start", () => {
    const run = { ...startRun({ n_tokens: 100 }, 10_000, 32) };
    const p = promptProgress(run, 3_360, 50)!;
    expect(p.seconds).toBe(0);
    expect(p.fraction).toBe(0);
    expect(summarize(run, 3_360).seconds).toBe(0);
    const streaming = { ...run, firstTokenAt: 11_000, trace: { ...run.trace, tokens: [{}, {}] as never } };
    expect(summarize(streaming, 10_500).tokensPerSecond).toBeNull();
  });
});
