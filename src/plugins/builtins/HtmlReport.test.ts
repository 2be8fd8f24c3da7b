/**
 * HtmlReport: reports of real runs, opened in headless Chromium (Debian's `chromium`, driven by
 * playwright-core) to check what the page shows. Without chromium the browser tests are skipped
 * with a reason locally, and fail when CI is set.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { readFile, readdir } from "node:fs/promises";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { after, before, describe, it } from "node:test";
import type { Browser } from "playwright-core";
import { removeDir, writeConfigDir } from "../../../test/helpers.js";
import { FAILING_INPUT, HOSTILE, ROUTINE_INPUT, writeObservedConfig } from "../../../test/observability/fixture.js";
import { Engine } from "../../runtime/Engine.js";
import { silentLogger } from "../../telemetry/logger.js";
import { HtmlReport, escapeHtml } from "./HtmlReport.js";

/** Where Debian's chromium package puts the browser. */
export const CHROMIUM = "/usr/bin/chromium";
/** Flags for a sandbox-less, quiet headless run (CI runs as root). */
export const CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"];

const haveChromium = existsSync(CHROMIUM);
const inCi = process.env.CI !== undefined && process.env.CI !== "" && process.env.CI !== "false";
const skipBrowser = haveChromium ? false : inCi ? false : `${CHROMIUM} not found (apt-get install -y chromium)`;

const dirs: string[] = [];
let browser: Browser | undefined;

before(async () => {
  if (!haveChromium) return;
  const { chromium } = await import("playwright-core");
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
});
after(async () => {
  await browser?.close();
  for (const d of dirs) await removeDir(d);
});

async function runWithReport(inputs: readonly unknown[], pluginsYaml?: string): Promise<{ dir: string; files: string[]; taskIds: string[] }> {
  const dir = await writeObservedConfig({
    "plugins.yaml":
      pluginsYaml ??
      `
plugins:
  - id: report
    module: agent-engine/plugins#HtmlReport
    required: true
    config: { dir: ./out/reports }
`,
  });
  dirs.push(dir);
  const engine = await Engine.fromConfigDir(dir, { logger: silentLogger });
  const taskIds: string[] = [];
  for (const input of inputs) taskIds.push((await engine.run(input)).taskId);
  const plugin = engine.getPluginRegistry().get("report") as HtmlReport;
  await engine.shutdown();
  return { dir, files: [...plugin.files], taskIds };
}

