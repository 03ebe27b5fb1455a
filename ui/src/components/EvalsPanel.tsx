import { useEffect, useState } from "react";
import { fetchEvalTrace, listEvals, openEval, type EvalItem, type EvalRun, type EvalRunInfo } from "../api";
import { choiceLines, keepItem, type ItemFilter } from "../evals";
import { fmt, pct } from "../format";
import { parseTraceJson, type Trace } from "../trace";
import { AccuracyTokens } from "./AccuracyTokens";

interface Props {
  /** Open an item's trace in the chat view's charts. */
  onOpenTrace: (trace: Trace, source: string) => void;
  /** Whether the tab shows: the list of runs is read again each time it does (new runs appear). */
  active: boolean;
}

/**
 * Eval output folders (mlx_main.py eval --out) under the server's --eval-dir: accuracy
 * against tokens, the method comparison, then every item with every method's answer.
 * It stays mounted while other tabs show, so the open run survives a look at a trace.
 */
export function EvalsPanel({ onOpenTrace, active }: Props) {
  const [runs, setRuns] = useState<{ root: string; runs: EvalRunInfo[] } | null>(null);
  const [run, setRun] = useState<EvalRun | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    if (active) listEvals().then(setRuns, (e: Error) => setError(e.message));
  }, [active]);

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
      {run ? <EvalReport key={run.dir} run={run} onTrace={openTrace} /> : null}
    </section>
  );
}

function EvalReport({ run, onTrace }: { run: EvalRun; onTrace: (dir: string, file: string) => void }) {
  const methods = Object.keys(run.summary.methods);
  return (
    <>
      <AccuracyTokens run={run} />
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
      <EvalItems run={run} methods={methods} onTrace={onTrace} />
    </>
  );
}

const filterKey = (f: ItemFilter) => (f.kind === "only" ? `only:${f.method}` : f.kind);

/** Every item, filtered; an opened item shows every method's whole answer side by side. */
function EvalItems({ run, methods, onTrace }: { run: EvalRun; methods: string[]; onTrace: (dir: string, file: string) => void }) {
  const [filter, setFilter] = useState<ItemFilter>({ kind: "all" });
  const [openIndex, setOpenIndex] = useState<number | null>(null);
  const items = run.items.filter((it) => keepItem(it, methods, filter));
  const opened = run.items.find((it) => it.index === openIndex) ?? null;
  const choose = (key: string) => setFilter(key.startsWith("only:") ? { kind: "only", method: key.slice(5) } : { kind: key as "all" | "disagree" });
  return (
    <>
      <h3>Items ({items.length} of {run.items.length})</h3>
      <div className="eval-filters">
        <label>
          show{" "}
          <select name="item-filter" value={filterKey(filter)} onChange={(e) => choose(e.target.value)}>
            <option value="all">all items</option>
            <option value="disagree">methods disagree</option>
            {methods.map((m) => <option key={m} value={`only:${m}`}>only {m} right</option>)}
          </select>
        </label>
        <span className="muted">click a question to read every method's answer side by side</span>
      </div>
      {opened ? <ItemSideBySide item={opened} methods={methods} onTrace={(f) => onTrace(run.dir, f)} onClose={() => setOpenIndex(null)} /> : null}
      <table data-testid="eval-items">
        <thead>
          <tr>
            <th>#</th><th>question</th><th>gold</th>
            {methods.map((m) => <th key={m}>{m}</th>)}
          </tr>
        </thead>
        <tbody>
          {items.map((item) => (
            <tr key={item.index} className={item.index === openIndex ? "open-item" : undefined}>
              <td>{item.index}</td>
              <td>
                <button className="link item-question" onClick={() => setOpenIndex(item.index)} data-testid="eval-item-open">{item.question}</button>
                <Choices item={item} />
              </td>
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

function Choices({ item }: { item: EvalItem }) {
  const lines = choiceLines(item);
  return lines.length ? (
    <ol className="choices" data-testid="eval-choices">
      {lines.map((l) => <li key={l}>{l}</li>)}
    </ol>
  ) : null;
}

function ItemSideBySide({ item, methods, onTrace, onClose }: { item: EvalItem; methods: string[]; onTrace: (file: string) => void; onClose: () => void }) {
  return (
    <section className="item-view" data-testid="eval-item">
      <header className="eval-filters">
        <b>#{item.index}</b> <span>{item.question}</span> <span className="muted">gold {item.gold}</span>
        <button className="link" onClick={onClose}>close</button>
      </header>
      <Choices item={item} />
      <div className="item-side">
        {methods.map((m) => {
          const r = item.methods[m];
          if (!r) return null;
          return (
            <article key={m} className={`item-answer ${r.correct ? "correct" : "incorrect"}`} data-testid="eval-answer" data-method={m} data-correct={r.correct}>
              <header>
                <span className={r.correct ? "ok" : "wrong"}>{r.correct ? "✓ right" : "✗ wrong"}</span>
                <b>{m}</b>
                <span className="muted">answer {r.extracted ?? "none"}, {r.tokens} tokens</span>
                <button className="link" onClick={() => onTrace(r.trace)} data-testid="eval-answer-trace">trace</button>
              </header>
              <pre>{r.text}</pre>
            </article>
          );
        })}
      </div>
    </section>
  );
}
