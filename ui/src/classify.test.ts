import { describe, expect, it } from "vitest";
import { classify, thresholdsOf, type Thresholds } from "./classify";

const T: Thresholds = { low_ent: 0.1, med_ent: 2.0, high_ent: 3.0, low_vent: 0.2, high_vent: 4.0 };
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
    expect(thresholdsOf({ ...T, temperature: 0.6 })).toEqual(T);
    expect(thresholdsOf({ low_ent: 0.1 })).toBeNull();
    expect(thresholdsOf({ ...T, high_vent: "x" })).toBeNull();
    expect(thresholdsOf(null)).toBeNull();
  });
});
