/**
 * Public types of the runtime: handlers, tools, run options and results.
 *
 * @module
 */
import type { JsonValue } from "../json.js";
import type { ErrorInfo, NodeKind, NodeRole, Status } from "../telemetry/events.js";

/** What a handler or tool gets besides its input. Plain data and functions; no engine objects. */
export interface HandlerContext {
  /** Id of the task being executed. */
  readonly taskId: string;
  /** Id of the node being executed. */
  readonly nodeId: string;
  /** Aborted when the run is cancelled or the node's `timeout_ms` elapses. */
  readonly signal: AbortSignal;
  /** The assembled context (from the node's `context` profile), or `null` for `none`. */
  readonly context: JsonValue;
  /**
   * Calls a tool on the node's allow-list (`tools:` in workflow.yaml). Emits `tool.invoked` and
   * `tool.completed`/`tool.failed`; rejects with a `TOOL_NOT_ALLOWED` error for unlisted tools.
   */
  callTool(toolId: string, args?: unknown): Promise<JsonValue>;
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
  readonly status: Status;
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
export interface RunResult extends TaskResult {
  /** Every clone and subtask spawned by the run, in creation order. */
  readonly children: readonly TaskResult[];
}

/** Options of `engine.run()`. */
export interface RunOptions {
  /** Start node id; default: the workflow's default start. */
  readonly startNode?: string;
  /** Cancels the run: in-flight handlers see `ctx.signal` aborted and the task fails with `ABORTED`. */
  readonly signal?: AbortSignal;
}
