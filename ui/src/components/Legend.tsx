import type { ServerConfig } from "../api";
import { OUTCOMES, outcomeColor, outcomeLabel } from "../outcomes";

/** Colour key of the outcomes, with how many tokens each has when counts are given. */
export function Legend({ config, counts }: { config: ServerConfig | null; counts?: Record<string, number> }) {
  return (
    <ul className="legend">
      {OUTCOMES.map((o) => (
        <li key={o} title={outcomeLabel(config, o)} className={counts && !counts[o] ? "legend-zero" : undefined}>
          <span className="swatch" style={{ background: outcomeColor(o) }} />
          {o}
          {counts ? <span className="legend-count">{counts[o] ?? 0}</span> : null}
        </li>
      ))}
    </ul>
  );
}
