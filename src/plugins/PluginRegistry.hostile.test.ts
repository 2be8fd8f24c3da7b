/**
 * Hostile values at the registry boundary (issue 7): thenables that resolve with themselves,
 * errors whose getters throw, Proxies, plugins that change under the registry; and an honest
 * shutdown report (runs in flight, dropped and undelivered events, required plugins).
 *
 * Tests that would hang on a regression carry a test timeout; a starved event loop also
 * starves that timer, so a hang there is a failure of the whole file, never a pass.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { EngineEvent } from "../telemetry/events.js";
import { MemoryLogger } from "../telemetry/logger.js";
import { TelemetryBus } from "../telemetry/TelemetryBus.js";
import { PluginBase, type Plugin } from "./PluginBase.js";
import { PluginRegistry, type PluginRegistryOptions } from "./PluginRegistry.js";

function setup(options: PluginRegistryOptions = {}): { bus: TelemetryBus; registry: PluginRegistry; logger: MemoryLogger } {
  const logger = new MemoryLogger();
  const registry = new PluginRegistry({ logger, ...options });
  const bus = new TelemetryBus();
  bus.setSink((e) => registry.dispatch(e));
  return { bus, registry, logger };
}

const emit = (bus: TelemetryBus, type: "error" | "task.started" = "error"): EngineEvent =>
  type === "error" ? bus.emit("error", "t1", undefined, { source: "test", error: { code: "X", message: "x" } }) : bus.emit("task.started", "t1", undefined, { input: null, startNode: "s", lineage: [] });

const tick = (ms = 5): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A thenable that resolves with itself: `Promise.resolve(t)` / `await t` would adopt it forever. */
function selfResolving(): Promise<void> {
  const t = {
    then(resolve: (v: unknown) => void): void {
      resolve(t);
    },
  };
  return t as unknown as Promise<void>;
}

/** An error-like object every read of which throws. */
function explodingError(): unknown {
  return new Proxy(
    {},
    {
      get() {
        throw new Error("get trap");
      },
      getPrototypeOf() {
        throw new Error("getPrototypeOf trap");
      },
      ownKeys() {
        throw new Error("ownKeys trap");
      },
      has() {
        throw new Error("has trap");
      },
    },
  );
}

function errorWithThrowingGetters(): Error {
  const err = new Error("base");
  for (const key of ["message", "code", "stack", "name", "cause"]) {
    Object.defineProperty(err, key, {
      get() {
        throw new Error(`${key} getter`);
      },
    });
  }
  return err;
}

class Counter extends PluginBase {
  readonly seen: string[] = [];
  onEvent(event: Readonly<EngineEvent>): void {
    this.seen.push(event.type);
  }
}

