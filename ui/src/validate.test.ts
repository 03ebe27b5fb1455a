import { describe, expect, it } from "vitest";
import { firstProblem, numberProblem } from "./validate";

describe("numberProblem", () => {
  const maxTokens = { integer: true, min: 1, max: 8192 };
  it("names the field and the reason for every bad entry the issue lists", () => {
    expect(numberProblem("max tokens", "-3", maxTokens)).toBe("max tokens: -3 is out of range; enter a whole number from 1 to 8192");
    expect(numberProblem("max tokens", "100000", maxTokens)).toContain("out of range");
    expect(numberProblem("temperature", "abc", { min: 0 })).toBe('temperature: "abc" is not a number; enter a number ≥ 0');
    expect(numberProblem("seed", "1.5", { integer: true, min: 0 })).toContain("not a whole number");
    expect(numberProblem("seed", " ", { integer: true })).toContain("empty");
  });
  it("accepts good values, bounds included", () => {
    for (const t of ["1", "8192", " 12 "]) expect(numberProblem("max tokens", t, maxTokens)).toBeNull();
    expect(numberProblem("temperature", "0.7", { min: 0 })).toBeNull();
  });
});

describe("firstProblem", () => {
  it("is null without problems and stable with several", () => {
    expect(firstProblem({})).toBeNull();
    expect(firstProblem({ top_p: "b", max_tokens: "a" })).toBe("a");
  });
});
