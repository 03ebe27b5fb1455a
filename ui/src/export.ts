/**
 * Exports: a chart as a standalone SVG or a PNG, the token table as CSV. The
 * charts are styled by CSS variables, so an exported SVG carries each element's
 * computed colours and fonts inline and looks the same outside the page.
 */

import { METRIC_NAMES, type TokenRecord } from "./trace";

const STYLE_PROPS = ["fill", "stroke", "stroke-width", "stroke-dasharray", "stroke-linejoin", "paint-order", "opacity", "fill-opacity", "font-size", "font-family", "font-weight"] as const;

/** The SVG's markup with computed styles inlined and a background, ready to save. */
export function standaloneSvg(svg: SVGSVGElement): string {
  const copy = svg.cloneNode(true) as SVGSVGElement;
  const from = [svg, ...svg.querySelectorAll("*")];
  const to = [copy, ...copy.querySelectorAll("*")];
  from.forEach((el, i) => {
    const cs = getComputedStyle(el);
    const out = to[i] as SVGElement;
    out.setAttribute("style", STYLE_PROPS.map((p) => `${p}:${cs.getPropertyValue(p)}`).join(";"));
    // Presentation attributes that name CSS variables mean nothing outside the page: replace them by their values.
    for (const a of ["fill", "stroke"]) if (out.getAttribute(a)?.includes("var(")) out.setAttribute(a, cs.getPropertyValue(a));
  });
  const vb = svg.viewBox.baseVal;
  copy.setAttribute("xmlns", "http://www.w3.org/2000/svg");
  copy.setAttribute("width", String(vb.width));
  copy.setAttribute("height", String(vb.height));
  const bg = document.createElementNS("http://www.w3.org/2000/svg", "rect");
  bg.setAttribute("width", "100%");
  bg.setAttribute("height", "100%");
  bg.setAttribute("style", `fill:${getComputedStyle(document.body).backgroundColor}`);
  copy.insertBefore(bg, copy.firstChild);
  return new XMLSerializer().serializeToString(copy);
}

export function download(name: string, data: Blob): void {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(data);
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

/** The SVG rendered at `scale`× into a PNG. */
export async function svgToPng(svg: SVGSVGElement, scale = 2): Promise<Blob> {
  const vb = svg.viewBox.baseVal;
  const url = URL.createObjectURL(new Blob([standaloneSvg(svg)], { type: "image/svg+xml" }));
  try {
    const img = new Image();
    await new Promise<void>((res, rej) => {
      img.onload = () => res();
      img.onerror = () => rej(new Error("the browser could not render the chart's SVG"));
      img.src = url;
    });
    const canvas = document.createElement("canvas");
    canvas.width = vb.width * scale;
    canvas.height = vb.height * scale;
    canvas.getContext("2d")!.drawImage(img, 0, 0, canvas.width, canvas.height);
    return await new Promise<Blob>((res, rej) => canvas.toBlob((b) => (b ? res(b) : rej(new Error("PNG encoding failed"))), "image/png"));
  } finally {
    URL.revokeObjectURL(url);
  }
}

function csvCell(v: string | number | boolean): string {
  const s = String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** One row per token: index, id, text, outcome, inserted, logprob, the sampling parameters and every metric. */
export function tokensCsv(tokens: TokenRecord[]): string {
  const head = ["index", "id", "text", "outcome", "inserted", "logprob", "temperature", "top_p", "top_k", "min_p", ...METRIC_NAMES, "branch_candidates"];
  const rows = tokens.map((t) => [
    t.index, t.id, t.text, t.outcome, t.inserted, t.logprob,
    t.params.temperature, t.params.top_p, t.params.top_k, t.params.min_p,
    ...METRIC_NAMES.map((m) => t.metrics[m]),
    t.branch ? t.branch.candidates.length : 0,
  ]);
  return [head, ...rows].map((r) => r.map(csvCell).join(",")).join("\n") + "\n";
}
