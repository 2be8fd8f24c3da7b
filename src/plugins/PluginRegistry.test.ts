import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { sealJson } from "../json.js";
import type { EngineEvent } from "../telemetry/events.js";
import { MemoryLogger } from "../telemetry/logger.js";
import { TelemetryBus } from "../telemetry/TelemetryBus.js";
import { definePlugin, PluginBase } from "./PluginBase.js";
import { PluginRegistry, type PluginRegistryOptions } from "./PluginRegistry.js";
import { PluginLoadError } from "../errors.js";

class Recorder extends PluginBase {
  readonly events: Readonly<EngineEvent>[] = [];
  readonly calls: string[] = [];
  onEvent(event: Readonly<EngineEvent>): void {
    this.events.push(event);
  }
  override onStartup(): void {
    this.calls.push("startup");
  }
  override onShutdown(): void {
    this.calls.push("shutdown");
  }
}

function setup(options: PluginRegistryOptions = {}): { bus: TelemetryBus; registry: PluginRegistry; logger: MemoryLogger } {
  const logger = new MemoryLogger();
  const registry = new PluginRegistry({ logger, ...options });
  const bus = new TelemetryBus();
  bus.setSink((e) => registry.dispatch(e));
  return { bus, registry, logger };
}

function emitNodeCompleted(bus: TelemetryBus, output: unknown = { n: 1 }): EngineEvent {
  return bus.emit("node.completed", "t1", "n1", { role: "linear", kind: "deterministic", output: sealJson(output), durationMs: 1 });
}

function emitError(bus: TelemetryBus, source = "test"): EngineEvent {
  return bus.emit("error", "t1", undefined, { source, error: { code: "X", message: "x" } });
}

const deferred = <T = void>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } => {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
};

