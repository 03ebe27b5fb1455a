import { useState } from "react";
import type { ServerConfig } from "../api";
import { fmt, pct } from "../format";
import type { Reclassify } from "../outcomes";
import type { Run } from "../run";
import { compareSummary } from "../series";
import { OUTCOMES } from "../trace";
import { OverlayCurves } from "./OverlayCurves";
import { QuadrantChart } from "./QuadrantChart";
import { RunStats } from "./RunStats";
import { TokenText } from "./TokenText";

export interface ComparePair {
  entropix: Run | null;
  normal: Run | null;
}

interface Props {
  pair: ComparePair;
  config: ServerConfig | null;
  rc: Reclassify | null;
  now: number;
  unit: string;
  onInspect: (run: Run) => void;
}

const NAMES = { entropix: "entropix", normal: "normal baseline" } as const;

/** The same prompt and seed through entropix and the normal baseline: texts side by side, curves overlaid, one quadrant chart, a summary. */
export function ComparePanel({ pair, config, rc, now, unit, onInspect }: Props) {
  const both = (["entropix", "normal"] as const).filter((m) => pair[m] && pair[m]!.trace.tokens.length > 0);
  return (
    <>
      <div className="compare">
        {(["entropix", "normal"] as const).map((m) => (
          <CompareColumn key={m} method={m} run={pair[m]} config={config} rc={rc} now={now} onInspect={onInspect} />
        ))}
      </div>
      {both.length ? (
        <>
          <OverlayCurves
            curves={both.map((m) => ({ name: NAMES[m], tokens: pair[m]!.trace.tokens, className: m === "entropix" ? "run-a" : "run-b" }))}
            thresholds={rc?.now ?? null}
            unit={unit}
          />
          <div className="compare-bottom">
            <QuadrantChart
              tokens={pair.entropix?.trace.tokens ?? []}
              second={pair.normal?.trace.tokens ?? []}
              names={["entropix (dots)", "normal (squares)"]}
              rc={rc}
              mode="actual"
              hover={null}
              selected={null}
              unit={unit}
              onHover={() => undefined}
              onSelect={() => undefined}
            />
            <CompareSummaryTable pair={pair} />
          </div>
        </>
      ) : null}
    </>
  );
}

function CompareSummaryTable({ pair }: { pair: ComparePair }) {
  const runs = (["entropix", "normal"] as const).map((m) => ({ m, s: pair[m] ? compareSummary(pair[m]!) : null }));
  const seen = OUTCOMES.filter((o) => runs.some((r) => r.s && r.s.shares[o]));
  const row = (label: string, f: (s: NonNullable<(typeof runs)[number]["s"]>) => string) => (
    <tr key={label}>
      <th>{label}</th>
      {runs.map((r) => (
        <td key={r.m}>{r.s ? f(r.s) : "–"}</td>
      ))}
    </tr>
  );
  return (
    <table className="compare-summary" data-testid="compare-summary">
      <thead>
        <tr>
          <th />
          {runs.map((r) => (
            <th key={r.m}>{NAMES[r.m]}</th>
          ))}
        </tr>
      </thead>
      <tbody>
        {row("tokens", (s) => String(s.tokens))}
        {row(`mean entropy`, (s) => fmt(s.meanEntropy))}
        {row(`mean varentropy`, (s) => fmt(s.meanVarentropy))}
        {row("time (s)", (s) => fmt(s.seconds))}
        {row("tok/s", (s) => fmt(s.tokensPerSecond))}
        {seen.map((o) => row(`${o} share`, (s) => (s.shares[o] ? pct(s.shares[o]) : "0")))}
      </tbody>
    </table>
  );
}

function CompareColumn({ method, run, config, rc, now, onInspect }: { method: "entropix" | "normal"; run: Run | null } & Omit<Props, "pair" | "unit">) {
  const [hover, setHover] = useState<number | null>(null);
  const [selected, setSelected] = useState<number | null>(null);
  return (
    <section className="compare-col" data-testid={`compare-${method}`}>
      <header>
        <h3>{NAMES[method]}</h3>
        {run && run.trace.tokens.length ? (
          <button className="link" onClick={() => onInspect(run)} data-testid="inspect">
            inspect in charts
          </button>
        ) : null}
      </header>
      {run ? (
        <>
          <RunStats run={run} now={now} config={config} />
          {run.error ? <p className="error-inline">{run.error}</p> : null}
          <TokenText tokens={run.trace.tokens} rc={rc} hover={hover} selected={selected} onHover={setHover} onSelect={setSelected} />
        </>
      ) : (
        <p className="muted">{method === "entropix" ? "Runs first." : "Runs after entropix, with the same prompt and seed."}</p>
      )}
    </section>
  );
}
