/**
 * `bun run dev`: the Vite dev server (proxying /api, /v1 and /health to the
 * model server) and `uv run mlx_server.py` together; Ctrl-C, or either one
 * exiting, stops both. Extra arguments go to mlx_server.py, which skips its
 * own UI build here (Vite serves the sources).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ui = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const root = resolve(ui, "..");
const port = process.env.MLX_SERVER_PORT ?? "8000";

const children: ChildProcess[] = [
  spawn("uv", ["run", "mlx_server.py", "--no-ui-build", "--port", port, ...process.argv.slice(2)], { cwd: root, stdio: "inherit" }),
  spawn(process.execPath, ["x", "vite"], {
    cwd: ui,
    stdio: "inherit",
    env: { ...process.env, MLX_SERVER_URL: `http://127.0.0.1:${port}` },
  }),
];

let stopping = false;
function stopAll(code: number): void {
  if (stopping) return;
  stopping = true;
  for (const c of children) if (c.exitCode === null) c.kill("SIGTERM");
  setTimeout(() => process.exit(code), 3000).unref();
  Promise.all(children.map((c) => (c.exitCode === null ? new Promise((r) => c.once("exit", r)) : null))).then(() => process.exit(code));
}

for (const c of children) {
  c.on("exit", (code) => stopAll(code ?? 0));
  c.on("error", (e) => {
    console.error(`could not start ${c.spawnargs.join(" ")}: ${e.message}`);
    stopAll(1);
  });
}
process.on("SIGINT", () => stopAll(0));
process.on("SIGTERM", () => stopAll(0));
