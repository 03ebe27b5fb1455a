import type { ServerConfig } from "../api";
import type { Settings } from "../settings";
import { firstFitLine, queueState, thresholdState, type Health } from "../status";

/** Which model is loaded, which thresholds run, a first-use fit's progress, and the server's running and waiting generations. */
export function ServerStatus({ config, settings, health }: { config: ServerConfig; settings: Settings; health: Health | null }) {
  const t = thresholdState(config, settings);
  const fit = firstFitLine(config.first_fit);
  const q = queueState(health);
  return (
    <div className="server-status" data-testid="server-status">
      <div>
        <span className="muted">model</span> <b data-testid="status-model">{String(config.model.name ?? "?")}</b>
      </div>
      <div title={t.detail}>
        <span className="muted">thresholds</span>{" "}
        <b className={`thr-${t.source}`} data-testid="status-thresholds" data-source={t.source}>{t.source}</b>{" "}
        {/* The fit file's path stays in the tooltip: the box is narrow. */}
        <span className="muted">{t.detail === t.source ? "" : t.detail.replace(/\s*\([^()]*\/[^()]*\)$/, "").replace(/^fitted /, "")}</span>
      </div>
      {fit ? (
        <div className={fit.failed ? "problem" : ""} data-testid="status-first-fit">
          {fit.fraction !== null && !fit.failed ? <progress max={1} value={fit.fraction} /> : null} {fit.text}
        </div>
      ) : null}
      {q ? (
        <div data-testid="status-queue">
          <span className="muted">server</span> {q.running} running{q.maxBatch ? ` (batches up to ${q.maxBatch})` : ""}, {q.waiting} waiting
          {q.meanRows !== null ? (
            <span className="muted" data-testid="status-rows" title="decode steps since the server started: rows per step on average">
              {" "}· {q.meanRows.toFixed(1)} rows a step
            </span>
          ) : null}
        </div>
      ) : null}
    </div>
  );
}
