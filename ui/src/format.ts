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

const BYTE_RUN = /((?:\\x[0-9a-f]{2})+)/i;

/** `\xNN` escapes (the server's bytes of a character split across tokens): the character when they make one, else the bytes as ‹e2 89›. */
function showBytes(run: string): string {
  const bytes = Uint8Array.from(run.match(/[0-9a-f]{2}/gi) ?? [], (h) => parseInt(h, 16));
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return `‹${[...bytes].map((b) => b.toString(16).padStart(2, "0")).join(" ")}›`;
  }
}

/** Token text with its whitespace made visible, for tables and tooltips; split characters' bytes shown as bytes, not escapes. */
export function showToken(text: string): string {
  if (text === "") return "∅";
  return text
    .split(BYTE_RUN)
    .map((part, i) => (i % 2 ? showBytes(part) : JSON.stringify(part).slice(1, -1).replace(/ /g, "␣")))
    .join("");
}

/** A timeline row's top value and its label: the largest value or threshold ("no tokens" before any; never a made-up floor). */
export function rowTop(values: number[], lines: number[], lo = 0): { hi: number; label: string } {
  const top = Math.max(lo, ...values, ...lines);
  return { hi: top > lo ? top : lo + 1, label: values.length ? `max ${fmt(top, 2)}` : "no tokens" };
}
