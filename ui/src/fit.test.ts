import { describe, expect, it } from "vitest";
import { degenerateFit, fitDescription } from "./fit";

const OK = { low_ent: 0.1, med_ent: 1, high_ent: 2, low_vent: 0.1, high_vent: 3 };

describe("threshold fit", () => {
  it("describes the greedy fit to target shares, not percentiles of plain sampling", () => {
    const text = fitDescription({ fit_targets: { argmax: 0.9, high_vent: 0.05, explore: 1 } });
    expect(text).toContain("greedy");
    expect(text).toContain("argmax on 90%");
    expect(text).not.toContain("percentile");
  });

  it("warns when the thresholds come out equal, and only then", () => {
    expect(degenerateFit(OK)).toBeNull();
    expect(degenerateFit({ ...OK, low_ent: 0.5, med_ent: 0.5, high_ent: 0.5 })).toContain("low_ent, med_ent, high_ent are all 0.500");
    expect(degenerateFit({ ...OK, med_ent: 2 })).toContain("med_ent equals high_ent");
    expect(degenerateFit({ ...OK, high_vent: 0.1 })).toContain("low_vent and high_vent");
  });
});
