import { useState } from "react";
import { changedCount, type ColourMode, type Reclassify } from "../outcomes";
import type { TokenRecord } from "../trace";
import { QuadrantChart } from "./QuadrantChart";
import { Timeline } from "./Timeline";

interface Props {
  tokens: TokenRecord[];
  rc: Reclassify | null;
  hover: number | null;
  selected: number | null;
  unit: string;
  onHover: (i: number | null) => void;
  onSelect: (i: number) => void;
}

/** The quadrant chart and the timeline, coloured by the actual outcome or by the current thresholds' verdict. */
export function ChartsPanel({ tokens, rc, hover, selected, unit, onHover, onSelect }: Props) {
  const [mode, setMode] = useState<ColourMode>("actual");
  const changed = changedCount(tokens, rc);
  const option = (m: ColourMode, label: string) => (
    <button role="radio" aria-checked={mode === m} className={mode === m ? "active" : ""} onClick={() => setMode(m)} data-testid={`mode-${m}`}>
      {label}
    </button>
  );
  return (
    <>
      <div className="charts-head">
        <span>Colour charts by</span>
        <div className="segmented" role="radiogroup">
          {option("actual", "actual outcome")}
          {option("reclassified", "re-classified by current thresholds")}
        </div>
        <span className="muted" data-testid="changed-count">
          {rc ? `${changed} of ${tokens.length} tokens would change` : "no thresholds known"}
        </span>
      </div>
      <div className="charts">
        <QuadrantChart
          tokens={tokens}
          rc={rc}
          mode={mode}
          hover={hover}
          selected={selected}
          unit={unit}
          onHover={onHover}
          onSelect={onSelect}
        />
        <Timeline tokens={tokens} rc={rc} mode={mode} hover={hover} unit={unit} onHover={onHover} onSelect={onSelect} />
      </div>
    </>
  );
}
