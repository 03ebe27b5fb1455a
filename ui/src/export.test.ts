import { describe, expect, it } from "vitest";
import { tokensCsv } from "./export";
import type { TokenRecord } from "./trace";

const METRICS = { entropy: 0.5, varentropy: 1, attn_entropy: 2, attn_varentropy: 0.1, attn_head_varentropy: 1, agreement: 0.01, interaction_strength: 3 };

describe("tokensCsv", () => {
  it("writes one row per token, quoting text with commas, quotes and newlines", () => {
    const tok = (index: number, text: string): TokenRecord => ({
      index, id: 7, text, outcome: "argmax", inserted: false, logprob: -0.1, params: { temperature: 0.6, top_p: 0.9, top_k: 0, min_p: 0.03 }, metrics: METRICS, top: [],
    });
    const lines = tokensCsv([tok(0, 'a, "b"'), tok(1, "\n")]).split("\n");
    expect(lines[0].split(",").slice(0, 4)).toEqual(["index", "id", "text", "outcome"]);
    expect(lines[0]).toContain("entropy,varentropy");
    expect(lines[1].startsWith('0,7,"a, ""b""",argmax,false,-0.1,0.6,0.9,0,0.03,0.5,1,')).toBe(true);
    expect(lines[2]).toBe('1,7,"');
    expect(lines.length).toBe(5); // header, 2 rows (one spanning 2 lines), final newline
  });
});
