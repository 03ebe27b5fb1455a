import { useCallback, useEffect, useRef, useState } from "react";
import { fetchConfig, fetchHealth, generate, type GenerateRequest, type ServerConfig } from "./api";
import { ATTN_THRESHOLD_NAMES, THRESHOLD_NAMES } from "./classify";
import { ComparePanel, type ComparePair } from "./components/ComparePanel";
import { AttentionHeatmap } from "./components/AttentionHeatmap";
import { ChartsPanel } from "./components/ChartsPanel";
import { Distributions } from "./components/Distributions";
import { EvalsPanel } from "./components/EvalsPanel";
import { Conversation } from "./components/Conversation";
import { SettingsPanel } from "./components/SettingsPanel";
import { TokenDetails } from "./components/TokenDetails";
import { applyEvent, failRun, runFromTrace, startRun, type Run } from "./run";
import { buildRequest, defaultSettings, nextMessages, reclassifyFor, settingsProblem, type Settings } from "./settings";
import { download, tokensCsv } from "./export";
import type { Health } from "./status";
import { useTheme } from "./theme";
import { firstProblem } from "./validate";
import { parseTraceJson, promptMessages, traceToJson, UNIT, type Trace } from "./trace";

type Tab = "chat" | "compare" | "evals";

const TAB_NAMES: Record<Tab, string> = { chat: "Chat", compare: "Compare entropix vs normal", evals: "Eval results" };

/** Re-render a few times a second while a run streams, for the live tok/s and time. */
function useNow(active: boolean): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!active) return;
    setNow(Date.now());
    const id = setInterval(() => setNow(Date.now()), 250);
    return () => clearInterval(id);
  }, [active]);
  return active ? now : Date.now();
}

/** Where a model's measured prompt speed is kept between visits, so even a page's first run shows a share done. */
const promptTpsKey = (model: unknown) => `mlx-entropix.prompt_tps.${String(model)}`;

/** Stream one request into a Run, reporting every intermediate state; never throws. */
async function streamRun(req: GenerateRequest, report: (r: Run) => void, signal: AbortSignal): Promise<Run> {
  let run = startRun({ messages: req.messages }, Date.now(), req.max_tokens);
  report(run);
  try {
    await generate(req, (ev) => {
      run = applyEvent(run, ev, Date.now());
      report(run);
    }, signal);
  } catch (e) {
    run = failRun(run, e);
    report(run);
  }
  return run;
}

/** Settings that reproduce a loaded trace's sampler, so its re-classified view starts equal to what happened. */
function settingsForTrace(config: ServerConfig, s: Settings, trace: Trace): Settings {
  const sampler = trace.sampler as { preset?: unknown; seed?: unknown; config?: Record<string, unknown> };
  const preset = typeof sampler.preset === "string" && sampler.preset in config.presets ? sampler.preset : s.preset;
  const ran = sampler.config ?? {};
  const overrides: Settings["overrides"] = {};
  for (const k of [...THRESHOLD_NAMES, ...ATTN_THRESHOLD_NAMES, "gating"]) {
    const v = ran[k];
    if ((typeof v === "number" || typeof v === "string") && config.presets[preset]?.[k] !== v) overrides[k] = v;
  }
  return { ...s, preset, overrides, seed: typeof sampler.seed === "number" ? sampler.seed : s.seed };
}

