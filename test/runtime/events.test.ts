/**
 * Event stream guarantees (CONTRACT §5): frozen plain JSON, strictly increasing seq, paired
 * lifecycle events, filtering and retention.
 */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { describe, it } from "node:test";
import { Engine } from "../../src/runtime/Engine.js";
import type { EngineEvent } from "../../src/telemetry/events.js";
import { EVENT_TYPES } from "../../src/telemetry/events.js";
import { silentLogger } from "../../src/telemetry/logger.js";
import { example } from "../helpers.js";
import { assertEventInvariants, sleep, withEngine } from "./harness.js";

const FORKS = `
nodes:
  - { id: begin, kind: deterministic, role: start }
  - { id: fan, kind: deterministic, role: branch }
  - { id: a, kind: deterministic, role: linear }
  - { id: b, kind: deterministic, role: linear, continue_on_failure: true }
  - { id: join, kind: deterministic, role: merge, merge: { on_failure: partial } }
  - { id: sp, kind: deterministic, role: split }
  - { id: w1, kind: deterministic, role: linear }
  - { id: w2, kind: deterministic, role: linear }
  - { id: gather, kind: deterministic, role: merge, merge: { on_failure: ignore_failures } }
  - { id: done, kind: deterministic, role: exit }
edges:
  - { from: begin, to: fan }
  - { from: fan, to: a }
  - { from: fan, to: b }
  - { from: a, to: join }
  - { from: b, to: join }
  - { from: join, to: sp }
  - { from: sp, to: w1 }
  - { from: sp, to: w2 }
  - { from: w1, to: gather }
  - { from: w2, to: gather }
  - { from: gather, to: done }
`;
const forkHandlers = {
  a: async () => { await sleep(2); return "A"; },
  b: () => { throw new Error("b fails softly"); },
  sp: () => [1, 2, 3, 4, 5],
  w1: async (n: unknown) => { await sleep(1); if (n === 3) throw new Error("three"); return (n as number) * 2; },
  w2: (n: unknown) => ({ n }),
};

function assertDeepFrozen(value: unknown, where: string): void {
  if (value === null || typeof value !== "object") return;
  assert.ok(Object.isFrozen(value), `${where} is not frozen`);
  for (const [k, v] of Object.entries(value)) assertDeepFrozen(v, `${where}/${k}`);
}

async function supportTriageEvents(): Promise<{ engine: Engine; events: readonly EngineEvent[] }> {
  const dir = example("support-triage");
  const engine = await Engine.fromConfigDir(dir, { logger: silentLogger });
  const input: unknown = JSON.parse(await readFile(example("support-triage", "input.json"), "utf8"));
  await engine.run(input);
  return { engine, events: engine.getEvents() };
}