describe("hostile values from plugin hooks", () => {
  it("a self-resolving thenable from onEvent is observed once, not re-adopted: timers still run and shutdown returns", { timeout: 10_000 }, async () => {
    const { bus, registry } = setup();
    await registry.register({ pluginId: "loop", onEvent: () => selfResolving() });
    for (let i = 0; i < 10; i++) emit(bus);
    await tick(); // never fires if the microtask queue spins
    const stats = registry.stats("loop");
    assert.equal(stats?.pending, 0);
    assert.equal(stats?.failed, 0);
    const report = await registry.shutdown(1000);
    assert.equal(report.complete, true);
  });

  it("self-resolving thenables from onStartup and onShutdown do not hang register or shutdown(timeout)", { timeout: 10_000 }, async () => {
    const { registry } = setup();
    await registry.register({ pluginId: "s", onEvent() {}, onStartup: () => selfResolving(), onShutdown: () => selfResolving() } as unknown as Plugin);
    const report = await registry.shutdown(1000);
    assert.equal(report.plugins[0]?.shutdown, "ok");
  });

  it("thenables whose then throws, calls back twice, or never calls back are counted, not fatal", { timeout: 10_000 }, async () => {
    const { bus, registry } = setup({ deliveryTimeoutMs: 50, maxConsecutiveFailures: Infinity });
    const hostile = [
      { then: () => { throw explodingError(); } },
      { then: (ok: () => void, bad: (e: unknown) => void) => { ok(); bad(new Error("late")); ok(); } },
      { then: (_ok: () => void, bad: (e: unknown) => void) => { bad(errorWithThrowingGetters()); bad(explodingError()); } },
      { then() {} },
      Object.defineProperty({}, "then", { get() { throw new Error("then getter"); } }),
    ];
    let i = 0;
    await registry.register({ pluginId: "h", onEvent: () => hostile[i++ % hostile.length] as never });
    for (let n = 0; n < hostile.length; n++) emit(bus);
    // then throws, rejects with a hostile error, then getter throws: 3 failures now; never calls back: 1 timeout later.
    await (async () => {
      while ((registry.stats("h")?.timedOut ?? 0) < 1) await tick();
    })();
    const stats = registry.stats("h");
    assert.equal(stats?.failed, 4);
    assert.equal(stats?.pending, 0);
    const report = await registry.shutdown(500);
    assert.equal(report.ok, false);
    assert.equal(report.complete, true);
  });

  it("throwing hostile errors (throwing getters, Proxies) is logged and counted; the log line is still made", async () => {
    const { bus, registry, logger } = setup({ maxConsecutiveFailures: Infinity });
    let n = 0;
    await registry.register({
      pluginId: "thrower",
      onEvent() {
        throw n++ % 2 === 0 ? explodingError() : errorWithThrowingGetters();
      },
    });
    await registry.register({
      pluginId: "rejecter",
      onEvent: () => Promise.reject(explodingError()),
    });
    const after = new Counter("after");
    await registry.register(after);
    for (let i = 0; i < 4; i++) emit(bus);
    await tick();
    assert.equal(after.seen.length, 4);
    assert.equal(registry.stats("thrower")?.failed, 4);
    assert.equal(registry.stats("rejecter")?.failed, 4);
    assert.ok(logger.lines.some((l) => l.message.includes('plugin "thrower" onEvent failed')));
    await registry.shutdown(500);
  });

  it("hooks behind throwing getters, and a pluginId that changes or throws, are failures, never throws", async () => {
    const { registry } = setup();
    let reads = 0;
    const shifty = {
      get pluginId(): unknown {
        return reads++ === 0 ? "shifty" : 42;
      },
      onEvent() {},
    };
    await assert.rejects(registry.register(shifty as unknown as Plugin), { code: "PLUGIN_NOT_A_PLUGIN" });
    await assert.rejects(registry.register(explodingError() as Plugin), { code: "PLUGIN_NOT_A_PLUGIN" });
    const startupGetter = Object.defineProperty({ pluginId: "sg", onEvent() {} }, "onStartup", {
      get() {
        throw explodingError();
      },
    });
    // A throwing getter reads as "no onStartup": the plugin registers.
    await registry.register(startupGetter as Plugin);
    const shutdownGetter = Object.defineProperty({ pluginId: "shg", onEvent() {}, onShutdown() {} }, "onShutdown", {
      get() {
        throw new Error("getter");
      },
    });
    await registry.register(shutdownGetter as Plugin);
    const failing = { pluginId: "sf", onEvent() {}, onShutdown: () => { throw explodingError(); } };
    await registry.register(failing);
    const report = await registry.shutdown(500);
    assert.equal(report.plugins.find((p) => p.id === "sf")?.shutdown, "failed");
    assert.equal(report.plugins.find((p) => p.id === "shg")?.shutdown, "ok");
  });

  it("shutdown(timeout) returns whatever plugins do: hung deliveries, hung onShutdown, a run that never ends", { timeout: 10_000 }, async () => {
    const { bus, registry } = setup();
    await registry.register({ pluginId: "hung", onEvent: () => new Promise<void>(() => undefined), onShutdown: () => new Promise<void>(() => undefined) });
    await registry.register({ pluginId: "never", onEvent: () => ({ then() {} }) as never, onShutdown: () => ({ then() {} }) as never });
    registry.hold(); // never released
    emit(bus);
    const report = await registry.shutdown(300);
    assert.equal(report.complete, false);
    assert.equal(report.sourcesInFlight, 1);
    assert.deepEqual(report.unfinished, ["hung", "never"]);
    assert.ok(report.plugins.every((p) => p.shutdown === "timeout" && !p.drained));
  });
});

