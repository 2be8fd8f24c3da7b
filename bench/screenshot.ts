/**
 * Renders docs/report.png: an HtmlReport of a real run (the observability test fixture, whose
 * `lookup` node fails) opened in headless Chromium (Debian's `chromium`, driven by
 * playwright-core). Run with `npm run screenshots`.
 */
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { HtmlReport } from "../src/plugins/builtins/HtmlReport.js";
import { Engine } from "../src/runtime/Engine.js";
import { silentLogger } from "../src/telemetry/logger.js";
import { removeDir, repoRoot } from "../test/helpers.js";
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
  } finally {
    await browser.close();
  }
} finally {
  await removeDir(dir);
}
