/**
 * What plugin workers and handler workers share: the Node options they are started with, and
 * their output re-emitted on the host's stderr (never on stdout, which the CLI keeps for the
 * result JSON).
 *
 * @internal
 * @module
 */
import type { Readable } from "node:stream";

/**
 * `execArgv` for a worker: the host's, without the options a worker refuses. A worker inherits
 * `process.execArgv` by default, and `--input-type` (from `node --input-type=module -e ...`)
 * makes a worker started from a file die at once ("--input-type can only be used with string
 * input"). Loaders (`--import`, `--loader`) and the rest are kept, so handler modules load in a
 * worker as they would in the host.
 */
export function workerExecArgv(): string[] {
  const out: string[] = [];
  const argv = process.execArgv;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--input-type") i++; // and its value
    else if (!a.startsWith("--input-type=")) out.push(a);
  }
  return out;
}

/** Longest output line re-emitted from a worker; the rest of the line is cut. */
export const MAX_OUTPUT_LINE = 8192;

/** A per-source line budget shared by a worker's stdout and stderr. */
export interface LineLimiter {
  windowStart: number;
  count: number;
  suppressed: number;
}

/**
 * Re-emits a worker's output stream line by line on the host's stderr (never stdout), each line
 * prefixed, cut at {@link MAX_OUTPUT_LINE} characters, and rate-limited per source (lines over
 * the limit are counted and summarized once the window rolls over, and at the end).
 */
export function relayLines(stream: Readable, prefix: string, limiter: LineLimiter, perSecond: number): void {
  let partial = "";
  stream.setEncoding("utf8");
  const emit = (line: string): void => {
    const now = performance.now();
    if (now - limiter.windowStart >= 1000) {
      if (limiter.suppressed > 0) writeStderr(`${prefix}(${limiter.suppressed} output lines suppressed)\n`);
      limiter.windowStart = now;
      limiter.count = 0;
      limiter.suppressed = 0;
    }
    if (++limiter.count > perSecond) {
      limiter.suppressed++;
      return;
    }
    writeStderr(`${prefix}${line.length > MAX_OUTPUT_LINE ? `${line.slice(0, MAX_OUTPUT_LINE)}... (cut)` : line}\n`);
  };
  stream.on("data", (chunk: string) => {
    let text = partial + chunk;
    let start = 0;
    let nl = text.indexOf("\n");
    while (nl !== -1) {
      emit(text.slice(start, nl));
      start = nl + 1;
      nl = text.indexOf("\n", start);
    }
    text = text.slice(start);
    // An endless line is emitted in pieces rather than buffered without bound.
    while (text.length > MAX_OUTPUT_LINE) {
      emit(text.slice(0, MAX_OUTPUT_LINE));
      text = text.slice(MAX_OUTPUT_LINE);
    }
    partial = text;
  });
  stream.on("end", () => {
    if (partial.length > 0) emit(partial);
    partial = "";
    if (limiter.suppressed > 0) {
      writeStderr(`${prefix}(${limiter.suppressed} output lines suppressed)\n`);
      limiter.suppressed = 0;
    }
  });
  stream.on("error", () => undefined);
}

export function writeStderr(text: string): void {
  try {
    process.stderr.write(text);
  } catch {
    // stderr closed: nothing else to tell
  }
}
