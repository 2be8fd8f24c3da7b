/**
 * The engine's event catalog: one discriminated union, {@link EngineEvent}, with a member per
 * event type. Every event is plain, deeply frozen JSON data.
 *
 * @module
 */
import type { JsonValue } from "../json.js";

/** Outcome of a node, a merge or a task. */
export type Status = "success" | "failure" | "partial";

/** Node roles (CONTRACT §2). */
export type NodeRole = "start" | "linear" | "decision" | "branch" | "split" | "merge" | "exit";

/** Node kinds. */
export type NodeKind = "deterministic" | "agent";

/** A structured error as it appears inside events and history. */
export interface ErrorInfo {
  readonly code: string;
  readonly message: string;
  readonly path?: string;
  /** The `code` of a foreign error (a handler's own, Node's `ERR_*`), kept apart from the engine code. */
  readonly originalCode?: string;
  /** History entries only: the stack frames of the user's code that threw (no engine frames). */
  readonly stack?: string;
  /** `AGENT_OUTPUT_INVALID`: the model's last reply text. */
  readonly raw?: string;
  /** `AGENT_OUTPUT_INVALID`: why the reply was rejected (JSON parse or schema errors). */
  readonly validation?: readonly string[];
}

/** An edge as it appears inside events. */
export interface EdgeRef {
  readonly from: string;
  readonly to: string;
  readonly label?: string;
}

/** Token usage reported by an LLM provider. */
export interface TokenUsage {
  readonly inputTokens: number;
  readonly outputTokens: number;
  /** Input tokens served from the provider's prompt cache (part of `inputTokens`). */
  readonly cachedInputTokens?: number;
  /** Reasoning tokens (part of `outputTokens`), when the provider reports them. */
  readonly reasoningTokens?: number;
}

