import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { fixture, removeDir, writeConfigDir } from "../../test/helpers.js";
import { PluginLoadError } from "../errors.js";
import type { EngineEvent } from "../telemetry/events.js";
import { MemoryLogger } from "../telemetry/logger.js";
import { TelemetryBus } from "../telemetry/TelemetryBus.js";
import { loadPlugins } from "./loader.js";
import { PluginBase } from "./PluginBase.js";
import { PluginRegistry, type PluginRegistryOptions } from "./PluginRegistry.js";
import { WorkerPlugin } from "./WorkerPlugin.js";

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await removeDir(d);
});

async function tempDir(): Promise<string> {
  const dir = await writeConfigDir({});
  dirs.push(dir);
  return dir;
}

class Recorder extends PluginBase {
  readonly seqs: number[] = [];
  onEvent(event: Readonly<EngineEvent>): void {
    this.seqs.push(event.seq);
  }
}

function setup(options: PluginRegistryOptions = {}): { bus: TelemetryBus; registry: PluginRegistry; logger: MemoryLogger } {
  const logger = new MemoryLogger();
  const registry = new PluginRegistry({ logger, ...options });
  const bus = new TelemetryBus();
  bus.setSink((e) => registry.dispatch(e));
  return { bus, registry, logger };
}

const emit = (bus: TelemetryBus, source = "test"): EngineEvent => bus.emit("error", "t1", undefined, { source, error: { code: "X", message: "x" } });

interface WorkerReport {
  seen: { seq: number; type: string }[];
  missed: { count: number; beforeSeqIndex: number }[];
  mutationBlocked: boolean;
  isMainThread: boolean;
  context: unknown;
}

/** The fixtures live outside the temp config dirs: the tests opt in, as a host would (EngineOptions.allow). */
const FIXTURES = { outsideConfigDir: true } as const;

const recorderModule = `${fixture("plugins", "worker-recorder.js")}#WorkerRecorder`;

