/**
 * Helpers for runtime scenario tests: engines built from real config dirs in temp folders, and
 * the event-stream invariants every run must satisfy.
 */
import assert from "node:assert/strict";
import { Engine, type EngineOptions } from "../../src/runtime/Engine.js";
import type { RunOptions, RunResult } from "../../src/runtime/types.js";
import type { EngineEvent } from "../../src/telemetry/events.js";
import { silentLogger } from "../../src/telemetry/logger.js";
import { removeDir, writeConfigDir } from "../helpers.js";

/** A minimal workflow.yaml header-free builder: YAML text is passed through unchanged. */
export type Files = Record<string, string>;

/** Builds an engine from `files` (relative path -> content), runs `fn`, then shuts down and removes the dir. */
export async function withEngine<T>(files: Files, options: EngineOptions, fn: (engine: Engine, dir: string) => Promise<T>): Promise<T> {
  const dir = await writeConfigDir(files);
  try {
    const engine = await Engine.fromConfigDir(dir, { logger: silentLogger, ...options });
    try {
      return await fn(engine, dir);
    } finally {
      await engine.shutdown();
    }
  } finally {
    await removeDir(dir);
  }
}

/** Outcome of {@link runWorkflow}. */
export interface RunOutcome {
  readonly result: RunResult;
  readonly events: readonly EngineEvent[];
}

/** Builds an engine from `files`, runs it once on `input`, checks the event invariants and returns result and events. */
export async function runWorkflow(files: Files, input: unknown, options: EngineOptions = {}, runOptions: RunOptions = {}): Promise<RunOutcome> {
  return withEngine(files, options, async (engine) => {
    const result = await engine.run(input, runOptions);
    const events = engine.getEvents();
    assertEventInvariants(events);
    return { result, events };
  });
}

/** Types of the events, in order. */
export function types(events: readonly EngineEvent[]): string[] {
  return events.map((e) => e.type);
}

/** `type@node` (or `type` without node) of each event, in order. */
export function trace(events: readonly EngineEvent[]): string[] {
  return events.map((e) => (e.nodeId === undefined ? e.type : `${e.type}@${e.nodeId}`));
}

/** Node ids of a task's history, in order. */
export function path(r: { history: readonly { nodeId: string }[] }): string[] {
  return r.history.map((h) => h.nodeId);
}

/**
 * CONTRACT §5 invariants of an event stream: `seq` strictly increasing; every node.started has
 * exactly one node.completed|node.failed for the same task and node, after it; every task.started
 * exactly one task.completed|task.failed, after it; no terminal event without a start.
 */
export function assertEventInvariants(events: readonly EngineEvent[]): void {
  for (let i = 1; i < events.length; i++) {
    assert.ok(events[i]!.seq > events[i - 1]!.seq, `seq must strictly increase: ${events[i - 1]!.seq} then ${events[i]!.seq}`);
  }
  const openNodes = new Map<string, number>();
  const openTasks = new Set<string>();
  const endedTasks = new Set<string>();
  for (const e of events) {
    const nodeKey = `${e.taskId}|${e.nodeId ?? ""}`;
    switch (e.type) {
      case "node.started":
        assert.ok(openTasks.has(e.taskId), `node.started for task ${e.taskId} that is not running (seq ${e.seq})`);
        assert.ok(!openNodes.has(nodeKey), `node ${nodeKey} started twice without ending (seq ${e.seq})`);
        openNodes.set(nodeKey, e.seq);
        break;
      case "node.completed":
      case "node.failed":
        assert.ok(openNodes.has(nodeKey), `${e.type} for ${nodeKey} without node.started (seq ${e.seq})`);
        openNodes.delete(nodeKey);
        break;
      case "task.started":
        assert.ok(!openTasks.has(e.taskId) && !endedTasks.has(e.taskId), `task ${e.taskId} started twice (seq ${e.seq})`);
        openTasks.add(e.taskId);
        break;
      case "task.completed":
      case "task.failed":
        assert.ok(openTasks.has(e.taskId), `${e.type} for task ${e.taskId} that is not running (seq ${e.seq})`);
        assert.ok(![...openNodes.keys()].some((k) => k.startsWith(`${e.taskId}|`)), `task ${e.taskId} ended with a node still running (seq ${e.seq})`);
        openTasks.delete(e.taskId);
        endedTasks.add(e.taskId);
        if (e.type === "task.completed") assert.ok(e.payload.status === "success" || e.payload.status === "partial");
        else assert.equal(e.payload.status, "failure");
        break;
      default:
        break;
    }
  }
  assert.deepEqual([...openNodes.keys()], [], "every node.started needs a terminal node event");
  assert.deepEqual([...openTasks], [], "every task.started needs a terminal task event");
}

/** A deterministic-node handler map helper: `(input) => value` functions by node id. */
export type Handlers = NonNullable<EngineOptions["handlers"]>;

/** Sleeps `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Restores `process.env[name]` after `fn`. */
export async function withEnv<T>(name: string, value: string, fn: () => Promise<T>): Promise<T> {
  const old = process.env[name];
  process.env[name] = value;
  try {
    return await fn();
  } finally {
    if (old === undefined) delete process.env[name];
    else process.env[name] = old;
  }
}
