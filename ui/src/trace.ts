/**
 * The trace format (version 1): the TypeScript twin of mlx_entropix/trace.py.
 *
 * Field names are the Python ones so a trace written by `mlx_main.py --trace`,
 * streamed by the server or saved here loads in all three. docs/trace-format.md
 * describes every field. Entropies are in nats, varentropies in nats².
 */

export const TRACE_VERSION = 1;
export const UNIT = "nats";

/** Outcomes, in the order the UI and the CLI legend show them. */
export const OUTCOMES = ["argmax", "think", "explore", "resample", "adaptive", "branch", "sample"] as const;
export type Outcome = (typeof OUTCOMES)[number];

export const OUTCOME_LABELS: Record<Outcome, string> = {
  argmax: "Argmax (low entropy, low varentropy)",
  think: "Thinking token inserted (high entropy, low varentropy)",
  explore: "Explore (low entropy, high varentropy)",
  resample: "Resample hot (high entropy, high varentropy)",
  adaptive: "Adaptive sampling (in between)",
  branch: "Branch point (parallel continuations, winner kept)",
  sample: "Plain sampling (normal baseline)",
};

export const METRIC_NAMES = [
  "entropy",
  "varentropy",
  "attn_entropy",
  "attn_varentropy",
  "attn_head_varentropy",
  "agreement",
  "interaction_strength",
] as const;
export type MetricName = (typeof METRIC_NAMES)[number];

/** Per-token signals (see trace.py's Metrics for what each one means). */
export type Metrics = Record<MetricName, number>;

/** The effective parameters the sampler used for this token. */
export interface SamplingParams {
  temperature: number;
  top_p: number;
  top_k: number;
  min_p: number;
}

export interface Alternative {
  id: number;
  text: string;
  logprob: number;
}

export interface BranchCandidate {
  tokens: number[];
  text: string;
  score: number;
}

/** A branch point: N continuations rolled forward, the winner kept. */
export interface Branch {
  score_kind: string;
  winner: number;
  candidates: BranchCandidate[];
}

export interface TokenRecord {
  index: number;
  id: number;
  text: string;
  outcome: Outcome;
  inserted: boolean;
  logprob: number;
  params: SamplingParams;
  metrics: Metrics;
  top: Alternative[];
  branch?: Branch;
  layers?: Record<string, number[][]>;
}

export interface Stats {
  prompt_tokens: number;
  generation_tokens: number;
  prompt_tps: number;
  generation_tps: number;
  time_to_first_token_s: number;
  total_time_s: number;
  peak_memory_gb: number;
  finish_reason: string;
  outcome_counts: Record<string, number>;
  mean_entropy: number;
}

export interface ChatMessage {
  role: string;
  content: string;
}

export type Json = Record<string, unknown>;

export interface Trace {
  version: number;
  unit: string;
  model: Json;
  prompt: Json;
  sampler: Json;
  text: string;
  tokens: TokenRecord[];
  stats: Stats | null;
}

/** A file or stream piece that is not a valid trace; the message names the first problem. */
export class TraceError extends Error {
  override name = "TraceError";
}

const PARAM_FIELDS = ["temperature", "top_p", "top_k", "min_p"] as const;
const STATS_NUMBERS = [
  "prompt_tokens",
  "generation_tokens",
  "prompt_tps",
  "generation_tps",
  "time_to_first_token_s",
  "total_time_s",
  "peak_memory_gb",
  "mean_entropy",
] as const;

