import { describe, expect, it } from "vitest";
import { classify, type Thresholds } from "./classify";
import { clearBox, clearSpan, placeLabels, regionBoxes, tokenAxis } from "./layout";
import { makeScale } from "./scale";

describe("tokenAxis", () => {
  it("keeps every token cell inside the plot, so the outcome bar never covers its label", () => {
    for (const n of [1, 2, 12, 2000]) {
      const a = tokenAxis(n, 92, 628);
      expect(a.start(0)).toBeGreaterThanOrEqual(92);
      expect(a.start(n - 1) + a.width).toBeCloseTo(628, 6);
      expect(a.index(a.centre(n - 1))).toBe(n - 1);
      expect(a.index(0)).toBe(0);
    }
  });
});

describe("regionBoxes", () => {
  const t: Thresholds = { low_ent: 0.069, med_ent: 2.0, high_ent: 3.0, low_vent: 0.048, high_vent: 4.0, gating: "quadrant", attention: {}, greedy: false };
  const x = makeScale("sqrt", 0, 6, 50, 446);
  const y = makeScale("sqrt", 0, 8, 360, 14);
  const boxes = regionBoxes(t, x, y, { x0: 50, x1: 446, y0: 360, y1: 14 });
  it("names each region after the rule the classifier gives its centre (what the legend colours it)", () => {
    for (const b of boxes) {
      const centre = { entropy: x.invert(b.x + b.w / 2), varentropy: y.invert(b.y + b.h / 2) };
      if (b.outcome !== "adaptive") expect(classify(centre, t)).toBe(b.outcome);
    }
    const mid = boxes.find((b) => b.outcome === "adaptive")!;
    expect(classify({ entropy: 1, varentropy: y.invert(mid.y + mid.h / 2) }, t)).toBe("adaptive");
  });
});

describe("placeLabels", () => {
  it("never lets two labels overlap (the top-right labels used to collide)", () => {
    const labels = ["med_ent", "high_ent", "resample", "high_vent", "explore"].map((text) => ({ text, x: 440, y: 24, anchor: "end" as const }));
    const placed = placeLabels(labels);
    expect(placed.length).toBeGreaterThanOrEqual(4);
    for (const a of placed) for (const b of placed) {
      if (a === b) continue;
      const apart = a.box.x + a.box.w <= b.box.x || b.box.x + b.box.w <= a.box.x || a.box.y + a.box.h <= b.box.y || b.box.y + b.box.h <= a.box.y;
      expect(apart).toBe(true);
    }
  });
});

describe("placeLabels, stepping", () => {
  it("moves a crowded label the way it says, and keeps all five threshold names when two thresholds nearly coincide", () => {
    const vent = ["high_vent", "low_vent"].map((text, i) => ({ text, x: 400, y: 200 + i, anchor: "start" as const, size: 9, step: { dx: 0, dy: i ? 12 : -12 } }));
    const ent = ["low_ent", "med_ent", "high_ent"].map((text) => ({ text, x: 120, y: 36, anchor: "middle" as const, size: 9, step: { dx: 0, dy: -12 } }));
    const placed = placeLabels([...ent, ...vent]);
    expect(placed.map((p) => p.text).sort()).toEqual(["high_ent", "high_vent", "low_ent", "low_vent", "med_ent"]);
    expect(placed.find((p) => p.text === "high_vent")!.y).toBeLessThanOrEqual(200);
    expect(placed.find((p) => p.text === "high_ent")!.y).toBe(36 - 24);
  });
});

describe("clearBox", () => {
  it("puts a region's name in its widest part between the lines crossing it", () => {
    expect(clearSpan(0, 100, [30])).toEqual([30, 100]);
    expect(clearSpan(0, 100, [-5, 120])).toEqual([0, 100]);
    expect(clearBox({ x: 50, y: 10, w: 300, h: 100 }, [280, 400], [60])).toEqual({ x: 50, y: 10, w: 230, h: 50 });
  });
});
