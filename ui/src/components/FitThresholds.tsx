import { useCallback, useRef, useState } from "react";
import { fitThresholds, type FitProgress, type FitResult, type ServerConfig } from "../api";
import { THRESHOLD_NAMES } from "../classify";
import { download } from "../export";
import { degenerateFit, fitDescription } from "../fit";
import { fmt } from "../format";
import { NumberField } from "./NumberField";

interface Props {
  config: ServerConfig;
  preset: string;
  onApply: (thresholds: Record<string, number>) => void;
}

/**
 * Fit the thresholds to the loaded model from here (the CLI's `calibrate`): the
 * model's greedy answers to a few prompts, thresholds set to target outcome shares.
 * The result can be applied to the settings or saved as a config file; a fit whose
 * thresholds coincide is flagged.
 */
export function FitThresholds({ config, preset, onApply }: Props) {
  const limit = config.fit_prompts_limit;
  const [prompts, setPrompts] = useState(4);
  const [maxTokens, setMaxTokens] = useState(24);
  const [progress, setProgress] = useState<FitProgress | null>(null);
  const [result, setResult] = useState<FitResult | null>(null);
  const [error, setError] = useState<string | null>(null);
  const abort = useRef<AbortController | null>(null);
  const [bad, setBad] = useState<Record<string, string | null>>({});
  const onProblem = useCallback((name: string, p: string | null) => setBad((b) => (b[name] === p ? b : { ...b, [name]: p })), []);
  const invalid = Object.values(bad).some((p) => p !== null);
  const running = abort.current !== null && progress !== null && !result && !error;

  const start = async () => {
    const ctrl = new AbortController();
    abort.current = ctrl;
    setResult(null);
    setError(null);
    setProgress({ done: 0, total: prompts, tokens: 0 });
    try {
      setResult(await fitThresholds({ preset, prompts, max_tokens: maxTokens, seed: 0 }, setProgress, ctrl.signal));
    } catch (e) {
      setError(ctrl.signal.aborted ? "fitting stopped" : (e as Error).message);
    } finally {
      abort.current = null;
    }
  };
  const degenerate = result ? degenerateFit(result.config) : null;
  const thresholds = result ? Object.fromEntries(THRESHOLD_NAMES.map((k) => [k, Number(result.config[k])])) : null;

  return (
    <details className="fit-box" data-testid="fit">
      <summary>Fit thresholds to this model</summary>
      <p className="hint" data-testid="fit-description">{fitDescription(config)}</p>
      <NumberField
        name="fit_prompts"
        label={limit ? `prompts (1–${limit})` : "prompts"}
        value={prompts}
        integer
        min={1}
        max={limit}
        onProblem={onProblem}
        onChange={setPrompts}
      />
      <NumberField name="fit_max_tokens" label="tokens each" value={maxTokens} integer min={1} max={1024} onProblem={onProblem} onChange={setMaxTokens} />
      {running ? (
        <>
          <progress max={progress!.total} value={progress!.done} data-testid="fit-progress" />
          <span>
            {progress!.done} / {progress!.total} prompts, {progress!.tokens} tokens
          </span>
          <button className="link" onClick={() => abort.current?.abort()}>stop</button>
        </>
      ) : (
        <button onClick={start} disabled={invalid} data-testid="fit-start">Fit</button>
      )}
      {error ? <p className="problem" role="alert">{error}</p> : null}
      {result && thresholds ? (
        <div data-testid="fit-result">
          <p>
            From {result.tokens} tokens of {result.prompts} prompts:{" "}
            {THRESHOLD_NAMES.map((k) => `${k} ${fmt(thresholds[k])}`).join(", ")}
          </p>
          {degenerate ? <p className="problem" role="alert" data-testid="fit-degenerate">{degenerate}</p> : null}
          <button onClick={() => onApply(thresholds)} data-testid="fit-apply">Apply</button>{" "}
          <button
            onClick={() => download("fitted-thresholds.json", new Blob([JSON.stringify(result.config, null, 2) + "\n"], { type: "application/json" }))}
            title="a sampler config file for mlx_main.py --config"
          >
            Save as file
          </button>
        </div>
      ) : null}
    </details>
  );
}
