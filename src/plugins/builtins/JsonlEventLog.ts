/**
 * Built-in plugin: appends every event as one JSON line to a file.
 *
 * @module
 */
import { mkdirSync } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import { dirname, isAbsolute, resolve } from "node:path";
import { errorMessage } from "../../errors.js";
import type { EngineEvent } from "../../telemetry/events.js";
import { readSafely } from "../../guard.js";
import { PluginBase, type PluginContext } from "../PluginBase.js";

/** Config of {@link JsonlEventLog} (snake_case, as written in plugins.yaml). */
export interface JsonlEventLogConfig extends Record<string, unknown> {
  /** Output file; relative paths resolve against the config dir (or the working directory for plugins built in code). */
  readonly path: string;
  /** Append to an existing file instead of truncating it. Default false. */
  readonly append?: boolean;
  /** Lines buffered in memory before a write is issued (writes also happen once per event-loop turn). Default 256. */
  readonly batch_lines?: number;
  /**
   * Also `fsync` the file every this many milliseconds while lines were written since the last
   * sync (durability against a machine crash or power loss mid-run). Default 0: only at shutdown.
   */
  readonly flush_interval_ms?: number;
}

/**
 * Writes each event it receives as one JSON line (`JSON.stringify(event)`).
 *
 * Flush policy:
 * - **incremental**: lines are handed to the OS at most one event-loop turn after their event (or
 *   every `batch_lines` lines), one write at a time, so a killed process (even `kill -9`) leaves
 *   every line written up to its last turn;
 * - **fsync on shutdown**: `onShutdown` writes what is left, `fsync`s and closes the file;
 * - **periodic fsync** with `flush_interval_ms`.
 *
 * Write errors (a full disk: `ENOSPC`, a vanished mount: `EIO`...) are never silent: the first one
 * is kept, later events are counted as not written, every later `onEvent` throws it (so the
 * registry logs and counts the failure, and disables the plugin after `max_failures`), and
 * `onShutdown` rejects with it and the number of lines lost, which makes the shutdown report not
 * ok (and, with `required: true`, `requiredFailed`: the CLI exits non-zero).
 *
 * @example
 * ```yaml
 * # plugins.yaml
 * plugins:
 *   - id: event_log
 *     module: agent-engine/plugins#JsonlEventLog
 *     required: true
 *     config: { path: ./logs/events.jsonl, flush_interval_ms: 1000 }
 * ```
 */
export class JsonlEventLog extends PluginBase<JsonlEventLogConfig> {
  /** Absolute path of the output file. */
  readonly path: string;
  private readonly batchLines: number;
  private readonly flushIntervalMs: number;
  private handle: FileHandle | undefined;
  private buffer: string[] = [];
  private scheduled = false;
  private writing: Promise<void> | undefined;
  private unsynced = false;
  private timer: ReturnType<typeof setInterval> | undefined;
  private failure: Error | undefined;
  /** Lines that could not be written because of {@link failure}. */
  private lost = 0;

  constructor(pluginId: string, config: JsonlEventLogConfig, context: PluginContext = {}) {
    super(pluginId, config, context);
    const path = (this.config as { path?: unknown }).path;
    if (typeof path !== "string" || path.length === 0) throw new TypeError('config.path is required: the JSONL file to write, e.g. { path: "./events.jsonl" }');
    const batch = this.config.batch_lines ?? 256;
    if (!Number.isInteger(batch) || batch < 1) throw new RangeError(`config.batch_lines must be an integer >= 1, got ${String(batch)}`);
    const interval = this.config.flush_interval_ms ?? 0;
    if (typeof interval !== "number" || !Number.isFinite(interval) || interval < 0) throw new RangeError(`config.flush_interval_ms must be a number of milliseconds >= 0, got ${String(interval)}`);
    this.batchLines = batch;
    this.flushIntervalMs = interval;
    this.path = isAbsolute(path) ? path : resolve(context.configDir ?? process.cwd(), path);
  }

