import { describe, expect, it } from "vitest";
import { pct, rowTop, showToken } from "./format";

describe("pct", () => {
  it("shows zero as 0%, and keeps <0.1% for small non-zero shares", () => {
    expect(pct(0)).toBe("0%");
    expect(pct(0.0004)).toBe("<0.1%");
    expect(pct(0.5)).toBe("50%");
  });
});

describe("showToken", () => {
  it("shows a split character's bytes as bytes, a whole one as its character, whitespace visibly", () => {
    expect(showToken(" \\xe2\\x89")).toBe("␣‹e2 89›");
    expect(showToken("\\xe2\\x89\\xa5")).toBe("≥");
    expect(showToken("a\nb c")).toBe("a\\nb␣c");
    expect(showToken("")).toBe("∅");
  });
});

describe("rowTop", () => {
  it("labels an empty row 'no tokens', not a made-up maximum like 1.0e-9", () => {
    expect(rowTop([], [])).toEqual({ hi: 1, label: "no tokens" });
    expect(rowTop([0, 0], []).label).toBe("max 0");
    expect(rowTop([0.5, 2], [3])).toEqual({ hi: 3, label: "max 3" });
  });
});