/** Payload of each event type. */
export interface EventPayloads {
  "task.started": { readonly input: JsonValue; readonly startNode: string; readonly parentTaskId?: string; readonly lineage: readonly string[] };
  "task.completed": { readonly status: "success" | "partial"; readonly output: JsonValue };
  "task.failed": { readonly status: "failure"; readonly output: JsonValue; readonly error?: ErrorInfo };
  "node.started": { readonly role: NodeRole; readonly kind: NodeKind; readonly input: JsonValue };
  "node.completed": { readonly role: NodeRole; readonly kind: NodeKind; readonly output: JsonValue; readonly durationMs: number };
  "node.failed": { readonly role: NodeRole; readonly kind: NodeKind; readonly error: ErrorInfo; readonly continued: boolean; readonly durationMs: number };
  "routing.decision": { readonly selected: string; readonly edge: EdgeRef };
  "routing.branch": { readonly clones: readonly { readonly taskId: string; readonly edge: EdgeRef }[] };
  "routing.split": { readonly count: number; readonly subtasks: readonly { readonly taskId: string; readonly edge: EdgeRef; readonly index: number }[] };
  "routing.merge": {
    /** `index`: a split subtask's item index, a branch clone's edge position (§14). */
    readonly inputs: readonly { readonly node_id: string; readonly status: Status; readonly task_id: string; readonly index: number }[];
    readonly failed: readonly { readonly node_id: string; readonly task_id: string; readonly error?: ErrorInfo }[];
    readonly onFailure: "fail_on_any" | "ignore_failures" | "partial";
    readonly status: Status;
  };
  "clone.created": { readonly parentTaskId: string; readonly childTaskId: string; readonly edge: EdgeRef };
  "subtask.created": { readonly parentTaskId: string; readonly childTaskId: string; readonly edge: EdgeRef; readonly index: number };
  "tool.invoked": { readonly tool: string; readonly callId: string; readonly args: JsonValue };
  "tool.completed": { readonly tool: string; readonly callId: string; readonly result: JsonValue; readonly durationMs: number };
  "tool.failed": { readonly tool: string; readonly callId: string; readonly error: ErrorInfo; readonly durationMs: number };
  "agent.request": {
    readonly agent: string;
    readonly model: string;
    readonly provider: string;
    /** Model turn in the tool loop, from 1. */
    readonly step: number;
    /** 1, then 2, 3... for structured-output repair attempts of the same step. */
    readonly attempt: number;
    readonly messages: JsonValue;
    /** Tools declared to the model: `[{ name, description?, parameters }]`. */
    readonly tools: JsonValue;
  };
  "agent.response": {
    readonly agent: string;
    readonly model: string;
    readonly provider: string;
    readonly step: number;
    readonly attempt: number;
    /** The reply text. */
    readonly output: JsonValue;
    /** Tool calls the model asked for, `[{ id, name, args }]` (name as the agent's tool id). */
    readonly toolCalls: JsonValue;
    readonly finishReason?: string;
    readonly usage?: TokenUsage;
    /** From `pricing:` in agents.yaml, when the model has an entry. */
    readonly costUsd?: number;
    readonly durationMs: number;
  };
  /** A provider is about to retry a failed call. */
  "agent.retry": { readonly agent: string; readonly provider: string; readonly attempt: number; readonly delayMs: number; readonly error: { readonly code: string; readonly message: string; readonly status?: number } };
  "context.assembled": { readonly profile: string; readonly items: number; readonly context: JsonValue };
  "context.failed": { readonly profile: string; readonly error: ErrorInfo };
  error: { readonly source: string; readonly error: ErrorInfo };
  /** A run suspended for a person's answer (`interrupt: before|after`, or `ctx.interrupt()`). */
  "run.interrupted": { readonly interruptId: string; readonly nodeId: string; readonly kind: "before" | "after" | "handler"; readonly payload: JsonValue };
  /** A suspended run continues with an answer. */
  "run.resumed": { readonly interruptId?: string; readonly answer?: JsonValue };
  /**
   * A stage's `ctx.memory.put` or `ctx.memory.delete` was applied (at the stage's commit, in
   * commit order). The value is not in the event: read it with `ctx.memory.get`, or from the run
   * store.
   */
  "memory.written": {
    readonly store: string;
    readonly scope: "task" | "project" | "global";
    readonly key: string;
    /**
     * `true`: the write was a `ctx.memory.delete`, the key has no value any more (also when it
     * had none before). Absent for a put (a put's payload is exactly `{ store, scope, key }`).
     */
    readonly deleted?: true;
  };
}

/** Every event type. */
export type EventType = keyof EventPayloads;

/** All event types, in catalog order. */
export const EVENT_TYPES: readonly EventType[] = Object.freeze([
  "task.started",
  "task.completed",
  "task.failed",
  "node.started",
  "node.completed",
  "node.failed",
  "routing.decision",
  "routing.branch",
  "routing.split",
  "routing.merge",
  "clone.created",
  "subtask.created",
  "tool.invoked",
  "tool.completed",
  "tool.failed",
  "agent.request",
  "agent.response",
  "agent.retry",
  "context.assembled",
  "context.failed",
  "error",
  "run.interrupted",
  "run.resumed",
  "memory.written",
] as const);

/** Fields every event has. */
export interface EventBase<T extends EventType> {
  /** Unique id, generated (not stable across runs). */
  readonly id: string;
  /** Strictly increasing per engine. */
  readonly seq: number;
  readonly type: T;
  readonly taskId: string;
  readonly nodeId?: string;
  /** ISO-8601. */
  readonly timestamp: string;
  readonly payload: Readonly<EventPayloads[T]>;
}

/** One engine event; `switch (event.type)` narrows `payload`. */
export type EngineEvent = { [T in EventType]: EventBase<T> }[EventType];

/** The event of one given type. */
export type EventOf<T extends EventType> = Extract<EngineEvent, { type: T }>;

/** Filter for {@link EngineEvent} queries. */
export interface EventFilter {
  /** Exact type, or a glob such as `node.*`. */
  readonly type?: string;
  readonly taskId?: string;
  readonly nodeId?: string;
}
