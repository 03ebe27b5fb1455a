import { describe, expect, it } from "vitest";
import type { ServerConfig } from "./api";
import { buildRequest, defaultSettings, effectiveThresholds, nextMessages, setOverride, settingsProblem } from "./settings";

const CONFIG: ServerConfig = {
  model: { name: "m", vocab_size: 100 },
  unit: "nats",
  default_method: "entropix",
  default_preset: "entropix",
  presets: {
    entropix: { low_ent: 0.07, med_ent: 2, high_ent: 3.4, low_vent: 0.05, high_vent: 2.4, temperature: 0.666 },
    greedy: { low_ent: 0.07, med_ent: 2, high_ent: 3.4, low_vent: 0.05, high_vent: 2.4, temperature: 0.666, greedy: true },
  },
  config_fields: [{ name: "low_ent", description: "", type: "float" }],
  normal_defaults: { temperature: 0.7, top_p: 0.9, min_p: 0.03, top_k: 0 },
  max_tokens_default: 64,
  max_tokens_limit: 512,
  outcomes: [],
};

describe("settings", () => {
  it("starts from the server's defaults", () => {
    const s = defaultSettings(CONFIG);
    expect(s).toMatchObject({ method: "entropix", preset: "entropix", overrides: {}, maxTokens: 64, normal: CONFIG.normal_defaults });
    expect(effectiveThresholds(CONFIG, s)).toMatchObject({ low_ent: 0.07, med_ent: 2, high_ent: 3.4, low_vent: 0.05, high_vent: 2.4 });
  });

  it("keeps only real overrides and sends them as config", () => {
    let s = defaultSettings(CONFIG);
    s = setOverride(CONFIG, s, "low_ent", 0.5);
    expect(effectiveThresholds(CONFIG, s)?.low_ent).toBe(0.5);
    expect(buildRequest(s, [{ role: "user", content: "x" }], "normal")).toMatchObject({ method: "normal", config: { low_ent: 0.5 } });
    s = setOverride(CONFIG, s, "low_ent", 0.07);
    expect(s.overrides).toEqual({});
  });

  it("names the problem with unusable settings", () => {
    const s = defaultSettings(CONFIG);
    expect(settingsProblem(CONFIG, s)).toBeNull();
    expect(settingsProblem(CONFIG, { ...s, maxTokens: 513 })).toMatch(/1 to 512/);
    expect(settingsProblem(CONFIG, setOverride(CONFIG, s, "med_ent", 5))).toMatch(/low_ent ≤ med_ent ≤ high_ent/);
  });

  it("continues a conversation or starts one with the system prompt", () => {
    expect(nextMessages(null, "", "Be brief.", "Hi")).toEqual([{ role: "system", content: "Be brief." }, { role: "user", content: "Hi" }]);
    expect(nextMessages([{ role: "user", content: "Hi" }], "Hello!", "", "More")).toEqual([
      { role: "user", content: "Hi" },
      { role: "assistant", content: "Hello!" },
      { role: "user", content: "More" },
    ]);
  });
});
