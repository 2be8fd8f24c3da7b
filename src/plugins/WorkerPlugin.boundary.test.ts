/**
 * The worker boundary under attack: real worker threads running real hostile plugin modules
 * written to temp dirs. Each test is a class of attack from issue 7.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { removeDir, repoRoot, writeConfigDir } from "../../test/helpers.js";
import type { EngineEvent } from "../telemetry/events.js";
import { MemoryLogger } from "../telemetry/logger.js";
import { TelemetryBus } from "../telemetry/TelemetryBus.js";
import { loadPlugins } from "./loader.js";
import { PluginRegistry, type PluginRegistryOptions } from "./PluginRegistry.js";
import { WorkerPlugin, type WorkerPluginOptions } from "./WorkerPlugin.js";

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await removeDir(d);
});

/** A temp config dir holding `plugin.mjs` with `source` (a duck-typed plugin class `P`). */
async function pluginDir(source: string, extra: Record<string, string> = {}): Promise<string> {
  const dir = await writeConfigDir({ "plugin.mjs": source, ...extra });
  dirs.push(dir);
  return dir;
}

function setup(options: PluginRegistryOptions = {}): { bus: TelemetryBus; registry: PluginRegistry; logger: MemoryLogger } {
  const logger = new MemoryLogger();
  const registry = new PluginRegistry({ logger, ...options });
  const bus = new TelemetryBus();
  bus.setSink((e) => registry.dispatch(e));
  return { bus, registry, logger };
}

const emit = (bus: TelemetryBus): EngineEvent => bus.emit("error", "t1", undefined, { source: "test", error: { code: "X", message: "x" } });

function worker(dir: string, options: Partial<WorkerPluginOptions> = {}, config: Record<string, unknown> = {}): WorkerPlugin {
  return new WorkerPlugin("w", config, { module: "./plugin.mjs#P", configDir: dir, ...options });
}

/** Resolves once `check()` is true (polled); the test's own timeout bounds it. */
async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((r) => setTimeout(r, 5));
}

const plugin = (body: string): string => `import { parentPort } from "node:worker_threads";
export class P {
  constructor(id, config) { this.pluginId = id; this.config = config; }
  ${body}
}
`;

describe("worker boundary: messages from the worker", () => {
  it("parentPort.postMessage(null) and other malformed messages are rejected and counted, never thrown in the host", { timeout: 20_000 }, async () => {
    const dir = await pluginDir(
      plugin(`onEvent() {
        for (const m of [null, undefined, 42, "ack", [1], { t: "ack" }, { t: "ack", id: "1" }, { t: "nope" }, { t: "hook-error" }, { t: "ready", extra: 1 }, { t: "load-error", code: "X", message: 1 }, { t: "ack", id: 999999 }, { t: "ready" }, { t: "shutdown-done" }])
          parentPort.postMessage(m);
      }`),
    );
    const { bus, registry } = setup({ maxConsecutiveFailures: Infinity });
    const w = worker(dir);
    await registry.register(w);
    emit(bus);
    await until(() => (registry.stats("w")?.rejectedMessages ?? 0) >= 14);
    assert.equal(registry.stats("w")?.state, "active");
    assert.equal(w.workerStatus, "running");
    // The real ack of the delivery still arrives and is accepted.
    assert.equal(await registry.flush(10_000), true);
    const report = await registry.shutdown(10_000);
    assert.equal(report.ok, false);
    assert.equal(report.failures[0]?.id, "w");
    assert.match(report.failures[0]?.reason ?? "", /14 worker messages rejected/);
  });

  it("a flooding worker is terminated and its plugin disabled; the host stays responsive", { timeout: 30_000 }, async () => {
    for (const flood of ["parentPort.postMessage(null)", 'parentPort.postMessage({ t: "hook-error", hook: "x", error: "y" })']) {
      const dir = await pluginDir(plugin(`onEvent() { for (;;) ${flood}; }`));
      const { bus, registry, logger } = setup({ maxConsecutiveFailures: Infinity });
      const w = worker(dir);
      await registry.register(w);
      emit(bus);
      await until(() => registry.stats("w")?.state === "disabled");
      await until(() => w.workerStatus === "stopped" || w.workerStatus === "dead");
      assert.ok(logger.lines.some((l) => /flooding/.test(l.message)));
      const report = await registry.shutdown(5_000);
      assert.equal(report.ok, false);
      assert.match(report.failures[0]?.reason ?? "", /worker messages rejected/);
    }
  });

  it("a disabled worker plugin's thread is terminated at once, not at shutdown", { timeout: 20_000 }, async () => {
    const dir = await pluginDir(plugin(`onEvent() { throw new Error("nope"); }`));
    const { bus, registry } = setup({ maxConsecutiveFailures: 2 });
    const w = worker(dir);
    await registry.register(w);
    emit(bus);
    emit(bus);
    await until(() => registry.stats("w")?.state === "disabled");
    await until(() => w.workerStatus === "stopped");
    const report = await registry.shutdown(5_000);
    assert.equal(report.plugins[0]?.terminated, true);
  });

  it("a worker over its heap limit dies alone: the plugin is disabled, the host keeps going", { timeout: 60_000 }, async () => {
    const dir = await pluginDir(plugin(`onEvent() { const keep = []; for (;;) keep.push(new Array(1e5).fill(Math.random())); }`));
    const { bus, registry } = setup();
    const loaded = await loadPlugins({ plugins: [{ id: "w", module: "./plugin.mjs#P", isolation: "worker", resource_limits: { max_old_generation_mb: 16 } }] }, { configDir: dir, registry });
    assert.deepEqual(loaded.failures, []);
    emit(bus);
    await until(() => registry.stats("w")?.state === "disabled");
    assert.match(registry.stats("w")?.lastError ?? "", /memory|exited/i);
    const report = await registry.shutdown(5_000);
    assert.equal(report.ok, false);
  });

  it("a self-resolving thenable from hooks inside the worker does not hang shutdown", { timeout: 20_000 }, async () => {
    const dir = await pluginDir(plugin(`onEvent() { const t = { then(r) { r(t); } }; return t; }
      onShutdown() { const t = { then(r) { r(t); } }; return t; }`));
    const { bus, registry } = setup();
    await registry.register(worker(dir));
    emit(bus);
    const report = await registry.shutdown(5_000);
    assert.equal(report.complete, true);
    assert.equal(report.plugins[0]?.shutdown, "ok");
  });
});