function isObject(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function object(v: unknown, where: string): Json {
  if (!isObject(v)) throw new TraceError(`${where}: expected an object`);
  return v;
}

function array(v: unknown, where: string): unknown[] {
  if (!Array.isArray(v)) throw new TraceError(`${where}: expected a list`);
  return v;
}

function finite(v: unknown, where: string): number {
  if (typeof v !== "number" || !Number.isFinite(v)) throw new TraceError(`${where}: expected a finite number`);
  return v;
}

function integer(v: unknown, where: string): number {
  if (!Number.isInteger(v)) throw new TraceError(`${where}: expected an integer`);
  return v as number;
}

function string(v: unknown, where: string): string {
  if (typeof v !== "string") throw new TraceError(`${where}: expected a string`);
  return v;
}

function bool(v: unknown, where: string): boolean {
  if (typeof v !== "boolean") throw new TraceError(`${where}: expected true or false`);
  return v;
}

export function parseBranch(v: unknown, where = "branch"): Branch {
  const b = object(v, where);
  const candidates = array(b.candidates, `${where}.candidates`).map((c, i) => {
    const w = `${where}.candidates[${i}]`;
    const o = object(c, w);
    return {
      tokens: array(o.tokens, `${w}.tokens`).map((t, j) => integer(t, `${w}.tokens[${j}]`)),
      text: string(o.text, `${w}.text`),
      score: finite(o.score, `${w}.score`),
    };
  });
  const winner = integer(b.winner, `${where}.winner`);
  if (winner < 0 || winner >= candidates.length) {
    throw new TraceError(`${where}.winner: ${winner} is not the index of one of the ${candidates.length} candidates`);
  }
  return { score_kind: string(b.score_kind, `${where}.score_kind`), winner, candidates };
}

function parseLayers(v: unknown, where: string): Record<string, number[][]> {
  const o = object(v, where);
  const out: Record<string, number[][]> = {};
  for (const [name, rows] of Object.entries(o)) {
    out[name] = array(rows, `${where}.${name}`).map((row, i) =>
      array(row, `${where}.${name}[${i}]`).map((x, j) => finite(x, `${where}.${name}[${i}][${j}]`)),
    );
  }
  return out;
}

/** Parse and validate one token entry (a trace's `tokens[i]` or an SSE `token` event). */
export function parseToken(v: unknown, where = "token"): TokenRecord {
  const d = object(v, where);
  const index = integer(d.index, `${where}.index`);
  const outcome = string(d.outcome, `${where}.outcome`);
  if (!(OUTCOMES as readonly string[]).includes(outcome)) {
    throw new TraceError(`${where}: unknown outcome ${JSON.stringify(outcome)} (expected one of ${OUTCOMES.join(", ")})`);
  }
  const p = object(d.params, `${where}.params`);
  const params = Object.fromEntries(PARAM_FIELDS.map((k) => [k, finite(p[k], `${where}.params.${k}`)])) as unknown as SamplingParams;
  const m = object(d.metrics, `${where}.metrics`);
  const metrics = Object.fromEntries(METRIC_NAMES.map((k) => [k, finite(m[k], `${where}.metrics.${k}`)])) as Metrics;
  const top = d.top === undefined ? [] : array(d.top, `${where}.top`).map((a, i) => {
    const w = `${where}.top[${i}]`;
    const o = object(a, w);
    return { id: integer(o.id, `${w}.id`), text: string(o.text, `${w}.text`), logprob: finite(o.logprob, `${w}.logprob`) };
  });
  const token: TokenRecord = {
    index,
    id: integer(d.id, `${where}.id`),
    text: string(d.text, `${where}.text`),
    outcome: outcome as Outcome,
    inserted: bool(d.inserted, `${where}.inserted`),
    logprob: finite(d.logprob, `${where}.logprob`),
    params,
    metrics,
    top,
  };
  if (d.branch !== undefined && d.branch !== null) token.branch = parseBranch(d.branch, `${where}.branch`);
  if (d.layers !== undefined && d.layers !== null) token.layers = parseLayers(d.layers, `${where}.layers`);
  return token;
}

export function parseStats(v: unknown, where = "stats"): Stats {
  const d = object(v, where);
  const nums = Object.fromEntries(STATS_NUMBERS.map((k) => [k, finite(d[k], `${where}.${k}`)]));
  const counts = object(d.outcome_counts, `${where}.outcome_counts`);
  const outcome_counts = Object.fromEntries(
    Object.entries(counts).map(([k, n]) => [k, integer(n, `${where}.outcome_counts.${k}`)]),
  );
  const n = nums as Record<(typeof STATS_NUMBERS)[number], number>;
  // Field order as in trace.py's Stats, so a saved trace reads like the CLI's.
  return {
    prompt_tokens: n.prompt_tokens,
    generation_tokens: n.generation_tokens,
    prompt_tps: n.prompt_tps,
    generation_tps: n.generation_tps,
    time_to_first_token_s: n.time_to_first_token_s,
    total_time_s: n.total_time_s,
    peak_memory_gb: n.peak_memory_gb,
    finish_reason: string(d.finish_reason, `${where}.finish_reason`),
    outcome_counts,
    mean_entropy: n.mean_entropy,
  };
}

/** Parse and validate a whole trace; throws TraceError naming the first problem. */
export function parseTrace(v: unknown): Trace {
  const d = object(v, "trace");
  if (d.version !== TRACE_VERSION) {
    throw new TraceError(`unsupported trace version ${JSON.stringify(d.version)} (expected ${TRACE_VERSION})`);
  }
  if (d.unit !== UNIT) throw new TraceError(`trace unit is ${JSON.stringify(d.unit)}, expected "${UNIT}"`);
  const tokens = array(d.tokens, "tokens").map((t, i) => parseToken(t, `tokens[${i}]`));
  return {
    version: TRACE_VERSION,
    unit: UNIT,
    model: object(d.model, "model"),
    prompt: object(d.prompt, "prompt"),
    sampler: object(d.sampler, "sampler"),
    text: d.text === undefined ? "" : string(d.text, "text"),
    tokens,
    stats: d.stats === undefined || d.stats === null ? null : parseStats(d.stats),
  };
}

/** Parse a trace file's text; a clear message for text that is not JSON at all. */
export function parseTraceJson(text: string, name = "file"): Trace {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new TraceError(`${name} is not JSON (${(e as Error).message})`);
  }
  return parseTrace(data);
}

/** The trace as the JSON the CLI writes: same keys, same order, optional token fields left out when absent. */
export function traceToJson(trace: Trace): string {
  const tokens = trace.tokens.map((t) => {
    const { branch, layers, ...rest } = t;
    return { ...rest, ...(branch ? { branch } : {}), ...(layers ? { layers } : {}) };
  });
  const ordered = {
    version: trace.version,
    unit: trace.unit,
    model: trace.model,
    prompt: trace.prompt,
    sampler: trace.sampler,
    text: trace.text,
    tokens,
    stats: trace.stats,
  };
  return JSON.stringify(ordered, null, 1);
}

/** Messages of the prompt, tolerating traces whose prompt carries only text. */
export function promptMessages(trace: Trace): ChatMessage[] {
  const msgs = trace.prompt.messages;
  if (!Array.isArray(msgs)) return [];
  return msgs.filter(isObject).map((m) => ({ role: String(m.role ?? ""), content: String(m.content ?? "") }));
}
