/**
 * Talking to mlx_server.py (docs/api.md): the config, and one streamed generation
 * delivered as typed trace pieces. Every failure becomes an ApiError with a
 * message a person can act on; nothing waits forever (the caller's AbortSignal stops it).
 */

import { readSSE } from "./sse";
import { parseBranch, parseStats, parseToken, TraceError, type Branch, type ChatMessage, type Json, type Stats, type TokenRecord } from "./trace";

/** A first-use fit (/api/config `first_fit`, docs/api.md). */
export interface FirstFit {
  state: "not_needed" | "running" | "done" | "failed" | string;
  done?: number;
  total?: number;
  tokens?: number;
  path?: string | null;
  error?: string | null;
}

/** /health: the queue, and with a batching server the generations sharing each decode step. */
export interface Health {
  status?: string;
  busy?: boolean;
  running?: number;
  waiting?: number;
  max_batch?: number;
  queue_size?: number;
  /** Since the server started: its decode steps and how many rows they carried on average (batch_time.py). */
  batching?: { steps?: number; mean_rows?: number };
}

/** One SamplerConfig field as the server describes it (mlx_entropix/sampler/config.py: config_fields). */
export interface ConfigField {
  name: string;
  description: string;
  type: string;
  default?: unknown;
  min?: number | null;
  max?: number | null;
  choices?: string[];
}

export interface NormalParams {
  temperature: number;
  top_p: number;
  min_p: number;
  top_k: number;
}

export interface ServerConfig {
  model: Json;
  unit: string;
  default_method: string;
  default_preset: string;
  presets: Record<string, Record<string, unknown>>;
  config_fields: ConfigField[];
  normal_defaults: NormalParams;
  max_tokens_default: number;
  max_tokens_limit: number;
  outcomes: { name: string; label: string }[];
  /** The most prompts a fit (/api/calibrate) takes, and the outcome shares it aims at. */
  fit_prompts_limit?: number;
  /** Per preset, one line on where its thresholds come from ("fitted for …", "published"). */
  thresholds?: Record<string, string>;
  /** A first-use fit of a model without fitted thresholds (docs/api.md). */
  first_fit?: FirstFit;
  fit_targets?: { argmax: number; high_vent: number; explore: number };
}

export type Method = "entropix" | "normal" | "greedy";
export const METHODS: Method[] = ["entropix", "normal", "greedy"];

export interface GenerateRequest {
  messages: ChatMessage[];
  method: Method;
  preset: string;
  config: Record<string, unknown>;
  normal: NormalParams;
  seed: number;
  max_tokens: number;
  /** Per-layer, per-head attention arrays on every token (the heatmap). */
  layers?: boolean;
}

export interface StartEvent {
  model: Json;
  prompt: Json;
  sampler: Json;
}

/** One decoded event of /api/generate. */
export type GenerateEvent =
  | { type: "start"; start: StartEvent }
  | { type: "token"; token: TokenRecord }
  | { type: "branch"; index: number; branch: Branch }
  | { type: "done"; text: string; stats: Stats };

export class ApiError extends Error {
  override name = "ApiError";
}

/** Turn a fetch failure into a message naming the server and what to do. */
function networkError(e: unknown, url: string): Error {
  if (e instanceof DOMException && e.name === "AbortError") return e;
  return new ApiError(`server unreachable (${url}): is \`uv run mlx_server.py\` running? (${(e as Error).message})`);
}

/** The message of a 4xx/5xx answer: the server's `{"error": {"message"}}`, or the status line. */
async function httpError(res: Response): Promise<ApiError> {
  const body = await res.text().catch(() => "");
  try {
    const parsed = JSON.parse(body) as { error?: { message?: string; param?: string } };
    const msg = parsed.error?.message;
    const retry = res.headers.get("Retry-After");
    if (msg) {
      const param = parsed.error?.param ? ` (${parsed.error.param})` : "";
      return new ApiError(`${res.status}: ${msg}${param}${retry ? `; retry in ${retry} s` : ""}`);
    }
  } catch {
    // not JSON: fall through to the status line
  }
  return new ApiError(`${res.status} ${res.statusText}${body ? `: ${body.slice(0, 200)}` : ""}`);
}

/** fetch, with every failure (unreachable, 4xx/5xx) turned into an ApiError naming it. */
async function request(url: string, init: RequestInit = {}): Promise<Response> {
  let res: Response;
  try {
    res = await fetch(url, init);
  } catch (e) {
    throw networkError(e, url);
  }
  if (!res.ok) throw await httpError(res);
  return res;
}

/** The server's /health (queue and batch state), or null when it does not answer. */
export async function fetchHealth(signal?: AbortSignal): Promise<Health | null> {
  try {
    return (await fetch("/health", { signal })).json();
  } catch {
    return null;
  }
}

export async function fetchConfig(signal?: AbortSignal): Promise<ServerConfig> {
  const cfg = (await (await request("/api/config", { signal })).json()) as ServerConfig;
  if (!cfg.presets || !cfg.config_fields || !cfg.normal_defaults) {
    throw new ApiError("/api/config answered without presets, config_fields or normal_defaults: server and UI versions differ");
  }
  return cfg;
}

function json(data: string, event: string): Json {
  try {
    const v = JSON.parse(data) as unknown;
    if (typeof v === "object" && v !== null && !Array.isArray(v)) return v as Json;
  } catch {
    // reported below
  }
  throw new ApiError(`the server sent a "${event}" event whose data is not a JSON object: ${data.slice(0, 120)}`);
}

