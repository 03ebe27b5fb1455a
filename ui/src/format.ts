/** Number and token formatting shared by the views. */

/** Three significant digits, without exponent noise for ordinary magnitudes. */
export function fmt(x: number | null | undefined, digits = 3): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return "–";
  if (x === 0) return "0";
  const a = Math.abs(x);
  if (a >= 1e5 || a < 1e-3) return x.toExponential(digits - 1);
  return Number(x.toPrecision(digits)).toString();
}

export function pct(p: number): string {
  if (p >= 0.995) return "100%";
  if (p === 0) return "0%";
  if (p < 0.001) return "<0.1%";
  return `${(p * 100).toFixed(p < 0.1 ? 1 : 0)}%`;
}

/** Token text with its whitespace made visible, for tables and tooltips. */
export function showToken(text: string): string {
  if (text === "") return "∅";
  return JSON.stringify(text).slice(1, -1).replace(/ /g, "␣");
}
