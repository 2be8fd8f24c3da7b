import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { removeDir, repoRoot, writeConfigDir } from "../../../test/helpers.js";
import { sealJson } from "../../json.js";
import { MemoryLogger } from "../../telemetry/logger.js";
import { TelemetryBus } from "../../telemetry/TelemetryBus.js";
import { loadPlugins } from "../loader.js";
import { PluginRegistry } from "../PluginRegistry.js";
import { ConsoleLogger, formatEventLine } from "./ConsoleLogger.js";
import { JsonlEventLog } from "./JsonlEventLog.js";

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await removeDir(d);
});

function setup(): { bus: TelemetryBus; registry: PluginRegistry; logger: MemoryLogger } {
  const logger = new MemoryLogger();
  const registry = new PluginRegistry({ logger });
  const bus = new TelemetryBus();
  bus.setSink((e) => registry.dispatch(e));
  return { bus, registry, logger };
}

function emitSome(bus: TelemetryBus, n: number): void {
  for (let i = 0; i < n; i++) {
    bus.emit("task.started", `t${i}`, undefined, { input: sealJson({ text: `line\n${i}` }), startNode: "s", lineage: [] });
  }
}

async function readLines(path: string): Promise<unknown[]> {
  const text = await readFile(path, "utf8");
  assert.ok(text.endsWith("\n"));
  return text
    .trimEnd()
    .split("\n")
    .map((l) => JSON.parse(l) as unknown);
}

describe("JsonlEventLog", () => {
  it("loads as agent-engine/plugins#JsonlEventLog and writes one JSON line per event, relative to the config dir", async () => {
    const dir = await writeConfigDir({});
    dirs.push(dir);
    const { bus, registry } = setup();
    const result = await loadPlugins({ plugins: [{ id: "log", module: "agent-engine/plugins#JsonlEventLog", config: { path: "./logs/events.jsonl", batch_lines: 7 } }] }, { configDir: dir, registry });
    assert.deepEqual(result.failures, []);
    emitSome(bus, 20);
    const report = await registry.shutdown();
    assert.equal(report.complete, true);
    const lines = await readLines(join(dir, "logs", "events.jsonl"));
    assert.equal(lines.length, 20);
    assert.deepEqual(lines, JSON.parse(JSON.stringify(bus.getEvents())));
  });

  it("runs under isolation: worker too", async () => {
    const dir = await writeConfigDir({});
    dirs.push(dir);
    const { bus, registry } = setup();
    const result = await loadPlugins(
      { plugins: [{ id: "log", module: "agent-engine/plugins#JsonlEventLog", isolation: "worker", config: { path: "events.jsonl" } }] },
      { configDir: dir, registry },
    );
    assert.deepEqual(result.failures, []);
    emitSome(bus, 5);
    assert.equal((await registry.shutdown(10_000)).complete, true);
    assert.equal((await readLines(join(dir, "events.jsonl"))).length, 5);
  });

  it("append: true keeps earlier lines", async () => {
    const dir = await writeConfigDir({ "e.jsonl": '{"old":true}\n' });
    dirs.push(dir);
    const { bus, registry } = setup();
    await registry.register(new JsonlEventLog("log", { path: "e.jsonl", append: true }, { configDir: dir }));
    emitSome(bus, 2);
    await registry.shutdown();
    assert.equal((await readLines(join(dir, "e.jsonl"))).length, 3);
  });

  it("a missing path is a constructor error naming the field", async () => {
    const dir = await writeConfigDir({});
    dirs.push(dir);
    const result = await loadPlugins({ plugins: [{ id: "log", module: "agent-engine/plugins#JsonlEventLog", required: true }] }, { configDir: dir });
    assert.equal(result.error?.code, "PLUGIN_CONSTRUCTOR_FAILED");
    assert.match(result.error?.message ?? "", /config\.path is required/);
  });
});

describe("JsonlEventLog: no silent loss", () => {
  for (const isolation of ["inline", "worker"] as const) {
    it(`write errors (ENOSPC on /dev/full) fail the shutdown report, and a required log sets requiredFailed (${isolation})`, { timeout: 20_000 }, async () => {
      const dir = await writeConfigDir({});
      dirs.push(dir);
      const { bus, registry, logger } = setup();
      const result = await loadPlugins(
        { plugins: [{ id: "log", module: "agent-engine/plugins#JsonlEventLog", required: true, isolation, config: { path: "/dev/full", batch_lines: 2 } }] },
        { configDir: dir, registry },
      );
      assert.deepEqual(result.failures, []);
      emitSome(bus, 5);
      await new Promise((r) => setTimeout(r, 20));
      emitSome(bus, 3);
      const report = await registry.shutdown(10_000);
      assert.equal(report.ok, false);
      assert.equal(report.complete, false);
      assert.equal(report.requiredFailed, true);
      assert.equal(report.plugins[0]?.shutdown, "failed");
      assert.match(report.plugins[0]?.error ?? "", /write to \/dev\/full failed \(ENOSPC\).*8 event lines not written/);
      assert.deepEqual(report.failures.map((f) => [f.id, f.required]), [["log", true]]);
      assert.ok(logger.lines.some((l) => l.level === "error" && /plugin "log" \(required\) did not shut down cleanly.*ENOSPC/.test(l.message)));
    });
  }

  it("a file that cannot be opened fails registration with the path", async () => {
    const dir = await writeConfigDir({ "not-a-dir": "x" });
    dirs.push(dir);
    const { registry } = setup();
    const result = await loadPlugins({ plugins: [{ id: "log", module: "agent-engine/plugins#JsonlEventLog", required: true, config: { path: "not-a-dir/events.jsonl" } }] }, { configDir: dir, registry });
    assert.equal(result.error?.code, "PLUGIN_STARTUP_FAILED");
    assert.match(result.error?.message ?? "", /not-a-dir/);
  });

  it("writes incrementally: lines reach the file before shutdown, one event-loop turn after their events", { timeout: 20_000 }, async () => {
    const dir = await writeConfigDir({});
    dirs.push(dir);
    const { bus, registry } = setup();
    await registry.register(new JsonlEventLog("log", { path: "e.jsonl", flush_interval_ms: 5 }, { configDir: dir }));
    emitSome(bus, 3);
    await new Promise((r) => setImmediate(r));
    let text = "";
    while (text.split("\n").length < 4) {
      await new Promise((r) => setTimeout(r, 5));
      text = await readFile(join(dir, "e.jsonl"), "utf8");
    }
    assert.equal(text.trimEnd().split("\n").length, 3);
    emitSome(bus, 2);
    const report = await registry.shutdown(5_000);
    assert.equal(report.ok, true);
    assert.equal((await readLines(join(dir, "e.jsonl"))).length, 5);
  });

  it("rejects a bad flush_interval_ms", () => {
    assert.throws(() => new JsonlEventLog("log", { path: "x", flush_interval_ms: -1 }), /flush_interval_ms must be/);
  });
});