describe("PluginRegistry lifecycle", () => {
  it("register calls onStartup, then the plugin receives events", async () => {
    const { bus, registry } = setup();
    const p = new Recorder("rec");
    await registry.register(p);
    assert.deepEqual(p.calls, ["startup"]);
    emitNodeCompleted(bus);
    assert.equal(p.events.length, 1);
    assert.equal(registry.get("rec"), p);
    assert.deepEqual(registry.list(), ["rec"]);
    assert.equal(registry.stats("rec")?.state, "active");
  });

  it("does not deliver events while an async onStartup is pending", async () => {
    const { bus, registry } = setup();
    const gate = deferred();
    const seen: number[] = [];
    const P = definePlugin({
      onStartup: () => gate.promise,
      onEvent: (e) => void seen.push(e.seq),
    });
    const registering = registry.register(new P("slow-start"));
    await Promise.resolve();
    emitError(bus);
    gate.resolve();
    await registering;
    const second = emitError(bus);
    assert.deepEqual(seen, [second.seq]);
  });

  it("unregister calls onShutdown and stops delivery", async () => {
    const { bus, registry } = setup();
    const p = new Recorder("rec");
    await registry.register(p);
    const result = await registry.unregister("rec");
    assert.equal(result?.shutdown, "ok");
    assert.deepEqual(p.calls, ["startup", "shutdown"]);
    emitNodeCompleted(bus);
    assert.equal(p.events.length, 0);
    assert.equal(registry.get("rec"), undefined);
    assert.equal(await registry.unregister("nope"), undefined);
  });

  it("a duplicate id replaces the old plugin after awaiting its onShutdown", async () => {
    const { bus, registry } = setup();
    const order: string[] = [];
    const gate = deferred();
    class Slow extends Recorder {
      override async onShutdown(): Promise<void> {
        order.push("old shutdown start");
        await gate.promise;
        order.push("old shutdown end");
      }
    }
    class Fresh extends Recorder {
      override onStartup(): void {
        order.push("new startup");
      }
    }
    const old = new Slow("dup");
    const fresh = new Fresh("dup");
    await registry.register(old);
    emitError(bus);
    const replacing = registry.register(fresh);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(order, ["old shutdown start"]);
    gate.resolve();
    await replacing;
    assert.deepEqual(order, ["old shutdown start", "old shutdown end", "new startup"]);
    emitError(bus);
    assert.equal(old.events.length, 1);
    assert.equal(fresh.events.length, 1);
    assert.equal(registry.get("dup"), fresh);
    assert.deepEqual(registry.list(), ["dup"]);
  });

  it("clear calls every onShutdown and empties the registry", async () => {
    const { registry } = setup();
    const a = new Recorder("a");
    const b = new Recorder("b");
    await registry.register(a);
    await registry.register(b);
    const report = await registry.clear();
    assert.equal(report.complete, true);
    assert.deepEqual(a.calls, ["startup", "shutdown"]);
    assert.deepEqual(b.calls, ["startup", "shutdown"]);
    assert.deepEqual(registry.list(), []);
    assert.equal(registry.size, 0);
  });

  it("a throwing onStartup rejects register with PLUGIN_STARTUP_FAILED and does not register", async () => {
    const { bus, registry } = setup();
    const P = definePlugin({
      onStartup() {
        throw new Error("no db");
      },
      onEvent() {
        assert.fail("must not be called");
      },
    });
    await assert.rejects(registry.register(new P("bad")), (err: unknown) => {
      assert.ok(err instanceof PluginLoadError);
      assert.equal(err.code, "PLUGIN_STARTUP_FAILED");
      assert.equal(err.details[0]?.pluginId, "bad");
      assert.match(err.message, /no db/);
      return true;
    });
    assert.equal(registry.get("bad"), undefined);
    emitError(bus);
  });

  it("a hung onStartup times out", async () => {
    const { registry } = setup({ startupTimeoutMs: 20 });
    const P = definePlugin({ onStartup: () => new Promise<void>(() => {}), onEvent() {} });
    await assert.rejects(registry.register(new P("hung")), /did not settle within 20 ms/);
    assert.equal(registry.has("hung"), false);
  });

  it("rejects non-plugins and bad options with PluginLoadError", async () => {
    const { registry } = setup();
    await assert.rejects(registry.register({ nope: true } as never), (e: unknown) => e instanceof PluginLoadError && e.code === "PLUGIN_NOT_A_PLUGIN");
    await assert.rejects(registry.register(new Recorder("x"), { maxFailures: 0 }), (e: unknown) => e instanceof PluginLoadError && e.code === "PLUGIN_CONFIG");
    await assert.rejects(registry.register(new Recorder("x"), { events: "node.*" as never }), (e: unknown) => e instanceof PluginLoadError && e.code === "PLUGIN_CONFIG");
  });

  it("stats count deliveries and failures per plugin", async () => {
    const { bus, registry } = setup();
    let n = 0;
    const P = definePlugin({
      onEvent() {
        if (++n % 2 === 0) throw new Error(`fail ${n}`);
      },
    });
    await registry.register(new P("half"));
    for (let i = 0; i < 4; i++) emitError(bus);
    const s = registry.stats("half");
    assert.ok(s);
    assert.equal(s.delivered, 4);
    assert.equal(s.failed, 2);
    assert.equal(s.consecutiveFailures, 1);
    assert.equal(s.lastError, "onEvent: fail 4");
    assert.equal(s.state, "active");
    assert.equal(s.isolation, "inline");
    assert.deepEqual(
      registry.stats().map((x) => x.id),
      ["half"],
    );
  });
});