describe("shutdown while runs are in flight", () => {
  it("waits for held sources; their events still reach plugins; the report is complete", { timeout: 10_000 }, async () => {
    const { bus, registry } = setup();
    const counter = new Counter("c");
    await registry.register(counter);
    const release = registry.hold();
    const shutdown = registry.shutdown(5_000);
    await tick(20);
    emit(bus, "task.started");
    release();
    release(); // idempotent
    const report = await shutdown;
    assert.deepEqual(counter.seen, ["task.started"]);
    assert.equal(report.complete, true);
    assert.equal(report.ok, true);
    assert.equal(report.sourcesInFlight, 0);
    assert.equal(registry.activeSources, 0);
  });

  it("a source still in flight at the deadline is reported, and its later events count as undelivered while plugins stop", { timeout: 10_000 }, async () => {
    const { bus, registry } = setup();
    let open: () => void = () => undefined;
    const gate = new Promise<void>((r) => (open = r));
    await registry.register({ pluginId: "slow", onEvent() {}, onShutdown: () => gate });
    await registry.register({ pluginId: "tasks-only", onEvent() {} }, { events: ["task.*"] });
    registry.hold();
    const shutdown = registry.shutdown(4_000);
    // After half the timeout the plugins leave dispatch and are being stopped; the run keeps emitting.
    while (registry.size > 0) await tick();
    emit(bus, "task.started");
    emit(bus, "error");
    open();
    const report = await shutdown;
    assert.equal(report.sourcesInFlight, 1);
    assert.equal(report.complete, false);
    assert.equal(report.ok, false);
    assert.equal(report.undelivered, 3);
    assert.equal(report.plugins.find((p) => p.id === "slow")?.stats.undelivered, 2);
    assert.equal(report.plugins.find((p) => p.id === "tasks-only")?.stats.undelivered, 1);
    assert.match(report.failures.map((f) => f.reason).join("\n"), /events undelivered/);
  });
});

describe("honest shutdown report", () => {
  it("dropped events make the report incomplete; failures name the plugin and say whether it was required", async () => {
    const { bus, registry } = setup({ maxPendingPerPlugin: 1, maxConsecutiveFailures: Infinity });
    let resolveIt: () => void = () => undefined;
    await registry.register({ pluginId: "slow", onEvent: () => new Promise<void>((r) => (resolveIt = r)) });
    await registry.register({ pluginId: "req", onEvent: () => { throw new Error("disk full"); } }, { required: true });
    await registry.register(new Counter("fine"));
    emit(bus);
    emit(bus); // dropped for "slow": one delivery pending already
    resolveIt();
    const report = await registry.shutdown(1000);
    assert.equal(report.dropped, 1);
    assert.equal(report.complete, false);
    assert.equal(report.ok, false);
    assert.equal(report.requiredFailed, true);
    assert.deepEqual(
      report.failures.map((f) => [f.id, f.required]),
      [
        ["slow", false],
        ["req", true],
      ],
    );
    assert.match(report.failures[1]?.reason ?? "", /2 failures \(last: onEvent: disk full\)/);
    assert.equal(report.plugins.find((p) => p.id === "fine")?.ok, true);
    assert.equal(report.plugins.find((p) => p.id === "req")?.stats.required, true);
  });

  it("a clean shutdown is complete and ok", async () => {
    const { bus, registry } = setup();
    await registry.register(new Counter("c"), { required: true });
    emit(bus);
    const report = await registry.shutdown(1000);
    assert.deepEqual([report.complete, report.ok, report.requiredFailed, report.failures.length, report.dropped, report.undelivered], [true, true, false, 0, 0, 0]);
  });
});
