import { useState } from "react";
import type { ServerConfig } from "../api";
import type { Reclassify } from "../outcomes";
import type { Run } from "../run";
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
  onInspect: (run: Run) => void;
}

/** The same prompt and seed through entropix and the normal baseline, side by side. */
export function ComparePanel({ pair, config, rc, now, onInspect }: Props) {
  return (
    <div className="compare">
      {(["entropix", "normal"] as const).map((m) => (
        <CompareColumn key={m} method={m} run={pair[m]} config={config} rc={rc} now={now} onInspect={onInspect} />
      ))}
    </div>
  );
}

function CompareColumn({ method, run, config, rc, now, onInspect }: { method: string; run: Run | null } & Omit<Props, "pair">) {
  const [hover, setHover] = useState<number | null>(null);
  const [selected, setSelected] = useState<number | null>(null);
  return (
    <section className="compare-col" data-testid={`compare-${method}`}>
      <header>
        <h3>{method === "entropix" ? "entropix" : "normal baseline"}</h3>
        {run && run.trace.tokens.length ? (
          <button className="link" onClick={() => onInspect(run)}>
            inspect in charts
          </button>
        ) : null}
      </header>
      {run ? (
        <>
          <RunStats run={run} now={now} config={config} />
          {run.error ? <p className="error-inline">{run.error}</p> : null}
          <TokenText
            tokens={run.trace.tokens}
            rc={rc}
            hover={hover}
            selected={selected}
            onHover={setHover}
            onSelect={setSelected}
          />
        </>
      ) : (
        <p className="muted">{method === "entropix" ? "Runs first." : "Runs after entropix, with the same prompt and seed."}</p>
      )}
    </section>
  );
}
