/**
 * Built-in plugin: appends every event as one JSON line to a file.
 *
 * @module
 */
import { createWriteStream, mkdirSync, type WriteStream } from "node:fs";
import { dirname, isAbsolute, resolve } from "node:path";
import type { EngineEvent } from "../../telemetry/events.js";
import { PluginBase, type HookResult, type PluginContext } from "../PluginBase.js";

/** Config of {@link JsonlEventLog} (snake_case, as written in plugins.yaml). */
export interface JsonlEventLogConfig extends Record<string, unknown> {
  /** Output file; relative paths resolve against the config dir (or the working directory for plugins built in code). */
  readonly path: string;
  /** Append to an existing file instead of truncating it. Default false. */
  readonly append?: boolean;
  /** Lines buffered in memory before a write is issued (writes also happen once per event-loop turn). Default 256. */
  readonly batch_lines?: number;
}

/**
 * Writes each event it receives as one JSON line (`JSON.stringify(event)`), buffered: lines are
 * batched and handed to a file write stream at most once per event-loop turn (or every
 * `batch_lines` lines); `onShutdown` flushes and closes the file. Combine with `events:` in
 * plugins.yaml to log a subset.
 *
 * @example
 * ```yaml
 * # plugins.yaml
 * plugins:
 *   - id: event_log
 *     module: agent-engine/plugins#JsonlEventLog
 *     config: { path: ./logs/events.jsonl }
 * ```
 */
export class JsonlEventLog extends PluginBase<JsonlEventLogConfig> {
  /** Absolute path of the output file. */
  readonly path: string;
  private readonly batchLines: number;
  private stream: WriteStream | undefined;
  private buffer: string[] = [];
  private scheduled = false;
  private failure: Error | undefined;

  constructor(pluginId: string, config: JsonlEventLogConfig, context: PluginContext = {}) {
    super(pluginId, config, context);
    const path = (this.config as { path?: unknown }).path;
    if (typeof path !== "string" || path.length === 0) throw new TypeError('config.path is required: the JSONL file to write, e.g. { path: "./events.jsonl" }');
    const batch = this.config.batch_lines ?? 256;
    if (!Number.isInteger(batch) || batch < 1) throw new RangeError(`config.batch_lines must be an integer >= 1, got ${String(batch)}`);
    this.batchLines = batch;
    this.path = isAbsolute(path) ? path : resolve(context.configDir ?? process.cwd(), path);
  }

  /** Creates the parent directory and opens the file. */
  override async onStartup(): Promise<void> {
    mkdirSync(dirname(this.path), { recursive: true });
    const stream = createWriteStream(this.path, { flags: this.config.append === true ? "a" : "w" });
    await new Promise<void>((res, rej) => {
      stream.once("open", () => res());
      stream.once("error", rej);
    });
    stream.on("error", (err) => {
      this.failure = err;
    });
    this.stream = stream;
  }

  /** Buffers one line. Throws (counted as a plugin failure) once the file stream has failed. */
  onEvent(event: Readonly<EngineEvent>): void {
    if (this.failure !== undefined) throw this.failure;
    if (this.stream === undefined) throw new Error("JsonlEventLog is not started (onStartup was not called)");
    this.buffer.push(JSON.stringify(event));
    if (this.buffer.length >= this.batchLines) this.flushBuffer();
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flushBuffer());
    }
  }

  private flushBuffer(): void {
    this.scheduled = false;
    if (this.buffer.length === 0 || this.stream === undefined) return;
    const chunk = `${this.buffer.join("\n")}\n`;
    this.buffer = [];
    this.stream.write(chunk);
  }

  /** Writes what is buffered and closes the file. */
  override onShutdown(): HookResult {
    const stream = this.stream;
    if (stream === undefined) return;
    this.flushBuffer();
    this.stream = undefined;
    return new Promise<void>((res, rej) => {
      stream.once("error", rej);
      stream.end(() => res());
    }).then(() => {
      if (this.failure !== undefined) throw this.failure;
    });
  }
}