describe("HtmlReport", () => {
  it("writes one self-contained file per run into dir, with no script and no external reference", async () => {
    const { dir, files, taskIds } = await runWithReport([FAILING_INPUT, ROUTINE_INPUT]);
    assert.equal(files.length, 2);
    assert.deepEqual((await readdir(join(dir, "out", "reports"))).sort(), files.map((f) => f.slice(join(dir, "out", "reports").length + 1)).sort());
    for (const [i, file] of files.entries()) {
      assert.ok(file.endsWith(`${taskIds[i]!}.html`), file);
      const html = await readFile(file, "utf8");
      assert.doesNotMatch(html, /<script/i, "no script element");
      assert.doesNotMatch(html, /\b(?:src|href)="(?:https?:)?\/\//i, "no external resource");
      assert.doesNotMatch(html, /<link /i);
      assert.match(html, /Content-Security-Policy" content="default-src 'none'/);
      // The hostile markup appears escaped, never raw.
      assert.ok(!html.includes(HOSTILE));
    }
    assert.ok((await readFile(files[0]!, "utf8")).includes(escapeHtml(HOSTILE)));
  });

  it("escapes every HTML-special character", () => {
    assert.equal(escapeHtml(`<a href="x" onclick='y'>&amp;</a>`), "&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;amp;&lt;/a&gt;");
  });

  it("shows statuses, the path taken and the failure in Chromium, and hostile strings stay inert text", { skip: skipBrowser }, async () => {
    assert.ok(browser, `${CHROMIUM} is required when CI is set: apt-get install -y chromium (see .ci/run)`);
    const { files } = await runWithReport([FAILING_INPUT, ROUTINE_INPUT]);
    const page = await browser.newPage();
    const dialogs: string[] = [];
    page.on("dialog", (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    const requests: string[] = [];
    page.on("request", (r) => requests.push(r.url()));
    try {
      const url = pathToFileURL(files[0]!).href;
      await page.goto(url);
      assert.deepEqual(requests, [url], "the page loads nothing else");
      assert.equal(await page.locator("#run-status").textContent(), "partial");

      // Node statuses as drawn in the SVG graph.
      const statusOf = async (id: string) => page.locator(`svg g.node[data-node="${id}"]`).getAttribute("data-status");
      assert.equal(await statusOf("intake"), "success");
      assert.equal(await statusOf("triage"), "success");
      assert.equal(await statusOf("lookup"), "failure");
      assert.equal(await statusOf("draft"), "success");
      assert.equal(await statusOf("worker_a"), "success");
      assert.equal(await statusOf("quick"), "not-run");
      assert.equal(await page.locator("svg g.node").count(), 12);
      assert.match((await page.locator('svg g.node[data-node="worker_a"] text.line2').textContent()) ?? "", /2 runs/);

      // The failed node is highlighted: red, thick stroke; named in the banner with its error.
      // (runs in the page; the test's tsconfig has no DOM types)
      const styleOf = (el: unknown) => {
        const s = (globalThis as unknown as { getComputedStyle(e: unknown): { stroke: string; strokeWidth: string } }).getComputedStyle(el);
        return { stroke: s.stroke, width: parseFloat(s.strokeWidth) };
      };
      const failedStroke = await page.locator('svg g.node[data-node="lookup"] rect').evaluate(styleOf);
      const okStroke = (await page.locator('svg g.node[data-node="draft"] rect').evaluate(styleOf)).width;
      assert.equal(failedStroke.stroke, "rgb(207, 34, 46)");
      assert.ok(failedStroke.width > okStroke);
      const banner = page.locator("#failures");
      assert.ok(await banner.isVisible());
      assert.match((await banner.textContent()) ?? "", /lookup in task .*HANDLER_FAILED/s);
      const detail = page.locator('section.node-detail[data-node="lookup"]');
      assert.equal(await detail.getAttribute("data-status"), "failure");
      assert.equal(await detail.locator(".error .message").first().textContent(), `knowledge base down for urgent ${HOSTILE}`);

      // The path taken: the chosen decision edge, not the other; the failed merge input marked.
      const edge = (from: string, to: string) => page.locator(`svg path.edge[data-from="${from}"][data-to="${to}"]`).getAttribute("data-state");
      assert.equal(await edge("intake", "triage"), "taken");
      assert.equal(await edge("triage", "fan"), "taken");
      assert.equal(await edge("triage", "quick"), "idle");
      assert.equal(await edge("fan", "lookup"), "taken");
      assert.equal(await edge("draft", "join"), "taken");
      assert.equal(await edge("lookup", "join"), "failed");
      assert.equal(await edge("gather", "done"), "taken");
      assert.equal(await edge("quick", "done"), "idle");
      const label = page.locator("svg g.edge-label.taken text");
      assert.equal(await label.textContent(), "urgent");

      // Timing, inputs and LLM calls are shown.
      const triage = page.locator('section.node-detail[data-node="triage"]');
      assert.match((await triage.locator(".exec-head").textContent()) ?? "", /started \+.* · took .*ms/);
      assert.match((await triage.locator("details.call summary").textContent()) ?? "", /LLM triager scripted-small.*20 in \/ 1 out tokens/);

      // Hostile strings are text: no element made from them, no script ran, no dialog.
      assert.equal(await page.locator("img").count(), 0);
      assert.equal(await page.locator("script").count(), 0);
      assert.equal(await page.evaluate(() => (globalThis as unknown as { __pwned?: unknown }).__pwned), undefined);
      assert.deepEqual(dialogs, []);
      const inputText = await detail.locator("details pre.value").first().textContent();
      assert.deepEqual(JSON.parse(inputText ?? ""), FAILING_INPUT, "the input is shown as its literal JSON text");

      // The routine run's report: the other branch taken, nothing failed.
      await page.goto(pathToFileURL(files[1]!).href);
      assert.equal(await page.locator("#run-status").textContent(), "success");
      assert.equal(await statusOf("quick"), "success");
      assert.equal(await statusOf("fan"), "not-run");
      assert.equal(await edge("triage", "quick"), "taken");
      assert.equal(await edge("triage", "fan"), "idle");
      assert.equal(await page.locator("#failures").count(), 0);
    } finally {
      await page.close();
    }
  });

  it("without a config dir, draws the graph from the events", async () => {
    const dir = await writeObservedConfig();
    dirs.push(dir);
    const report = new HtmlReport("report", { dir: join(dir, "reports") });
    const engine = await Engine.fromConfigDir(dir, { logger: silentLogger, plugins: [report] });
    await engine.run(ROUTINE_INPUT);
    await engine.shutdown();
    assert.equal(report.files.length, 1);
    const html = await readFile(report.files[0]!, "utf8");
    assert.match(html, /Graph \(from the events\)/);
    for (const id of ["intake", "triage", "quick", "done"]) assert.match(html, new RegExp(`<g class="node success" data-node="${id}"`));
    assert.doesNotMatch(html, /data-node="fan"/, "nodes that did not run are unknown without the workflow");
    assert.match(html, /data-from="triage" data-to="quick" data-state="taken"/);
  });

  it("an explicit workflow path that does not exist fails startup with the path", async () => {
    const report = new HtmlReport("report", { workflow: "/nonexistent/agent-engine/workflow.yaml" });
    await assert.rejects(report.onStartup(), /config\.workflow: cannot read \/nonexistent\/agent-engine\/workflow\.yaml \(ENOENT\)/);
  });

  it("writes runs still open at shutdown as unfinished", async () => {
    const dir = await writeObservedConfig();
    dirs.push(dir);
    const report = new HtmlReport("r", { dir: "reports", workflow: dir }, { configDir: dir });
    await report.onStartup();
    const base = { id: "e", taskId: "t1", timestamp: "2026-01-01T00:00:00.000Z" };
    await report.onEvent({ ...base, seq: 1, type: "task.started", payload: { input: { a: 1 }, startNode: "intake", lineage: [] } });
    await report.onEvent({ ...base, seq: 2, type: "node.started", nodeId: "intake", payload: { role: "start", kind: "deterministic", input: { a: 1 } } });
    await report.onShutdown();
    assert.equal(report.files.length, 1);
    const html = await readFile(report.files[0]!, "utf8");
    assert.match(html, /id="run-status" class="badge unfinished">unfinished</);
    assert.match(html, /<g class="node running" data-node="intake"/);
  });

  it("writes an interrupted run's report when it suspends, and rewrites it when the resumed run ends", async () => {
    const dir = await writeConfigDir({
      "workflow.yaml": `
nodes:
  - { id: begin, kind: deterministic, role: start }
  - { id: review, kind: deterministic, role: linear, interrupt: before }
  - { id: done, kind: deterministic, role: exit }
edges:
  - { from: begin, to: review }
  - { from: review, to: done }
`,
      "plugins.yaml": "plugins:\n  - { id: report, module: agent-engine/plugins#HtmlReport, required: true, config: { dir: reports } }\n",
    });
    dirs.push(dir);
    const engine = await Engine.fromConfigDir(dir, { logger: silentLogger });
    const plugin = engine.getPluginRegistry().get("report") as HtmlReport;
    try {
      const first = await engine.run({ doc: "draft" });
      assert.equal(first.status, "interrupted");
      assert.equal(await engine.getPluginRegistry().flush(), true);
      assert.equal(plugin.files.length, 1);
      const html = await readFile(plugin.files[0]!, "utf8");
      assert.match(html, /id="run-status" class="badge interrupted">interrupted</);
      assert.match(html, /<g class="node not-run" data-node="review"/);
      assert.match(html, /<g class="node success" data-node="begin"/);
      const second = await engine.resume(first.runId, { answer: { ok: true } });
      assert.equal(second.status, "success");
    } finally {
      await engine.shutdown();
    }
    assert.equal(plugin.files.length, 1, "the same file, rewritten");
    const html = await readFile(plugin.files[0]!, "utf8");
    assert.match(html, /id="run-status" class="badge success">success</);
    assert.match(html, /<g class="node success" data-node="review"/);
  });

  it("lists each node execution's memory writes (store/key and scope; deletes marked)", async () => {
    const dir = await writeConfigDir({
      "workflow.yaml": "nodes:\n  - { id: learn, kind: deterministic, role: start }\n  - { id: done, kind: deterministic, role: exit }\nedges:\n  - { from: learn, to: done }\n",
      "memory.yaml": "stores:\n  - { id: facts, kind: kv, scope: project }\n  - { id: scratch, kind: kv, scope: task }\n",
      "plugins.yaml": "plugins:\n  - { id: report, module: agent-engine/plugins#HtmlReport, required: true, config: { dir: reports } }\n",
    });
    dirs.push(dir);
    const engine = await Engine.fromConfigDir(dir, {
      logger: silentLogger,
      handlers: {
        learn: (input, ctx) => {
          ctx.memory.put("facts", "city", "Lisbon");
          ctx.memory.put("scratch", "<step>", 1);
          ctx.memory.delete("facts", "old");
          return input;
        },
      },
    });
    const plugin = engine.getPluginRegistry().get("report") as HtmlReport;
    try {
      assert.equal((await engine.run({})).status, "success");
    } finally {
      await engine.shutdown();
    }
    const html = await readFile(plugin.files[0]!, "utf8");
    const learn = html.slice(html.indexOf('class="node-detail success" data-node="learn"'));
    assert.match(learn, /<p class="memory">memory writes: <code>facts\/city<\/code> \(project\), <code>scratch\/&lt;step&gt;<\/code> \(task\), <code>facts\/old<\/code> \(project, deleted\)<\/p>/);
    const done = html.slice(html.indexOf('data-node="done" data-status'));
    assert.doesNotMatch(done.slice(0, done.indexOf("</section>")), /memory writes/);
  });
});
