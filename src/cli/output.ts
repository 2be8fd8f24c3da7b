/**
 * CLI output: structured errors on stderr, no stack traces for user mistakes (unless
 * `AGENT_ENGINE_DEBUG=1`), and the process services commands need, injectable for tests.
 *
 * @module
 */
import { EngineError, errorMessage, errorStack, formatDetail, type ErrorCode } from "../errors.js";

/** Where the CLI writes and what it knows of its process; injectable for tests. */
export interface CliIO {
  /** Writes to the real stdout (the result), even while {@link guardStdout} is active. */
  stdout(text: string): void;
  stderr(text: string): void;
  cwd(): string;
  /** An environment variable. */
  env(name: string): string | undefined;
  /** True when stderr is a terminal. */
  readonly stderrIsTTY: boolean;
  /** Terminal width of stderr, when known. */
  readonly columns?: number;
  /** Reads all of stdin (for `--input-file -`). */
  readStdin?(): Promise<string>;
  /**
   * From now on, anything else written to the process's stdout (`console.log`,
   * `process.stdout.write` from plugins and handlers) goes to stderr.
   */
  guardStdout(): void;
  /** Calls `hook` before anything else than {@link stderr} writes to the process's stderr (after {@link guardStdout}). */
  onForeignStderr?(hook: (() => void) | undefined): void;
  /** Calls `handler` on SIGINT and SIGTERM; returns a function removing the listeners. */
  onSignals(handler: (signal: NodeJS.Signals) => void): () => void;
  /** Ends the process at once with `code`. */
  exit(code: number): void;
}

/** Thrown by commands to end with an exit code after printing. */
export class CliExit extends Error {
  constructor(readonly exitCode: number) {
    super(`exit ${exitCode}`);
    this.name = "CliExit";
  }
}

/** True when `AGENT_ENGINE_DEBUG` asks for stack traces. */
export function debugEnabled(io: CliIO): boolean {
  const v = io.env("AGENT_ENGINE_DEBUG");
  return v !== undefined && v !== "" && v !== "0" && v !== "false";
}

/** Prints `error: [CODE] message` (and a hint) on stderr. */
export function cliError(io: CliIO, code: ErrorCode, message: string, hint?: string): void {
  io.stderr(`error: [${code}] ${message}\n${hint ? `  ${hint}\n` : ""}`);
}

/** With `AGENT_ENGINE_DEBUG=1`, prints the stack of `err` and of its causes on stderr. */
export function printDebugStack(err: unknown, io: CliIO): void {
  if (!debugEnabled(io)) return;
  let e: unknown = err;
  for (let depth = 0; e !== undefined && depth < 5; depth++) {
    const stack = errorStack(e);
    if (stack) io.stderr(`${depth === 0 ? "stack" : "caused by"}: ${stack}\n`);
    try {
      e = e instanceof Error ? e.cause : undefined;
    } catch {
      e = undefined;
    }
  }
}

/** Prints an engine error as one line per problem; returns the exit code (2). */
export function printEngineError(err: EngineError, io: CliIO, heading?: string): number {
  const n = err.details.length;
  io.stderr(`error: ${heading ?? (n === 1 ? "1 problem" : `${n} problems`)}\n`);
  for (const d of err.details) io.stderr(`  ${formatDetail(d)}\n`);
  return 2;
}

/** Reports any error escaping a command. EngineErrors are the user's to fix (exit 2). */
export function reportError(err: unknown, io: CliIO): number {
  printDebugStack(err, io);
  if (err instanceof EngineError) return printEngineError(err, io);
  io.stderr(`error: [INTERNAL_ERROR] ${errorMessage(err)}\n`);
  io.stderr("  this is a bug in agent-engine; set AGENT_ENGINE_DEBUG=1 to see the stack trace and please report it\n");
  return 1;
}
