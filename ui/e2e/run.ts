/**
 * End-to-end: the built UI in Debian's Chromium (driven by playwright-core, no
 * downloaded browser) against a real `uv run mlx_server.py` on a free port,
 * started and stopped here. Every wait is bounded; prints `N passed, N failed`
 * and exits non-zero on any failure. Screenshots and downloads go to
 * e2e/artifacts/ (kept by CI as test artifacts; gitignored).
 *
 * Run with `bun run e2e` (which builds ui/dist first).
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type Browser, type Page } from "playwright-core";

const UI = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const ROOT = resolve(UI, "..");
const SHOTS = join(UI, "e2e", "artifacts");
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

/** Run a command to completion (a fixture), failing with its output's end. */
function runSync(cmd: string, args: string[], what: string): void {
  const r = spawnSync(cmd, args, { cwd: ROOT, encoding: "utf8", timeout: 600_000, env: { ...process.env, PYTHONPATH: ROOT } });
  if (r.status !== 0) throw new Error(`${what} failed (${r.status}): ${(r.stderr || r.stdout).slice(-800)}`);
  log(`${what}: ${r.stdout.trim().split("\n").slice(-1)[0]}`);
}

function stop(child: ChildProcess, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
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
    kill(signal);
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

async function download(page: Page, click: () => Promise<void>, name: string): Promise<string> {
  const [d] = await Promise.all([page.waitForEvent("download"), click()]);
  const path = join(SHOTS, name);
  await d.saveAs(path);
  return path;
}

/** The bounding boxes of elements, in page pixels. */
async function boxes(page: Page, selector: string): Promise<{ x: number; y: number; w: number; h: number; text: string; outcome: string | null }[]> {
  return page.locator(selector).evaluateAll((els) =>
    els.map((e) => {
      const r = e.getBoundingClientRect();
      return { x: r.x, y: r.y, w: r.width, h: r.height, text: e.textContent ?? "", outcome: e.getAttribute("data-outcome") };
    }),
  );
}

/** How many quadrant points are coloured differently from their token's actual outcome. */
async function recoloured(page: Page): Promise<number> {
  const actual = await page.locator("[data-testid=conversation] .tok").evaluateAll((els) => els.map((e) => e.getAttribute("data-outcome")));
  const shown = await page.locator("figure.quadrant circle.pt").evaluateAll((els) => els.map((e) => e.getAttribute("data-outcome")));
  const strip = await page.locator("figure.timeline .strip rect").evaluateAll((els) => els.map((e) => e.getAttribute("fill")));
  expect(strip.every((f, i) => f === `var(--o-${shown[i]})`), "the outcome bar and the quadrant chart disagree");
  return shown.filter((o, i) => o !== actual[i]).length;
}

async function changedCounter(page: Page): Promise<number> {
  const text = (await page.locator("[data-testid=changed-count]").textContent()) ?? "";
  return Number(text.split(" ")[0]);
}

/** A trace of `n` tokens made by repeating a real run's tokens, for the render-time check. */
function longTrace(source: string, n: number, path: string): void {
  const t = JSON.parse(readFileSync(source, "utf8"));
  const base = t.tokens as { index: number; branch?: unknown }[];
  t.tokens = Array.from({ length: n }, (_, i) => ({ ...base[i % base.length], index: i }));
  t.text = "";
  writeFileSync(path, JSON.stringify(t));
}

async function run(): Promise<void> {
  mkdirSync(SHOTS, { recursive: true });
  // A failure's screenshot from an earlier run must not pass for one of this run.
  for (const f of readdirSync(SHOTS)) if (f.startsWith("failed-")) rmSync(join(SHOTS, f));
  const evalRoot = join(TMP, "evals");
  runSync("uv", ["run", "mlx_main.py", "eval", "--n", "2", "--max-tokens", "4", "--methods", "greedy,entropix", "--out", join(evalRoot, "smoke")], "eval fixture");
  runSync("uv", ["run", "python", join(UI, "e2e", "study_fixture.py"), join(evalRoot, "smoke"), join(evalRoot, "study")], "study-shaped eval fixture");
  const study = readFileSync(join(evalRoot, "study", "results.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
  const layersTrace = join(TMP, "layers-trace.json");
  runSync("uv", ["run", "python", join(UI, "e2e", "layers_trace.py"), layersTrace], "per-layer trace fixture");

  const port = await freePort();
  const server = start("uv", ["run", "mlx_server.py", "--port", String(port), "--eval-dir", evalRoot], ROOT, "server.log");
  const base = `http://127.0.0.1:${port}`;
  await waitFor(`${base}/health`, server, "server.log", SERVER_START_S);
  log(`server up at ${base}`);
  const index = await fetch(`${base}/`).then((r) => r.text());
  expect(index.includes('id="root"'), `the server does not serve the built UI at /: ${index.slice(0, 200)}`);

  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 }, colorScheme: "light", acceptDownloads: true });
  const page = await context.newPage();
  page.setDefaultTimeout(30_000);
  const pageErrors: string[] = [];
  page.on("pageerror", (e) => pageErrors.push(e.message));
  // What the page's console shows. (Chromium's devtools protocol reports every fetch whose body a
  // script reads as a stream as failed with net::ERR_ABORTED, even read to its end: `requestfailed`
  // cannot tell a finished stream from an abandoned one, so the console is what is checked.)
  const consoleErrors: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error") consoleErrors.push(m.text());
  });
  const missing: string[] = [];
  page.on("response", (r) => {
    if (r.status() === 404) missing.push(r.url());
  });

  let tokens = 0;
  const savedTrace = join(TMP, "saved-trace.json");

  await check("config loads from /api/config", page, async () => {
    await page.goto(base);
    await page.waitForSelector("select[name=method]");
    const presets = await page.locator("select[name=preset] option").count();
    expect(presets > 0, "no presets in the preset menu");
    expect((await page.locator(".model-name").textContent())?.trim(), "no model name in the header");
    const info = await fetch(`${base}/api/config`).then((r) => r.json());
    const rows = await page.locator("[data-testid=model-info] tr").count();
    expect(rows === Object.keys(info.model).length, `${rows} model rows for ${Object.keys(info.model).length} model fields`);
    const lowEnt = await page.inputValue("input[name=low_ent]");
    expect(Number.isFinite(Number(lowEnt)), `low_ent field shows ${lowEnt}`);
  });

  await check("the status box names the model, the thresholds' source and the server's queue", page, async () => {
    const info = await fetch(`${base}/api/config`).then((r) => r.json());
    expect((await page.locator("[data-testid=status-model]").textContent()) === info.model.name, "no model name in the status");
    const source = () => page.locator("[data-testid=status-thresholds]").getAttribute("data-source");
    expect((await source()) === info.presets[info.default_preset].thresholds, `thresholds ${await source()} for the default preset`);
    await page.selectOption("select[name=preset]", "entropix-paper");
    expect((await source()) === "published", `entropix-paper runs ${await source()} thresholds`);
    await page.fill("input[name=low_ent]", "0.2");
    expect((await source()) === "custom", `an edited threshold shows ${await source()}`);
    await page.getByText("reset to preset").click();
    await page.selectOption("select[name=preset]", info.default_preset);
    await page.locator("[data-testid=status-queue]").waitFor();
    expect(/0 running.*0 waiting/.test((await page.locator("[data-testid=status-queue]").textContent()) ?? ""), "an idle server does not show 0 running, 0 waiting");
  });

  await check("a disabled Generate says why; the favicon exists; field names are whole", page, async () => {
    expect(await page.locator("[data-testid=generate]").isDisabled(), "Generate enabled with an empty prompt");
    expect(((await page.locator("[data-testid=generate-blocked]").textContent()) ?? "").includes("type a prompt"), "no reason for the disabled Generate");
    const icon = await fetch(`${base}/favicon.ico`);
    expect(icon.status === 200, `/favicon.ico answered ${icon.status}`);
    await page.locator("details.more-fields summary").click();
    const labels = await page.locator("details.more-fields .field-label").evaluateAll((els) =>
      els.map((e) => ({ text: e.textContent ?? "", cut: e.scrollWidth > e.clientWidth + 1 })),
    );
    expect(labels.length > 5 && labels.every((l) => !l.cut), `cut labels: ${labels.filter((l) => l.cut).map((l) => l.text).join(", ")}`);
    expect(new Set(labels.map((l) => l.text)).size === labels.length, "two sampler fields look the same");
    // A long name may wrap only after an underscore, never inside a word.
    const midWord = await page.locator(".settings .field-label").evaluateAll((els) =>
      els.flatMap((e) => {
        const text = e.textContent ?? "";
        const range = document.createRange();
        const tops: number[] = [];
        let node: Node | null;
        const walk = document.createTreeWalker(e, NodeFilter.SHOW_TEXT);
        while ((node = walk.nextNode())) {
          for (let i = 0; i < (node.textContent ?? "").length; i++) {
            range.setStart(node, i);
            range.setEnd(node, i + 1);
            tops.push(range.getBoundingClientRect().top);
          }
        }
        return tops.some((t, i) => i > 0 && t > tops[i - 1] + 2 && text[i - 1] !== "_" && text[i - 1] !== " ") ? [text] : [];
      }),
    );
    expect(midWord.length === 0, `labels broken inside a word: ${midWord.join(", ")}`);
    const menus = await page.locator(".settings select").evaluateAll((els) =>
      (els as HTMLSelectElement[]).flatMap((sel) => {
        const ctx = document.createElement("canvas").getContext("2d")!;
        ctx.font = getComputedStyle(sel).font;
        const widest = Math.max(...[...sel.options].map((o) => ctx.measureText(o.text).width));
        return widest + 24 > sel.clientWidth ? [`${sel.name} (${Math.round(widest)} px of text in ${sel.clientWidth} px)`] : [];
      }),
    );
    expect(menus.length === 0, `menus cut their options: ${menus.join(", ")}`);
    await page.locator("details.more-fields summary").click();
  });

  await check("invalid settings block Generate with the reason shown", page, async () => {
    await page.fill("textarea[name=prompt]", "Hi");
    for (const [field, value, words] of [
      ["max_tokens", "-3", "max tokens"],
      ["max_tokens", "100000", "max tokens"],
      ["temperature", "abc", "temperature"],
    ] as const) {
      await page.fill(`input[name=${field}]`, value);
      expect(await page.locator("[data-testid=generate]").isDisabled(), `Generate enabled with ${field} = ${value}`);
      const reason = (await page.locator("[data-testid=generate-blocked]").textContent()) ?? "";
      expect(reason.includes(words) && reason.includes(value === "abc" ? '"abc"' : value), `reason for ${field} = ${value}: ${reason}`);
      await page.fill(`input[name=${field}]`, field === "max_tokens" ? MAX_TOKENS : "0.666");
    }
    expect(!(await page.locator("[data-testid=generate]").isDisabled()), "Generate still disabled once the fields are fixed");
  });

  await check("threshold sliders are wide and write short numbers", page, async () => {
    const slider = page.locator("[data-testid=slider-low_vent]");
    const box = await slider.boundingBox();
    expect(box && box.width >= 150, `low_vent slider is ${box?.width} px wide`);
    await slider.focus();
    await page.keyboard.press("ArrowRight");
    const v = await page.inputValue("input[name=low_vent]");
    expect(/^\d*\.?\d+$/.test(v) && v.replace(/^0\.0*|\./g, "").length <= 3, `a slider step wrote ${v}`);
    await page.getByText("reset to preset").click();
  });

  await check("chat streams tokens in, with n / max while it runs", page, async () => {
    await generateInChat(page, "Which number is larger, 9.9 or 9.11?");
    await page.waitForSelector("[data-testid=run-stats][data-status=running]", { timeout: 10_000 });
    expect(((await page.locator("[data-testid=token-max]").textContent()) ?? "").includes(`/ ${MAX_TOKENS}`), "no n / max tokens while running");
    await page.waitForSelector(".token-text .tok", { timeout: GENERATION_MS });
    await page.waitForSelector("[data-testid=conversation] [data-testid=run-stats][data-status=done]", { timeout: GENERATION_MS });
    tokens = await tokenCount(page, "[data-testid=conversation]");
    const spans = await page.locator("[data-testid=conversation] .tok").count();
    expect(tokens > 0 && tokens <= Number(MAX_TOKENS) + 8, `token count ${tokens}`);
    expect(spans === tokens, `${spans} token spans for ${tokens} tokens`);
  });

  await check("quadrant regions carry the legend's names, and no two labels collide", page, async () => {
    const points = await page.locator("figure.quadrant circle.pt").count();
    const strip = await page.locator("figure.timeline .strip rect").count();
    expect(points === tokens, `${points} points for ${tokens} tokens`);
    expect(strip === tokens, `${strip} outcome-strip cells for ${tokens} tokens`);
    const regions = await boxes(page, "figure.quadrant rect.region");
    const labels = await boxes(page, "figure.quadrant .chart-labels text");
    const names = labels.filter((l) => l.outcome).map((l) => l.text);
    // The adaptive band lies between the varentropy thresholds: wide with the published ones,
    // a sliver with thresholds fitted to SmolLM2 (low_vent and high_vent a few pixels apart),
    // named then in the right margin. Every threshold is named (high_vent used to be dropped).
    expect(names.includes("adaptive"), `the adaptive band is not named: ${names.join(", ")}`);
    const thresholdNames = labels.filter((l) => !l.outcome).map((l) => l.text).sort();
    expect(thresholdNames.join() === "high_ent,high_vent,low_ent,low_vent,med_ent", `threshold labels: ${thresholdNames.join(", ")}`);
    const lines = await page.locator("figure.quadrant .thresholds line").evaluateAll((els) => els.map((e) => { const r = e.getBoundingClientRect(); return { x: r.x, y: r.y, w: r.width, h: r.height }; }));
    for (const l of labels) for (const ln of lines) {
      const crossed = ln.x < l.x + l.w && l.x < ln.x + Math.max(ln.w, 0.5) && ln.y < l.y + l.h && l.y < ln.y + Math.max(ln.h, 0.5);
      expect(!crossed, `the dashed line at ${ln.x.toFixed(0)},${ln.y.toFixed(0)} crosses label "${l.text}"`);
    }
    const order = await page.locator("figure.quadrant svg > g").evaluateAll((els) => els.map((e) => e.getAttribute("class")));
    expect(order.indexOf("chart-labels") > order.indexOf("points"), `labels are drawn under the points (${order.join(", ")})`);
    for (const l of labels.filter((l) => l.outcome && l.outcome !== "adaptive")) {
      const r = regions.find((g) => g.outcome === l.outcome);
      expect(l.text === l.outcome, `region label ${l.text} on ${l.outcome}`);
      const cx = l.x + l.w / 2;
      const cy = l.y + l.h / 2;
      expect(r && cx >= r.x && cx <= r.x + r.w && cy >= r.y && cy <= r.y + r.h, `label ${l.text} is not inside the ${l.outcome} region`);
    }
    for (const a of labels) for (const b of labels) {
      if (a === b) continue;
      const apart = a.x + a.w <= b.x + 0.5 || b.x + b.w <= a.x + 0.5 || a.y + a.h <= b.y + 0.5 || b.y + b.h <= a.y + 0.5;
      expect(apart, `labels "${a.text}" and "${b.text}" overlap`);
    }
    expect(await page.locator("figure.quadrant .thresholds line").count() === 5, "threshold lines missing");
  });

  await check("the outcome bar stays clear of its label", page, async () => {
    const [label] = await boxes(page, "figure.timeline .strip text.tl-label");
    const cells = await boxes(page, "figure.timeline .strip rect");
    const left = Math.min(...cells.map((c) => c.x));
    expect(label.x + label.w <= left, `the bar starts at ${left}, under its label ending at ${label.x + label.w}`);
  });

  await page.hover("[data-testid=conversation] .tok >> nth=0").catch(() => undefined);
  await page.screenshot({ path: join(SHOTS, "main.png"), fullPage: true });

  await check("hovering a token or a point shows its metrics, linked", page, async () => {
    await page.hover("[data-testid=conversation] .tok >> nth=0");
    const details = page.locator("[data-testid=token-details]");
    await details.locator(".details-head").getByText("#0", { exact: false }).waitFor();
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

  await check("re-classification: the counter and the charts agree", page, async () => {
    await page.click("[data-testid=mode-reclassified]");
    expect((await changedCounter(page)) === 0, `the preset's own thresholds change ${await changedCounter(page)} tokens`);
    expect((await recoloured(page)) === 0, `the preset's own thresholds recolour ${await recoloured(page)} points`);
    for (const v of ["1.02", "0.3", "3"]) {
      await page.fill("input[name=high_vent]", v);
      const counted = await changedCounter(page);
      const seen = await recoloured(page);
      expect(counted === seen, `high_vent ${v}: the counter says ${counted}, ${seen} points changed colour`);
    }
    await page.fill("input[name=low_vent]", "1000");
    await page.fill("input[name=high_vent]", "1000");
    await page.fill("input[name=low_ent]", "1000");
    await page.fill("input[name=med_ent]", "1000");
    await page.fill("input[name=high_ent]", "1000");
    const outcomes = await page.locator("figure.quadrant circle.pt").evaluateAll((els) => els.map((e) => e.getAttribute("data-outcome")));
    const actual = await page.locator("[data-testid=conversation] .tok").evaluateAll((els) => els.map((e) => [e.getAttribute("data-outcome"), e.classList.contains("inserted")]));
    expect(outcomes.every((o, i) => o === "argmax" || actual[i][1]), `outcomes ${outcomes.join(",")}`);
    expect(await tokenCount(page, "[data-testid=conversation]") === tokens, "the run changed");
    await page.getByText("reset to preset").click();
    await page.getByRole("radio", { name: "actual outcome" }).click();
  });

  await check("distributions show both histograms with the thresholds", page, async () => {
    expect(await page.locator("figure.distributions .hist").count() === 2, "histograms missing");
    expect(await page.locator("figure.distributions [data-threshold]").count() === 5, "threshold lines missing on the histograms");
    const bars = await page.locator("figure.distributions .hist[data-metric=entropy] rect.bar").count();
    expect(bars > 0, "no entropy bars");
    const [frame] = await boxes(page, "figure.distributions svg");
    const names = await boxes(page, "figure.distributions .threshold-label");
    const clipped = names.filter((n) => n.x < frame.x - 0.5 || n.x + n.w > frame.x + frame.w + 0.5);
    expect(clipped.length === 0, `threshold names clipped at the edge: ${clipped.map((n) => n.text).join(", ")}`);
  });

  await check("charts export as SVG and PNG, tokens as CSV", page, async () => {
    const svg = readFileSync(await download(page, () => page.locator("[data-testid=export-quadrant] button", { hasText: "SVG" }).click(), "quadrant.svg"), "utf8");
    expect(svg.startsWith("<svg") && svg.includes("circle") && !svg.includes("var(--"), "the SVG is not standalone");
    const png = readFileSync(await download(page, () => page.locator("[data-testid=export-timeline] button", { hasText: "PNG" }).click(), "timeline.png"));
    expect(png.subarray(1, 4).toString() === "PNG" && png.length > 2000, `PNG of ${png.length} bytes`);
    const csv = readFileSync(await download(page, () => page.click("[data-testid=save-csv]"), "tokens.csv"), "utf8").trim().split("\n");
    expect(csv[0].startsWith("index,id,text,outcome") && csv.length >= tokens + 1, `CSV of ${csv.length} lines for ${tokens} tokens`);
  });

  await check("saving the trace writes the trace format (and Python loads it)", page, async () => {
    await download(page, () => page.click("[data-testid=save-trace]"), "saved-trace.json");
    copyFileSync(join(SHOTS, "saved-trace.json"), savedTrace);
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

  await check("fitting thresholds from the settings panel applies them", page, async () => {
    await page.locator("[data-testid=fit] summary").click();
    expect(!((await page.locator("[data-testid=fit-description]").textContent()) ?? "").includes("percentile"), "the fit is described as percentiles");
    const limit = (await fetch(`${base}/api/config`).then((r) => r.json())).fit_prompts_limit;
    await page.fill("input[name=fit_prompts]", String(limit + 1));
    expect(await page.locator("[data-testid=fit-start]").isDisabled(), `Fit enabled with ${limit + 1} prompts (the server takes ${limit})`);
    expect(((await page.locator("[data-testid=fit]").textContent()) ?? "").includes(`1–${limit}`), "the prompts field does not show its limit");
    await page.fill("input[name=fit_prompts]", "1");
    await page.fill("input[name=fit_max_tokens]", "3");
    const before = await page.inputValue("input[name=low_ent]");
    await page.click("[data-testid=fit-start]");
    await page.waitForSelector("[data-testid=fit-result]", { timeout: GENERATION_MS });
    await page.click("[data-testid=fit-apply]");
    const fitted = /low_ent ([\d.e-]+)/.exec((await page.locator("[data-testid=fit-result]").textContent()) ?? "")?.[1];
    const fitText = (await page.locator("[data-testid=fit-result]").textContent()) ?? "";
    const ents = ["low_ent", "med_ent", "high_ent"].map((k) => new RegExp(`${k} ([\\d.e-]+)`).exec(fitText)?.[1]);
    // One prompt of 3 tokens: the entropy thresholds come out equal, which must be said.
    expect(new Set(ents).size > 1 || (await page.locator("[data-testid=fit-degenerate]").count()) === 1, `equal thresholds ${ents.join(", ")} without a warning`);
    await page.waitForFunction((v) => (document.querySelector("input[name=low_ent]") as HTMLInputElement).value !== v, before, { timeout: 5_000 });
    const after = await page.inputValue("input[name=low_ent]");
    expect(fitted !== undefined && Math.abs(Number(after) - Number(fitted)) / Number(fitted) < 0.01, `low_ent ${after}, fitted ${fitted}`);
    expect(await page.locator(".field.changed input[name=low_ent]").count() === 1, "the fitted low_ent is not marked as changed");
    await page.getByText("reset to preset").click();
    await page.locator("[data-testid=fit] summary").click();
  });

  await check("compare overlays both runs' curves, both in the quadrant chart, with a summary", page, async () => {
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
    for (const metric of ["entropy", "varentropy"]) {
      const runs = await page.locator(`[data-testid=overlay-curves] g[data-metric=${metric}] path.curve`).evaluateAll((els) => els.map((e) => e.getAttribute("data-run")));
      expect(runs.length === 2 && runs[0] !== runs[1], `${metric} curves: ${runs.join(", ")}`);
    }
    expect(await page.locator("figure.quadrant circle.pt").count() === a, "entropix points missing from the compare quadrant");
    expect(await page.locator("figure.quadrant rect.pt-second").count() === b, "normal squares missing from the compare quadrant");
    const summary = (await page.locator("[data-testid=compare-summary]").textContent()) ?? "";
    for (const w of ["mean entropy", "tok/s", "sample share"]) expect(summary.includes(w), `summary lacks ${w}`);
    await page.mouse.move(5, 5);
    await page.screenshot({ path: join(SHOTS, "compare.png"), fullPage: true });
  });

  await check("inspecting a compare run keeps the chat run", page, async () => {
    await page.locator("[data-testid=compare-normal] [data-testid=inspect]").click();
    await page.waitForSelector("[data-testid=inspecting]");
    const b = await page.locator("[data-testid=conversation] .tok").count();
    const outcomes = await page.locator("[data-testid=conversation] .tok").evaluateAll((els) => els.map((e) => e.getAttribute("data-outcome")));
    expect(b > 0 && outcomes.every((o) => o === "sample"), "the inspected run is not shown");
    await page.click("[data-testid=back-to-chat]");
    expect(await tokenCount(page, "[data-testid=conversation]") === tokens, "the chat run was thrown away");
  });

  await check("a live frog run: the per-layer toggle fills the heatmap, and its own thresholds re-classify no token", page, async () => {
    expect(await page.locator("[data-testid=heatmap-empty]").count() === 1, "a run without per-layer arrays shows a heatmap");
    await page.check("input[name=layers]");
    await page.selectOption("select[name=preset]", "frog");
    await generateInChat(page, "Which number is larger, 9.9 or 9.11?");
    await page.waitForSelector("[data-testid=conversation] [data-testid=run-stats][data-status=done]", { timeout: GENERATION_MS });
    const info = await fetch(`${base}/api/config`).then((r) => r.json());
    const layers = Number(await page.locator("[data-testid=heatmap] canvas").getAttribute("data-layers"));
    expect(layers === info.model.n_layers, `heatmap of ${layers} layers, the model has ${info.model.n_layers}`);
    // The case: frog's tokens re-classified by frog's own thresholds (all six signals) stay as they are.
    await page.click("[data-testid=mode-reclassified]");
    expect((await changedCounter(page)) === 0, `frog's own thresholds change ${await changedCounter(page)} of its tokens`);
    await page.getByRole("radio", { name: "actual outcome" }).click();
    await page.selectOption("select[name=preset]", info.default_preset);
    await page.uncheck("input[name=layers]");
  });

  await check("a per-layer trace shows the attention heatmap and the branch tree", page, async () => {
    await page.setInputFiles("[data-testid=load-trace]", layersTrace);
    await page.getByText("replaying layers-trace.json").waitFor();
    const layers = Number(await page.locator("[data-testid=heatmap] canvas").getAttribute("data-layers"));
    expect(layers > 1, `heatmap of ${layers} layers`);
    const branch = page.locator("[data-testid=conversation] .tok[data-outcome=branch]").first();
    await branch.click();
    await page.mouse.move(5, 5);
    const tree = page.locator("[data-testid=branch-tree]");
    await tree.waitFor();
    expect(await tree.locator("li.winner").count() === 1, "no single winner in the branch tree");
    await tree.locator("[data-testid=branch-candidate]").first().click();
    expect(((await tree.locator("[data-testid=branch-tokens]").textContent()) ?? "").includes("tokens"), "a candidate's tokens are not shown");
    await page.screenshot({ path: join(SHOTS, "layers-branches.png"), fullPage: true });
  });

  await check("a long per-layer trace scrolls sideways at legible size, zooms, and exports as SVG", page, async () => {
    const long = join(TMP, "layers-long.json");
    longTrace(layersTrace, 450, long);
    await page.setInputFiles("[data-testid=load-trace]", long);
    await page.getByText("replaying layers-long.json").waitFor();
    const canvas = page.locator("[data-testid=heatmap] canvas");
    const layers = Number(await canvas.getAttribute("data-layers"));
    const drawn = await canvas.evaluate((c: HTMLCanvasElement) => ({ px: c.width, css: c.getBoundingClientRect().width }));
    expect(Math.abs(drawn.px - drawn.css) < 1, `the canvas is ${drawn.px} px drawn into ${drawn.css} css px: labels shrink`);
    const scroll = await page.locator("[data-testid=heatmap-scroll]").evaluate((e) => ({ sw: e.scrollWidth, cw: e.clientWidth }));
    expect(scroll.sw > scroll.cw, `450 tokens do not scroll (${scroll.sw} in ${scroll.cw})`);
    await page.locator("[data-testid=heatmap-scroll]").evaluate((e) => { e.scrollLeft = e.scrollWidth; });
    const [box] = await boxes(page, "[data-testid=heatmap-scroll]");
    const [names] = await boxes(page, "[data-testid=heatmap-labels]");
    expect(Math.abs(names.x - box.x) < 1.5 && names.text.startsWith("L0"), `scrolled to the end, the layer names are at ${names.x} (box at ${box.x}): "${names.text}"`);
    await page.selectOption("select[name=heatmap-zoom]", "8");
    expect(Number(await canvas.getAttribute("width")) === 34 + 450 * 8, "zoom 8 px/token did not widen the heatmap");
    const path = await download(page, () => page.locator("[data-testid=export-heatmap] button", { hasText: "SVG" }).click(), "heatmap.svg");
    const svg = readFileSync(path, "utf8");
    const cells = await page.evaluate((text) => {
      const doc = new DOMParser().parseFromString(text, "image/svg+xml");
      return doc.querySelector("parsererror") ? -1 : doc.querySelectorAll("rect").length;
    }, svg);
    expect(cells === layers * 450 + 1, `the heatmap SVG has ${cells} rects for ${layers} x 450 cells`);
    await page.locator("[data-testid=heatmap]").screenshot({ path: join(SHOTS, "heatmap-450.png") });
  });

  await check("a 2,000-token trace renders every view (render time stated)", page, async () => {
    const long = join(TMP, "long-trace.json");
    longTrace(savedTrace, 2000, long);
    const t0 = Date.now();
    await page.setInputFiles("[data-testid=load-trace]", long);
    await page.waitForFunction(() => document.querySelectorAll("figure.quadrant circle.pt").length === 2000 && document.querySelectorAll("figure.timeline .strip rect").length === 2000, null, { timeout: 60_000 });
    const loadMs = Date.now() - t0;
    const h0 = Date.now();
    await page.hover("[data-testid=conversation] .tok >> nth=1000");
    await page.waitForSelector("figure.quadrant circle.pt.hover[data-index='1000']");
    const hoverMs = Date.now() - h0;
    const line = `2,000-token trace: loaded and drawn in ${loadMs} ms, hover re-render ${hoverMs} ms (headless Chromium, 1400x900)`;
    log(line);
    writeFileSync(join(SHOTS, "render-2000.txt"), line + "\n");
    expect(loadMs < 30_000 && hoverMs < 5_000, line);
  });

  await check("eval results open, with every item and its trace", page, async () => {
    await page.getByRole("tab", { name: "Eval results" }).click();
    await page.selectOption("select[name=eval-run]", "smoke");
    await page.waitForSelector("[data-testid=eval-items]");
    expect(await page.locator("[data-testid=eval-items] tbody tr").count() === 2, "not 2 items");
    expect(await page.locator("[data-testid=eval-methods] tbody tr").count() === 2, "not 2 methods");
    expect(await page.locator("[data-testid=eval-pairs] tbody tr").count() === 1, "no paired comparison");
    await page.screenshot({ path: join(SHOTS, "evals.png"), fullPage: true });
    await page.locator("[data-testid=eval-trace]").first().click();
    await page.waitForSelector("[data-testid=inspecting]");
    expect(await page.locator("[data-testid=conversation] .tok").count() > 0, "the item's trace shows no tokens");
    await page.click("[data-testid=back-to-chat]");
    await page.getByRole("tab", { name: "Eval results" }).click();
    expect(await page.inputValue("select[name=eval-run]") === "smoke", "the eval tab forgot the open run");
    expect(await page.locator("[data-testid=eval-items] tbody tr").count() === 2, "the eval tab forgot the run's items");
  });

  await check("a study's eval run: accuracy against tokens, k curve, categories, choices, items side by side", page, async () => {
    await page.selectOption("select[name=eval-run]", "study");
    await page.waitForSelector("[data-testid=accuracy-tokens] g.method-point[data-method=frog]");
    const methods = Object.keys(study[0].methods);
    const shown = await page.locator("[data-testid=accuracy-tokens] g.method-point").evaluateAll((els) => els.map((e) => e.getAttribute("data-method")));
    expect(shown.join() === methods.join(), `points ${shown.join()} for methods ${methods.join()}`);
    const curve = page.locator("[data-testid=accuracy-tokens] path.budget-curve");
    expect(await curve.count() === 1 && (await curve.getAttribute("data-family")) === "self_consistency", "no self-consistency curve over k");
    expect(((await curve.getAttribute("d")) ?? "").split("L").length === 3, "the k curve does not join its 3 budgets");
    // Points sit at their mean tokens: further right for a larger budget.
    const xs = await page.locator("[data-testid=accuracy-tokens] g.method-point circle").evaluateAll((els) => els.map((e) => Number(e.getAttribute("cx"))));
    expect(xs[2] < xs[3] && xs[3] < xs[4], `k points at x ${xs.join(", ")}`);
    await page.screenshot({ path: join(SHOTS, "evals-accuracy.png"), fullPage: false });
    await page.locator("[data-testid=accuracy-tokens]").screenshot({ path: join(SHOTS, "accuracy-tokens.png") });
    const svg = readFileSync(await download(page, () => page.locator("[data-testid=export-accuracy-tokens] button", { hasText: "SVG" }).click(), "accuracy-tokens.svg"), "utf8");
    expect(svg.startsWith("<svg") && svg.includes("circle") && !svg.includes("var(--"), "the accuracy SVG is not standalone");
    const allY = await page.locator("[data-testid=accuracy-tokens] g.method-point circle").evaluateAll((els) => els.map((e) => e.getAttribute("cy")));
    await page.selectOption("select[name=accuracy-category]", "choice");
    const choiceY = await page.locator("[data-testid=accuracy-tokens] g.method-point circle").evaluateAll((els) => els.map((e) => e.getAttribute("cy")));
    expect(choiceY.length === methods.length && choiceY.join() !== allY.join(), "the category view shows the overall numbers");
    await page.selectOption("select[name=accuracy-category]", "");
    const choices = page.locator("[data-testid=eval-items] [data-testid=eval-choices]");
    const mc = study.filter((r) => r.choices).length;
    expect(await choices.count() === mc && ((await choices.first().textContent()) ?? "").includes("A. "), `${await choices.count()} items show choices, ${mc} have them`);
    const rows = () => page.locator("[data-testid=eval-items] tbody tr").count();
    const disagree = study.filter((r) => new Set(methods.map((m) => r.methods[m].correct)).size === 2).length;
    await page.selectOption("select[name=item-filter]", "disagree");
    expect(await rows() === disagree, `${await rows()} rows where methods disagree, expected ${disagree}`);
    const onlyFrog = study.filter((r) => methods.every((m) => r.methods[m].correct === (m === "frog"))).length;
    await page.selectOption("select[name=item-filter]", "only:frog");
    expect(await rows() === onlyFrog, `${await rows()} rows where only frog is right, expected ${onlyFrog}`);
    await page.selectOption("select[name=item-filter]", "all");
    await page.locator("[data-testid=eval-item-open]").first().click();
    const answers = page.locator("[data-testid=eval-item] [data-testid=eval-answer]");
    expect(await answers.count() === methods.length, `${await answers.count()} answers side by side for ${methods.length} methods`);
    const marked = await answers.evaluateAll((els) => els.map((e) => e.getAttribute("data-correct")));
    expect(marked.join() === methods.map((m) => String(study[0].methods[m].correct)).join(), `right/wrong marks ${marked.join()}`);
    await page.screenshot({ path: join(SHOTS, "evals-items.png"), fullPage: true });
    await page.locator("[data-testid=eval-answer-trace]").first().click();
    await page.waitForSelector("[data-testid=inspecting]");
    expect(await page.locator("[data-testid=conversation] .tok").count() > 0, "the answer's trace shows no tokens");
    await page.click("[data-testid=back-to-chat]");
  });

  await check("finished streams log nothing in the console, and a small window shows every setting", page, async () => {
    const aborts = consoleErrors.filter((e) => e.includes("ERR_ABORTED"));
    expect(aborts.length === 0, `the console logged: ${aborts.join("; ")}`);
    await page.setViewportSize({ width: 1024, height: 700 });
    await page.getByRole("tab", { name: "Chat" }).click();
    const field = page.locator("label.field", { has: page.locator("input[name=max_tokens]") });
    await field.scrollIntoViewIfNeeded();
    const [side] = await boxes(page, "aside.settings");
    const [label] = await boxes(page, "label.field:has(input[name=max_tokens]) .field-label");
    const [input] = await boxes(page, "input[name=max_tokens]");
    const inside = (b: { x: number; w: number }) => b.x >= side.x - 0.5 && b.x + b.w <= side.x + side.w + 0.5;
    expect(label.text === "max tokens" && inside(label) && inside(input) && input.w >= 40, `at 1024x700: label ${JSON.stringify(label)}, input ${JSON.stringify(input)}, sidebar ${JSON.stringify(side)}`);
    const cut = await page.locator(".settings .field-label").evaluateAll((els) => els.filter((e) => e.scrollWidth > e.clientWidth + 1).map((e) => e.textContent));
    expect(cut.length === 0, `labels cut at 1024x700: ${cut.join(", ")}`);
    await page.screenshot({ path: join(SHOTS, "settings-1024x700.png") });
    await page.setViewportSize({ width: 1400, height: 900 });
  });

  await check("a value the server refuses shows the server's message", page, async () => {
    await page.getByRole("tab", { name: "Chat" }).click();
    await page.locator("details.more-fields summary").click();
    const think = page.locator("details.more-fields label", { hasText: "think_text" }).locator("input");
    await think.fill("");
    await generateInChat(page, "Hi");
    const err = page.locator("[data-testid=run-error]");
    await err.waitFor({ timeout: 30_000 });
    const msg = (await err.textContent()) ?? "";
    expect(msg.includes("400") && msg.includes("think_text"), `message: ${msg}`);
    await page.getByText("reset to preset").click();
    await page.locator("details.more-fields summary").click();
  });

  await check("stop aborts a running generation, after prompt progress", page, async () => {
    const newChat = page.getByText("new chat");
    if (await newChat.count()) await newChat.click();
    await page.fill("textarea[name=prompt]", "Write a long story about a lighthouse.");
    await page.fill("input[name=max_tokens]", "400");
    await page.click("[data-testid=generate]");
    await page.waitForSelector("[data-testid=prompt-progress]", { timeout: 10_000 });
    const [wait] = await boxes(page, "[data-testid=prompt-progress]");
    const [conv] = await boxes(page, "[data-testid=conversation]");
    // Across the conversation (it used to sit one word a line in the role column), and in view.
    expect(wait.h < 60 && wait.w > conv.w * 0.8 && wait.y + wait.h < 900, `prompt progress ${JSON.stringify(wait)} in a conversation ${conv.w} px wide`);
    expect((await page.locator("[data-testid=prompt-progress] progress").count()) === 1, "no progress bar while the prompt is processed");
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
    await page.setViewportSize({ width: 1400, height: 900 });
  });

  await check("the server dying mid-generation says the stream ended early", page, async () => {
    await page.getByText("new chat").click();
    await page.fill("textarea[name=prompt]", "Write a long story about a lighthouse.");
    await page.fill("input[name=max_tokens]", "400");
    await page.click("[data-testid=generate]");
    await page.waitForSelector("[data-testid=conversation] .tok", { timeout: GENERATION_MS });
    await stop(server, "SIGKILL");
    const err = page.locator("[data-testid=run-error]");
    await err.waitFor({ timeout: 30_000 });
    const msg = (await err.textContent()) ?? "";
    expect(msg.includes("stream ended before its `done` event"), `message: ${msg}`);
  });

  await check("no uncaught errors and no missing files in the page", page, async () => {
    expect(pageErrors.length === 0, pageErrors.join("; "));
    expect(missing.length === 0, `404s: ${missing.join(", ")}`);
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
  await Promise.all(children.map((c) => stop(c)));
}

function report(): never {
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed > 0 || passed === 0 ? 1 : 0);
}

main();
