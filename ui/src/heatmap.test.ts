import { describe, expect, it } from "vitest";
import { defaultZoom, heatGrid, heatmapSvg } from "./heatmap";
import type { TokenRecord } from "./trace";

const tok = (grid: number[][]) => ({ layers: { attn_entropy: grid } }) as unknown as TokenRecord;

describe("heatmap", () => {
  it("averages heads per layer and spans the range of the whole trace", () => {
    const g = heatGrid([tok([[1, 3], [2, 2]]), tok([[0, 0], [4, 6]]), { } as TokenRecord], "attn_entropy");
    expect(g.columns).toEqual([[2, 2], [0, 5], null]);
    expect([g.layers, g.lo, g.hi]).toEqual([2, 0, 5]);
  });

  it("opens a long trace zoomed to at least 2 px a token (it scrolls) and a short one larger", () => {
    expect(defaultZoom(450)).toBe(2);
    expect(defaultZoom(2000)).toBe(2);
    expect(defaultZoom(60)).toBe(8);
    expect(defaultZoom(10)).toBe(16);
  });

  it("exports a standalone SVG with one cell per layer and token", () => {
    const g = heatGrid([tok([[1], [2]]), tok([[3], [4]]), tok([[5], [6]])], "attn_entropy");
    const svg = heatmapSvg(g, "attn_entropy", 4, "#fff", "#333");
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg" width="46"') && svg.endsWith("</svg>")).toBe(true);
    expect(svg.match(/<rect /g)?.length).toBe(1 + 6);
    expect(svg.match(/<text /g)?.length).toBe(2 + 1);
    expect(svg).not.toContain("var(--");
  });
});
