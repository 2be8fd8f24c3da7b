import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { sealJson } from "../json.js";
import type { EngineEvent } from "./events.js";
import { TelemetryBus } from "./TelemetryBus.js";

const fixedNow = () => new Date("2024-01-02T03:04:05.678Z");
function emitN(bus: TelemetryBus, n: number, taskId = "t1"): EngineEvent[] {
  return Array.from({ length: n }, (_, i) => bus.emit("node.started", taskId, `n${i}`, { role: "linear", kind: "deterministic", input: sealJson({ i }) }));
}

describe("TelemetryBus", () => {
  it("assigns strictly increasing seq, unique ids and ISO timestamps; freezes every event", () => {
    const bus = new TelemetryBus({ now: fixedNow });
    const a = bus.emit("task.started", "t1", undefined, { input: null, startNode: "s", lineage: [] });
    const b = bus.emit("node.started", "t1", "s", { role: "start", kind: "deterministic", input: null });
    assert.equal(a.seq, 1);
    assert.equal(b.seq, 2);
    assert.notEqual(a.id, b.id);
    assert.equal(a.timestamp, "2024-01-02T03:04:05.678Z");
    assert.ok(!("nodeId" in a));
    assert.equal(b.nodeId, "s");
    assert.ok(Object.isFrozen(a) && Object.isFrozen(a.payload));
    assert.throws(() => { (a as { seq: number }).seq = 9; }, TypeError);
    assert.equal(bus.lastSeq, 2);
    assert.deepEqual(JSON.parse(JSON.stringify(b)), b);
  });

  it("getEvents returns a frozen copy, filtered by type glob, task and node", () => {
    const bus = new TelemetryBus();
    emitN(bus, 3, "t1");
    bus.emit("task.completed", "t2", undefined, { status: "success", output: null });
    const all = bus.getEvents();
    assert.ok(Object.isFrozen(all));
    assert.equal(all.length, 4);
    assert.equal(bus.getEvents({ type: "node.*" }).length, 3);
    assert.equal(bus.getEvents({ type: "task.completed", taskId: "t2" }).length, 1);
    assert.equal(bus.getEvents({ type: "task.completed", taskId: "t1" }).length, 0);
    assert.deepEqual(bus.getEvents({ nodeId: "n1" }).map((e) => e.seq), [2]);
    emitN(bus, 1);
    assert.equal(all.length, 4, "earlier snapshots do not change");
  });

  it("retention: keeps the newest maxEvents in seq order and counts the dropped ones", () => {
    const bus = new TelemetryBus({ maxEvents: 10 });
    emitN(bus, 25);
    const kept = bus.getEvents();
    assert.deepEqual(kept.map((e) => e.seq), Array.from({ length: 10 }, (_, i) => 16 + i));
    assert.equal(bus.droppedEvents, 15);
    assert.equal(bus.retainedEvents, 10);
    assert.deepEqual(bus.getEvents({ nodeId: "n24" }).map((e) => e.seq), [25]);
    assert.deepEqual(bus.getEvents({ nodeId: "n3" }), []);
  });

  it("maxEvents 0 keeps nothing; negative or NaN is a RangeError; clear() forgets but seq continues", () => {
    const none = new TelemetryBus({ maxEvents: 0 });
    emitN(none, 3);
    assert.equal(none.getEvents().length, 0);
    assert.equal(none.droppedEvents, 3);
    assert.throws(() => new TelemetryBus({ maxEvents: -1 }), RangeError);
    assert.throws(() => new TelemetryBus({ maxEvents: Number.NaN }), RangeError);
    const bus = new TelemetryBus({ maxEvents: 3 });
    emitN(bus, 5);
    bus.clear();
    assert.equal(bus.getEvents().length, 0);
    const [next] = emitN(bus, 1);
    assert.equal(next!.seq, 6);
    assert.deepEqual(bus.getEvents().map((e) => e.seq), [6]);
  });

  it("hands each event synchronously to the sink, in order; a throwing sink does not reach the emitter", () => {
    const bus = new TelemetryBus();
    const seen: number[] = [];
    assert.equal(bus.hasSink, false);
    bus.setSink((e) => {
      seen.push(e.seq);
      if (e.seq === 2) throw new Error("sink broke");
    });
    assert.equal(bus.hasSink, true);
    const events = emitN(bus, 3);
    assert.deepEqual(seen, [1, 2, 3]);
    assert.equal(bus.getEvents().length, 3);
    assert.equal(events[2]!.seq, 3);
    bus.setSink(undefined);
    emitN(bus, 1);
    assert.deepEqual(seen, [1, 2, 3]);
  });

  it("the sink gets the same frozen object that is recorded", () => {
    const bus = new TelemetryBus();
    let got: EngineEvent | undefined;
    bus.setSink((e) => (got = e));
    const [e] = emitN(bus, 1);
    assert.equal(got, e);
    assert.equal(bus.getEvents()[0], e);
  });
});
