/**
 * Renders the screenshots in docs/, with headless Chromium (Debian's `chromium`, driven by
 * playwright-core). Run with `npm run screenshots`.
 *
 * - docs/report.png: an HtmlReport of a real run (the observability test fixture, whose
 *   `lookup` node fails).
 * - docs/progress.png: the CLI's live progress of `agent-engine run examples/support-triage`,
 *   run in a real terminal (a detached tmux pane), captured with its colours
 *   (`tmux capture-pane -e`) and drawn as a terminal page. Skipped, saying so, without tmux.
 */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { chromium, type Browser } from "playwright-core";
import { HtmlReport } from "../src/plugins/builtins/HtmlReport.js";
import { Engine } from "../src/runtime/Engine.js";
import { silentLogger } from "../src/telemetry/logger.js";
import { removeDir, repoRoot, writeConfigDir } from "../test/helpers.js";
import { PLAIN_FAILING_INPUT, writeObservedConfig } from "../test/observability/fixture.js";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"];

const dir = await writeObservedConfig();
try {
  const report = new HtmlReport("report", { dir: join(dir, "reports"), title: "support triage (observability fixture)" }, { configDir: dir });
  const engine = await Engine.fromConfigDir(dir, { logger: silentLogger, plugins: [report] });
  await engine.run(PLAIN_FAILING_INPUT);
  await engine.shutdown();
  const file = report.files[0];
  if (file === undefined) throw new Error("no report was written");
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  try {
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 }, deviceScaleFactor: 1 });
    await page.goto(`file://${file}`);
    await mkdir(join(repoRoot, "docs"), { recursive: true });
    const out = join(repoRoot, "docs", "report.png");
    await page.screenshot({ path: out, fullPage: false });
    console.log(`wrote ${out}`);
    await progressShot(browser);
  } finally {
    await browser.close();
  }
} finally {
  await removeDir(dir);
}

/** Runs the CLI with live progress in a detached tmux pane and screenshots the final screen. */
async function progressShot(browser: Browser): Promise<void> {
  const tmux = ["/usr/bin/tmux", "/usr/local/bin/tmux"].find((p) => existsSync(p));
  if (tmux === undefined) {
    console.log("tmux not found (apt-get install -y tmux): docs/progress.png not rendered");
    return;
  }
  const session = `agent-engine-shot-${process.pid}`;
  const cli = join(repoRoot, "dist", "src", "cli", "main.js");
  const example = join(repoRoot, "examples", "support-triage");
  const command = `cd ${JSON.stringify(repoRoot)} && env -u CI ${JSON.stringify(process.execPath)} ${JSON.stringify(cli)} run ${JSON.stringify(example)} --input-file ${JSON.stringify(join(example, "input.json"))} > /dev/null; echo; echo "exit $?"; sleep 60`;
  execFileSync(tmux, ["new-session", "-d", "-s", session, "-x", "104", "-y", "44", "bash", "-c", command]);
  try {
    let screen = "";
    for (let i = 0; i < 100 && !/exit \d+/.test(screen); i++) {
      await sleep(100);
      screen = execFileSync(tmux, ["capture-pane", "-p", "-e", "-t", session], { encoding: "utf8" });
    }
    const lines = screen.replace(/\n+$/, "").split("\n").filter((l) => !/^exit \d+$/.test(l));
    const prompt = `<span class="p">$</span> agent-engine run examples/support-triage --input-file examples/support-triage/input.json > result.json`;
    const html = `<!DOCTYPE html><html><head><meta charset="utf-8"><style>
body { margin: 0; background: #0d1117; }
.term { margin: 0; padding: 18px 22px; color: #e6edf3; font: 15px/1.45 "DejaVu Sans Mono", ui-monospace, monospace; white-space: pre; }
.p { color: #7ee787; } .b { font-weight: 700; } .d { opacity: .62; }
.c31 { color: #ff7b72; } .c32 { color: #7ee787; } .c33 { color: #e3b341; } .c34 { color: #79c0ff; } .c35 { color: #d2a8ff; } .c36 { color: #56d4dd; } .c90 { color: #8b949e; }
</style></head><body><pre class="term">${prompt}\n${lines.map(ansiToHtml).join("\n")}</pre></body></html>`;
    const dir = await writeConfigDir({ "progress.html": html });
    try {
      const page = await browser.newPage({ viewport: { width: 1000, height: 200 }, deviceScaleFactor: 1 });
      await page.goto(`file://${join(dir, "progress.html")}`);
      const out = join(repoRoot, "docs", "progress.png");
      await page.locator("pre.term").screenshot({ path: out });
      console.log(`wrote ${out}`);
    } finally {
      await removeDir(dir);
    }
  } finally {
    execFileSync(tmux, ["kill-session", "-t", session]);
  }
}

/** HTML of one captured line: SGR colours, bold and dim as spans, text escaped. */
function ansiToHtml(line: string): string {
  let out = "";
  let open = false;
  let classes: string[] = [];
  const escape = (t: string) => t.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  const esc = String.fromCharCode(27);
  for (const part of line.split(new RegExp(`(${esc}\\[[0-9;]*m)`))) {
    const sgr = new RegExp(`^${esc}\\[([0-9;]*)m$`).exec(part);
    if (sgr === null) {
      if (part !== "") out += escape(part);
      continue;
    }
    for (const code of (sgr[1] === "" ? "0" : sgr[1]!).split(";").map(Number)) {
      if (code === 0) classes = [];
      else if (code === 1) classes.push("b");
      else if (code === 2) classes.push("d");
      else if (code === 22) classes = classes.filter((c) => c !== "b" && c !== "d");
      else if (code === 39) classes = classes.filter((c) => !c.startsWith("c"));
      else if ((code >= 30 && code <= 37) || (code >= 90 && code <= 97)) classes = [...classes.filter((c) => !c.startsWith("c")), `c${code}`];
    }
    if (open) out += "</span>";
    open = classes.length > 0;
    if (open) out += `<span class="${classes.join(" ")}">`;
  }
  return open ? `${out}</span>` : out;
}
