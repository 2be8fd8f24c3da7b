/**
 * CLI output: structured errors on stderr, no stack traces for user mistakes.
 *
 * @module
 */
import { EngineError, errorMessage, formatDetail } from "../errors.js";

/** Where the CLI writes; injectable for tests. */
export interface CliIO {
  stdout(text: string): void;
  stderr(text: string): void;
  cwd(): string;
}

/** Thrown by commands to end with an exit code after printing. */
export class CliExit extends Error {
  constructor(readonly exitCode: number) {
    super(`exit ${exitCode}`);
    this.name = "CliExit";
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
  if (err instanceof EngineError) return printEngineError(err, io);
  io.stderr(`error: internal error: ${errorMessage(err)}\n`);
  io.stderr("  this is a bug in agent-engine; set AGENT_ENGINE_DEBUG=1 to see the stack trace and please report it\n");
  if (process.env["AGENT_ENGINE_DEBUG"] && err instanceof Error && err.stack) io.stderr(`${err.stack}\n`);
  return 1;
}
