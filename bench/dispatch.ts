/**
 * Event dispatch against the physical limit, for one ~400-byte `node.completed` event and 10
 * no-op listeners: a direct call of 10 functions, a `node:events` EventEmitter, our bus recording
 * the event (output sealed with `sealJson` as the engine does, event frozen) and delivering it
 * through the PluginRegistry to 10 subscribed plugins, and the registry's delivery step alone.
 *
 * @module
 */
import { EventEmitter } from "node:events";
import { PluginBase, PluginRegistry, sealJson, silentLogger, type EngineEvent, type JsonValue } from "../src/index.js";
// The bus is internal (the engine owns one); the dispatch cases drive it directly.
import { TelemetryBus } from "../src/telemetry/TelemetryBus.js";
import type { BenchCase } from "./harness.js";

/** Listeners per case. */
export const LISTENERS = 10;

/** A node output of realistic size: the event built around it serializes to about 400 bytes. */
export function makeOutput(i: number): Record<string, unknown> {
  return {
    ticket: { id: "T-1042", customer: "acme-industries", priority: "high", tags: ["billing", "refund"] },
    summary: "Customer reports a duplicate charge on the March invoice and asks for a refund",
    n: i,
  };
}

const TASK_ID = "3f1c9a7e-5b2d-4c8e-9f10-a2b3c4d5e6f7";

/** A frozen node.completed event as the bus produces it. */
export function makeFrozenEvent(): EngineEvent {
  const bus = new TelemetryBus({ maxEvents: 1 });
  return bus.emit("node.completed", TASK_ID, "n3", { role: "linear", kind: "deterministic", output: sealJson(makeOutput(3)), durationMs: 0.0123 });
}

/** Size of the bench event as JSON, in bytes. */
export function eventBytes(): number {
  return Buffer.byteLength(JSON.stringify(makeFrozenEvent()));
}

// Every listener stores the event here, so no call can be optimized away.
let lastSeen: unknown;
let seenCount = 0;
function makeListener(): (event: unknown) => void {
  return (event) => {
    lastSeen = event;
    seenCount++;
  };
}

/** Verifies the listeners actually ran. */
export function listenerCalls(): number {
  return seenCount + (lastSeen === undefined ? 0 : 0);
}

/** The baselines and the bus-only recording case (no PluginRegistry involved). */
export function baselineDispatchCases(): BenchCase[] {
  const event = makeFrozenEvent();
  const listeners = Array.from({ length: LISTENERS }, makeListener);
  const emitter = new EventEmitter();
  for (const l of listeners) emitter.on("node.completed", l);
  const bus = new TelemetryBus({ maxEvents: 10_000 });
  return [
    {
      name: "dispatch-direct-call",
      group: "dispatch",
      unit: "event",
      description: `direct call of ${LISTENERS} no-op listeners (the physical limit)`,
      batch(n) {
        for (let i = 0; i < n; i++) {
          for (let k = 0; k < listeners.length; k++) (listeners[k] as (e: unknown) => void)(event);
        }
      },
    },
    {
      name: "dispatch-event-emitter",
      group: "dispatch",
      unit: "event",
      description: `node:events EventEmitter.emit to ${LISTENERS} no-op listeners`,
      batch(n) {
        for (let i = 0; i < n; i++) emitter.emit("node.completed", event);
      },
    },
    {
      name: "dispatch-bus-record",
      group: "dispatch",
      unit: "event",
      description: "TelemetryBus.emit, no sink: seal fresh output, build, freeze, record (context)",
      batch(n) {
        for (let i = 0; i < n; i++) {
          const output = sealJson(makeOutput(i)) as JsonValue;
          bus.emit("node.completed", TASK_ID, "n3", { role: "linear", kind: "deterministic", output, durationMs: 0.0123 });
        }
      },
      verify() {
        if (bus.retainedEvents === 0) throw new Error("bus recorded nothing");
      },
    },
  ];
}

/** A plugin that stores and counts what it receives (the "no-op" plugin). */
export class CountingPlugin extends PluginBase {
  count = 0;
  last: unknown;
  onEvent(event: Readonly<EngineEvent>): void {
    this.last = event;
    this.count++;
  }
}

/** The PluginRegistry cases: the bus recording and delivering to 10 plugins, and delivery alone. */
export async function registryDispatchCases(): Promise<BenchCase[]> {
  const event = makeFrozenEvent();
  const registry = new PluginRegistry({ logger: silentLogger });
  const plugins = Array.from({ length: LISTENERS }, (_, i) => new CountingPlugin(`p${i}`));
  for (const p of plugins) await registry.register(p);
  const bus = new TelemetryBus({ maxEvents: 10_000 });
  bus.setSink((e) => registry.dispatch(e));
  const empty = new PluginRegistry({ logger: silentLogger });
  const presealed = sealJson(makeOutput(3));
  const deliveries = (): number => plugins.reduce((sum, p) => sum + p.count, 0);
  return [
    {
      name: "dispatch-bus-record-deliver",
      group: "dispatch",
      unit: "event",
      description: `TelemetryBus.emit: seal fresh output (sealJson), build, freeze, record, deliver via PluginRegistry to ${LISTENERS} plugins`,
      batch(n) {
        for (let i = 0; i < n; i++) {
          const output = sealJson(makeOutput(i));
          bus.emit("node.completed", TASK_ID, "n3", { role: "linear", kind: "deterministic", output, durationMs: 0.0123 });
        }
      },
      verify() {
        if (deliveries() === 0 || bus.retainedEvents === 0) throw new Error("bus + registry delivered nothing");
      },
    },
    {
      name: "dispatch-bus-record-deliver-presealed",
      group: "dispatch",
      unit: "event",
      description: `same, the output already sealed (the engine seals each output once for task state, history and event alike) (context)`,
      batch(n) {
        for (let i = 0; i < n; i++) {
          bus.emit("node.completed", TASK_ID, "n3", { role: "linear", kind: "deterministic", output: presealed, durationMs: 0.0123 });
        }
      },
    },
    {
      name: "dispatch-freeze-deliver",
      group: "dispatch",
      unit: "event",
      description: `issue 3's dispatch with immutability: build the event and payload shells around a sealed output, freeze both (as the bus does), deliver via PluginRegistry to ${LISTENERS} plugins`,
      batch(n) {
        for (let i = 0; i < n; i++) {
          const payload = Object.freeze({ role: "linear", kind: "deterministic", output: presealed, durationMs: 0.0123 } as const);
          const e = Object.freeze({ id: "bench-1", seq: i, type: "node.completed", taskId: TASK_ID, nodeId: "n3", timestamp: "2026-11-24T00:00:00.000Z", payload }) as EngineEvent;
          registry.dispatch(e);
        }
      },
      verify() {
        if (deliveries() === 0) throw new Error("registry delivered nothing");
      },
    },
    {
      name: "dispatch-registry-empty",
      group: "dispatch",
      unit: "event",
      description: "PluginRegistry.dispatch with no plugin registered (the zero-plugin cost per event)",
      batch(n) {
        for (let i = 0; i < n; i++) empty.dispatch(event);
      },
    },
    {
      name: "dispatch-registry-deliver",
      group: "dispatch",
      unit: "event",
      description: `PluginRegistry.dispatch of an already-frozen event to ${LISTENERS} plugins (delivery alone)`,
      batch(n) {
        for (let i = 0; i < n; i++) registry.dispatch(event);
      },
      verify() {
        if (deliveries() === 0) throw new Error("registry delivered nothing");
      },
    },
  ];
}