/** Decode one SSE event of /api/generate; `error` events become ApiErrors, unknown events are skipped. */
export function decodeEvent(event: string, data: string): GenerateEvent | null {
  try {
    switch (event) {
      case "start": {
        const d = json(data, event);
        return { type: "start", start: { model: (d.model ?? {}) as Json, prompt: (d.prompt ?? {}) as Json, sampler: (d.sampler ?? {}) as Json } };
      }
      case "token":
        return { type: "token", token: parseToken(json(data, event)) };
      case "branch": {
        const d = json(data, event);
        if (!Number.isInteger(d.index)) throw new TraceError("branch.index: expected an integer");
        return { type: "branch", index: d.index as number, branch: parseBranch(d.branch) };
      }
      case "done": {
        const d = json(data, event);
        return { type: "done", text: String(d.text ?? ""), stats: parseStats(d.stats) };
      }
      case "error": {
        const d = json(data, event);
        throw new ApiError(`generation failed: ${String(d.message ?? data)}`);
      }
      default:
        return null;
    }
  } catch (e) {
    if (e instanceof TraceError) throw new ApiError(`the server sent a malformed "${event}" event: ${e.message}`);
    throw e;
  }
}

async function postStream(url: string, body: unknown, signal: AbortSignal): Promise<ReadableStream<Uint8Array>> {
  const res = await request(url, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
    body: JSON.stringify(body),
    signal,
  });
  if (!res.body) throw new ApiError("the server answered without a body");
  return res.body;
}

/** Stream one generation; resolves after `done`, rejects on any error or abort. */
export async function generate(
  req: GenerateRequest,
  onEvent: (e: GenerateEvent) => void,
  signal: AbortSignal,
): Promise<void> {
  const res = await postStream("/api/generate", req, signal);
  let lost = "";
  let done = false;
  try {
    // Read on past `done` to the body's end (the server closes it at once): leaving the body
    // unread makes the browser abort the request, which it logs as net::ERR_ABORTED.
    for await (const ev of readSSE(res)) {
      const decoded: GenerateEvent | null = done ? null : decodeEvent(ev.event, ev.data);
      if (!decoded) continue;
      onEvent(decoded);
      done = decoded.type === "done";
    }
    if (done) return;
  } catch (e) {
    if (done) return;
    // A read that fails mid-stream (the browser says only "network error") is the same story as a stream cut short.
    if (e instanceof ApiError || signal.aborted) throw e;
    lost = `: ${(e as Error).message}`;
  }
  throw new ApiError(`the stream ended before its \`done\` event (server stopped or connection lost${lost})`);
}

export interface FitRequest {
  preset: string;
  prompts: number;
  max_tokens: number;
  seed: number;
}

export interface FitProgress {
  done: number;
  total: number;
  tokens: number;
}

export interface FitResult {
  config: Record<string, unknown>;
  tokens: number;
  prompts: number;
}

/** Fit thresholds to the model (POST /api/calibrate): progress events, then the fitted config. */
export async function fitThresholds(req: FitRequest, onProgress: (p: FitProgress) => void, signal: AbortSignal): Promise<FitResult> {
  const body = await postStream("/api/calibrate", req, signal);
  let result: FitResult | null = null;
  for await (const ev of readSSE(body)) {
    if (result) continue; // read on to the end, as generate does (no aborted request)
    if (ev.event === "progress") onProgress(json(ev.data, ev.event) as unknown as FitProgress);
    else if (ev.event === "done") result = json(ev.data, ev.event) as unknown as FitResult;
    else if (ev.event === "error") throw new ApiError(`fitting failed: ${String(json(ev.data, ev.event).message ?? ev.data)}`);
  }
  if (result) return result;
  throw new ApiError("the fitting stream ended before its result (server stopped or connection lost)");
}

export interface EvalRunInfo {
  dir: string;
  n: number | null;
  accuracy: Record<string, number>;
}

export interface EvalMethodResult {
  text: string;
  extracted: string | null;
  correct: boolean;
  tokens: number;
  time_s: number;
  finish_reason: string;
  trace: string;
}

export interface EvalItem {
  index: number;
  id?: string;
  category?: string | null;
  question: string;
  /** A multiple-choice item's options, lettered A, B, … in order. */
  choices?: string[] | null;
  gold: string;
  methods: Record<string, EvalMethodResult>;
}

export interface EvalPair {
  a: string;
  b: string;
  diff: number;
  ci95: [number, number];
  mcnemar_p: number;
  significant: boolean;
}

/** One method's numbers in summary.json (mlx_entropix/eval/report.py); `k` for multi-trace methods. */
export interface EvalMethodSummary {
  n: number;
  correct: number;
  accuracy: number;
  ci95: [number, number];
  mean_tokens: number;
  mean_time_s: number;
  hit_max_tokens: number;
  k?: number;
}

export interface EvalRun {
  dir: string;
  settings?: { configs?: Record<string, Record<string, unknown>> } | null;
  summary: {
    setup: Record<string, unknown>;
    methods: Record<string, EvalMethodSummary>;
    pairs: EvalPair[];
    categories?: Record<string, Record<string, EvalMethodSummary>>;
  };
  items: EvalItem[];
}

export async function listEvals(): Promise<{ root: string; runs: EvalRunInfo[] }> {
  return (await request("/api/evals")).json();
}

export async function openEval(dir: string): Promise<EvalRun> {
  return (await request(`/api/evals/run?dir=${encodeURIComponent(dir)}`)).json();
}

/** One item's trace file, as text for parseTraceJson. */
export async function fetchEvalTrace(dir: string, file: string): Promise<string> {
  return (await request(`/api/evals/trace?dir=${encodeURIComponent(dir)}&file=${encodeURIComponent(file)}`)).text();
}