describe("WorkerPlugin (isolation: worker)", () => {
  it("runs the plugin in a worker thread; it receives frozen events in seq order", async () => {
    const dir = await tempDir();
    const out = join(dir, "out.json");
    const { bus, registry } = setup();
    await registry.register(new WorkerPlugin("w", { out }, { module: recorderModule, configDir: dir, allow: FIXTURES }));
    for (let i = 0; i < 20; i++) emit(bus);
    assert.equal(await registry.flush(10_000), true);
    const stats = registry.stats("w");
    assert.equal(stats?.isolation, "worker");
    assert.equal(stats?.delivered, 20);
    assert.equal(stats?.pending, 0);
    const report = await registry.shutdown(10_000);
    assert.equal(report.complete, true, JSON.stringify(report));
    const seen = JSON.parse(await readFile(out, "utf8")) as WorkerReport;
    assert.equal(seen.isMainThread, false);
    assert.equal(seen.mutationBlocked, true);
    assert.deepEqual(
      seen.seen.map((s) => s.seq),
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
    assert.deepEqual(seen.context, { configDir: dir, isolation: "worker" });
  });

  it("is loaded from plugins.yaml with isolation: worker and honours events", async () => {
    const dir = await tempDir();
    const out = join(dir, "out.json");
    const { bus, registry } = setup();
    const result = await loadPlugins(
      { plugins: [{ id: "w", module: recorderModule, isolation: "worker", events: ["task.*"], config: { out } }] },
      { configDir: dir, allow: FIXTURES, registry },
    );
    assert.deepEqual(result.failures, []);
    emit(bus);
    bus.emit("task.started", "t", undefined, { input: null, startNode: "s", lineage: [] });
    await registry.shutdown(10_000);
    const seen = JSON.parse(await readFile(out, "utf8")) as WorkerReport;
    assert.deepEqual(
      seen.seen.map((s) => s.type),
      ["task.started"],
    );
  });

  it("worker failures are counted and logged, never emitted", async () => {
    const dir = await tempDir();
    const { bus, registry, logger } = setup();
    await registry.register(new WorkerPlugin("w", { out: join(dir, "out.json") }, { module: recorderModule, configDir: dir, allow: FIXTURES }));
    emit(bus, "throw");
    emit(bus, "ok");
    await registry.flush(10_000);
    const s = registry.stats("w");
    assert.equal(s?.failed, 1);
    assert.equal(s?.lastError, "onEvent: worker plugin failure");
    assert.ok(logger.lines.some((l) => l.message.includes('plugin "w" onEvent failed: worker plugin failure')));
    assert.equal(bus.getEvents().length, 2);
    await registry.shutdown(10_000);
  });

  it("overflow drops the newest deliveries and the plugin learns the missed count", async () => {
    const dir = await tempDir();
    const out = join(dir, "out.json");
    const { bus, registry } = setup();
    await registry.register(new WorkerPlugin("w", { out }, { module: recorderModule, configDir: dir, allow: FIXTURES, queueSize: 3 }));
    // Emitted synchronously: no acknowledgement can arrive in between, so exactly 3 are queued.
    for (let i = 0; i < 10; i++) emit(bus);
    let s = registry.stats("w");
    assert.equal(s?.delivered, 3);
    assert.equal(s?.dropped, 7);
    assert.equal(await registry.flush(10_000), true);
    emit(bus); // seq 11: preceded by onMissed(7)
    for (let i = 0; i < 5; i++) emit(bus); // seq 12-16: 2 queued, 3 dropped, reported at shutdown
    s = registry.stats("w");
    assert.equal(s?.dropped, 10);
    await registry.shutdown(10_000);
    const seen = JSON.parse(await readFile(out, "utf8")) as WorkerReport;
    assert.deepEqual(
      seen.seen.map((x) => x.seq),
      [1, 2, 3, 11, 12, 13],
    );
    assert.deepEqual(seen.missed, [
      { count: 7, beforeSeqIndex: 3 },
      { count: 3, beforeSeqIndex: 6 },
    ]);
  });

  it("a worker plugin that spins forever does not block dispatch and is terminated at shutdown", async () => {
    const dir = await tempDir();
    const { bus, registry, logger } = setup();
    const inline = new Recorder("inline");
    await registry.register(new WorkerPlugin("spin", {}, { module: fixture("plugins", "worker-spin.js"), configDir: dir, allow: FIXTURES, queueSize: 5 }));
    await registry.register(inline);
    for (let i = 0; i < 50; i++) emit(bus);
    await new Promise((r) => setTimeout(r, 20));
    for (let i = 0; i < 50; i++) emit(bus);
    assert.equal(inline.seqs.length, 100);
    const s = registry.stats("spin");
    assert.equal(s?.delivered, 5);
    assert.equal(s?.dropped, 95);
    assert.equal(s?.pending, 5);
    assert.equal(await registry.flush(50), false);
    const report = await registry.shutdown(100);
    assert.equal(report.complete, false);
    assert.deepEqual(report.unfinished, ["spin"]);
    const spin = report.plugins.find((p) => p.id === "spin");
    assert.equal(spin?.terminated, true);
    assert.equal(spin?.drained, false);
    assert.equal(spin?.shutdown, "timeout");
    assert.equal(spin?.abandoned, 5);
    assert.equal(report.plugins.find((p) => p.id === "inline")?.shutdown, "ok");
    assert.ok(logger.lines.some((l) => l.level === "warn" && /plugin "spin" did not shut down cleanly.*worker terminated/.test(l.message)));
  });

  it("load errors inside the worker reject register with the right code", async () => {
    const dir = await tempDir();
    const { registry } = setup();
    await assert.rejects(registry.register(new WorkerPlugin("w", {}, { module: "./missing.js", configDir: dir, allow: FIXTURES })), (err: unknown) => {
      assert.ok(err instanceof PluginLoadError);
      assert.equal(err.code, "PLUGIN_MODULE_NOT_FOUND");
      return true;
    });
    await assert.rejects(registry.register(new WorkerPlugin("w", {}, { module: `${fixture("plugins", "startup-throws.js")}#StartupFails`, configDir: dir, allow: FIXTURES })), /cannot open database/);
    assert.deepEqual(registry.list(), []);
  });

  it("loader reports worker load failures with file, path and required", async () => {
    const dir = await tempDir();
    const { registry } = setup();
    const result = await loadPlugins(
      { plugins: [{ id: "w", module: `${fixture("plugins", "recorder.js")}#notAPlugin`, isolation: "worker", required: true }] },
      { configDir: dir, allow: FIXTURES, registry, file: "plugins.yaml" },
    );
    assert.ok(result.error);
    assert.equal(result.error.details[0]?.code, "PLUGIN_NOT_A_PLUGIN");
    assert.equal(result.error.details[0]?.path, "/plugins/0/module");
  });

  it("errors thrown from a worker plugin's stray timers are failures; the worker keeps running", async () => {
    const dir = await tempDir();
    const { bus, registry } = setup();
    await registry.register(new WorkerPlugin("h", {}, { module: fixture("plugins", "worker-hostile.js"), configDir: dir, allow: FIXTURES }));
    emit(bus, "timer");
    const deadline = Date.now() + 10_000;
    while ((registry.stats("h")?.failed ?? 0) === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.match(registry.stats("h")?.lastError ?? "", /uncaught exception: thrown from a stray timer/);
    emit(bus, "ok");
    assert.equal(await registry.flush(10_000), true);
    assert.equal(registry.stats("h")?.state, "active");
    assert.equal((await registry.shutdown(10_000)).complete, true);
  });

  it("a worker plugin that exits its thread is disabled; the engine carries on", async () => {
    const dir = await tempDir();
    const { bus, registry, logger } = setup();
    const inline = new Recorder("inline");
    await registry.register(new WorkerPlugin("h", {}, { module: fixture("plugins", "worker-hostile.js"), configDir: dir, allow: FIXTURES }));
    await registry.register(inline);
    emit(bus, "exit");
    const deadline = Date.now() + 10_000;
    while (registry.stats("h")?.state !== "disabled" && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.equal(registry.stats("h")?.state, "disabled");
    assert.ok(logger.lines.some((l) => l.level === "warn" && /plugin "h" disabled after its worker stopped/.test(l.message)));
    emit(bus);
    assert.equal(inline.seqs.length, 2);
    const report = await registry.shutdown(1000);
    assert.equal(report.plugins.find((p) => p.id === "inline")?.shutdown, "ok");
  });

  it("rejects a bad queue_size", () => {
    assert.throws(() => new WorkerPlugin("w", {}, { module: "./x.js", configDir: "/", queueSize: 0 }), /queue_size must be an integer >= 1/);
  });
});
