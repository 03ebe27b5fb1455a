import { useState, type CSSProperties } from "react";
import { fmt, showToken } from "../format";
import { outcomeColor, reclassified, type Reclassify } from "../outcomes";
import type { TokenRecord } from "../trace";

interface Props {
  tokens: TokenRecord[];
  rc: Reclassify | null;
  hover: number | null;
  selected: number | null;
  onHover: (i: number | null) => void;
  onSelect: (i: number) => void;
}

/**
 * The answer, one span per token, coloured by the outcome that actually chose it.
 * A dashed outline in another colour marks a token the current thresholds would
 * classify differently; branch points carry a toggle that opens the losing branches.
 */
export function TokenText({ tokens, rc, hover, selected, onHover, onSelect }: Props) {
  const [open, setOpen] = useState<ReadonlySet<number>>(new Set());
  const toggle = (i: number) =>
    setOpen((s) => {
      const n = new Set(s);
      if (n.has(i)) n.delete(i);
      else n.add(i);
      return n;
    });
  return (
    <div className="token-text" onMouseLeave={() => onHover(null)}>
      {tokens.map((tok, i) => {
        const re = reclassified(tok, rc);
        const differs = re !== null && re !== tok.outcome;
        const cls = ["tok", `o-${tok.outcome}`];
        if (tok.inserted) cls.push("inserted");
        if (differs) cls.push("differs");
        if (i === hover) cls.push("hover");
        if (i === selected) cls.push("selected");
        if (tok.text === "") cls.push("empty");
        const style = { "--oc": outcomeColor(tok.outcome), ...(differs ? { "--rc": outcomeColor(re) } : {}) } as CSSProperties;
        const title = `#${i} ${showToken(tok.text)} · ${tok.outcome}${differs ? ` (now ${re})` : ""} · H ${fmt(tok.metrics.entropy)} V ${fmt(tok.metrics.varentropy)}`;
        return (
          <span key={i} className="tok-wrap">
            <span
              className={cls.join(" ")}
              style={style}
              data-index={i}
              data-outcome={tok.outcome}
              title={title}
              onMouseEnter={() => onHover(i)}
              onClick={() => onSelect(i)}
            >
              {tok.text === "" ? "∅" : tok.text}
            </span>
            {tok.branch ? (
              <>
                <button
                  className="branch-toggle"
                  aria-expanded={open.has(i)}
                  title={`branch point: ${tok.branch.candidates.length} candidates, scored by ${tok.branch.score_kind}`}
                  onClick={() => toggle(i)}
                >
                  <ForkIcon />
                  {tok.branch.candidates.length}
                </button>
                {open.has(i) ? <BranchList tok={tok} /> : null}
              </>
            ) : null}
          </span>
        );
      })}
    </div>
  );
}

/** A small fork glyph drawn as SVG (the Unicode fork signs are missing from common fonts). */
function ForkIcon() {
  return (
    <svg width="9" height="10" viewBox="0 0 9 10" aria-hidden="true" className="fork-icon">
      <path d="M4.5 10V5.5M4.5 5.5L1 1.5M4.5 5.5L8 1.5" fill="none" stroke="currentColor" strokeWidth="1.5" />
    </svg>
  );
}

function BranchList({ tok }: { tok: TokenRecord }) {
  const b = tok.branch!;
  const better = b.score_kind === "margin" ? "higher is better" : "lower is better";
  return (
    <span className="branch-list" role="list">
      <span className="branch-head">
        Branches at #{tok.index}, score: {b.score_kind} ({better})
      </span>
      {b.candidates.map((c, j) => (
        <span key={j} role="listitem" className={j === b.winner ? "branch-cand winner" : "branch-cand"}>
          <span className="branch-score">{fmt(c.score)}</span>
          <span className="branch-mark">{j === b.winner ? "kept" : "dropped"}</span>
          <span className="branch-cand-text">{c.text === "" ? "∅" : c.text}</span>
          <span className="branch-ntok">{c.tokens.length} tok</span>
        </span>
      ))}
    </span>
  );
}
