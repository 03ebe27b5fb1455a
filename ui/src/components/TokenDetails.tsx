import type { ServerConfig } from "../api";
import { fmt, pct, showToken } from "../format";
import { outcomeColor, outcomeLabel, reclassified, type Reclassify } from "../outcomes";
import { METRIC_NAMES, type TokenRecord } from "../trace";
import { BranchTree } from "./BranchTree";

interface Props {
  token: TokenRecord | null;
  rc: Reclassify | null;
  config: ServerConfig | null;
  unit: string;
}

/** Everything known about one token: why it was chosen, with what parameters, and what else was likely. */
export function TokenDetails({ token, rc, config, unit }: Props) {
  if (!token) return <div className="details empty-note">Hover or click a token (or a chart point) to see its metrics.</div>;
  const re = reclassified(token, rc);
  const p = Math.exp(token.logprob);
  const maxP = token.top.length ? Math.exp(token.top[0].logprob) : 1;
  return (
    <div className="details" data-testid="token-details">
      <div className="details-head">
        <span className="details-token">{showToken(token.text)}</span>
        <span className="muted">
          #{token.index} · id {token.id}
        </span>
      </div>
      <div className="details-outcome">
        <span className="chip" style={{ background: outcomeColor(token.outcome) }}>{token.outcome}</span>
        <span className="muted">{outcomeLabel(config, token.outcome)}</span>
        {token.inserted ? <span className="chip chip-outline">inserted</span> : null}
      </div>
      {re && re !== token.outcome ? (
        <div className="details-outcome" data-testid="reclassified">
          <span className="muted">current thresholds →</span>
          <span className="chip" style={{ background: outcomeColor(re) }}>{re}</span>
        </div>
      ) : null}
      <table className="kv">
        <tbody>
          <tr>
            <th>probability</th>
            <td>
              {pct(p)} <span className="muted">(logprob {fmt(token.logprob)})</span>
            </td>
          </tr>
          {METRIC_NAMES.map((m) => (
            <tr key={m}>
              <th>{m}</th>
              <td>
                {fmt(token.metrics[m])}
                <span className="muted"> {m.includes("varentropy") ? `${unit}²` : m.includes("entropy") ? unit : ""}</span>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <div className="section-title">Effective sampling parameters</div>
      <table className="kv">
        <tbody>
          <tr>
            <th>temperature</th>
            <td>{fmt(token.params.temperature)}</td>
            <th>top-p</th>
            <td>{fmt(token.params.top_p)}</td>
          </tr>
          <tr>
            <th>top-k</th>
            <td>{token.params.top_k === 0 ? "off" : token.params.top_k}</td>
            <th>min-p</th>
            <td>{fmt(token.params.min_p)}</td>
          </tr>
        </tbody>
      </table>
      {token.top.length ? (
        <>
          <div className="section-title">Top alternatives</div>
          <table className="alts">
            <tbody>
              {token.top.map((a, i) => {
                const ap = Math.exp(a.logprob);
                return (
                  <tr key={i} className={a.id === token.id ? "chosen" : undefined}>
                    <td className="alt-text">{showToken(a.text)}</td>
                    <td className="alt-bar">
                      <span style={{ width: `${Math.max(1, (ap / maxP) * 100)}%` }} />
                    </td>
                    <td className="alt-p">{pct(ap)}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </>
      ) : null}
      {token.branch ? (
        <>
          <div className="section-title">Branch</div>
          <BranchTree tok={token} />
        </>
      ) : null}
    </div>
  );
}