export function App() {
  const [theme, toggleTheme] = useTheme();
  const [config, setConfig] = useState<ServerConfig | null>(null);
  const [configError, setConfigError] = useState<string | null>(null);
  const [settings, setSettings] = useState<Settings | null>(null);
  const [tab, setTab] = useState<Tab>("chat");
  const [run, setRun] = useState<Run | null>(null);
  /** A run opened from compare or an eval, shown in the chat view's charts without replacing the chat's own run. */
  const [inspected, setInspected] = useState<Run | null>(null);
  const [promptTps, setPromptTps] = useState<number | null>(null);
  const [pair, setPair] = useState<ComparePair>({ entropix: null, normal: null });
  const [busy, setBusy] = useState(false);
  const [prompt, setPrompt] = useState("");
  const [continueChat, setContinueChat] = useState(true);
  const [hover, setHover] = useState<number | null>(null);
  const [selected, setSelected] = useState<number | null>(null);
  const [banner, setBanner] = useState<string | null>(null);
  const [fieldProblems, setFieldProblems] = useState<Record<string, string>>({});
  const onFieldProblem = useCallback((name: string, p: string | null) => {
    setFieldProblems((all) => {
      if ((all[name] ?? null) === p) return all;
      const next = { ...all };
      if (p === null) delete next[name];
      else next[name] = p;
      return next;
    });
  }, []);
  const abortRef = useRef<AbortController | null>(null);
  const fileRef = useRef<HTMLInputElement>(null);
  const now = useNow(busy);

  const loadConfig = useCallback(() => {
    setConfigError(null);
    fetchConfig()
      .then((c) => {
        setConfig(c);
        const saved = Number(localStorage.getItem(promptTpsKey(c.model.name)));
        if (saved > 0) setPromptTps((tps) => tps ?? saved);
        setSettings((s) => s ?? defaultSettings(c));
      })
      .catch((e: Error) => setConfigError(e.message));
  }, []);
  useEffect(loadConfig, [loadConfig]);

  // The server's queue (running, waiting) every few seconds; the config again while a first-use fit runs.
  const [health, setHealth] = useState<Health | null>(null);
  const fitting = config?.first_fit?.state === "running";
  useEffect(() => {
    const poll = () => {
      fetchHealth().then(setHealth);
      if (fitting) fetchConfig().then(setConfig, () => undefined);
    };
    poll();
    const id = setInterval(poll, 3000);
    return () => clearInterval(id);
  }, [fitting]);

  const shown = inspected ?? run;
  const trace = shown?.trace ?? null;
  const tokens = trace?.tokens ?? [];
  const unit = trace?.unit ?? config?.unit ?? UNIT;
  const rc = reclassifyFor(config, settings, trace);
  const focus = hover ?? selected ?? (tokens.length ? tokens.length - 1 : null);
  const focusToken = focus !== null && focus < tokens.length ? tokens[focus] : null;
  const observed = {
    entropy: Math.max(0, ...tokens.map((t) => t.metrics.entropy)),
    varentropy: Math.max(0, ...tokens.map((t) => t.metrics.varentropy)),
  };
  const problem = firstProblem(fieldProblems) ?? (config && settings ? settingsProblem(config, settings) : "no server configuration yet");
  const blocked = problem ?? (prompt.trim() === "" ? "type a prompt first" : null);
  const canRun = !busy && !blocked;

  const begin = (): AbortController => {
    const ctrl = new AbortController();
    abortRef.current = ctrl;
    setBusy(true);
    setBanner(null);
    return ctrl;
  };
  const finish = (...done: Run[]) => {
    abortRef.current = null;
    setBusy(false);
    fetchHealth().then(setHealth); // the queue as it is now, not as at the last poll
    const tps = done.map((r) => r.trace.stats?.prompt_tps).find((v) => typeof v === "number" && v > 0);
    if (tps) {
      setPromptTps(tps);
      if (config) localStorage.setItem(promptTpsKey(config.model.name), String(tps));
    }
  };

  const onGenerate = async () => {
    if (!settings || !canRun) return;
    const previous = continueChat && run && run.status === "done" ? run.trace : null;
    const messages = nextMessages(previous ? promptMessages(previous) : null, previous?.text ?? "", settings.system, prompt);
    const ctrl = begin();
    setTab("chat");
    setHover(null);
    setSelected(null);
    setInspected(null);
    const final = await streamRun(buildRequest(settings, messages), setRun, ctrl.signal);
    if (final.status === "done") setPrompt("");
    finish(final);
  };

  const onCompare = async () => {
    if (!settings || !canRun) return;
    const messages = nextMessages(null, "", settings.system, prompt);
    const ctrl = begin();
    setTab("compare");
    setPair({ entropix: null, normal: null });
    const first = await streamRun(buildRequest(settings, messages, "entropix"), (r) => setPair((p) => ({ ...p, entropix: r })), ctrl.signal);
    if (first.status === "done") {
      finish(first, await streamRun(buildRequest(settings, messages, "normal"), (r) => setPair((p) => ({ ...p, normal: r })), ctrl.signal));
    } else finish(first);
  };

  const onStop = () => abortRef.current?.abort();

  const fileStem = () => {
    const method = String((trace?.sampler as { method?: unknown } | undefined)?.method ?? "run");
    return `trace-${method}-${new Date().toISOString().replace(/[:.]/g, "-")}`;
  };
  const onSave = () => {
    if (trace) download(`${fileStem()}.json`, new Blob([traceToJson(trace)], { type: "application/json" }));
  };
  const onCsv = () => {
    if (trace) download(`${fileStem()}.csv`, new Blob([tokensCsv(trace.tokens)], { type: "text/csv" }));
  };

  const onLoad = async (file: File | undefined) => {
    if (!file) return;
    try {
      const loaded = parseTraceJson(await file.text(), file.name);
      setRun(runFromTrace(loaded, file.name));
      setInspected(null);
      setHover(null);
      setSelected(null);
      setTab("chat");
      setBanner(null);
      if (config && settings) setSettings(settingsForTrace(config, settings, loaded));
    } catch (e) {
      setBanner(`Could not load ${file.name}: ${(e as Error).message}`);
    } finally {
      if (fileRef.current) fileRef.current.value = "";
    }
  };

  const inspect = (r: Run) => {
    setInspected(r);
    setHover(null);
    setSelected(null);
    setTab("chat");
  };

  const modelName = String(trace?.model.name ?? config?.model.name ?? "");

  return (
    <div className="app">
      <header className="topbar">
        <h1>mlx-entropix</h1>
        <span className="muted model-name" title="model">{modelName}</span>
        <span className="spacer" />
        <button onClick={onSave} disabled={!trace || trace.tokens.length === 0 || busy} data-testid="save-trace">
          Save trace
        </button>
        <button onClick={onCsv} disabled={!trace || trace.tokens.length === 0 || busy} data-testid="save-csv" title="the token table as CSV">
          Tokens CSV
        </button>
        <button onClick={() => fileRef.current?.click()} disabled={busy}>
          Load trace
        </button>
        <input ref={fileRef} type="file" accept=".json,application/json" hidden data-testid="load-trace" onChange={(e) => onLoad(e.target.files?.[0])} />
        <button onClick={toggleTheme} title="toggle light/dark theme" data-testid="theme-toggle">
          {theme === "dark" ? "☀ Light" : "☾ Dark"}
        </button>
      </header>
      <div className="body">
        {config && settings ? (
          <SettingsPanel config={config} settings={settings} onChange={setSettings} onProblem={onFieldProblem} observed={observed} health={health} />
        ) : (
          <aside className="settings">
            <h2>Settings</h2>
            {configError ? (
              <div className="error-box" role="alert" data-testid="config-error">
                <p>{configError}</p>
                <button onClick={loadConfig}>Retry</button>
                <p className="muted">Saved traces can still be loaded and replayed.</p>
              </div>
            ) : (
              <p className="muted">Loading the server's configuration…</p>
            )}
          </aside>
        )}
        <main>
          <nav className="tabs" role="tablist">
            {(["chat", "compare", "evals"] as const).map((t) => (
              <button key={t} role="tab" aria-selected={tab === t} className={tab === t ? "tab active" : "tab"} onClick={() => setTab(t)}>
                {TAB_NAMES[t]}
              </button>
            ))}
          </nav>
          {banner ? (
            <div className="error-box" role="alert" data-testid="banner">
              <span>{banner}</span>
              <button className="link" onClick={() => setBanner(null)}>dismiss</button>
            </div>
          ) : null}
          {tab === "chat" && inspected ? (
            <div className="inspect-banner" data-testid="inspecting">
              <span>
                Inspecting <b>{inspected.source === "generated" ? String((inspected.trace.sampler as { method?: unknown }).method ?? "a run") : inspected.source}</b>
              </span>
              <button className="link" onClick={() => setInspected(null)} data-testid="back-to-chat">
                back to your chat{run ? ` (${run.trace.tokens.length} tokens)` : ""}
              </button>
            </div>
          ) : null}
          <section className="prompt-box" hidden={tab === "evals"}>
            {settings ? (
              <details className="system-prompt">
                <summary>System prompt{settings.system ? " (set)" : ""}</summary>
                <textarea
                  name="system"
                  rows={2}
                  value={settings.system}
                  placeholder="Optional system prompt"
                  onChange={(e) => setSettings({ ...settings, system: e.target.value })}
                />
              </details>
            ) : null}
            <textarea
              name="prompt"
              rows={3}
              value={prompt}
              placeholder="Ask something… (Ctrl+Enter to generate)"
              onChange={(e) => setPrompt(e.target.value)}
              onKeyDown={(e) => {
                if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
                  e.preventDefault();
                  if (tab === "compare") onCompare();
                  else onGenerate();
                }
              }}
            />
            <div className="prompt-actions">
              {busy ? (
                <button className="primary stop" onClick={onStop} data-testid="stop">
                  ■ Stop
                </button>
              ) : (
                <>
                  <button className="primary" disabled={!canRun} title={blocked ?? undefined} onClick={tab === "compare" ? onCompare : onGenerate} data-testid="generate">
                    {tab === "compare" ? "Compare" : "Generate"}
                  </button>
                  {tab === "chat" && run && run.status === "done" ? (
                    <label className="inline-toggle" title="send the conversation so far with the next prompt">
                      <input type="checkbox" checked={continueChat} onChange={(e) => setContinueChat(e.target.checked)} />
                      continue this conversation
                    </label>
                  ) : null}
                  {tab === "chat" && run ? (
                    <button className="link" onClick={() => { setRun(null); setInspected(null); }}>
                      new chat
                    </button>
                  ) : null}
                </>
              )}
              {blocked && config && !busy ? <span className={problem ? "problem" : "muted"} data-testid="generate-blocked">{blocked}</span> : null}
            </div>
          </section>

          <div hidden={tab !== "evals"}>
            <EvalsPanel active={tab === "evals"} onOpenTrace={(t, source) => inspect(runFromTrace(t, source))} />
          </div>
          {tab === "evals" ? null : tab === "compare" ? (
            <ComparePanel pair={pair} config={config} unit={unit} rc={reclassifyFor(config, settings, pair.entropix?.trace ?? null)} now={now} onInspect={inspect} />
          ) : (
            <>
              <div className="chat-grid">
                <Conversation
                  run={shown}
                  promptTps={promptTps}
                  config={config}
                  rc={rc}
                  hover={hover}
                  selected={selected}
                  now={now}
                  onHover={setHover}
                  onSelect={setSelected}
                />
                <TokenDetails token={focusToken} rc={rc} config={config} unit={unit} />
              </div>
              <ChartsPanel
                tokens={tokens}
                rc={rc}
                hover={hover}
                selected={selected}
                unit={unit}
                onHover={setHover}
                onSelect={setSelected}
              />
              <div className="extra-charts">
                <Distributions tokens={tokens} thresholds={rc?.now ?? null} unit={unit} />
                <AttentionHeatmap tokens={tokens} focus={focus} onSelect={setSelected} />
              </div>
            </>
          )}
        </main>
      </div>
    </div>
  );
}
