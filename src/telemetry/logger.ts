/**
 * The engine's diagnostic logger: where plugin failures, warnings and load problems go. Never
 * part of the event stream.
 *
 * @module
 */

/** Structured fields attached to a log line. */
export type LogFields = Readonly<Record<string, unknown>>;

/** Minimal logger interface; pass your own (pino, winston, console) via engine options. */
export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

/** Log levels, least to most severe. */
export type LogLevel = "debug" | "info" | "warn" | "error" | "silent";

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

/**
 * A logger writing one line per message to stderr: `agent-engine <level> message {fields}`.
 * The level defaults to `AGENT_ENGINE_LOG_LEVEL` or `warn`.
 */
export function createConsoleLogger(level: LogLevel = (process.env["AGENT_ENGINE_LOG_LEVEL"] as LogLevel | undefined) ?? "warn"): Logger {
  const min = ORDER[level] ?? ORDER.warn;
  const write = (lvl: Exclude<LogLevel, "silent">, message: string, fields?: LogFields): void => {
    if (ORDER[lvl] < min) return;
    let extra = "";
    if (fields && Object.keys(fields).length > 0) {
      try {
        extra = ` ${JSON.stringify(fields)}`;
      } catch {
        extra = " {unserializable fields}";
      }
    }
    process.stderr.write(`agent-engine ${lvl} ${message}${extra}\n`);
  };
  return {
    debug: (m, f) => write("debug", m, f),
    info: (m, f) => write("info", m, f),
    warn: (m, f) => write("warn", m, f),
    error: (m, f) => write("error", m, f),
  };
}

/** A logger that discards everything. */
export const silentLogger: Logger = Object.freeze({ debug() {}, info() {}, warn() {}, error() {} });

/** A logger that keeps lines in memory; handy in tests. */
export class MemoryLogger implements Logger {
  readonly lines: { level: Exclude<LogLevel, "silent">; message: string; fields?: LogFields }[] = [];
  debug(message: string, fields?: LogFields): void {
    this.lines.push({ level: "debug", message, fields });
  }
  info(message: string, fields?: LogFields): void {
    this.lines.push({ level: "info", message, fields });
  }
  warn(message: string, fields?: LogFields): void {
    this.lines.push({ level: "warn", message, fields });
  }
  error(message: string, fields?: LogFields): void {
    this.lines.push({ level: "error", message, fields });
  }
}
