/**
 * Compile-time tests of the public types: this file has no runtime assertions; `tsc` (run by
 * `npm test` and `npm run typecheck`) fails if a type stops narrowing or starts accepting what
 * it must reject. The `@ts-expect-error` lines fail the build if they ever stop being errors.
 */
import type { EngineEvent, EngineOptions, ErrorCode, EventOf, EventType, JsonValue, NodeHandler, Plugin, ResumeOptions, RunResult } from "../../src/index.js";
import { definePlugin, PluginBase } from "../../src/index.js";

/** An exhaustive switch over the event union: adding an event type without handling it here is a compile error. */
export function describeEvent(event: EngineEvent): string {
  switch (event.type) {
    case "task.started":
      return `${event.taskId} starts at ${event.payload.startNode}`;
    case "task.completed":
      return event.payload.status satisfies "success" | "partial";
    case "task.failed":
      return event.payload.status satisfies "failure";
    case "node.started":
      return event.payload.role;
    case "node.completed":
      return JSON.stringify(event.payload.output);
    case "node.failed":
      return event.payload.error.code;
    case "routing.decision":
      return event.payload.edge.to;
    case "routing.branch":
      return String(event.payload.clones.length);
    case "routing.split":
      return String(event.payload.count);
    case "routing.merge":
      return event.payload.onFailure;
    case "clone.created":
    case "subtask.created":
      return event.payload.childTaskId;
    case "tool.invoked":
    case "tool.completed":
    case "tool.failed":
      return event.payload.tool;
    case "agent.request":
    case "agent.response":
      return event.payload.model;
    case "agent.retry":
      return event.payload.provider;
    case "context.assembled":
    case "context.failed":
      return event.payload.profile;
    case "error":
      return event.payload.error.message;
    case "run.interrupted":
      return event.payload.interruptId;
    case "run.resumed":
      return event.payload.interruptId ?? "";
    case "memory.written":
      return `${event.payload.scope satisfies "task" | "project" | "global"} ${event.payload.store}/${event.payload.key}${(event.payload.deleted satisfies true | undefined) ? " deleted" : ""}`;
    default:
      return assertNever(event);
  }
}

function assertNever(x: never): never {
  throw new Error(`unhandled event ${JSON.stringify(x)}`);
}

/** Events are read-only all the way down. */
export function eventsAreReadonly(e: EventOf<"node.completed">): void {
  // @ts-expect-error seq is readonly
  e.seq = 1;
  // @ts-expect-error payload fields are readonly
  e.payload.durationMs = 0;
  // @ts-expect-error a payload of another type is not reachable without narrowing
  void e.payload.error;
}

/** Handlers take JSON and may return anything (checked at run time); options are typed. */
export const handler: NodeHandler = (input: JsonValue, ctx) => (ctx.signal.aborted ? null : { input, node: ctx.nodeId });

/** ctx.memory: reads are promises of JSON (or undefined), put and delete are synchronous, list gives { key, value }. */
export const remember: NodeHandler = async (_input, ctx) => {
  const v: JsonValue | undefined = await ctx.memory.get("facts", "k");
  const put: void = ctx.memory.put("facts", "k", { n: 1 });
  const del: void = ctx.memory.delete("facts", "k");
  // @ts-expect-error delete needs a key
  ctx.memory.delete("facts");
  const entries: readonly { readonly key: string; readonly value: JsonValue }[] = await ctx.memory.list("facts", "prefix:");
  // @ts-expect-error get needs a key
  void ctx.memory.get("facts");
  // @ts-expect-error the entries are read-only
  entries[0]!.key = "x";
  return { v: v ?? null, put: put ?? null, del: del ?? null, n: entries.length };
};
export const options: EngineOptions = { handlers: { a: handler }, maxConcurrency: 4, maxEvents: 1000 };
// @ts-expect-error unknown option names are rejected
export const badOptions: EngineOptions = { handler: {} };

/** Both plugin forms satisfy the Plugin shape. */
class Counter extends PluginBase {
  n = 0;
  onEvent(): void {
    this.n++;
  }
}
export const plugins: Plugin[] = [new Counter("c"), new (definePlugin({ onEvent() {} }))("d")];

/** Results expose status as the closed union (a run may also wait for an answer). */
export function statusOf(r: RunResult): "success" | "failure" | "partial" | "interrupted" {
  return r.status;
}

export const allTypes: EventType[] = ["task.started", "error"];

/** Resume options: an answer, which interrupt, and the explicit override for a changed configuration. */
export const resumeOptions: ResumeOptions = { answer: { approve: true }, interruptId: "task-1/review/0", allowConfigChange: true };
// @ts-expect-error allowConfigChange is a boolean
export const badResume: ResumeOptions = { allowConfigChange: "yes" };
export const configChanged: ErrorCode = "RESUME_CONFIG_CHANGED";
