import { describe, expect, it } from "vitest";
import { SLIDER_STEPS, sliderPosition, sliderValue } from "./slider";

describe("threshold slider", () => {
  const max = 7.2;
  it("gives the small thresholds many positions (they could not be dragged to on a linear track)", () => {
    // On a linear 1000-step track 0.048 would be position 7; on the sqrt track it is ~82.
    expect(sliderPosition(0.048, max)).toBeGreaterThan(60);
    expect(sliderPosition(0.069, max) - sliderPosition(0.048, max)).toBeGreaterThan(10);
  });
  it("writes at most 3 significant digits, never 15", () => {
    for (let p = 0; p <= SLIDER_STEPS; p += 37) {
      const v = sliderValue(p, max);
      expect(String(v).replace(/^0\.0*|\./g, "").length).toBeLessThanOrEqual(3);
    }
  });
  it("round-trips a value to within one step", () => {
    for (const v of [0.048, 0.069, 1.3, 5.1]) {
      expect(Math.abs(sliderValue(sliderPosition(v, max), max) - v) / v).toBeLessThan(0.02);
    }
    expect(sliderValue(0, max)).toBe(0);
    expect(sliderValue(SLIDER_STEPS, max)).toBe(max);
  });
});
