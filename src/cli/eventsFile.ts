/**
 * `run --events FILE.jsonl`: an in-process plugin that appends each event to the file as it is
 * emitted (one synchronous write per event), so a run killed with `kill -9` leaves every event
 * recorded up to that point. A write failure stops the writing and is reported at the end; it
 * never touches the run.
 *
 * @module
 */
import { closeSync, fsyncSync, openSync, writeSync } from "node:fs";
import { errorMessage } from "../errors.js";
import type { Plugin } from "../plugins/PluginBase.js";
import type { EngineEvent } from "../telemetry/events.js";

/** Appends events to a JSONL file as they happen. */
export class EventsFileWriter implements Plugin {
  readonly pluginId = "agent-engine-cli-events";
  private fd: number | undefined;
  /** Events written. */
  written = 0;
  /** Events that could not be written (after the first failure nothing more is written). */
  lost = 0;
  /** The first write failure, if any. */
  failure: string | undefined;

  /** Opens (truncates) `path` at once, so a bad path fails before the run starts. */
  constructor(readonly path: string) {
    this.fd = openSync(path, "w");
  }

  onEvent(event: Readonly<EngineEvent>): void {
    if (this.fd === undefined || this.failure !== undefined) {
      this.lost++;
      return;
    }
    try {
      const data = Buffer.from(`${JSON.stringify(event)}\n`, "utf8");
      let off = 0;
      while (off < data.length) off += writeSync(this.fd, data, off, data.length - off);
      this.written++;
    } catch (err) {
      this.failure = errorMessage(err);
      this.lost++;
    }
  }

  /** Flushes to disk and closes; idempotent. A failing fsync counts as a write failure. */
  close(): void {
    const fd = this.fd;
    if (fd === undefined) return;
    this.fd = undefined;
    try {
      fsyncSync(fd);
    } catch (err) {
      // fsync is not supported on some special files (pipes, /dev/stdout); only real errors count.
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== "EINVAL" && code !== "ENOTSUP" && this.failure === undefined) this.failure = errorMessage(err);
    }
    try {
      closeSync(fd);
    } catch (err) {
      if (this.failure === undefined) this.failure = errorMessage(err);
    }
  }

  onShutdown(): void {
    this.close();
  }
}
