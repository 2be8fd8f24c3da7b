/**
 * Public types of the runtime: handlers, tools, run options and results.
 *
 * @module
 */
import type { RunUsage } from "../agents/AgentRunner.js";
import type { JsonValue } from "../json.js";
import type { MemoryAccess } from "./memory.js";
import type { ErrorInfo, NodeKind, NodeRole, Status } from "../telemetry/events.js";

/**
 * What a handler gets besides its input: data and functions, no engine objects. `signal`,
 * `resumeValue`, `interrupt` and `callTool` are accessors (the signal is created only when read;
 * the functions are bound, so `const { callTool, signal } = ctx` works); a spread copy
 * `{ ...ctx }` keeps only `taskId`, `nodeId` and `context`, so pass `ctx` itself along.
 */
export interface HandlerContext {
  /** Id of the task being executed. */
  readonly taskId: string;
  /** Id of the node being executed. */
  readonly nodeId: string;
  /**
   * Aborted when the run is cancelled or the node's `timeout_ms` elapses. In an
   * `isolation: worker` handler it never fires: the worker is terminated instead.
   */
  readonly signal: AbortSignal;
  /** The assembled context (from the node's `context` profile), or `null` for `none`. */
  readonly context: JsonValue;
  /**
   * The kv stores of memory.yaml (CONTRACT §10): `await ctx.memory.get(store, key)`,
   * `ctx.memory.put(store, key, value)`, `ctx.memory.delete(store, key)`,
   * `await ctx.memory.list(store, prefix?)`. Reads see the memory as it was when this stage
   * started (plus its own puts and deletes); puts and deletes are applied when the stage is
   * committed, and only if it succeeds. See {@link MemoryAccess}.
   */
  readonly memory: MemoryAccess;
  /**
   * Calls a tool on the node's allow-list (`tools:` in workflow.yaml). Emits `tool.invoked` and
   * `tool.completed`/`tool.failed`; rejects with a `TOOL_NOT_ALLOWED` error for unlisted tools.
   */
  callTool(toolId: string, args?: unknown): Promise<JsonValue>;
  /**
   * Suspends the run for a person's answer (human in the loop): the run resolves with
   * `status: "interrupted"` and `interrupt.payload` = `payload`; `engine.resume(runId, { answer })`
   * runs this handler again from the start, and this call then returns `answer`. Other branches
   * keep running meanwhile. Call it before side effects you do not want repeated; do not catch
   * what it throws.
   */
  interrupt(payload?: unknown): JsonValue;
  /** The latest answer when this stage runs after an interrupt (`interrupt: before`, `ctx.interrupt()`). */
  readonly resumeValue?: JsonValue;
}

/**
 * A deterministic node's code. `input` is deeply frozen: return a new value instead of
 * mutating it. The return value must be JSON data; it is copied and frozen once.
 *
 * @example
 * ```ts
 * const normalize: NodeHandler = (input) => ({ ...(input as object), text: String((input as any).text).trim() });
 * ```
 */
export type NodeHandler = (input: JsonValue, ctx: HandlerContext) => unknown;

/** What a tool implementation receives besides its arguments. */
export interface ToolContext {
  readonly taskId: string;
  readonly nodeId: string;
  readonly toolId: string;
  /** The tool's `config` from tools.yaml (frozen). */
  readonly config: Readonly<Record<string, unknown>>;
  readonly signal: AbortSignal;
}

/** A tool implementation, keyed in `EngineOptions.tools` by tool type or id. */
export type ToolHandler = (args: JsonValue, ctx: ToolContext) => unknown;

/** One tool call recorded in a history entry. */
export interface ToolCallRecord {
  readonly callId: string;
  readonly tool: string;
  readonly args: JsonValue;
  readonly status: "success" | "failure";
  readonly result?: JsonValue;
  readonly error?: ErrorInfo;
}

/** One executed stage of a task. */
export interface HistoryEntry {
  readonly nodeId: string;
  readonly role: NodeRole;
  readonly kind: NodeKind;
  readonly input: JsonValue;
  readonly output: JsonValue;
  readonly status: "success" | "failure";
  readonly error?: ErrorInfo;
  readonly toolCalls: readonly ToolCallRecord[];
  /** ISO-8601. */
  readonly startedAt: string;
  /** ISO-8601. */
  readonly endedAt: string;
}

/** A finished task (root, clone or subtask). */
export interface TaskResult {
  readonly taskId: string;
  /**
   * `interrupted` only in the result of a run that waits for an answer, for a task that has not
   * ended yet (it waits at an interrupt, or for a task that does, e.g. at a merge).
   */
  readonly status: Status | "interrupted";
  readonly input: JsonValue;
  readonly output: JsonValue;
  readonly history: readonly HistoryEntry[];
  /** Ancestor task ids, root first; empty for the root task. */
  readonly lineage: readonly string[];
  readonly parentTaskId?: string;
  /** First error that made the task fail or partial. */
  readonly error?: ErrorInfo;
}

/** Result of `engine.run()`: the root task plus every clone and subtask it spawned. */
export interface RunResult extends Omit<TaskResult, "status"> {
  /** Id of the run: `engine.resume(runId)`, `engine.listRuns()`. */
  readonly runId: string;
  /** The root task's status, or `interrupted` while the run waits for an answer. */
  readonly status: Status | "interrupted";
  /** Every clone and subtask spawned by the run, in creation order (as far as it got). */
  readonly children: readonly TaskResult[];
  /** The interrupt to answer when `status` is `interrupted` (the first, if several wait). */
  readonly interrupt?: InterruptInfo;
  /** Every interrupt waiting for an answer, in the order they were raised. */
  readonly interrupts?: readonly InterruptInfo[];
  /** Token and cost totals of the run's LLM calls; present when it made at least one. */
  readonly usage?: RunUsage;
}

/** An interrupt waiting for an answer. */
export interface InterruptInfo {
  readonly id: string;
  readonly nodeId: string;
  readonly taskId: string;
  /** `before`: the node's input; `after`: its output; `handler`: what `ctx.interrupt()` was given. */
  readonly kind: "before" | "after" | "handler";
  readonly payload: JsonValue;
}

/** Options of `engine.run()`. */
export interface RunOptions {
  /** Start node id; default: the workflow's default start. */
  readonly startNode?: string;
  /** Cancels the run: in-flight handlers see `ctx.signal` aborted and the task fails with `ABORTED`. */
  readonly signal?: AbortSignal;
}