describe("ConsoleLogger", () => {
  it("prints one concise line per event to stderr", async () => {
    const { bus, registry } = setup();
    const written: string[] = [];
    const original = process.stderr.write;
    process.stderr.write = ((chunk: string) => {
      written.push(String(chunk));
      return true;
    }) as typeof process.stderr.write;
    try {
      await registry.register(new ConsoleLogger("console"));
      bus.emit("node.failed", "t1", "triage", { role: "decision", kind: "agent", error: { code: "ROUTING_NO_MATCH", message: "no edge" }, continued: false, durationMs: 3 });
      bus.emit("task.completed", "t1", undefined, { status: "success", output: null });
    } finally {
      process.stderr.write = original;
    }
    assert.deepEqual(written, ["[agent-engine] #1 node.failed task=t1 node=triage ROUTING_NO_MATCH: no edge\n", "[agent-engine] #2 task.completed task=t1 status=success\n"]);
    await registry.shutdown();
  });

  it("formats routing decisions", () => {
    const bus = new TelemetryBus();
    const e = bus.emit("routing.decision", "t", "d", { selected: "urgent", edge: { from: "d", to: "escalate", label: "urgent" } });
    assert.equal(formatEventLine(e, ""), "#1 routing.decision task=t node=d -> escalate [urgent]");
  });

  it("formats memory writes; a delete says so", () => {
    const bus = new TelemetryBus();
    const put = bus.emit("memory.written", "t", "n", { store: "facts", scope: "project", key: "city" });
    const del = bus.emit("memory.written", "t", "n", { store: "facts", scope: "project", key: "city", deleted: true });
    assert.equal(formatEventLine(put, ""), '#1 memory.written task=t node=n store=facts scope=project key="city"');
    assert.equal(formatEventLine(del, ""), '#2 memory.written task=t node=n store=facts scope=project key="city" deleted');
  });

  it("a closed stderr (EPIPE) is a failure of the plugin, not the end of the process", { timeout: 30_000 }, async () => {
    const dir = await writeConfigDir({});
    dirs.push(dir);
    const script = `
      import { PluginRegistry } from ${JSON.stringify(join(repoRoot, "dist/src/plugins/PluginRegistry.js"))};
      import { ConsoleLogger } from ${JSON.stringify(join(repoRoot, "dist/src/plugins/builtins/ConsoleLogger.js"))};
      import { TelemetryBus } from ${JSON.stringify(join(repoRoot, "dist/src/telemetry/TelemetryBus.js"))};
      import { silentLogger } from ${JSON.stringify(join(repoRoot, "dist/src/telemetry/logger.js"))};
      const registry = new PluginRegistry({ logger: silentLogger, maxConsecutiveFailures: Infinity });
      const bus = new TelemetryBus();
      bus.setSink((e) => registry.dispatch(e));
      await registry.register(new ConsoleLogger("console"));
      for (let i = 0; i < 200; i++) {
        bus.emit("task.completed", "t" + i, undefined, { status: "success", output: "x".repeat(1000) });
        await new Promise((r) => setTimeout(r, 1));
      }
      const report = await registry.shutdown(5000);
      process.stdout.write(JSON.stringify({ ok: report.ok, error: report.plugins[0].error }));
    `;
    await writeFile(join(dir, "host.mjs"), script);
    const child = spawn(process.execPath, [join(dir, "host.mjs")], { stdio: ["ignore", "pipe", "pipe"] });
    child.stderr.destroy();
    let stdout = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
    assert.equal(code, 0);
    const out = JSON.parse(stdout) as { ok: boolean; error: string };
    assert.equal(out.ok, false);
    assert.match(out.error, /writing to stderr failed.*EPIPE/);
  });

  it("rejects an unknown stream", () => {
    assert.throws(() => new ConsoleLogger("c", { stream: "stdlog" as never }), /config\.stream must be/);
  });
});
