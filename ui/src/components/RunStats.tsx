import type { ServerConfig } from "../api";
import { fmt } from "../format";
import { summarize, type Run } from "../run";
import { Legend } from "./Legend";

/** Tokens, speed, time, how the run ended and how often each outcome fired. */
export function RunStats({ run, now, config }: { run: Run; now: number; config: ServerConfig | null }) {
  const s = summarize(run, now);
  return (
    <div className="run-stats" data-testid="run-stats" data-status={run.status}>
      <span>
        <b data-testid="token-count">{s.tokens}</b>
        {run.status === "running" && run.maxTokens ? <span data-testid="token-max"> / {run.maxTokens}</span> : null} tokens
      </span>
      <span>
        <b>{fmt(s.tokensPerSecond)}</b> tok/s
      </span>
      <span>
        <b>{fmt(s.seconds)}</b> s
      </span>
      <span className={`status status-${run.status}`}>{s.finishReason}</span>
      <Legend config={config} counts={s.counts} />
    </div>
  );
}