describe("PluginRegistry dispatch", () => {
  it("delivers synchronously, in seq order, the same frozen object the bus recorded", async () => {
    const { bus, registry } = setup();
    const p = new Recorder("rec");
    await registry.register(p);
    const emitted: EngineEvent[] = [];
    for (let i = 0; i < 5; i++) {
      emitted.push(emitNodeCompleted(bus, { i }));
      assert.equal(p.events.length, i + 1, "delivered before emit returned");
    }
    assert.deepEqual(
      p.events.map((e) => e.seq),
      emitted.map((e) => e.seq),
    );
    assert.equal(p.events[0], bus.getEvents()[0]);
  });

  it("delivers to plugins in registration order", async () => {
    const { bus, registry } = setup();
    const order: string[] = [];
    for (const id of ["c", "a", "b"]) {
      const P = definePlugin({ onEvent: () => void order.push(id) });
      await registry.register(new P(id));
    }
    emitError(bus);
    assert.deepEqual(order, ["c", "a", "b"]);
  });

  it("honours subscription globs and exact types", async () => {
    const { bus, registry } = setup();
    const nodes = new Recorder("nodes");
    const exact = new Recorder("exact");
    const failures = new Recorder("failures");
    const all = new Recorder("all");
    await registry.register(nodes, { events: ["node.*"] });
    await registry.register(exact, { events: ["task.completed"] });
    await registry.register(failures, { events: ["*.failed"] });
    await registry.register(all);
    bus.emit("task.started", "t", undefined, { input: null, startNode: "s", lineage: [] });
    bus.emit("node.started", "t", "s", { role: "start", kind: "deterministic", input: null });
    bus.emit("node.failed", "t", "s", { role: "start", kind: "deterministic", error: { code: "E", message: "m" }, continued: false, durationMs: 0 });
    bus.emit("task.completed", "t", undefined, { status: "success", output: null });
    bus.emit("task.failed", "t", undefined, { status: "failure", output: null });
    const types = (r: Recorder): string[] => r.events.map((e) => e.type);
    assert.deepEqual(types(nodes), ["node.started", "node.failed"]);
    assert.deepEqual(types(exact), ["task.completed"]);
    assert.deepEqual(types(failures), ["node.failed", "task.failed"]);
    assert.equal(all.events.length, 5);
  });

  it("wants() tells whether anybody subscribes to a type", async () => {
    const { registry } = setup();
    assert.equal(registry.wants("node.started"), false);
    await registry.register(new Recorder("n"), { events: ["node.*"] });
    assert.equal(registry.wants("node.started"), true);
    assert.equal(registry.wants("task.started"), false);
    await registry.unregister("n");
    assert.equal(registry.wants("node.started"), false);
  });

  it("dispatch with no plugins is a no-op", () => {
    const { bus, registry } = setup();
    emitError(bus);
    assert.deepEqual(registry.stats(), []);
  });
});

describe("event immutability", () => {
  it("mutating the event or its nested payload throws inside the plugin; the next plugin sees the original", async () => {
    const { bus, registry, logger } = setup();
    const attempts: string[] = [];
    const Vandal = definePlugin({
      onEvent(event) {
        const e = event as unknown as { type: string; payload: { output: { list: number[]; nested: { a: number } } } };
        for (const [name, fn] of [
          ["type", () => (e.type = "hacked")],
          ["payload.output.nested.a", () => (e.payload.output.nested.a = 99)],
          ["payload.output.list.push", () => e.payload.output.list.push(4)],
          ["delete payload", () => delete (e as { payload?: unknown }).payload],
        ] as const) {
          try {
            fn();
            attempts.push(`${name}: allowed`);
          } catch (err) {
            attempts.push(`${name}: ${err instanceof TypeError ? "TypeError" : String(err)}`);
          }
        }
        // then fail outright, as a careless plugin would
        (e.payload as { extra?: number }).extra = 1;
      },
    });
    const after = new Recorder("after");
    await registry.register(new Vandal("vandal"));
    await registry.register(after);
    const emitted = emitNodeCompleted(bus, { list: [1, 2, 3], nested: { a: 1 } });
    assert.deepEqual(attempts, ["type: TypeError", "payload.output.nested.a: TypeError", "payload.output.list.push: TypeError", "delete payload: TypeError"]);
    const seen = after.events[0];
    assert.ok(seen);
    assert.equal(seen.type, "node.completed");
    assert.deepEqual((seen.payload as { output: unknown }).output, { list: [1, 2, 3], nested: { a: 1 } });
    assert.deepEqual(bus.getEvents()[0], emitted);
    assert.equal(registry.stats("vandal")?.failed, 1);
    assert.ok(logger.lines.some((l) => l.level === "error" && l.message.includes('plugin "vandal" onEvent failed')));
    assert.equal(bus.getEvents().length, 1, "failures are never emitted as events");
  });

  it("plugin config is a deep frozen copy", () => {
    const config = { path: "a", nested: { list: [1] } };
    const p = new Recorder("c", config);
    assert.notEqual(p.config, config);
    assert.ok(Object.isFrozen(p.config));
    assert.ok(Object.isFrozen((p.config as typeof config).nested.list));
    config.nested.list.push(2);
    assert.deepEqual((p.config as typeof config).nested.list, [1]);
  });
});

