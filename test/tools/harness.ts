/**
 * Helpers for the tools tests: a ToolRegistry built from tools.yaml entries in a real temp dir,
 * and a stage scope that collects the tool events and call records it is given.
 */
import type { ToolManifest } from "../../src/config/types.js";
import { compileSchema } from "../../src/dag/compileSchema.js";
import type { ToolCallRecord } from "../../src/runtime/types.js";
import type { EventPayloads } from "../../src/telemetry/events.js";
import { ToolRegistry, type ToolEventScope } from "../../src/tools/ToolRegistry.js";

/** An emitted tool event. */
export interface Emitted {
  readonly type: "tool.invoked" | "tool.completed" | "tool.failed";
  readonly payload: EventPayloads["tool.invoked"] | EventPayloads["tool.completed"] | EventPayloads["tool.failed"];
}

/** A scope as the runtime gives one per stage. */
export function makeScope(signal: AbortSignal = new AbortController().signal): ToolEventScope & { events: Emitted[] } {
  let n = 0;
  const events: Emitted[] = [];
  const toolCalls: ToolCallRecord[] = [];
  return {
    taskId: "t1",
    nodeId: "n1",
    signal,
    toolCalls,
    events,
    nextCallId: () => `c${++n}`,
    emit(type, payload) {
      events.push({ type, payload });
    },
  };
}

/** Builds a registry for `tools` with the config dir `dir` (as the engine does). */
export function makeRegistry(tools: readonly ToolManifest[], dir: string): Promise<ToolRegistry> {
  return ToolRegistry.create(
    tools,
    {},
    () => Promise.reject(new Error("no handler modules in these tests")),
    (schema) => (schema === undefined ? undefined : compileSchema("inline", schema)),
    "tools.yaml",
    { configDir: dir },
  );
}

/** Calls a tool; resolves to `{ ok, value }` or `{ ok: false, code, message }`. */
export async function attempt(reg: ToolRegistry, id: string, args: unknown, scope = makeScope()): Promise<{ ok: true; value: unknown } | { ok: false; code: string; message: string }> {
  try {
    return { ok: true, value: await reg.call(id, args, scope) };
  } catch (err) {
    const e = err as { code: string; message: string };
    return { ok: false, code: e.code, message: e.message };
  }
}
