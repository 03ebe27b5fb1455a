import type { ServerConfig } from "../api";
import type { Reclassify } from "../outcomes";
import { promptMessages } from "../trace";
import { promptProgress, type Run } from "../run";
import { RunStats } from "./RunStats";
import { TokenText } from "./TokenText";

interface Props {
  run: Run | null;
  config: ServerConfig | null;
  rc: Reclassify | null;
  hover: number | null;
  selected: number | null;
  now: number;
  /** Prompt tokens per second of an earlier run, to estimate how far the prompt has got. */
  promptTps: number | null;
  onHover: (i: number | null) => void;
  onSelect: (i: number) => void;
}

/** The prompt's messages, then the answer token by token, its error if any, and its stats. */
export function Conversation({ run, config, rc, hover, selected, now, promptTps, onHover, onSelect }: Props) {
  if (!run) {
    return (
      <section className="conversation" data-testid="conversation">
        <p className="muted empty-note">
          Type a prompt and press Generate: the answer streams in with every token coloured by the rule that chose it. Or load a
          saved trace (from this page or from <code>mlx_main.py --trace</code>) to replay it.
        </p>
      </section>
    );
  }
  const tokens = run.trace.tokens;
  return (
    <section className="conversation" data-testid="conversation">
      {run.source !== "generated" ? <div className="run-source muted">replaying {run.source}</div> : null}
      {/* Above the messages, across the whole width: in view however long the prompt. */}
      <PromptWait run={run} now={now} promptTps={promptTps} />
      {promptMessages(run.trace).map((m, i) => (
        <div key={i} className={`msg msg-${m.role}`}>
          <span className="role">{m.role}</span>
          <span className="content">{m.content}</span>
        </div>
      ))}
      <div className="msg msg-assistant answer">
        <span className="role">assistant</span>
        <TokenText tokens={tokens} rc={rc} hover={hover} selected={selected} onHover={onHover} onSelect={onSelect} />
      </div>
      {run.error ? (
        <div className="error-box" role="alert" data-testid="run-error">
          {run.error}
        </div>
      ) : null}
      <RunStats run={run} now={now} config={config} />
    </section>
  );
}

/** While no token has come: the prompt's size, the time spent, and an estimated share done. */
function PromptWait({ run, now, promptTps }: { run: Run; now: number; promptTps: number | null }) {
  const p = promptProgress(run, now, promptTps);
  if (!p) return null;
  return (
    <div className="prompt-wait muted" data-testid="prompt-progress">
      <span className="pulse">
        processing the prompt{p.tokens !== null ? ` (${p.tokens} tokens)` : ""}… {p.seconds.toFixed(0)} s
      </span>
      {p.fraction !== null ? (
        <>
          <progress max={1} value={p.fraction} />~{Math.round(p.fraction * 100)}%
        </>
      ) : (
        <>
          <progress data-testid="prompt-progress-unknown" />
          <span>share unknown until a first run measures the prompt speed</span>
        </>
      )}
    </div>
  );
}
