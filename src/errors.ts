/**
 * Errors raised by agent-engine. Every error carries a stable {@link ErrorCode} and structured
 * fields so programs can react to it and people can fix what caused it.
 *
 * @module
 */

/**
 * The closed set of stable error codes. Codes never change meaning once published; new codes
 * may be added.
 */
export type ErrorCode =
  // configuration files
  | "CONFIG_DIR_NOT_FOUND"
  | "CONFIG_FILE_MISSING"
  | "CONFIG_FILE_UNREADABLE"
  | "CONFIG_YAML_SYNTAX"
  | "CONFIG_SCHEMA"
  | "CONFIG_UNKNOWN_KEY"
  | "CONFIG_SCHEMA_REF"
  | "CONFIG_INVALID_JSON_SCHEMA"
  | "CONFIG_AMBIGUOUS_FILE"
  | "CONFIG_DUPLICATE_ID"
  | "CONFIG_UNKNOWN_REF"
  // DAG rules
  | "DAG_DUPLICATE_ID"
  | "DAG_DANGLING_EDGE"
  | "DAG_DUPLICATE_EDGE"
  | "DAG_CYCLE"
  | "DAG_ROLE_EDGES"
  | "DAG_ROLE_KIND"
  | "DAG_UNREACHABLE"
  | "DAG_NO_EXIT_REACHABLE"
  | "DAG_DEFAULT_START"
  | "DAG_UNKNOWN_AGENT"
  | "DAG_UNKNOWN_TOOL"
  | "DAG_INVALID_FIELD"
  | "DAG_AMBIGUOUS_LABEL"
  // handlers and run-time
  | "HANDLER_NOT_FOUND"
  | "HANDLER_LOAD_FAILED"
  | "UNKNOWN_START_NODE"
  | "INVALID_START_NODE"
  | "INPUT_NOT_JSON"
  | "SCHEMA_IN_FAILED"
  | "SCHEMA_OUT_FAILED"
  | "HANDLER_FAILED"
  | "OUTPUT_NOT_JSON"
  | "ROUTING_NO_MATCH"
  | "SPLIT_NOT_ARRAY"
  | "MERGE_FAILED"
  | "ALWAYS_FAIL"
  | "ABORTED"
  | "NODE_TIMEOUT"
  | "TASK_FAILED"
  | "INTERNAL_ERROR"
  | "INVALID_OPTION"
  | "UPSTREAM_FAILED"
  | "AGENT_FAILED"
  | "LLM_FAILED"
  | "LLM_SCRIPT_EXHAUSTED"
  | "TOOL_NOT_ALLOWED"
  | "TOOL_NOT_FOUND"
  | "TOOL_FAILED"
  | "CONTEXT_FAILED"
  | "ENGINE_SHUT_DOWN"
  // plugins
  | "PLUGIN_CONFIG"
  | "PLUGIN_MODULE_NOT_FOUND"
  | "PLUGIN_IMPORT_FAILED"
  | "PLUGIN_EXPORT_MISSING"
  | "PLUGIN_NOT_A_PLUGIN"
  | "PLUGIN_CONSTRUCTOR_FAILED"
  | "PLUGIN_STARTUP_FAILED"
  // runs, resume and interrupts (scheduler / durable runs)
  | "RUN_NOT_FOUND"
  | "RUN_IN_PROGRESS"
  | "RUN_FINISHED"
  | "ANSWER_REQUIRED"
  | "INTERRUPT_UNKNOWN"
  | "INTERRUPT_REJECTED"
  | "RESUME_DIVERGED"
  | "RESUME_CONFIG_CHANGED"
  | "STORE_WRITE_FAILED"
  // CLI
  | "CLI_USAGE"
  | "CLI_INPUT"
  // LLM providers (src/agents/providers)
  | "CONFIG_PROVIDER_KEY_MISSING"
  // built-in tools, permissions and MCP servers (src/tools)
  | "TOOL_PERMISSION_DENIED"
  | "CONFIG_TOOL_PERMISSION"
  | "MCP_SDK_MISSING"
  | "MCP_SERVER_FAILED"
  // built-in observability plugins (OtelTracer, PrometheusMetrics, HtmlReport)
  | "PLUGIN_DEPENDENCY_MISSING"
  // CLI (issue 12/7): problems around a run that must not pass silently
  | "CLI_EVENTS_WRITE"
  | "CLI_PLUGIN_SHUTDOWN"
  | "CLI_RESULT_NOT_PRINTABLE"
  // agents (issue 9): tool loop, budgets, structured output, templates, record/replay
  | "AGENT_BUDGET_EXCEEDED"
  | "AGENT_OUTPUT_INVALID"
  | "TEMPLATE_MISSING_VALUE"
  | "REPLAY_MISS"
  | "RECORDING_INVALID"
  // loading code and data (hardening-bounds): a handler, tool or plugin module that is a
  // builtin, a URL or a file outside the config dir; a memory file store outside the config dir
  | "CONFIG_MODULE_NOT_ALLOWED"
  | "CONFIG_FILE_OUTSIDE_DIR"
  // `isolation: worker` handlers: the worker thread running the handler died (exited, ran out of
  // memory, an uncaught error outside the handler's own call, a malformed message)
  | "HANDLER_WORKER_CRASHED"
  // durable run stores (src/store)
  | "STORE_URL_INVALID"
  | "STORE_DRIVER_MISSING"
  | "STORE_OPEN_FAILED"
  | "STORE_CORRUPT"
  | "STORE_SCHEMA_TOO_NEW"
  | "STORE_RUN_EXISTS"
  | "STORE_RUN_NOT_FOUND"
  | "STORE_RUN_FINISHED"
  | "STORE_SEQ_CONFLICT"
  | "STORE_BATCH_INVALID"
  | "STORE_LEASE_LOST"
  | "STORE_QUERY_FAILED"
  | "STORE_CLOSED"
  // writable memory (kv stores, ctx.memory)
  | "MEMORY_UNKNOWN_STORE"
  | "MEMORY_READ_ONLY"
  | "MEMORY_NOT_KV"
  | "MEMORY_NOT_ALLOWED"
  | "MEMORY_KEY_INVALID"
  | "MEMORY_VALUE_INVALID"
  | "MEMORY_READ_FAILED";

