/**
 * Plugins wired into a real Engine: loaded from plugins.yaml by dynamic import, fed a real
 * run's events, and unable to change anything, hostile ones included.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { after, describe, test } from "node:test";
import { Engine, EngineError, MemoryLogger, PluginBase, PluginLoadError, type EngineEvent } from "../../src/index.js";
import { removeDir, repoRoot, writeConfigDir } from "../helpers.js";
import { normalizeEvents, normalizeResult } from "../normalize.js";

const indexUrl = pathToFileURL(join(repoRoot, "dist", "src", "index.js")).href;

const workflow = `
nodes:
  - { id: start, kind: deterministic, role: start, default: true, handler: ./h.js#start }
  - { id: fan, kind: deterministic, role: branch }
  - { id: left, kind: deterministic, role: linear, handler: ./h.js#slow }
  - { id: right, kind: deterministic, role: linear, handler: ./h.js#slow }
  - { id: join, kind: deterministic, role: merge }
  - { id: items, kind: deterministic, role: split, handler: ./h.js#items }
  - { id: w1, kind: deterministic, role: linear, handler: ./h.js#slow }
  - { id: w2, kind: deterministic, role: linear, handler: ./h.js#slow }
  - { id: gather, kind: deterministic, role: merge, merge: { on_failure: partial } }
  - { id: done, kind: deterministic, role: exit }
edges:
  - { from: start, to: fan }
  - { from: fan, to: left }
  - { from: fan, to: right }
  - { from: left, to: join }
  - { from: right, to: join }
  - { from: join, to: items }
  - { from: items, to: w1 }
  - { from: items, to: w2 }
  - { from: w1, to: gather }
  - { from: w2, to: gather }
  - { from: gather, to: done }
`;

const handlers = `
const pause = () => new Promise((r) => setTimeout(r, Math.floor(Math.random() * 4)));
export const start = (input) => ({ ...input, started: true });
export async function slow(input, ctx) { await pause(); return { from: ctx.nodeId, input }; }
export const items = (arrivals) => arrivals.map((a, i) => ({ i, from: a.node_id })).concat([{ i: 9 }]);
`;

const hostile = `
import { PluginBase, definePlugin } from ${JSON.stringify(indexUrl)};
export class Thrower extends PluginBase { onEvent() { throw new Error("thrower: " + "x".repeat(1000)); } }
export class Rejecter extends PluginBase { async onEvent() { await null; throw new Error("rejecter"); } }
export class Hanger extends PluginBase { onEvent() { return new Promise(() => {}); } }
export class Slow extends PluginBase { async onEvent() { await new Promise((r) => setTimeout(r, Math.random() * 3)); } }
export class Mutator extends PluginBase {
  attempts = 0; blocked = 0;
  onEvent(event) {
    const tries = [
      () => { event.type = "task.failed"; },
      () => { event.seq = -1; },
      () => { event.payload.status = "failure"; },
      () => { if ("output" in event.payload) delete event.payload.output; else throw new TypeError("n/a"); },
      () => { if (event.payload.input && typeof event.payload.input === "object") event.payload.input.hacked = true; else throw new TypeError("n/a"); },
      () => { if (Array.isArray(event.payload.inputs)) event.payload.inputs.push({}); else throw new TypeError("n/a"); },
    ];
    for (const t of tries) { this.attempts++; try { t(); } catch { this.blocked++; } }
    event.payload.output = "mutated"; // strict mode: throws out of onEvent, counted as a failure
  }
}
export class UnprintableError extends PluginBase { onEvent() { throw Object.create(Error.prototype, { message: { get() { throw new Error("gotcha"); } } }); } }
export class ThrowsProxy extends PluginBase { onEvent() { throw new Proxy({}, { get() { throw new Error("trap"); }, getPrototypeOf() { throw new Error("trap"); } }); } }
export class HostileThenable extends PluginBase { onEvent() { return { get then() { throw new Error("then trap"); } }; } }
export class Witness extends PluginBase { seqs = []; onEvent(e) { this.seqs.push(e.seq); } }
export const ObjectStyle = definePlugin({ onEvent(event) { if (event.type === "node.completed") throw new Error("object-style"); } });
`;

const hostileYaml = `
plugins:
  - { id: thrower, module: ./hostile.js#Thrower, max_failures: 3 }
  - { id: rejecter, module: ./hostile.js#Rejecter }
  - { id: hanger, module: ./hostile.js#Hanger }
  - { id: slow, module: ./hostile.js#Slow }
  - { id: mutator, module: ./hostile.js#Mutator }
  - { id: object_style, module: ./hostile.js#ObjectStyle, events: ["node.*"] }
  - { id: unprintable, module: ./hostile.js#UnprintableError }
  - { id: throws_proxy, module: ./hostile.js#ThrowsProxy }
  - { id: hostile_thenable, module: ./hostile.js#HostileThenable }
  - { id: witness, module: ./hostile.js#Witness }
`;

const dirs: string[] = [];
after(async () => {
  await Promise.all(dirs.map(removeDir));
});

async function dir(files: Record<string, string>): Promise<string> {
  const d = await writeConfigDir(files);
  dirs.push(d);
  return d;
}

/** Records every event, and checks each is the engine's latest recorded event at delivery. */
class Probe extends PluginBase {
  readonly seen: EngineEvent[] = [];
  synchronous = true;
  constructor(
    id: string,
    private readonly latest: () => EngineEvent | undefined,
  ) {
    super(id);
  }
  onEvent(event: Readonly<EngineEvent>): void {
    if (this.latest() !== event) this.synchronous = false;
    this.seen.push(event);
  }
}