describe("failure isolation", () => {
  it("throwing, rejecting and never-resolving plugins do not affect others or the engine", async () => {
    const { bus, registry, logger } = setup();
    const Thrower = definePlugin({
      onEvent() {
        throw new Error("sync boom");
      },
    });
    const Rejecter = definePlugin({ onEvent: async () => Promise.reject(new Error("async boom")) });
    const Hanger = definePlugin({ onEvent: () => new Promise<void>(() => {}) });
    const good = new Recorder("good");
    await registry.register(new Thrower("thrower"));
    await registry.register(new Rejecter("rejecter"));
    await registry.register(new Hanger("hanger"));
    await registry.register(good);
    for (let i = 0; i < 3; i++) emitError(bus);
    assert.equal(good.events.length, 3);
    await new Promise((r) => setImmediate(r));
    assert.equal(registry.stats("thrower")?.failed, 3);
    assert.equal(registry.stats("rejecter")?.failed, 3);
    assert.equal(registry.stats("hanger")?.pending, 3);
    assert.equal(registry.stats("good")?.failed, 0);
    assert.equal(bus.getEvents().length, 3);
    assert.ok(bus.getEvents().every((e) => e.type === "error" && e.payload.source === "test"));
    assert.ok(logger.lines.some((l) => l.message.includes("async boom")));
  });

  it("a hung async delivery counts as a timed-out failure", async () => {
    const { bus, registry } = setup({ deliveryTimeoutMs: 20 });
    const Hanger = definePlugin({ onEvent: () => new Promise<void>(() => {}) });
    await registry.register(new Hanger("hanger"));
    emitError(bus);
    const deadline = Date.now() + 5000;
    while (registry.stats("hanger")?.timedOut !== 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    const s = registry.stats("hanger");
    assert.equal(s?.timedOut, 1);
    assert.equal(s?.failed, 1);
    assert.equal(s?.pending, 0);
    assert.match(s?.lastError ?? "", /did not settle within 20 ms/);
  });

  it("disables a plugin after N consecutive failures with one warning", async () => {
    const { bus, registry, logger } = setup({ maxConsecutiveFailures: 3 });
    const Thrower = definePlugin({
      onEvent() {
        throw new Error("always");
      },
    });
    await registry.register(new Thrower("flaky"));
    for (let i = 0; i < 10; i++) emitError(bus);
    const s = registry.stats("flaky");
    assert.equal(s?.state, "disabled");
    assert.equal(s?.delivered, 3);
    assert.equal(s?.failed, 3);
    const warns = logger.lines.filter((l) => l.level === "warn");
    assert.equal(warns.length, 1);
    assert.match(warns[0]!.message, /plugin "flaky" disabled after 3 consecutive failures.*always/);
  });

  it("per-plugin max_failures overrides the registry default; successes reset the count", async () => {
    const { bus, registry } = setup({ maxConsecutiveFailures: 100 });
    const Thrower = definePlugin({
      onEvent(e) {
        if (e.type === "error") throw new Error("x");
      },
    });
    await registry.register(new Thrower("t"), { maxFailures: 2 });
    emitError(bus);
    emitNodeCompleted(bus);
    emitError(bus);
    assert.equal(registry.stats("t")?.state, "active");
    emitError(bus);
    assert.equal(registry.stats("t")?.state, "disabled");
  });

  it("rate-limits failure log lines per plugin", async () => {
    const { bus, registry, logger } = setup({ logBurst: 3, maxConsecutiveFailures: Infinity });
    const Thrower = definePlugin({
      onEvent() {
        throw new Error("flood");
      },
    });
    await registry.register(new Thrower("flood"));
    for (let i = 0; i < 1000; i++) emitError(bus);
    const lines = logger.lines.filter((l) => l.message.includes("flood"));
    assert.equal(lines.length, 3);
    assert.equal(registry.stats("flood")?.failed, 1000);
    assert.equal(registry.stats("flood")?.suppressedLogLines, 997);
    await registry.shutdown();
    assert.ok(logger.lines.some((l) => /997 more failure log lines were suppressed/.test(l.message)));
  });

  it("drops deliveries beyond maxPendingPerPlugin and tells the plugin via onMissed", async () => {
    const { bus, registry } = setup({ maxPendingPerPlugin: 2 });
    const gates: (() => void)[] = [];
    const missed: number[] = [];
    const seen: number[] = [];
    class Slow extends PluginBase {
      onEvent(e: Readonly<EngineEvent>): Promise<void> {
        seen.push(e.seq);
        return new Promise<void>((r) => gates.push(r));
      }
      onMissed(count: number): void {
        missed.push(count);
      }
    }
    await registry.register(new Slow("slow"));
    for (let i = 0; i < 5; i++) emitError(bus);
    assert.deepEqual(seen, [1, 2]);
    assert.equal(registry.stats("slow")?.dropped, 3);
    for (const g of gates) g();
    await registry.flush(1000);
    emitError(bus);
    assert.deepEqual(missed, [3]);
    assert.deepEqual(seen, [1, 2, 6]);
  });

  it("a throwing logger does not break dispatch", async () => {
    const registry = new PluginRegistry({
      logger: {
        debug() {},
        info() {},
        warn() {
          throw new Error("logger down");
        },
        error() {
          throw new Error("logger down");
        },
      },
      maxConsecutiveFailures: 1,
    });
    const Thrower = definePlugin({
      onEvent() {
        throw new Error("x");
      },
    });
    await registry.register(new Thrower("t"));
    registry.dispatch({ id: "1", seq: 1, type: "error", taskId: "t", timestamp: "", payload: { source: "s", error: { code: "c", message: "m" } } });
    assert.equal(registry.stats("t")?.state, "disabled");
  });
});

describe("flush and shutdown", () => {
  it("shutdown waits for pending async deliveries, then calls onShutdown", async () => {
    const { bus, registry } = setup();
    const order: string[] = [];
    const gate = deferred();
    const P = definePlugin({
      async onEvent(e) {
        await gate.promise;
        order.push(`event ${e.seq}`);
      },
      onShutdown() {
        order.push("shutdown");
      },
    });
    await registry.register(new P("p"));
    emitError(bus);
    emitError(bus);
    const shutting = registry.shutdown(5000);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(order, []);
    gate.resolve();
    const report = await shutting;
    assert.deepEqual(order, ["event 1", "event 2", "shutdown"]);
    assert.equal(report.complete, true);
    assert.deepEqual(report.unfinished, []);
    assert.equal(report.plugins[0]?.stats.delivered, 2);
  });

  it("shutdown gives up on hung deliveries and hung onShutdown at the timeout and reports them", async () => {
    const { bus, registry, logger } = setup();
    const Hanger = definePlugin({ onEvent: () => new Promise<void>(() => {}), onShutdown: () => new Promise<void>(() => {}) });
    const FailingShutdown = definePlugin({
      onEvent() {},
      onShutdown() {
        throw new Error("close failed");
      },
    });
    const good = new Recorder("good");
    await registry.register(new Hanger("hanger"));
    await registry.register(new FailingShutdown("failing"));
    await registry.register(good);
    emitError(bus);
    const report = await registry.shutdown(50);
    assert.equal(report.complete, false);
    assert.deepEqual(report.unfinished, ["hanger", "failing"]);
    const [hanger, failing, ok] = report.plugins;
    assert.equal(hanger?.drained, false);
    assert.equal(hanger?.abandoned, 1);
    assert.equal(hanger?.shutdown, "timeout");
    assert.equal(failing?.shutdown, "failed");
    assert.equal(failing?.error, "close failed");
    assert.equal(ok?.shutdown, "ok");
    assert.deepEqual(good.calls, ["startup", "shutdown"]);
    assert.ok(logger.lines.some((l) => l.level === "warn" && l.message.includes('plugin "hanger" did not shut down cleanly')));
  });

  it("flush resolves true once pending deliveries settle, false at the timeout", async () => {
    const { bus, registry } = setup();
    const gate = deferred();
    const P = definePlugin({ onEvent: () => gate.promise });
    await registry.register(new P("p"));
    emitError(bus);
    assert.equal(await registry.flush(20), false);
    gate.resolve();
    assert.equal(await registry.flush(5000), true);
    assert.equal(await registry.flush(0), true);
  });

  it("shutdown calls onShutdown of disabled plugins too", async () => {
    const { bus, registry } = setup({ maxConsecutiveFailures: 1 });
    let shut = 0;
    const P = definePlugin({
      onEvent() {
        throw new Error("x");
      },
      onShutdown() {
        shut++;
      },
    });
    await registry.register(new P("p"));
    emitError(bus);
    assert.equal(registry.stats("p")?.state, "disabled");
    await registry.shutdown();
    assert.equal(shut, 1);
  });
});

describe("plugins get no engine references", () => {
  it("hooks receive only the event; the plugin holds only its id, config and context", async () => {
    const { bus, registry } = setup();
    const args: unknown[][] = [];
    class Inspect extends PluginBase {
      onEvent(...a: unknown[]): void {
        args.push(a);
      }
      override onStartup(...a: unknown[]): void {
        args.push(a);
      }
    }
    const p = new Inspect("inspect", { k: 1 });
    await registry.register(p);
    emitError(bus);
    assert.equal(args[0]?.length, 0);
    assert.equal(args[1]?.length, 1);
    assert.deepEqual(Object.keys(p).sort(), ["config", "context", "pluginId"]);
    assert.deepEqual(p.context, {});
  });
});

describe("the event stream does not depend on plugins", () => {
  it("hostile plugins leave the recorded events identical to a run without plugins", async () => {
    const run = async (withPlugins: boolean): Promise<unknown[]> => {
      const { bus, registry } = setup({ maxConsecutiveFailures: 2, deliveryTimeoutMs: 10 });
      if (withPlugins) {
        const Thrower = definePlugin({
          onEvent() {
            throw new Error("x");
          },
        });
        const Rejecter = definePlugin({ onEvent: () => Promise.reject(new Error("y")) });
        const Hanger = definePlugin({ onEvent: () => new Promise<void>(() => {}) });
        const Vandal = definePlugin({
          onEvent(e) {
            (e as { seq: number }).seq = 0;
          },
        });
        for (const [id, P] of [["t", Thrower], ["r", Rejecter], ["h", Hanger], ["v", Vandal]] as const) await registry.register(new P(id));
      }
      for (let i = 0; i < 5; i++) {
        emitNodeCompleted(bus, { i });
        await new Promise((r) => setImmediate(r));
        emitError(bus);
      }
      await registry.shutdown(20);
      return bus.getEvents().map(({ id: _id, timestamp: _ts, ...rest }) => rest);
    };
    assert.deepEqual(await run(true), await run(false));
  });
});