  /** Creates the parent directory and opens the file (an error here fails registration). */
  override async onStartup(): Promise<void> {
    mkdirSync(dirname(this.path), { recursive: true });
    this.handle = await open(this.path, this.config.append === true ? "a" : "w");
    if (this.flushIntervalMs > 0) {
      this.timer = setInterval(() => this.syncPeriodically(), this.flushIntervalMs);
      this.timer.unref();
    }
  }

  /** Buffers one line. Throws (counted and logged as a plugin failure) once a write has failed. */
  onEvent(event: Readonly<EngineEvent>): void {
    if (this.failure !== undefined) {
      this.lost++;
      throw this.failure;
    }
    if (this.handle === undefined) throw new Error("JsonlEventLog is not started (onStartup was not called)");
    this.buffer.push(JSON.stringify(event));
    if (this.buffer.length >= this.batchLines) this.flushBuffer();
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flushBuffer());
    }
  }

  /** Hands the buffered lines to the OS; one write in flight at a time, in order. */
  private flushBuffer(): void {
    this.scheduled = false;
    const handle = this.handle;
    if (this.buffer.length === 0 || handle === undefined || this.writing !== undefined) return;
    if (this.failure !== undefined) {
      this.lost += this.buffer.length;
      this.buffer = [];
      return;
    }
    const lines = this.buffer.length;
    const chunk = Buffer.from(`${this.buffer.join("\n")}\n`, "utf8");
    this.buffer = [];
    this.writing = writeAll(handle, chunk).then(
      () => {
        this.unsynced = true;
        this.writing = undefined;
        if (this.buffer.length > 0) this.flushBuffer();
      },
      (err: unknown) => {
        this.writing = undefined;
        this.fail(err, "write", lines);
        this.flushBuffer();
      },
    );
  }

  private syncPeriodically(): void {
    const handle = this.handle;
    if (!this.unsynced || handle === undefined || this.failure !== undefined) return;
    this.unsynced = false;
    handle.datasync().catch((err: unknown) => (unsyncable(err) ? undefined : this.fail(err, "fsync", 0)));
  }

  private fail(err: unknown, op: string, lines: number): void {
    this.lost += lines;
    if (this.failure !== undefined) return;
    const code = readSafely(err, "code");
    this.failure = new Error(`${op} to ${this.path} failed${typeof code === "string" ? ` (${code})` : ""}: ${errorMessage(err)}`);
  }

  /** Writes what is buffered, `fsync`s and closes the file; rejects when any write failed, saying how many lines were lost. */
  override async onShutdown(): Promise<void> {
    const handle = this.handle;
    if (handle === undefined) return;
    if (this.timer !== undefined) clearInterval(this.timer);
    this.flushBuffer();
    while (this.writing !== undefined) {
      await this.writing;
      this.flushBuffer();
    }
    this.handle = undefined;
    try {
      // EINVAL/ENOTSUP: the path is a device or pipe that cannot be synced; nothing is lost by that.
      if (this.failure === undefined) await handle.sync().catch((err: unknown) => (unsyncable(err) ? undefined : this.fail(err, "fsync", 0)));
    } finally {
      await handle.close().catch((err: unknown) => this.fail(err, "close", 0));
    }
    if (this.failure !== undefined) {
      throw new Error(`${this.failure.message}; ${this.lost} event line${this.lost === 1 ? "" : "s"} not written`, { cause: this.failure });
    }
  }
}

async function writeAll(handle: FileHandle, chunk: Buffer): Promise<void> {
  let offset = 0;
  while (offset < chunk.length) {
    const { bytesWritten } = await handle.write(chunk, offset, chunk.length - offset);
    if (bytesWritten <= 0) throw new Error("the file accepted no more bytes");
    offset += bytesWritten;
  }
}

function unsyncable(err: unknown): boolean {
  const code = readSafely(err, "code");
  return code === "EINVAL" || code === "ENOTSUP";
}
