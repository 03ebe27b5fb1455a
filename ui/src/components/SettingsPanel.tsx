import { METHODS, type Method, type ServerConfig } from "../api";
import { THRESHOLD_NAMES } from "../classify";
import { effectiveConfig, SAMPLING_FIELDS, setOverride, settingsProblem, type Settings } from "../settings";
import { FieldName } from "./FieldName";
import { FitThresholds } from "./FitThresholds";
import { NumberField } from "./NumberField";
import { ServerStatus } from "./ServerStatus";
import type { Health } from "../status";

interface Props {
  config: ServerConfig;
  settings: Settings;
  onChange: (s: Settings) => void;
  /** A field's entry problem (or null when it is fixed), so the caller can block Generate. */
  onProblem: (name: string, problem: string | null) => void;
  /** Largest entropy and varentropy seen in the current run, so the sliders reach the data. */
  observed: { entropy: number; varentropy: number };
  /** The server's last /health answer. */
  health: Health | null;
}

/**
 * Method, preset, thresholds and sampling parameters. Everything starts from the
 * server's presets; edited fields are highlighted and sent as `config` overrides.
 * Thresholds apply to the charts at once (re-classification), the rest at the next run.
 */
export function SettingsPanel({ config, settings: s, onChange, onProblem, observed, health }: Props) {
  const eff = effectiveConfig(config, s);
  const described = new Map(config.config_fields.map((f) => [f.name, f]));
  const problem = settingsProblem(config, s);
  const vocab = Number(config.model.vocab_size);
  const maxEntropy = Number.isFinite(vocab) && vocab > 1 ? Math.log(vocab) : 12;

  const configField = (name: string, sliderMax?: number) => {
    const f = described.get(name);
    const v = eff[name];
    if (!f || typeof v !== "number") return null;
    return (
      <NumberField
        key={name}
        name={name}
        label={name}
        title={f.description}
        value={v}
        integer={f.type === "int"}
        min={f.min ?? undefined}
        max={f.max ?? undefined}
        sliderMax={sliderMax}
        changed={name in s.overrides}
        onProblem={onProblem}
        onChange={(nv) => onChange(setOverride(config, s, name, nv))}
      />
    );
  };

  const thresholdMax = (name: string) => {
    const base = Number(config.presets[s.preset]?.[name] ?? 1);
    const seen = name.includes("vent") ? observed.varentropy : observed.entropy;
    return name.includes("vent") ? Math.max(3 * base, seen * 1.1, 1) : Math.min(maxEntropy, Math.max(3 * base, seen * 1.1, 1));
  };

  const samplingFromNormal = s.method === "normal";
  const others = config.config_fields.filter(
    (f) => !(THRESHOLD_NAMES as readonly string[]).includes(f.name) && !(SAMPLING_FIELDS as readonly string[]).includes(f.name),
  );

  return (
    <aside className="settings" aria-label="settings">
      <h2>Settings</h2>
      <ServerStatus config={config} settings={s} health={health} />
      <details className="model-info" data-testid="model-info">
        <summary>Model</summary>
        <table className="kv">
          <tbody>
            {Object.entries(config.model).map(([k, v]) => (
              <tr key={k}>
                <th>{k}</th>
                <td>{typeof v === "object" && v !== null ? JSON.stringify(v) : String(v)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </details>
      <label className="field menu">
        <span className="field-label">method</span>
        <select name="method" value={s.method} onChange={(e) => onChange({ ...s, method: e.target.value as Method })}>
          {METHODS.map((m) => (
            <option key={m} value={m}>{m}</option>
          ))}
        </select>
      </label>
      <label className="field menu">
        <span className="field-label">preset</span>
        <select name="preset" value={s.preset} onChange={(e) => onChange({ ...s, preset: e.target.value, overrides: {} })}>
          {Object.keys(config.presets).map((p) => (
            <option key={p} value={p}>{p}</option>
          ))}
        </select>
      </label>

      <h3>
        Thresholds <span className="muted">({config.unit})</span>
      </h3>
      <p className="hint">Moving one re-classifies the tokens in the charts at once.</p>
      {THRESHOLD_NAMES.map((n) => configField(n, thresholdMax(n)))}
      <FitThresholds
        config={config}
        preset={s.preset}
        onApply={(t) => onChange(Object.entries(t).reduce((acc, [k, v]) => setOverride(config, acc, k, v), s))}
      />

      <h3>Sampling {samplingFromNormal ? <span className="muted">(normal baseline)</span> : <span className="muted">(entropix base)</span>}</h3>
      {SAMPLING_FIELDS.map((name) =>
        samplingFromNormal ? (
          <NumberField
            key={name}
            name={name}
            label={name}
            value={s.normal[name]}
            integer={name === "top_k"}
            min={0}
            changed={s.normal[name] !== config.normal_defaults[name]}
            onProblem={onProblem}
            onChange={(v) => onChange({ ...s, normal: { ...s.normal, [name]: v } })}
          />
        ) : (
          configField(name)
        ),
      )}
      <NumberField name="seed" label="seed" value={s.seed} integer min={0} onProblem={onProblem} onChange={(v) => onChange({ ...s, seed: v })} />
      <NumberField
        name="max_tokens"
        label="max tokens"
        value={s.maxTokens}
        integer
        min={1}
        max={config.max_tokens_limit}
        title={`1 to ${config.max_tokens_limit}`}
        onProblem={onProblem}
        onChange={(v) => onChange({ ...s, maxTokens: v })}
      />
      <label className="field" title="each token also carries its attention entropy per layer and head, for the layers × tokens heatmap">
        <span className="field-label">per-layer attention</span>
        <input type="checkbox" name="layers" checked={s.layers} onChange={(e) => onChange({ ...s, layers: e.target.checked })} />
      </label>
      {others.length ? (
        <details className="more-fields">
          <summary>All sampler fields ({others.length})</summary>
          {others.map((f) => {
            const v = eff[f.name];
            if (typeof v === "boolean") {
              return (
                <label key={f.name} className={`field${f.name in s.overrides ? " changed" : ""}`} title={f.description}>
                  <span className="field-label"><FieldName name={f.name} /></span>
                  <input type="checkbox" checked={v} onChange={(e) => onChange(setOverride(config, s, f.name, e.target.checked))} />
                </label>
              );
            }
            if (typeof v === "string") {
              const set = (nv: string) => onChange(setOverride(config, s, f.name, nv));
              return (
                <label key={f.name} className={`field${f.name in s.overrides ? " changed" : ""}`} title={f.description}>
                  <span className="field-label"><FieldName name={f.name} /></span>
                  {f.choices ? (
                    <select value={v} onChange={(e) => set(e.target.value)}>
                      {f.choices.map((c) => (
                        <option key={c} value={c}>{c}</option>
                      ))}
                    </select>
                  ) : (
                    <input type="text" value={v} onChange={(e) => set(e.target.value)} />
                  )}
                </label>
              );
            }
            return configField(f.name);
          })}
        </details>
      ) : null}
      {Object.keys(s.overrides).length ? (
        <button className="link" onClick={() => onChange({ ...s, overrides: {} })}>
          reset to preset ({Object.keys(s.overrides).length} changed)
        </button>
      ) : null}
      {problem ? <p className="problem" role="alert" data-testid="settings-problem">{problem}</p> : null}
    </aside>
  );
}
