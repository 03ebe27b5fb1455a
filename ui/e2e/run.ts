/**
 * End-to-end: the built UI in Debian's Chromium (driven by playwright-core, no
 * downloaded browser) against a real `uv run mlx_server.py` on a free port,
 * started and stopped here. Every wait is bounded; prints `N passed, N failed`
 * and exits non-zero on any failure. Screenshots go to e2e/screenshots/.
 *
 * Run with `bun run e2e` (which builds ui/dist first).
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type Browser, type Page } from "playwright-core";

const UI = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const ROOT = resolve(UI, "..");
const SHOTS = join(UI, "e2e", "screenshots");
const TMP = mkdtempSync(join(tmpdir(), "mlx-entropix-e2e-"));
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const MAX_TOKENS = "12";
const SERVER_START_S = 300;
const GENERATION_MS = 180_000;
const TOTAL_MS = 25 * 60_000;

const children: ChildProcess[] = [];
let browser: Browser | null = null;
let passed = 0;
let failed = 0;

function log(msg: string): void {
  console.log(`[e2e] ${msg}`);
}

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once("error", rej);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => res(port));
    });
  });
}

/** Start a process in its own group, output to a log file, so the whole tree can be stopped. */
function start(cmd: string, args: string[], cwd: string, logName: string, env: NodeJS.ProcessEnv = process.env): ChildProcess {
  const logPath = join(TMP, logName);
  const out = openSync(logPath, "a");
  const child = spawn(cmd, args, { cwd, env, detached: true, stdio: ["ignore", out, out] });
  children.push(child);
  log(`started ${cmd} ${args.join(" ")} (pid ${child.pid}, log ${logPath})`);
  return child;
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((res) => {
    if (child.exitCode !== null || child.signalCode !== null || !child.pid) return res();
    const kill = (sig: NodeJS.Signals) => {
      try {
        process.kill(-child.pid!, sig);
      } catch {
        // the group is already gone
      }
    };
    const hard = setTimeout(() => kill("SIGKILL"), 10_000);
    child.once("exit", () => {
      clearTimeout(hard);
      res();
    });
    kill("SIGTERM");
  });
}

function tail(logName: string): string {
  try {
    return readFileSync(join(TMP, logName), "utf8").split("\n").slice(-25).join("\n");
  } catch {
    return "(no log)";
  }
}

async function waitFor(url: string, child: ChildProcess, logName: string, seconds: number): Promise<void> {
  const deadline = Date.now() + seconds * 1000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${logName}: process exited with ${child.exitCode} before ${url} answered:\n${tail(logName)}`);
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(3000) });
      if (r.ok) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`${url} did not answer within ${seconds} s:\n${tail(logName)}`);
}

async function check(name: string, page: Page, fn: () => Promise<void>): Promise<void> {
  const t0 = Date.now();
  try {
    await fn();
    passed++;
    log(`PASS ${name} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  } catch (e) {
    failed++;
    log(`FAIL ${name}: ${(e as Error).message.split("\n").slice(0, 6).join("\n  ")}`);
    await page.screenshot({ path: join(SHOTS, `failed-${name.replace(/\W+/g, "-")}.png`), fullPage: true }).catch(() => undefined);
  }
}

function expect(cond: unknown, what: string): void {
  if (!cond) throw new Error(what);
}

async function tokenCount(page: Page, scope = ""): Promise<number> {
  return Number(await page.locator(`${scope} [data-testid=token-count]`.trim()).first().textContent());
}

async function generateInChat(page: Page, prompt: string): Promise<void> {
  await page.getByRole("tab", { name: "Chat" }).click();
  await page.fill("textarea[name=prompt]", prompt);
  await page.fill("input[name=max_tokens]", MAX_TOKENS);
  await page.click("[data-testid=generate]");
}

