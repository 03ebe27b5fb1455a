import { describe, expect, it } from "vitest";
import { promptProgress, startRun } from "./run";

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
