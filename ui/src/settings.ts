/**
 * The generation settings a user edits, and how they become a request.
 * Every default comes from the server's /api/config; only the user's edits are kept here.
 */

import type { GenerateRequest, Method, NormalParams, ServerConfig } from "./api";
import { thresholdsOf, type Thresholds } from "./classify";
import type { Reclassify } from "./outcomes";
import type { ChatMessage, Trace } from "./trace";

export type FieldValue = number | boolean | string;

export interface Settings {
  method: Method;
  preset: string;
  /** Sampler-config fields the user changed from the preset (sent as `config`). */
  overrides: Record<string, FieldValue>;
  normal: NormalParams;
  seed: number;
  maxTokens: number;
  system: string;
  /** Ask for per-layer attention arrays (the heatmap); off by default, they make each token ~layers × heads numbers bigger. */
  layers: boolean;
}

/** The sampling parameters shown in the "Sampling" group (SamplerConfig base values, or the normal baseline's). */
export const SAMPLING_FIELDS = ["temperature", "top_p", "top_k", "min_p"] as const;

export function defaultSettings(config: ServerConfig): Settings {
  const preset = config.default_preset in config.presets ? config.default_preset : Object.keys(config.presets)[0];
  const seed = config.presets[preset]?.seed;
  return {
    method: (config.default_method as Method) ?? "entropix",
    preset,
    overrides: {},
    normal: { ...config.normal_defaults },
    seed: typeof seed === "number" ? seed : 0,
    maxTokens: config.max_tokens_default,
    system: "",
    layers: false,
  };
}

/** The preset with the user's edits on top: what the sampler will actually use. */
export function effectiveConfig(config: ServerConfig, s: Settings): Record<string, unknown> {
  return { ...(config.presets[s.preset] ?? {}), ...s.overrides };
}

export function effectiveThresholds(config: ServerConfig | null, s: Settings | null): Thresholds | null {
  return config && s ? thresholdsOf(effectiveConfig(config, s)) : null;
}

/** What re-classifying a run against the current settings needs: the thresholds now, the run's own, its branch fraction. */
export function reclassifyFor(config: ServerConfig | null, s: Settings | null, trace: Trace | null): Reclassify | null {
  const ranConfig = (trace?.sampler as { config?: Record<string, unknown> } | undefined)?.config;
  const ran = thresholdsOf(ranConfig);
  const now = effectiveThresholds(config, s) ?? ran;
  if (!now) return null;
  const fraction = config && s ? effectiveConfig(config, s).branch_fraction : ranConfig?.branch_fraction;
  return { now, ran, branchFraction: typeof fraction === "number" ? fraction : 0.8 };
}

/** Set one sampler field; a value equal to the preset's drops the override. */
export function setOverride(config: ServerConfig, s: Settings, name: string, value: FieldValue): Settings {
  const overrides = { ...s.overrides };
  if (config.presets[s.preset]?.[name] === value) delete overrides[name];
  else overrides[name] = value;
  return { ...s, overrides };
}

/** Why these settings cannot be sent, or null when they can. */
export function settingsProblem(config: ServerConfig, s: Settings): string | null {
  if (!Number.isInteger(s.maxTokens) || s.maxTokens < 1 || s.maxTokens > config.max_tokens_limit) {
    return `max tokens must be a whole number from 1 to ${config.max_tokens_limit}`;
  }
  if (!Number.isInteger(s.seed) || s.seed < 0) return "seed must be a whole number ≥ 0";
  const t = effectiveThresholds(config, s);
  if (t && !(t.low_ent <= t.med_ent && t.med_ent <= t.high_ent)) {
    return "entropy thresholds must satisfy low_ent ≤ med_ent ≤ high_ent";
  }
  if (t && !(t.low_vent <= t.high_vent)) return "varentropy thresholds must satisfy low_vent ≤ high_vent";
  return null;
}

export function buildRequest(s: Settings, messages: ChatMessage[], method: Method = s.method): GenerateRequest {
  return {
    messages,
    method,
    preset: s.preset,
    config: s.overrides,
    normal: s.normal,
    seed: s.seed,
    max_tokens: s.maxTokens,
    layers: s.layers,
  };
}

/** The messages of the next turn: the previous run's conversation and answer, then the new prompt. */
export function nextMessages(previous: ChatMessage[] | null, previousAnswer: string, system: string, prompt: string): ChatMessage[] {
  if (previous && previous.length > 0) {
    return [...previous, { role: "assistant", content: previousAnswer }, { role: "user", content: prompt }];
  }
  return [...(system.trim() ? [{ role: "system", content: system }] : []), { role: "user", content: prompt }];
}