describe("worker boundary: environment and output", () => {
  it("the worker sees only the env allow-list (default none)", { timeout: 20_000 }, async () => {
    process.env.AE_TEST_SECRET = "s3cret";
    process.env.AE_TEST_ALLOWED = "visible";
    try {
      const dir = await pluginDir(
        plugin(`async onStartup() {
          const { writeFile } = await import("node:fs/promises");
          await writeFile(this.config.out, JSON.stringify(process.env));
        }
        onEvent() {}`),
      );
      const { registry } = setup();
      await registry.register(worker(dir, {}, { out: join(dir, "none.json") }));
      await registry.register(new WorkerPlugin("w2", { out: join(dir, "allowed.json") }, { module: "./plugin.mjs#P", configDir: dir, env: ["AE_TEST_ALLOWED", "AE_TEST_UNSET"] }));
      await registry.shutdown(5_000);
      assert.deepEqual(JSON.parse(await readFile(join(dir, "none.json"), "utf8")), {});
      assert.deepEqual(JSON.parse(await readFile(join(dir, "allowed.json"), "utf8")), { AE_TEST_ALLOWED: "visible" });
    } finally {
      delete process.env.AE_TEST_SECRET;
      delete process.env.AE_TEST_ALLOWED;
    }
  });

  it("env and resource_limits are validated in plugins.yaml terms", async () => {
    const dir = await pluginDir(plugin(`onEvent() {}`));
    const bad = await loadPlugins({ plugins: [{ id: "w", module: "./plugin.mjs#P", isolation: "worker", resource_limits: { max_old_generation_mb: -1 } }] }, { configDir: dir });
    assert.equal(bad.failures[0]?.detail.code, "PLUGIN_CONFIG");
    assert.equal(bad.failures[0]?.detail.path, "/plugins/0/resource_limits");
  });

  it("worker stdout and stderr go to the host's stderr, prefixed; the host's stdout stays clean", { timeout: 30_000 }, async () => {
    const dir = await pluginDir(
      plugin(`onStartup() { console.log("forged result {\\"status\\":\\"success\\"}"); }
      onEvent(e) { process.stdout.write("partial "); console.log("event", e.seq); console.error("oops"); }`),
    );
    const script = `
      import { PluginRegistry } from ${JSON.stringify(join(repoRoot, "dist/src/plugins/PluginRegistry.js"))};
      import { WorkerPlugin } from ${JSON.stringify(join(repoRoot, "dist/src/plugins/WorkerPlugin.js"))};
      import { TelemetryBus } from ${JSON.stringify(join(repoRoot, "dist/src/telemetry/TelemetryBus.js"))};
      const registry = new PluginRegistry();
      const bus = new TelemetryBus();
      bus.setSink((e) => registry.dispatch(e));
      await registry.register(new WorkerPlugin("noisy", {}, { module: "./plugin.mjs#P", configDir: ${JSON.stringify(dir)} }));
      bus.emit("error", "t1", undefined, { source: "test", error: { code: "X", message: "x" } });
      await registry.shutdown(5000);
      process.stdout.write("RESULT\\n");
    `;
    await writeFile(join(dir, "host.mjs"), script);
    const child = spawn(process.execPath, [join(dir, "host.mjs")], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
    assert.equal(code, 0, stderr);
    assert.equal(stdout, "RESULT\n");
    assert.match(stderr, /^\[plugin noisy\] forged result \{"status":"success"\}$/m);
    assert.match(stderr, /^\[plugin noisy\] partial event 1$/m);
    assert.match(stderr, /^\[plugin noisy\] oops$/m);
  });

  it("a host started as `node --input-type=module -e ...` can start worker plugins (--input-type is not passed on)", { timeout: 30_000 }, async () => {
    // Regression: a worker inherits process.execArgv, and --input-type made every worker started
    // from a file die at once.
    const dir = await pluginDir(plugin(`onStartup() { console.error("started in its worker"); } onEvent() {}`));
    const script = `
      import { PluginRegistry } from ${JSON.stringify(join(repoRoot, "dist/src/plugins/PluginRegistry.js"))};
      import { WorkerPlugin } from ${JSON.stringify(join(repoRoot, "dist/src/plugins/WorkerPlugin.js"))};
      const registry = new PluginRegistry();
      await registry.register(new WorkerPlugin("w", {}, { module: "./plugin.mjs#P", configDir: ${JSON.stringify(dir)} }));
      const report = await registry.shutdown(5000);
      process.stdout.write(JSON.stringify({ ok: report.ok, state: registry.list().length }));
    `;
    const child = spawn(process.execPath, ["--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
    assert.equal(code, 0, stderr);
    assert.match(stderr, /^\[plugin w\] started in its worker$/m);
    assert.equal(JSON.parse(stdout).ok, true, stderr);
  });
});
