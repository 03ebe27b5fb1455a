import { useState } from "react";
import { fmt, showToken } from "../format";
import type { TokenRecord } from "../trace";

/**
 * A branch point as a tree: the token it opened at, then each candidate
 * continuation with its text and score, the kept one highlighted. Clicking a
 * candidate shows its tokens.
 */
export function BranchTree({ tok }: { tok: TokenRecord }) {
  const b = tok.branch!;
  const [open, setOpen] = useState<number | null>(null);
  const better = b.score_kind === "margin" ? "higher is better" : "lower is better";
  return (
    <div className="branch-tree" data-testid="branch-tree">
      <div className="branch-root">
        branch at #{tok.index} · {b.candidates.length} candidates · score: {b.score_kind} ({better})
      </div>
      <ul>
        {b.candidates.map((c, j) => (
          <li key={j} className={j === b.winner ? "winner" : undefined}>
            <button className="branch-node" aria-expanded={open === j} onClick={() => setOpen(open === j ? null : j)} data-testid="branch-candidate">
              <span className="branch-score">{fmt(c.score)}</span>
              <span className="branch-cand-text">{c.text === "" ? "∅" : showToken(c.text)}</span>
              <span className="branch-mark">{j === b.winner ? "kept" : "dropped"}</span>
            </button>
            {open === j ? (
              <div className="branch-tokens" data-testid="branch-tokens">
                {c.tokens.length} tokens: {c.tokens.map((id) => <code key={`${id}`}>{id}</code>)}
              </div>
            ) : null}
          </li>
        ))}
      </ul>
    </div>
  );
}