async function run(): Promise<void> {
  mkdirSync(SHOTS, { recursive: true });
  const port = await freePort();
  const server = start("uv", ["run", "mlx_server.py", "--port", String(port)], ROOT, "server.log");
  const api = `http://127.0.0.1:${port}`;
  await waitFor(`${api}/health`, server, "server.log", SERVER_START_S);
  log(`server up at ${api}`);

  // The server serves ui/dist at `/`; if this one does not, serve the build with Vite's preview and its proxy.
  let base = api;
  const index = await fetch(`${api}/`).then((r) => r.text()).catch(() => "");
  if (!index.includes('id="root"')) {
    const previewPort = await freePort();
    const preview = start("bunx", ["vite", "preview", "--port", String(previewPort), "--strictPort", "--host", "127.0.0.1"], UI, "preview.log", {
      ...process.env,
      MLX_SERVER_URL: api,
    });
    base = `http://127.0.0.1:${previewPort}`;
    await waitFor(`${base}/`, preview, "preview.log", 60);
    log(`the server does not serve ui/dist at /; using vite preview at ${base}`);
  }

  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, colorScheme: "light", acceptDownloads: true });
  const page = await context.newPage();
  page.setDefaultTimeout(30_000);
  const pageErrors: string[] = [];
  page.on("pageerror", (e) => pageErrors.push(e.message));

  let tokens = 0;
  const savedTrace = join(TMP, "saved-trace.json");

  await check("config loads from /api/config", page, async () => {
    await page.goto(base);
    await page.waitForSelector("select[name=method]");
    const presets = await page.locator("select[name=preset] option").count();
    expect(presets > 0, "no presets in the preset menu");
    expect((await page.locator(".model-name").textContent())?.trim(), "no model name in the header");
    const lowEnt = await page.inputValue("input[name=low_ent]");
    expect(Number.isFinite(Number(lowEnt)), `low_ent field shows ${lowEnt}`);
  });

  await check("chat streams tokens in", page, async () => {
    await generateInChat(page, "Which number is larger, 9.9 or 9.11?");
    await page.waitForSelector("[data-testid=run-stats][data-status=running]", { timeout: 10_000 });
    await page.waitForSelector(".token-text .tok", { timeout: GENERATION_MS });
    await page.waitForSelector("[data-testid=conversation] [data-testid=run-stats][data-status=done]", { timeout: GENERATION_MS });
    tokens = await tokenCount(page, "[data-testid=conversation]");
    const spans = await page.locator("[data-testid=conversation] .tok").count();
    expect(tokens > 0 && tokens <= Number(MAX_TOKENS) + 8, `token count ${tokens}`);
    expect(spans === tokens, `${spans} token spans for ${tokens} tokens`);
  });

  await check("quadrant chart has one point per token", page, async () => {
    const points = await page.locator("figure.quadrant circle.pt").count();
    const strip = await page.locator("figure.timeline .strip rect").count();
    expect(points === tokens, `${points} points for ${tokens} tokens`);
    expect(strip === tokens, `${strip} outcome-strip cells for ${tokens} tokens`);
    for (const q of ["Argmax", "Insert thinking token", "Branch", "Resample"]) {
      expect(await page.locator("figure.quadrant .corner-labels text", { hasText: q }).count(), `quadrant label ${q} missing`);
    }
    expect(await page.locator("figure.quadrant .thresholds line").count() === 5, "threshold lines missing");
  });

  await page.hover("[data-testid=conversation] .tok >> nth=0").catch(() => undefined);
  await page.screenshot({ path: join(SHOTS, "main.png"), fullPage: true });

  await check("hovering a token or a point shows its metrics, linked", page, async () => {
    await page.hover("[data-testid=conversation] .tok >> nth=0");
    const details = page.locator("[data-testid=token-details]");
    await details.getByText("#0", { exact: false }).waitFor();
    const text = (await details.textContent()) ?? "";
    for (const w of ["entropy", "varentropy", "temperature", "agreement"]) expect(text.includes(w), `details lack ${w}`);
    expect(await page.locator("figure.quadrant circle.pt.hover").getAttribute("data-index") === "0", "point 0 not highlighted");
    const last = tokens - 1;
    await page.locator(`figure.quadrant circle.pt[data-index="${last}"]`).hover({ force: true });
    const hoveredTok = await page.locator("[data-testid=conversation] .tok.hover").getAttribute("data-index");
    const hoveredPt = await page.locator("figure.quadrant circle.pt.hover").getAttribute("data-index");
    expect(hoveredTok !== null && hoveredTok === hoveredPt, `token ${hoveredTok} vs point ${hoveredPt} highlighted`);
    await page.mouse.move(5, 5);
  });

  await check("moving thresholds re-classifies the chart without regenerating", page, async () => {
    await page.click("[data-testid=mode-reclassified]");
    await page.fill("input[name=low_vent]", "1000");
    await page.fill("input[name=low_ent]", "1000");
    const outcomes = await page.locator("figure.quadrant circle.pt").evaluateAll((els) => els.map((e) => e.getAttribute("data-outcome")));
    expect(outcomes.length === tokens && outcomes.every((o) => o === "argmax"), `outcomes ${outcomes.join(",")}`);
    expect(await tokenCount(page, "[data-testid=conversation]") === tokens, "the run changed");
    await page.getByText("reset to preset").click();
    await page.getByRole("radio", { name: "actual outcome" }).click();
  });

  await check("saving the trace writes the trace format (and Python loads it)", page, async () => {
    const [download] = await Promise.all([page.waitForEvent("download"), page.click("[data-testid=save-trace]")]);
    await download.saveAs(savedTrace);
    const t = JSON.parse(readFileSync(savedTrace, "utf8"));
    expect(t.version === 1 && t.unit === "nats", `version ${t.version}, unit ${t.unit}`);
    expect(t.tokens.length === tokens, `${t.tokens.length} tokens saved of ${tokens}`);
    expect(t.stats && typeof t.stats.generation_tps === "number", "stats missing");
    const py = spawnSync("uv", ["run", "python", "-c", "import sys; from mlx_entropix.trace import load_trace; print(len(load_trace(sys.argv[1]).tokens))", savedTrace], {
      cwd: ROOT,
      encoding: "utf8",
      timeout: 120_000,
    });
    expect(py.status === 0 && py.stdout.trim() === String(tokens), `trace.py could not load it: ${py.stderr.slice(-400)}`);
  });

  await check("compare runs entropix and the normal baseline", page, async () => {
    await page.getByRole("tab", { name: /Compare/ }).click();
    await page.fill("textarea[name=prompt]", "Name a colour.");
    await page.fill("input[name=max_tokens]", MAX_TOKENS);
    await page.click("[data-testid=generate]");
    for (const m of ["entropix", "normal"]) {
      await page.waitForSelector(`[data-testid=compare-${m}] [data-testid=run-stats][data-status=done]`, { timeout: GENERATION_MS });
    }
    const a = await tokenCount(page, "[data-testid=compare-entropix]");
    const b = await tokenCount(page, "[data-testid=compare-normal]");
    expect(a > 0 && b > 0, `entropix ${a} tokens, normal ${b} tokens`);
    const normalOutcomes = await page.locator("[data-testid=compare-normal] .tok").evaluateAll((els) => els.map((e) => e.getAttribute("data-outcome")));
    expect(normalOutcomes.every((o) => o === "sample"), `normal outcomes ${normalOutcomes.join(",")}`);
    const entOutcomes = await page.locator("[data-testid=compare-entropix] .tok").evaluateAll((els) => els.map((e) => e.getAttribute("data-outcome")));
    expect(!entOutcomes.includes("sample"), `entropix outcomes ${entOutcomes.join(",")}`);
    await page.screenshot({ path: join(SHOTS, "compare.png") });
  });

  await check("stop aborts a running generation", page, async () => {
    await page.getByRole("tab", { name: "Chat" }).click();
    const newChat = page.getByText("new chat");
    if (await newChat.count()) await newChat.click();
    await page.fill("textarea[name=prompt]", "Write a long story about a lighthouse.");
    await page.fill("input[name=max_tokens]", "400");
    await page.click("[data-testid=generate]");
    await page.waitForSelector("[data-testid=conversation] .tok", { timeout: GENERATION_MS });
    await page.click("[data-testid=stop]");
    await page.waitForSelector("[data-testid=conversation] [data-testid=run-stats][data-status=cancelled]", { timeout: 10_000 });
    await page.waitForSelector("[data-testid=generate]", { timeout: 10_000 });
    const n = await tokenCount(page, "[data-testid=conversation]");
    expect(n < 400, `${n} tokens after stop`);
  });

  await check("loading a saved trace replays it in every view", page, async () => {
    await page.setInputFiles("[data-testid=load-trace]", savedTrace);
    await page.getByText("replaying saved-trace.json").waitFor();
    expect(await tokenCount(page, "[data-testid=conversation]") === tokens, "token count differs after load");
    expect(await page.locator("figure.quadrant circle.pt").count() === tokens, "chart points differ after load");
    expect(await page.locator("figure.timeline .strip rect").count() === tokens, "timeline differs after load");
  });

  await check("a malformed trace file is rejected with a clear message", page, async () => {
    const bad = join(TMP, "bad.json");
    const t = JSON.parse(readFileSync(savedTrace, "utf8"));
    delete t.tokens[0].metrics.entropy;
    writeFileSync(bad, JSON.stringify(t));
    await page.setInputFiles("[data-testid=load-trace]", bad);
    const msg = (await page.locator("[data-testid=banner]").textContent()) ?? "";
    expect(msg.includes("bad.json") && msg.includes("tokens[0].metrics.entropy"), `message: ${msg}`);
    expect(await tokenCount(page, "[data-testid=conversation]") === tokens, "the replayed run was replaced");
  });

  await check("dark theme", page, async () => {
    await page.click("[data-testid=theme-toggle]");
    expect((await page.evaluate(() => document.documentElement.dataset.theme)) === "dark", "theme did not switch");
    await page.hover("[data-testid=conversation] .tok >> nth=1");
    await page.screenshot({ path: join(SHOTS, "main-dark.png") });
    await page.setViewportSize({ width: 800, height: 900 });
    await page.screenshot({ path: join(SHOTS, "narrow-dark.png") });
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  await check("server going away is reported, not hung", page, async () => {
    await stop(server);
    await generateInChat(page, "Hello?");
    const err = page.locator("[data-testid=run-error]");
    await err.waitFor({ timeout: 30_000 });
    expect(((await err.textContent()) ?? "").length > 0, "empty error");
  });

  await check("no uncaught errors in the page", page, async () => {
    expect(pageErrors.length === 0, pageErrors.join("; "));
  });
}

async function main(): Promise<void> {
  const watchdog = setTimeout(() => {
    log(`timed out after ${TOTAL_MS / 60000} min`);
    failed++;
    shutdown().then(() => report());
  }, TOTAL_MS);
  try {
    await run();
  } catch (e) {
    failed++;
    log(`FAIL setup: ${(e as Error).message}`);
  }
  clearTimeout(watchdog);
  await shutdown();
  report();
}

async function shutdown(): Promise<void> {
  await browser?.close().catch(() => undefined);
  await Promise.all(children.map(stop));
}

function report(): never {
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed > 0 || passed === 0 ? 1 : 0);
}

main();
