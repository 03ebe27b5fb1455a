/**
 * What the eval browser derives from an eval run (summary.json, settings.json,
 * results.jsonl): accuracy against tokens per method, multi-trace methods' curves
 * over their budget k, and the item filters that find where methods differ.
 */

import type { EvalItem, EvalMethodSummary, EvalRun } from "./api";

export interface AccuracyPoint {
  method: string;
  /** The method without its budget: points of one family with a k form a curve. */
  family: string;
  k: number | null;
  accuracy: number;
  ci95: [number, number];
  meanTokens: number;
  n: number;
}

/** A budget written into a method's label: `self_consistency@k8`, `sc-k=4`, `vote:k16`. */
const K_IN_NAME = /^(.+?)[@:_-]k=?(\d+)$/i;

/** The eval harness's multi-trace methods (`self_consistency@k=5:pick=guard`), whose settings
 *  config names the `family` and its `params`: the budget k, and the family with every other
 *  parameter, so that one curve joins the budgets of one rule and a guard is a curve of its own. */
function harnessBudget(method: string, config: Record<string, unknown> | undefined): { family: string; k: number } | null {
  const params = config?.params as Record<string, unknown> | undefined;
  if (typeof config?.family !== "string" || typeof params?.k !== "number") return null;
  const at = method.indexOf("@");
  const rest = at < 0 ? [] : method.slice(at + 1).split(":").filter((p) => !/^k=/.test(p));
  return { family: rest.length ? `${config.family}@${rest.join(":")}` : config.family, k: params.k };
}

/** A method's budget k and family: the harness's multi-trace config, else the summary's `k`,
 *  else its config's, else its label's. */
export function methodBudget(run: Pick<EvalRun, "settings" | "summary">, method: string): { family: string; k: number | null } {
  const harness = harnessBudget(method, run.settings?.configs?.[method]);
  if (harness) return harness;
  const fromName = K_IN_NAME.exec(method);
  const given = [run.summary.methods[method]?.k, run.settings?.configs?.[method]?.k].find((v) => typeof v === "number");
  const family = fromName?.[1] ?? (typeof run.settings?.configs?.[method]?.method === "string" && given !== undefined
    ? String(run.settings.configs[method].method) : method);
  if (typeof given === "number") return { family, k: given };
  return fromName ? { family, k: Number(fromName[2]) } : { family: method, k: null };
}

/** Every method as a point: accuracy with its CI against mean tokens per question, overall or in one category. */
export function accuracyPoints(run: EvalRun, category: string | null = null): AccuracyPoint[] {
  const table: Record<string, EvalMethodSummary> | undefined = category === null ? run.summary.methods : run.summary.categories?.[category];
  if (!table) return [];
  return Object.entries(table)
    .filter(([, s]) => s && typeof s.accuracy === "number" && typeof s.mean_tokens === "number" && s.n > 0)
    .map(([method, s]) => ({ method, ...methodBudget(run, method), accuracy: s.accuracy, ci95: s.ci95, meanTokens: s.mean_tokens, n: s.n }));
}

/** Points of a family with two or more budgets, ordered by k: the curves to draw. */
export function budgetCurves(points: AccuracyPoint[]): { family: string; points: AccuracyPoint[] }[] {
  const byFamily = new Map<string, AccuracyPoint[]>();
  for (const p of points) if (p.k !== null) byFamily.set(p.family, [...(byFamily.get(p.family) ?? []), p]);
  return [...byFamily].filter(([, ps]) => ps.length > 1).map(([family, ps]) => ({ family, points: [...ps].sort((a, b) => a.k! - b.k!) }));
}

/** A multiple-choice item's options as "A. text" lines (none for other items). */
export function choiceLines(item: Pick<EvalItem, "choices">): string[] {
  return (item.choices ?? []).map((c, i) => `${String.fromCharCode(65 + i)}. ${c}`);
}

export type ItemFilter = { kind: "all" } | { kind: "disagree" } | { kind: "only"; method: string };

/** Whether an item passes a filter: methods disagree (some right, some wrong), or only `method` is right. */
export function keepItem(item: EvalItem, methods: string[], f: ItemFilter): boolean {
  const right = methods.filter((m) => item.methods[m]?.correct);
  if (f.kind === "disagree") return right.length > 0 && right.length < methods.filter((m) => item.methods[m]).length;
  if (f.kind === "only") return right.length === 1 && right[0] === f.method;
  return true;
}
