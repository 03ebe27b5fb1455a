import { useEffect, useState } from "react";
import { fetchEvalTrace, listEvals, openEval, type EvalRun, type EvalRunInfo } from "../api";
import { fmt, pct } from "../format";
import { parseTraceJson, type Trace } from "../trace";

interface Props {
  /** Open an item's trace in the chat view's charts. */
  onOpenTrace: (trace: Trace, source: string) => void;
}

/** Eval output folders (mlx_main.py eval --out) under the server's --eval-dir: the method comparison, then every item. */
export function EvalsPanel({ onOpenTrace }: Props) {
  const [runs, setRuns] = useState<{ root: string; runs: EvalRunInfo[] } | null>(null);
  const [run, setRun] = useState<EvalRun | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    listEvals().then(setRuns, (e: Error) => setError(e.message));
  }, []);

  const open = (dir: string) => {
    setError(null);
    openEval(dir).then(setRun, (e: Error) => setError(e.message));
  };
  const openTrace = async (dir: string, file: string) => {
    try {
      onOpenTrace(parseTraceJson(await fetchEvalTrace(dir, file), file), `${dir}/${file}`);
    } catch (e) {
      setError(`could not open ${dir}/${file}: ${(e as Error).message}`);
    }
  };

  return (
    <section className="evals" data-testid="evals">
      {error ? <div className="error-box" role="alert">{error}</div> : null}
      {runs ? (
        runs.runs.length ? (
          <label className="field">
            <span className="field-label">eval run</span>
            <select value={run?.dir ?? ""} onChange={(e) => open(e.target.value)} name="eval-run">
              <option value="" disabled>choose a run in {runs.root}</option>
              {runs.runs.map((r) => (
                <option key={r.dir} value={r.dir}>
                  {r.dir} ({r.n ?? "?"} items; {Object.entries(r.accuracy).map(([m, a]) => `${m} ${pct(a)}`).join(", ")})
                </option>
              ))}
            </select>
          </label>
        ) : (
          <p className="muted">
            No eval outputs under <code>{runs.root}</code>. Write one with <code>uv run mlx_main.py eval --out {runs.root}/NAME</code> (or start the
            server with <code>--eval-dir</code>).
          </p>
        )
      ) : (
        <p className="muted">Loading the eval runs…</p>
      )}
      {run ? <EvalReport run={run} onTrace={openTrace} /> : null}
    </section>
  );
}

function EvalReport({ run, onTrace }: { run: EvalRun; onTrace: (dir: string, file: string) => void }) {
  const methods = Object.keys(run.summary.methods);
  return (
    <>
      <h3>Methods</h3>
      <table data-testid="eval-methods">
        <thead>
          <tr><th>method</th><th>accuracy [95% CI]</th><th>correct</th><th>mean tokens</th><th>s/answer</th><th>hit max tokens</th></tr>
        </thead>
        <tbody>
          {methods.map((m) => {
            const s = run.summary.methods[m];
            return (
              <tr key={m}>
                <td>{m}</td>
                <td>{pct(s.accuracy)} [{pct(s.ci95[0])}, {pct(s.ci95[1])}]</td>
                <td>{s.correct}/{s.n}</td>
                <td>{fmt(s.mean_tokens)}</td>
                <td>{fmt(s.mean_time_s)}</td>
                <td>{s.hit_max_tokens}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {run.summary.pairs.length ? (
        <>
          <h3>Paired comparison</h3>
          <table data-testid="eval-pairs">
            <thead>
              <tr><th>pair</th><th>difference [95% CI]</th><th>McNemar p</th><th>significant</th></tr>
            </thead>
            <tbody>
              {run.summary.pairs.map((p) => (
                <tr key={`${p.a}-${p.b}`}>
                  <td>{p.a} − {p.b}</td>
                  <td>{fmt(p.diff * 100)} pp [{fmt(p.ci95[0] * 100)}, {fmt(p.ci95[1] * 100)}]</td>
                  <td>{fmt(p.mcnemar_p)}</td>
                  <td>{p.significant ? "yes" : "no"}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      ) : null}
      <h3>Items ({run.items.length})</h3>
      <table data-testid="eval-items">
        <thead>
          <tr>
            <th>#</th><th>question</th><th>gold</th>
            {methods.map((m) => <th key={m}>{m}</th>)}
          </tr>
        </thead>
        <tbody>
          {run.items.map((item) => (
            <tr key={item.index}>
              <td>{item.index}</td>
              <td>{item.question}</td>
              <td>{item.gold}</td>
              {methods.map((m) => {
                const r = item.methods[m];
                if (!r) return <td key={m}>–</td>;
                return (
                  <td key={m} title={r.text}>
                    <span className={r.correct ? "ok" : "wrong"}>{r.correct ? "✓" : "✗"}</span> {r.extracted ?? <span className="muted">no answer</span>}{" "}
                    <button className="link" onClick={() => onTrace(run.dir, r.trace)} data-testid="eval-trace">trace</button>
                  </td>
                );
              })}
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}
