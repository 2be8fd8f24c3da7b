/**
 * Built-in plugin: one concise line per event on stderr.
 *
 * @module
 */
import { errorMessage } from "../../errors.js";
import type { EngineEvent } from "../../telemetry/events.js";
import { PluginBase, type PluginContext } from "../PluginBase.js";

/** Config of {@link ConsoleLogger}. */
export interface ConsoleLoggerConfig extends Record<string, unknown> {
  /** `stderr` (default) or `stdout`. */
  readonly stream?: "stderr" | "stdout";
  /** Prefix of every line. Default `[agent-engine]`. */
  readonly prefix?: string;
}

/**
 * Prints one short line per event, e.g.
 * `[agent-engine] #4 node.completed task=3f2a node=triage 12ms`. Combine with `events:` in
 * plugins.yaml to print a subset.
 *
 * @example
 * ```yaml
 * plugins:
 *   - { id: console, module: "agent-engine/plugins#ConsoleLogger", events: ["task.*", "node.failed"] }
 * ```
 */
export class ConsoleLogger extends PluginBase<ConsoleLoggerConfig> {
  private readonly out: NodeJS.WriteStream;
  private readonly prefix: string;

  constructor(pluginId: string, config: ConsoleLoggerConfig = {}, context: PluginContext = {}) {
    super(pluginId, config, context);
    const stream = this.config.stream ?? "stderr";
    if (stream !== "stderr" && stream !== "stdout") throw new TypeError(`config.stream must be "stderr" or "stdout", got ${JSON.stringify(stream)}`);
    this.out = stream === "stdout" ? process.stdout : process.stderr;
    this.prefix = typeof this.config.prefix === "string" ? this.config.prefix : "[agent-engine]";
  }

  private failure: Error | undefined;
  private readonly onStreamError = (err: unknown): void => {
    this.failure ??= new Error(`writing to ${this.out === process.stdout ? "stdout" : "stderr"} failed: ${errorMessage(err)}`);
  };

  /**
   * Listens for errors of its stream while registered: a closed pipe (`EPIPE`) becomes a failure
   * of this plugin instead of an unhandled `error` event that would end the process.
   */
  override onStartup(): void {
    this.out.on("error", this.onStreamError);
  }

  /** Writes one line. Throws (counted and logged by the registry) once its stream has failed. */
  onEvent(event: Readonly<EngineEvent>): void {
    if (this.failure !== undefined) throw this.failure;
    this.out.write(`${formatEventLine(event, this.prefix)}\n`);
  }

  /** Stops listening to its stream; rejects when a write failed, so the shutdown report is not ok. */
  override onShutdown(): void {
    this.out.off("error", this.onStreamError);
    if (this.failure !== undefined) throw this.failure;
  }
}

/** The line {@link ConsoleLogger} prints for an event (without newline). */
export function formatEventLine(event: Readonly<EngineEvent>, prefix = "[agent-engine]"): string {
  const head = `${prefix ? `${prefix} ` : ""}#${event.seq} ${event.type} task=${event.taskId}${event.nodeId === undefined ? "" : ` node=${event.nodeId}`}`;
  const detail = summarize(event);
  return detail ? `${head} ${detail}` : head;
}

function summarize(e: Readonly<EngineEvent>): string {
  switch (e.type) {
    case "task.started":
      return `start=${e.payload.startNode}${e.payload.parentTaskId ? ` parent=${e.payload.parentTaskId}` : ""}`;
    case "task.completed":
      return `status=${e.payload.status}`;
    case "task.failed":
      return `status=failure${e.payload.error ? ` ${e.payload.error.code}: ${e.payload.error.message}` : ""}`;
    case "node.started":
      return `${e.payload.kind} ${e.payload.role}`;
    case "node.completed":
      return `${e.payload.durationMs}ms`;
    case "node.failed":
      return `${e.payload.error.code}: ${e.payload.error.message}${e.payload.continued ? " (continued)" : ""}`;
    case "routing.decision":
      return `-> ${e.payload.edge.to}${e.payload.edge.label ? ` [${e.payload.edge.label}]` : ""}`;
    case "routing.branch":
      return `clones=${e.payload.clones.length}`;
    case "routing.split":
      return `subtasks=${e.payload.count}`;
    case "routing.merge":
      return `inputs=${e.payload.inputs.length} failed=${e.payload.failed.length} status=${e.payload.status}`;
    case "clone.created":
    case "subtask.created":
      return `child=${e.payload.childTaskId} -> ${e.payload.edge.to}`;
    case "tool.invoked":
      return `tool=${e.payload.tool}`;
    case "tool.completed":
      return `tool=${e.payload.tool} ${e.payload.durationMs}ms`;
    case "tool.failed":
      return `tool=${e.payload.tool} ${e.payload.error.code}: ${e.payload.error.message}`;
    case "agent.request":
      return `agent=${e.payload.agent} model=${e.payload.model}`;
    case "agent.response":
      return `agent=${e.payload.agent} model=${e.payload.model} ${e.payload.durationMs}ms${e.payload.usage ? ` tokens=${e.payload.usage.inputTokens}+${e.payload.usage.outputTokens}` : ""}`;
    case "agent.retry":
      return `agent=${e.payload.agent} attempt=${e.payload.attempt} in ${e.payload.delayMs}ms ${e.payload.error.code}: ${e.payload.error.message}`;
    case "context.assembled":
      return `profile=${e.payload.profile} items=${e.payload.items}`;
    case "context.failed":
      return `profile=${e.payload.profile} ${e.payload.error.code}: ${e.payload.error.message}`;
    case "error":
      return `${e.payload.source} ${e.payload.error.code}: ${e.payload.error.message}`;
    case "run.interrupted":
      return `interrupt=${e.payload.interruptId} ${e.payload.kind}`;
    case "run.resumed":
      return e.payload.interruptId ? `interrupt=${e.payload.interruptId}` : "";
    case "memory.written":
      return `store=${e.payload.store} scope=${e.payload.scope} key=${JSON.stringify(e.payload.key)}${e.payload.deleted === true ? " deleted" : ""}`;
  }
}