describe("plugins inside a real engine", () => {
  test("plugins.yaml plugins and options.plugins receive every event in seq order, synchronously", async () => {
    const d = await dir({
      "workflow.yaml": workflow,
      "h.js": handlers,
      "plugins.yaml": `plugins:\n  - { id: only_nodes, module: ./rec.js#Rec, events: ["node.*"] }\n`,
      "rec.js": `import { PluginBase } from ${JSON.stringify(indexUrl)};\nexport class Rec extends PluginBase { static last; constructor(id, c) { super(id, c); Rec.last = this; this.types = []; } onEvent(e) { this.types.push(e.type); } }\n`,
    });
    const holder: { engine?: Engine } = {};
    const probe = new Probe("probe", () => holder.engine?.getEvents().at(-1));
    const engine = await Engine.fromConfigDir(d, { plugins: [probe], logger: new MemoryLogger() });
    holder.engine = engine;
    const result = await engine.run({ n: 1 });
    assert.equal(result.status, "success");
    const all = engine.getEvents();
    assert.deepEqual(
      probe.seen.map((e) => e.seq),
      all.map((e) => e.seq),
    );
    assert.ok(probe.synchronous, "each event was delivered while it was the latest recorded one");
    assert.ok(probe.seen.every((e, i) => i === 0 || e.seq > probe.seen[i - 1]!.seq));
    assert.deepEqual(engine.getPluginRegistry().list(), ["only_nodes", "probe"]);
    const rec = engine.getPluginRegistry().get("only_nodes") as unknown as { types: string[] };
    assert.ok(rec.types.length > 0);
    assert.ok(rec.types.every((t) => t.startsWith("node.")));
    assert.equal(rec.types.length, all.filter((e) => e.type.startsWith("node.")).length);
    await engine.shutdown();
  });

  test("hostile plugins change nothing: same result and normalized event stream as without plugins", async () => {
    const plain = await dir({ "workflow.yaml": workflow, "h.js": handlers });
    const withPlugins = await dir({ "workflow.yaml": workflow, "h.js": handlers, "hostile.js": hostile, "plugins.yaml": hostileYaml });
    const logger = new MemoryLogger();
    for (let round = 0; round < 5; round++) {
      const a = await Engine.fromConfigDir(plain, { logger: new MemoryLogger() });
      const b = await Engine.fromConfigDir(withPlugins, { logger, shutdownTimeoutMs: 100 });
      assert.equal(b.getPluginRegistry().list().length, 10);
      const ra = await a.run({ round });
      const rb = await b.run({ round });
      assert.equal(ra.status, "success");
      assert.deepEqual(normalizeResult(rb), normalizeResult(ra));
      assert.deepEqual(normalizeEvents(b.getEvents()), normalizeEvents(a.getEvents()));
      // Plugin failures never become engine events.
      assert.ok(b.getEvents().every((e) => e.type !== "error"));

      const stats = b.getPluginRegistry().stats() as readonly { id: string; failed: number; state: string }[];
      const byId = new Map(stats.map((s) => [s.id, s]));
      assert.equal(byId.get("thrower")!.state, "disabled", "switched off after max_failures");
      assert.equal(byId.get("thrower")!.failed, 3);
      assert.ok(byId.get("mutator")!.failed > 0);
      assert.ok(byId.get("object_style")!.failed > 0);
      // The last plugin still saw every event, in order, after all the hostile ones before it.
      const witness = b.getPluginRegistry().get("witness") as unknown as { seqs: number[] };
      assert.deepEqual(
        witness.seqs,
        b.getEvents().map((e) => e.seq),
      );
      assert.ok(byId.get("unprintable")!.failed > 0 && byId.get("throws_proxy")!.failed > 0 && byId.get("hostile_thenable")!.failed > 0);
      const mutator = b.getPluginRegistry().get("mutator") as unknown as { attempts: number; blocked: number };
      assert.equal(mutator.blocked, mutator.attempts, "every mutation attempt threw");

      const report = await b.shutdown(100);
      assert.ok(report.unfinished.includes("hanger"), "the hung plugin is reported, and shutdown still returns");
      await a.shutdown();
    }
    assert.ok(logger.lines.some((l) => l.level === "warn" && /thrower/.test(l.message)), "the disabled plugin is named in a warning");
    // Hundreds of failures per round, but per plugin and engine at most the burst (5) plus a
    // summary and a disable warning reach the log.
    const failingPlugins = 9;
    assert.ok(logger.lines.length <= 5 * failingPlugins * 7, `plugin failures are rate-limited in the log (${logger.lines.length} lines)`);
  });

  test("a worker plugin that spins forever cannot stall the engine", async () => {
    const d = await dir({
      "workflow.yaml": workflow,
      "h.js": handlers,
      "spin.js": "export default class Spinner { constructor(id) { this.pluginId = id; } onEvent() { for (;;) {} } }\n",
      "plugins.yaml": "plugins:\n  - { id: spinner, module: ./spin.js, isolation: worker, queue_size: 8 }\n",
    });
    const engine = await Engine.fromConfigDir(d, { logger: new MemoryLogger() });
    for (let i = 0; i < 3; i++) assert.equal((await engine.run({ i })).status, "success");
    const s = engine.getPluginRegistry().stats("spinner") as { dropped: number; isolation: string };
    assert.equal(s.isolation, "worker");
    assert.ok(s.dropped > 0, "overflow beyond the bounded queue is dropped and counted");
    const report = await engine.shutdown(200);
    assert.ok(report.unfinished.includes("spinner"));
    assert.equal(report.plugins.find((p) => p.id === "spinner")?.terminated, true);
  });

  test("a required plugin that cannot load rejects fromConfigDir with file, plugin id, module and export", async () => {
    const d = await dir({
      "workflow.yaml": workflow,
      "h.js": handlers,
      "p.js": "export class Present {}\n",
      "plugins.yaml": "plugins:\n  - id: audit\n    module: ./p.js#Missing\n    required: true\n",
    });
    await assert.rejects(Engine.fromConfigDir(d, { logger: new MemoryLogger() }), (err: unknown) => {
      assert.ok(err instanceof PluginLoadError);
      const detail = err.details[0]!;
      assert.equal(detail.code, "PLUGIN_EXPORT_MISSING");
      assert.equal(detail.pluginId, "audit");
      assert.match(detail.file ?? "", /plugins\.yaml$/);
      assert.equal(detail.line, 3);
      assert.match(detail.message, /p\.js/);
      assert.match(detail.message, /Missing/);
      assert.match(detail.message, /Present/);
      return true;
    });
  });

  test("an optional plugin that cannot load is skipped, logged and reported; the engine runs", async () => {
    const logger = new MemoryLogger();
    const d = await dir({
      "workflow.yaml": workflow,
      "h.js": handlers,
      "plugins.yaml": "plugins:\n  - { id: ghost, module: ./nowhere.js }\n  - { id: off, module: ./also-nowhere.js, enabled: false }\n",
    });
    const engine = await Engine.fromConfigDir(d, { logger });
    assert.deepEqual(
      engine.pluginLoadFailures.map((f) => [f.pluginId, f.detail.code]),
      [["ghost", "PLUGIN_MODULE_NOT_FOUND"]],
    );
    assert.ok(logger.lines.some((l) => l.level === "warn" && /ghost/.test(l.message)));
    assert.equal((await engine.run({})).status, "success");
    await engine.shutdown();
  });

  test("shutdown waits for pending async deliveries, then calls onShutdown", async () => {
    const order: string[] = [];
    class Lagging extends PluginBase {
      onEvent(event: Readonly<EngineEvent>): Promise<void> {
        return new Promise((r) =>
          setTimeout(() => {
            order.push(`done:${event.seq}`);
            r();
          }, 5),
        );
      }
      override onShutdown(): void {
        order.push("shutdown");
      }
    }
    const d = await dir({ "workflow.yaml": workflow, "h.js": handlers });
    const engine = await Engine.fromConfigDir(d, { plugins: [new Lagging("lag")], logger: new MemoryLogger() });
    await engine.run({});
    const total = engine.getEvents().length;
    const report = await engine.shutdown(10_000);
    assert.equal(report.complete, true);
    assert.equal(order.at(-1), "shutdown");
    assert.equal(order.filter((o) => o.startsWith("done:")).length, total);
    await assert.rejects(engine.run({}), (e: unknown) => e instanceof EngineError && e.code === "ENGINE_SHUT_DOWN");
  });

  test("plugins get only the frozen event: no engine, registry or task object is reachable", async () => {
    const reachable: string[] = [];
    class Snoop extends PluginBase {
      onEvent(event: Readonly<EngineEvent>): void {
        const stack: unknown[] = [event];
        while (stack.length > 0) {
          const v = stack.pop();
          if (v === null || typeof v !== "object") {
            if (typeof v === "function") reachable.push("function");
            continue;
          }
          const proto = Object.getPrototypeOf(v) as unknown;
          if (proto !== Object.prototype && proto !== Array.prototype) reachable.push(String((v as object).constructor?.name));
          stack.push(...Object.values(v));
        }
      }
    }
    const d = await dir({ "workflow.yaml": workflow, "h.js": handlers });
    const engine = await Engine.fromConfigDir(d, { plugins: [new Snoop("snoop")], logger: new MemoryLogger() });
    await engine.run({ x: 1 });
    assert.deepEqual(reachable, []);
    assert.equal(Object.keys(new Snoop("s")).includes("engine"), false);
    await engine.shutdown();
  });
});