/** One problem, located as precisely as is known. */
export interface ErrorDetail {
  /** Stable machine-readable code. */
  readonly code: ErrorCode;
  /** What is wrong and what to do about it. */
  readonly message: string;
  /** Absolute or config-dir-relative path of the file at fault. */
  readonly file?: string;
  /** 1-based line in {@link file}, where known. */
  readonly line?: number;
  /** 1-based column in {@link file}, where known. */
  readonly column?: number;
  /** JSON-pointer-like path inside the document, e.g. `/nodes/2/role`. */
  readonly path?: string;
  /** The workflow node concerned, if any. */
  readonly nodeId?: string;
  /** The plugin concerned, if any. */
  readonly pluginId?: string;
  /** A short suggestion such as "did you mean `role`?". */
  readonly hint?: string;
}

/**
 * Base class of every error agent-engine throws on purpose.
 *
 * @example
 * ```ts
 * try { await Engine.fromConfigDir("./configs"); }
 * catch (e) { if (e instanceof EngineError) console.error(e.code, e.details); }
 * ```
 */
export class EngineError extends Error {
  /** Stable code of the (first) problem. */
  readonly code: ErrorCode;
  /** Every problem found; at least one. */
  readonly details: readonly ErrorDetail[];

  constructor(detail: ErrorDetail | readonly ErrorDetail[], options?: { cause?: unknown }) {
    const list = Array.isArray(detail) ? (detail as readonly ErrorDetail[]) : [detail as ErrorDetail];
    const first = list[0] ?? { code: "CONFIG_SCHEMA" as const, message: "unknown error" };
    super(list.length === 1 ? formatDetail(first) : `${list.length} problems:\n${list.map((d) => `  - ${formatDetail(d)}`).join("\n")}`, options);
    this.name = "EngineError";
    this.code = first.code;
    this.details = Object.freeze(list.map((d) => Object.freeze({ ...d })));
  }

  /** Plain JSON form, as printed by the CLI. */
  toJSON(): { name: string; code: ErrorCode; message: string; details: readonly ErrorDetail[] } {
    return { name: this.name, code: this.code, message: this.message, details: this.details };
  }
}

/**
 * A failure of one stage (node execution) with an engine code: what the runtime, the agent runner
 * and the tool registry throw so the failure is recorded with that code. Anything else a
 * handler throws is recorded as `HANDLER_FAILED` (agents: `AGENT_FAILED`), its own `code`, if
 * any, kept apart as `originalCode`.
 */
export class StageError extends EngineError {
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; nodeId?: string }) {
    super(options?.nodeId === undefined ? { code, message } : { code, message, nodeId: options.nodeId }, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "StageError";
  }
}

/** Raised when a config directory is invalid. `details` lists every problem found, not just the first. */
export class ConfigError extends EngineError {
  constructor(details: readonly ErrorDetail[], options?: { cause?: unknown }) {
    super(details, options);
    this.name = "ConfigError";
  }
}

/** Raised when a plugin cannot be loaded or started. */
export class PluginLoadError extends EngineError {
  constructor(details: ErrorDetail | readonly ErrorDetail[], options?: { cause?: unknown }) {
    super(details, options);
    this.name = "PluginLoadError";
  }
}

/** Formats one detail as `file:line:col path: [CODE] message (hint)`. */
export function formatDetail(d: ErrorDetail): string {
  let where = "";
  if (d.file) {
    where = d.file;
    if (d.line !== undefined) where += `:${d.line}${d.column !== undefined ? `:${d.column}` : ""}`;
  }
  if (d.path) where += where ? ` ${d.path}` : d.path;
  // Name the subject only where the message does not already.
  const id = d.pluginId ?? d.nodeId;
  const subject = id !== undefined && !d.message.includes(`"${id}"`) && !d.message.includes(`\`${id}\``) ? ` ${d.pluginId !== undefined ? "plugin" : "node"} "${id}":` : "";
  return `${where ? `${where}: ` : ""}[${d.code}]${subject} ${d.message}${d.hint ? ` (${d.hint})` : ""}`;
}

/**
 * Extracts a message from anything thrown. Total: never throws, even for hostile values
 * (a Proxy, an error whose `message` getter throws), because it runs on plugin failures.
 */
export function errorMessage(err: unknown): string {
  try {
    if (err instanceof Error) return String(err.message);
    if (typeof err === "string") return err;
    return JSON.stringify(err) ?? String(err);
  } catch {
    try {
      return String(err);
    } catch {
      return "an error that cannot be printed";
    }
  }
}

/** The stack of an Error, or undefined; never throws. */
export function errorStack(err: unknown): string | undefined {
  try {
    return err instanceof Error && typeof err.stack === "string" ? err.stack : undefined;
  } catch {
    return undefined;
  }
}
