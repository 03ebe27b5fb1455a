/** What is wrong with a number typed into a settings field, in one line naming the field. */

export interface NumberRules {
  integer?: boolean;
  min?: number;
  max?: number;
}

export function numberProblem(label: string, text: string, rules: NumberRules): string | null {
  const t = text.trim();
  const v = t === "" ? NaN : Number(t);
  const range =
    rules.min !== undefined && rules.max !== undefined ? ` from ${rules.min} to ${rules.max}` : rules.min !== undefined ? ` ≥ ${rules.min}` : rules.max !== undefined ? ` ≤ ${rules.max}` : "";
  const kind = rules.integer ? "a whole number" : "a number";
  if (!Number.isFinite(v)) return `${label}: ${t === "" ? "empty" : JSON.stringify(t)} is not a number; enter ${kind}${range}`;
  if (rules.integer && !Number.isInteger(v)) return `${label}: ${t} is not a whole number; enter ${kind}${range}`;
  if ((rules.min !== undefined && v < rules.min) || (rules.max !== undefined && v > rules.max)) return `${label}: ${t} is out of range; enter ${kind}${range}`;
  return null;
}

/** The first problem among the fields, in a stable order, or null. */
export function firstProblem(problems: Record<string, string>): string | null {
  const keys = Object.keys(problems).sort();
  return keys.length ? problems[keys[0]] : null;
}