describe("event stream", () => {
  it("the support-triage example satisfies every invariant and uses many event types", async () => {
    const { engine, events } = await supportTriageEvents();
    assertEventInvariants(events);
    const seen = new Set(events.map((e) => e.type));
    for (const t of ["task.started", "task.completed", "node.started", "node.completed", "routing.decision", "routing.branch", "routing.split", "routing.merge", "clone.created", "subtask.created", "tool.invoked", "tool.completed", "agent.request", "agent.response", "context.assembled"]) {
      assert.ok(seen.has(t as never), `missing ${t}`);
    }
    for (const t of seen) assert.ok(EVENT_TYPES.includes(t));
    await engine.shutdown();
  });

  it("every event is deeply frozen: mutation throws (strict mode), nested payloads too", async () => {
    await withEngine({ "workflow.yaml": FORKS }, { handlers: forkHandlers }, async (engine) => {
      await engine.run({ deep: { list: [1, { x: 1 }] } });
      const events = engine.getEvents();
      assert.ok(Object.isFrozen(events));
      assert.throws(() => (events as EngineEvent[]).push(events[0]!), TypeError);
      for (const e of events) assertDeepFrozen(e, `event ${e.seq} ${e.type}`);
      const first = events[0]! as unknown as { type: string; payload: { input: { deep: { list: unknown[] } }; extra?: number } };
      assert.throws(() => { first.type = "changed"; }, TypeError);
      assert.throws(() => { first.payload.extra = 1; }, TypeError);
      assert.throws(() => { first.payload.input.deep.list.push(2); }, TypeError);
      assert.throws(() => { delete (first.payload.input.deep as { list?: unknown }).list; }, TypeError);
      assert.equal(engine.getEvents()[0]!.type, "task.started");
      assert.deepEqual((engine.getEvents()[0]!.payload as unknown as { input: unknown }).input, { deep: { list: [1, { x: 1 }] } });
    });
  });

  it("every event is plain JSON with the documented fields", async () => {
    const { engine, events } = await supportTriageEvents();
    await withEngine({ "workflow.yaml": FORKS }, { handlers: forkHandlers }, async (e2) => {
      await e2.run(null);
      for (const e of [...events, ...e2.getEvents()]) {
        assert.deepEqual(JSON.parse(JSON.stringify(e)), e);
        assert.equal(typeof e.id, "string");
        assert.ok(Number.isInteger(e.seq));
        assert.equal(typeof e.taskId, "string");
        assert.ok(!Number.isNaN(Date.parse(e.timestamp)));
        assert.equal(new Date(e.timestamp).toISOString(), e.timestamp);
        const isNode = e.type.startsWith("node.") || e.type.startsWith("routing.") || e.type.startsWith("tool.") || e.type.startsWith("agent.") || e.type.startsWith("context.");
        if (isNode) assert.equal(typeof e.nodeId, "string", `${e.type} needs nodeId`);
        if (e.type === "node.failed") {
          assert.equal(typeof e.payload.error.code, "string");
          assert.equal(typeof e.payload.error.message, "string");
        }
      }
      assert.equal(new Set(e2.getEvents().map((e) => e.id)).size, e2.getEvents().length, "event ids are unique");
    });
    await engine.shutdown();
  });

  it("seq strictly increases across runs of one engine; node and task events pair up", async () => {
    await withEngine({ "workflow.yaml": FORKS }, { handlers: forkHandlers }, async (engine) => {
      const r1 = await engine.run(1);
      const n1 = engine.getEvents().length;
      const r2 = await engine.run(2);
      const events = engine.getEvents();
      assert.equal(events[0]!.seq, 1);
      assert.deepEqual(events.map((e) => e.seq), events.map((_, i) => i + 1));
      assertEventInvariants(events);
      assert.ok(events.slice(n1).every((e) => e.taskId === r2.taskId || e.taskId.startsWith(`${r2.taskId}.`)));
      assert.ok(events.slice(0, n1).every((e) => e.taskId === r1.taskId || e.taskId.startsWith(`${r1.taskId}.`)));
      // Every child in the result has a task.started and exactly one terminal event matching its status.
      for (const c of [r1, ...r1.children]) {
        const ends = events.filter((e) => e.taskId === c.taskId && (e.type === "task.completed" || e.type === "task.failed"));
        assert.equal(ends.length, 1);
        assert.equal((ends[0]!.payload as { status: string }).status, c.status);
        assert.deepEqual((ends[0]!.payload as { output: unknown }).output, c.output);
      }
      assert.equal(r1.status, "partial");
    });
  });

  it("getEvents filters by type (exact or glob), task id and node id", async () => {
    await withEngine({ "workflow.yaml": FORKS }, { handlers: forkHandlers }, async (engine) => {
      const r = await engine.run(0);
      const all = engine.getEvents();
      const nodeRoot = engine.getEvents({ type: "node.*", taskId: r.taskId });
      assert.ok(Object.isFrozen(nodeRoot));
      assert.deepEqual(nodeRoot, all.filter((e) => e.type.startsWith("node.") && e.taskId === r.taskId));
      assert.deepEqual(nodeRoot.map((e) => `${e.type}@${e.nodeId}`).filter((s) => s.startsWith("node.started")), ["begin", "fan", "join", "sp", "gather", "done"].map((n) => `node.started@${n}`));
      assert.deepEqual(engine.getEvents({ type: "routing.merge" }).map((e) => e.nodeId), ["join", "gather"]);
      assert.deepEqual(engine.getEvents({ nodeId: "w1" }), all.filter((e) => e.nodeId === "w1"));
      assert.deepEqual(engine.getEvents({ type: "*.failed" }), all.filter((e) => e.type.endsWith(".failed")));
      assert.deepEqual(engine.getEvents({ type: "task.completed", taskId: r.taskId }).length, 1);
      assert.deepEqual(engine.getEvents({ type: "nothing.*" }), []);
      assert.deepEqual(engine.getEvents({}), all);
    });
  });

  it("retention: maxEvents keeps only the newest events and counts the dropped ones", async () => {
    let total = 0;
    let fullTail: unknown[] = [];
    await withEngine({ "workflow.yaml": FORKS }, { handlers: forkHandlers }, async (engine) => {
      await engine.run(0);
      total = engine.getEvents().length;
      fullTail = engine.getEvents().slice(-10).map((e) => [e.seq, e.type, e.nodeId]);
      assert.equal(engine.droppedEvents, 0);
    });
    assert.ok(total > 10);
    await withEngine({ "workflow.yaml": FORKS }, { handlers: forkHandlers, maxEvents: 10 }, async (engine) => {
      await engine.run(0);
      const kept = engine.getEvents();
      assert.equal(kept.length, 10);
      assert.equal(engine.droppedEvents, total - 10);
      assert.deepEqual(kept.map((e) => [e.seq, e.type, e.nodeId]), fullTail);
      assert.equal(engine.getEvents({ type: "task.started" }).length, 0);
    });
  });
});
