import type { CSSProperties } from "react";
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
 * classify differently; branch points carry a button that selects them, showing their tree in the details.
 */
export function TokenText({ tokens, rc, hover, selected, onHover, onSelect }: Props) {
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
              <button
                className="branch-toggle"
                aria-pressed={i === selected}
                title={`branch point: ${tok.branch.candidates.length} candidates, scored by ${tok.branch.score_kind}; click for the tree`}
                onClick={() => onSelect(i)}
              >
                <ForkIcon />
                {tok.branch.candidates.length}
              </button>
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
