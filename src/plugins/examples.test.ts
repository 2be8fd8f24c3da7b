import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { parse } from "yaml";
import { example, removeDir, writeConfigDir } from "../../test/helpers.js";
import type { PluginManifest, PluginsManifest } from "../config/types.js";
import { sealJson } from "../json.js";
import { MemoryLogger } from "../telemetry/logger.js";
import { TelemetryBus } from "../telemetry/TelemetryBus.js";
import { loadPlugins } from "./loader.js";
import { PluginRegistry } from "./PluginRegistry.js";

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await removeDir(d);
});

describe("examples/plugins", () => {
  it("the example plugins.yaml loads and every plugin observes a run", async () => {
    const out = await writeConfigDir({});
    dirs.push(out);
    const configDir = example("plugins");
    const manifest = parse(await readFile(join(configDir, "plugins.yaml"), "utf8")) as PluginsManifest;
    // Keep the repository clean: write outputs to a temp dir.
    const plugins: PluginManifest[] = manifest.plugins.map((p) =>
      p.config && typeof p.config["path"] === "string" ? { ...p, enabled: true, config: { ...p.config, path: join(out, String(p.config["path"])) } } : { ...p, enabled: true },
    );
    const logger = new MemoryLogger();
    const registry = new PluginRegistry({ logger });
    const result = await loadPlugins({ plugins }, { configDir, registry, logger });
    assert.deepEqual(
      result.failures.map((f) => f.detail),
      [],
    );
    assert.deepEqual(registry.list(), ["event_log", "console", "audit", "node_timer"]);
    const bus = new TelemetryBus();
    bus.setSink((e) => registry.dispatch(e));
    const original = process.stderr.write;
    process.stderr.write = (() => true) as typeof process.stderr.write;
    try {
      bus.emit("task.started", "t1", undefined, { input: sealJson({ a: 1 }), startNode: "s", lineage: [] });
      bus.emit("node.completed", "t1", "s", { role: "start", kind: "deterministic", output: null, durationMs: 4 });
      bus.emit("node.failed", "t1", "x", { role: "exit", kind: "deterministic", error: { code: "ALWAYS_FAIL", message: "m" }, continued: false, durationMs: 1 });
      bus.emit("task.failed", "t1", undefined, { status: "failure", output: null });
    } finally {
      process.stderr.write = original;
    }
    const report = await registry.shutdown(10_000);
    assert.equal(report.complete, true, JSON.stringify(report.unfinished));
    const events = (await readFile(join(out, "logs", "events.jsonl"), "utf8")).trimEnd().split("\n");
    assert.equal(events.length, 4);
    const audit = JSON.parse(await readFile(join(out, "logs", "audit-summary.json"), "utf8")) as unknown;
    assert.deepEqual(audit, { tasks: 1, byStatus: { failure: 1 }, failures: [{ taskId: "t1", nodeId: "x", code: "ALWAYS_FAIL" }] });
    assert.equal(report.plugins.find((p) => p.id === "node_timer")?.stats.delivered, 1);
  });
});
