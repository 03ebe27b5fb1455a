/**
 * A run as the UI holds it: the trace growing event by event, plus its status.
 * Pure functions so a streamed run and a loaded trace go through the same views.
 */

import type { GenerateEvent } from "./api";
import { TRACE_VERSION, UNIT, type Trace } from "./trace";

export type RunStatus = "running" | "done" | "error" | "cancelled";

export interface Run {
  trace: Trace;
  status: RunStatus;
  error?: string;
  /** Where the run came from, for the header ("generated", or the loaded file's name). */
  source: string;
  /** Wall-clock start (ms), for the live tok/s before the server's stats arrive. */
  startedAt: number;
  firstTokenAt?: number;
  /** The request's token budget, for "n / max" while it runs. */
  maxTokens?: number;
}

export function emptyTrace(prompt: Trace["prompt"] = {}): Trace {
  return { version: TRACE_VERSION, unit: UNIT, model: {}, prompt, sampler: {}, text: "", tokens: [], stats: null };
}

export function startRun(prompt: Trace["prompt"], now: number, maxTokens?: number): Run {
  return { trace: emptyTrace(prompt), status: "running", source: "generated", startedAt: now, maxTokens };
}

export function runFromTrace(trace: Trace, source: string): Run {
  return { trace, status: "done", source, startedAt: 0 };
}

/** Apply one streamed event; returns a new Run (React state is immutable). */
export function applyEvent(run: Run, e: GenerateEvent, now: number): Run {
  const t = run.trace;
  switch (e.type) {
    case "start":
      return { ...run, trace: { ...t, model: e.start.model, prompt: e.start.prompt, sampler: e.start.sampler } };
    case "token":
      return {
        ...run,
        firstTokenAt: run.firstTokenAt ?? now,
        trace: { ...t, tokens: [...t.tokens, e.token], text: t.text + e.token.text },
      };
    case "branch": {
      const tokens = t.tokens.map((tok) => (tok.index === e.index ? { ...tok, branch: e.branch } : tok));
      return { ...run, trace: { ...t, tokens } };
    }
    case "done":
      return { ...run, status: "done", trace: { ...t, text: e.text, stats: e.stats } };
  }
}

export function failRun(run: Run, error: unknown): Run {
  if (error instanceof DOMException && error.name === "AbortError") return { ...run, status: "cancelled" };
  return { ...run, status: "error", error: error instanceof Error ? error.message : String(error) };
}

export interface PromptProgress {
  /** Prompt tokens, once the server's start event told. */
  tokens: number | null;
  seconds: number;
  /** Estimated share done (0..0.99) from the prompt speed of an earlier run, when one is known. */
  fraction: number | null;
}

/** How far the prompt's processing has got, while no token has come yet. */
export function promptProgress(run: Run, now: number, promptTps: number | null): PromptProgress | null {
  if (run.status !== "running" || run.trace.tokens.length > 0 || run.startedAt <= 0) return null;
  const n = run.trace.prompt.n_tokens;
  const tokens = typeof n === "number" ? n : null;
  // `now` can trail a run that just started (the clock's last tick was before it): never below zero.
  const seconds = Math.max(0, now - run.startedAt) / 1000;
  const fraction = tokens && promptTps && promptTps > 0 ? Math.min(0.99, seconds / (tokens / promptTps)) : null;
  return { tokens, seconds, fraction };
}

export interface RunSummary {
  tokens: number;
  tokensPerSecond: number | null;
  seconds: number | null;
  finishReason: string;
  counts: Record<string, number>;
}

/** Tokens, speed, time and outcome counts: the server's stats when done, a live estimate before. */
export function summarize(run: Run, now: number): RunSummary {
  const { tokens, stats } = run.trace;
  const counts: Record<string, number> = {};
  for (const tok of tokens) counts[tok.outcome] = (counts[tok.outcome] ?? 0) + 1;
  if (stats) {
    return {
      tokens: tokens.length,
      tokensPerSecond: stats.generation_tps,
      seconds: stats.total_time_s,
      finishReason: stats.finish_reason,
      counts,
    };
  }
  const live = run.startedAt > 0;
  const elapsed = live ? Math.max(0, now - run.startedAt) / 1000 : null;
  const genTime = run.firstTokenAt && tokens.length > 1 && now > run.firstTokenAt ? (now - run.firstTokenAt) / 1000 : null;
  return {
    tokens: tokens.length,
    tokensPerSecond: genTime ? (tokens.length - 1) / genTime : null,
    seconds: elapsed,
    finishReason: run.status === "running" ? "running" : run.status,
    counts,
  };
}
