/**
 * `agent-engine run`: run one task, progress on stderr, the result (and nothing else) on stdout.
 *
 * @module
 */
import { existsSync, mkdtempSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import { EngineError, errorMessage, type ErrorCode } from "../errors.js";
import type { Plugin } from "../plugins/PluginBase.js";
import { Engine, type EngineOptions } from "../runtime/Engine.js";
import type { RunStore } from "../runtime/runStore.js";
import type { RunResult, TaskResult } from "../runtime/types.js";
import { createConsoleLogger } from "../telemetry/logger.js";
import { EventsFileWriter } from "./eventsFile.js";
import { stringifyResult, writeJsonFile } from "./jsonOut.js";
import { CliExit, cliError, printEngineError, printDebugStack, type CliIO } from "./output.js";
import { parseAllow } from "./allow.js";
import { ProgressView, type ProgressMode } from "./progress.js";

/** Options of `agent-engine run`. */
export interface RunCommandOptions {
  readonly input?: string;
  readonly inputFile?: string;
  readonly start?: string;
  readonly events?: string;
  readonly outputOnly?: boolean;
  readonly compact?: boolean;
  readonly quiet?: boolean;
  readonly progress?: string;
  readonly maxConcurrency?: string;
  readonly record?: string;
  readonly replay?: string;
  /** Run store URL (`memory`, `sqlite:<path>`, `postgres://...`); default `sqlite:<configDir>/.agent-engine/runs.db`. */
  readonly store?: string;
  /** `resume` only: the answer to the interrupt, as JSON. */
  readonly answer?: string;
  /** `resume` only: which interrupt the answer is for (default the first waiting). */
  readonly interrupt?: string;
  /** `--allow a,b`: what configuration may load besides config-dir files and packages ({@link parseAllow}). */
  readonly allow?: string;
  /** `resume` only: continue although the configuration changed since the run started. */
  readonly allowConfigChange?: boolean;
}

/** What to do once the engine is up: start a new run, or continue one. */
export type RunStart = { readonly kind: "run"; readonly input: unknown } | { readonly kind: "resume"; readonly runId: string; readonly answer?: unknown };

/** Exit codes of `run`. */
export const EXIT = Object.freeze({ success: 0, failure: 1, usage: 2, interrupted: 3, signal: 130 });

function usage(io: CliIO, message: string): never {
  cliError(io, "CLI_USAGE", message);
  throw new CliExit(EXIT.usage);
}

async function readStdin(io: CliIO): Promise<string> {
  if (io.readStdin) return io.readStdin();
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(typeof c === "string" ? Buffer.from(c) : (c as Buffer));
  return Buffer.concat(chunks).toString("utf8");
}

/**
 * The task input: `--input`, else `--input-file`, else the config dir's own `input.json` if it
 * has one (said on stderr unless `--quiet`), else `{}`.
 */
async function readInput(configDir: string, opts: RunCommandOptions, io: CliIO): Promise<unknown> {
  if (opts.input !== undefined && opts.inputFile !== undefined) usage(io, "give either --input or --input-file, not both");
  if (opts.input === undefined && opts.inputFile === undefined) {
    const own = resolve(io.cwd(), configDir, "input.json");
    if (!existsSync(own)) return {};
    if (!opts.quiet) io.stderr(`input: ${join(configDir, "input.json")} (no --input or --input-file given)\n`);
    return readInput(configDir, { ...opts, inputFile: own }, io);
  }
  if (opts.input !== undefined) {
    try {
      return JSON.parse(opts.input) as unknown;
    } catch (err) {
      cliError(io, "CLI_INPUT", `--input is not valid JSON: ${errorMessage(err)}`, `quote it for your shell, e.g. --input '{"text":"hi"}'`);
      throw new CliExit(EXIT.usage);
    }
  }
  if (opts.inputFile !== undefined) {
    const fromStdin = opts.inputFile === "-";
    const path = fromStdin ? "stdin" : resolve(io.cwd(), opts.inputFile);
    let text: string;
    try {
      text = fromStdin ? await readStdin(io) : await readFile(path, "utf8");
    } catch (err) {
      cliError(io, "CLI_INPUT", `${path}: cannot read the input: ${errorMessage(err)}`);
      throw new CliExit(EXIT.usage);
    }
    const yaml = !fromStdin && /\.ya?ml$/i.test(path);
    try {
      return yaml ? (parseYaml(text) as unknown) : (JSON.parse(text) as unknown);
    } catch (err) {
      cliError(io, "CLI_INPUT", `${path}: not valid ${yaml ? "YAML" : "JSON"}: ${errorMessage(err)}`);
      throw new CliExit(EXIT.usage);
    }
  }
  return {};
}

function parseMaxConcurrency(value: string | undefined, io: CliIO): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\s*\d+\s*$/.test(value) || !Number.isSafeInteger(n) || n < 1) usage(io, `--max-concurrency must be a whole number >= 1, got "${value}"`);
  return n;
}

/** Chooses the progress mode: `--quiet` none; a terminal without `CI` live; otherwise plain lines. */
export function progressMode(opts: { quiet?: boolean; progress?: string }, io: CliIO): ProgressMode {
  if (opts.quiet) return "none";
  const p = opts.progress ?? "auto";
  if (p === "none" || p === "plain" || p === "live") return p;
  if (p !== "auto") usage(io, `--progress must be auto, live, plain or none, got "${p}"`);
  const ci = io.env("CI");
  return io.stderrIsTTY && (ci === undefined || ci === "" || ci === "0" || ci === "false") ? "live" : "plain";
}

/** `agent-engine run` */
export async function runCommand(configDir: string, opts: RunCommandOptions, io: CliIO): Promise<void> {
  await startCommand(configDir, opts, io, async () => ({ kind: "run", input: await readInput(configDir, opts, io) }));
}

/** `agent-engine resume <configDir> <runId> [--answer JSON]` */
export async function resumeCommand(configDir: string, runId: string, opts: RunCommandOptions, io: CliIO): Promise<void> {
  await startCommand(configDir, opts, io, () => {
    if (opts.answer === undefined) return Promise.resolve({ kind: "resume", runId });
    try {
      return Promise.resolve({ kind: "resume", runId, answer: JSON.parse(opts.answer) as unknown });
    } catch (err) {
      return usage(io, `--answer is not valid JSON: ${errorMessage(err)}`);
    }
  });
}

async function startCommand(configDir: string, opts: RunCommandOptions, io: CliIO, what: () => Promise<RunStart>): Promise<void> {
  const maxConcurrency = parseMaxConcurrency(opts.maxConcurrency, io);
  if (opts.record !== undefined && opts.replay !== undefined) usage(io, "give either --record or --replay, not both");
  const mode = progressMode(opts, io);
  const input = await what();

  // Open the events file before loading anything, so a bad path fails fast (exit 2).
  let events: EventsFileWriter | undefined;
  if (opts.events) {
    const path = resolve(io.cwd(), opts.events);
    try {
      events = new EventsFileWriter(path);
    } catch (err) {
      cliError(io, "CLI_INPUT", `--events ${path}: cannot open for writing: ${errorMessage(err)}`);
      throw new CliExit(EXIT.usage);
    }
  }

  // Ctrl-C / SIGTERM: cancel the run through its AbortSignal, then print what was done. A second
  // signal exits at once (the events written so far are already on disk).
  const progress = mode === "none" ? undefined : new ProgressView({ mode, write: (s) => io.stderr(s), columns: io.columns ?? 100 });
  const controller = new AbortController();
  let signalled: string | undefined;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (signalled !== undefined) {
      io.stderr(`\n${sig} again: exiting now\n`);
      events?.close();
      io.exit(EXIT.signal);
      return;
    }
    signalled = sig;
    progress?.stop();
    io.stderr(`\n${sig}: cancelling the run (send it again to exit at once)\n`);
    controller.abort();
  };
  const detach = io.onSignals(onSignal);
  if (mode === "live" && progress) io.onForeignStderr?.(() => progress.clearFooter());
  try {
    await runAndReport(configDir, opts, input, maxConcurrency, progress, events, controller.signal, () => signalled, io);
  } finally {
    detach();
    io.onForeignStderr?.(undefined);
    progress?.stop();
    events?.close();
  }
}

async function runAndReport(
  configDir: string,
  opts: RunCommandOptions,
  start: RunStart,
  maxConcurrency: number | undefined,
  progress: ProgressView | undefined,
  events: EventsFileWriter | undefined,
  signal: AbortSignal,
  signalled: () => string | undefined,
  io: CliIO,
): Promise<void> {
  const plugins: Plugin[] = [];
  if (events) plugins.push(events);
  if (progress) plugins.push(progress);
  const recording = opts.record !== undefined ? { mode: "record" as const, path: resolve(io.cwd(), opts.record) } : opts.replay !== undefined ? { mode: "replay" as const, path: resolve(io.cwd(), opts.replay) } : undefined;
  // The engine opens the store once the config dir has loaded (a typo in the dir creates nothing).
  const storeUrl = opts.store ?? (await import("../store/index.js")).defaultStoreUrl(resolve(io.cwd(), configDir));
  const allow = parseAllow(opts.allow, io);
  const options: EngineOptions = { logger: createConsoleLogger(), plugins, store: storeUrl, ...(maxConcurrency === undefined ? {} : { maxConcurrency }), ...(recording ? { recording } : {}), ...(allow ? { allow } : {}) };

  // From here on, whatever plugins and handlers print goes to stderr: stdout carries the result only.
  io.guardStdout();
  let engine: Engine;
  try {
    try {
      engine = await Engine.fromConfigDir(resolve(io.cwd(), configDir), options);
    } catch (err) {
      // No SQLite driver and no --store asked for: runs stay in memory, with a note.
      if (opts.store !== undefined || (err as { code?: unknown } | null)?.code !== "STORE_DRIVER_MISSING") throw err;
      io.stderr("note: runs are kept in memory only (resume after a crash needs a store): npm install better-sqlite3, or pass --store\n");
      engine = await Engine.fromConfigDir(resolve(io.cwd(), configDir), { ...options, store: "memory" });
    }
  } catch (err) {
    if (err instanceof EngineError) {
      printDebugStack(err, io);
      throw new CliExit(printEngineError(err, io, err.code.startsWith("STORE_") ? "cannot open the run store" : `invalid config directory ${configDir}`));
    }
    throw err;
  }
  if (signalled() !== undefined) {
    await engine.shutdown();
    throw new CliExit(EXIT.signal);
  }

  let result: RunResult;
  try {
    result =
      start.kind === "run"
        ? await engine.run(start.input, { signal, ...(opts.start ? { startNode: opts.start } : {}) })
        : await engine.resume(start.runId, { signal, ...(start.answer !== undefined ? { answer: start.answer } : {}), ...(opts.interrupt ? { interruptId: opts.interrupt } : {}), ...(opts.allowConfigChange ? { allowConfigChange: true } : {}) });
  } catch (err) {
    await engine.shutdown();
    if (err instanceof EngineError) {
      printDebugStack(err, io);
      throw new CliExit(printEngineError(err, io));
    }
    throw err;
  }

  const report = await engine.shutdown();
  progress?.stop();
  const status = result.status as string;
  let code = signalled() !== undefined ? EXIT.signal : status === "success" ? EXIT.success : status === "interrupted" ? EXIT.interrupted : EXIT.failure;
  const raise = (): void => {
    if (code === EXIT.success) code = EXIT.failure;
  };

  // The result first (stdout), then what went wrong around it (stderr).
  if (!printResult(result, opts, io)) raise();
  if (status !== "success" && status !== "interrupted") printFailures(result, io);
  if (status === "interrupted" && progress !== undefined) printWaiting(result, configDir, opts.store, io);
  if (signalled() !== undefined) io.stderr(`interrupted by ${signalled()}: the result above holds what was done${events ? `; ${events.written} events are in ${events.path}` : ""}\n`);

  // A required plugin that did not shut down cleanly (e.g. could not flush its log) fails the run's exit.
  const required = new Set((engine.config.plugins?.plugins ?? []).filter((p) => p.required === true && p.enabled !== false).map((p) => p.id));
  for (const p of report.plugins) {
    if (p.shutdown === "ok" && p.drained) continue;
    const what = p.shutdown !== "ok" ? `its shutdown ${p.shutdown === "timeout" ? "timed out" : "failed"}${p.error ? `: ${p.error}` : ""}` : `${p.abandoned} event deliveries were abandoned at shutdown`;
    if (required.has(p.id)) {
      cliError(io, "CLI_PLUGIN_SHUTDOWN", `required plugin "${p.id}" did not finish cleanly: ${what}`);
      raise();
    } else if (p.id !== events?.pluginId && p.id !== progress?.pluginId) {
      io.stderr(`warning: plugin "${p.id}" did not finish cleanly: ${what}\n`);
    }
  }
  if (events) {
    events.close();
    if (events.failure !== undefined) {
      cliError(io, "CLI_EVENTS_WRITE", `--events ${events.path}: writing the events failed after ${events.written} events (${events.lost} not written): ${events.failure}`);
      raise();
    }
  }
  if (code !== EXIT.success) throw new CliExit(code);
}

/** Prints the result (or its output) on stdout; when it cannot be printed, saves it to a file and reports a coded error. */
export function printResult(result: RunResult, opts: RunCommandOptions, io: CliIO): boolean {
  // Interrupted: what the caller needs to answer it (`resume <configDir> <runId> --answer JSON`).
  const interrupted = (result.status as string) === "interrupted";
  const value = opts.outputOnly ? (interrupted ? { runId: result.runId, interrupt: result.interrupt } : result.output) : result;
  const out = stringifyResult(value, opts.compact === true);
  if (out.ok) {
    io.stdout(`${out.text}\n`);
    return true;
  }
  let saved: string;
  try {
    const dir = mkdtempSync(join(tmpdir(), "agent-engine-result-"));
    saved = join(dir, `${opts.outputOnly ? "output" : "result"}.json`);
    const bytes = writeJsonFile(saved, value);
    saved = `${saved} (${bytes} bytes)`;
  } catch (err) {
    cliError(io, "CLI_RESULT_NOT_PRINTABLE", `the ${opts.outputOnly ? "output" : "result"} cannot be printed as JSON because ${out.reason}, and saving it failed too: ${errorMessage(err)}`);
    return false;
  }
  cliError(
    io,
    "CLI_RESULT_NOT_PRINTABLE",
    `the ${opts.outputOnly ? "output" : "result"} (task status ${String(result.status)}) cannot be printed as JSON because ${out.reason}; it was saved to ${saved}`,
    "use --output-only, or --events to keep the run's events, to keep stdout small",
  );
  return false;
}

/** What an interrupted run waits for, and the command that answers it (stderr). */
function printWaiting(result: RunResult, configDir: string, store: string | undefined, io: CliIO): void {
  const waiting = result.interrupts ?? (result.interrupt ? [result.interrupt] : []);
  const lines = waiting.map((i) => `  node "${i.nodeId}" (task ${i.taskId}, interrupt ${i.id}): ${i.kind === "after" ? "its output" : i.kind === "before" ? "its input" : "its question"} is in the result above`);
  const more = waiting.length > 1 ? " --interrupt <id>" : "";
  const storeArg = store === undefined ? "" : ` --store ${shellQuote(store)}`;
  io.stderr(`run ${result.runId} waits for ${waiting.length === 1 ? "an answer" : `${waiting.length} answers`}:\n${lines.join("\n")}\nanswer with: agent-engine resume ${shellQuote(configDir)} ${result.runId}${storeArg}${more} --answer '<JSON>'\n`);
}

function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** One line per failed node, on stderr: task, node, code, message. */
function printFailures(result: RunResult, io: CliIO): void {
  const tasks: readonly Pick<TaskResult, "taskId" | "history">[] = [result, ...result.children];
  const lines: string[] = [];
  for (const t of tasks) {
    for (const h of t.history) {
      if (h.status !== "failure" || !h.error) continue;
      lines.push(`  node "${h.nodeId}" (task ${t.taskId}): [${h.error.code}] ${h.error.message.split("\n")[0] ?? ""}`);
    }
  }
  if (lines.length === 0 && result.error) lines.push(`  task ${result.taskId}: [${result.error.code}] ${result.error.message}`);
  io.stderr(`run ended ${String(result.status)}; ${lines.length} failure${lines.length === 1 ? "" : "s"}:\n${lines.join("\n")}\n`);
}

/**
 * The run store for a CLI command: `--store URL`, else the config dir's SQLite file; when the
 * SQLite driver is not installed and no store was asked for, runs stay in memory (with a note).
 */
export async function openCliStore(configDir: string, url: string | undefined, io: CliIO): Promise<RunStore | "memory"> {
  if (url === "memory") return "memory";
  if (url === undefined && !existsSync(configDir)) {
    cliError(io, "CONFIG_DIR_NOT_FOUND", `no directory ${configDir}`);
    throw new CliExit(EXIT.usage);
  }
  const { openEngineStore, defaultStoreUrl } = await import("../store/index.js");
  const target = url ?? defaultStoreUrl(configDir);
  try {
    return await openEngineStore(target);
  } catch (err) {
    const code = (err as { code?: unknown } | null)?.code;
    if (url === undefined && code === "STORE_DRIVER_MISSING") {
      io.stderr("note: runs are kept in memory only (resume after a crash needs a store): npm install better-sqlite3, or pass --store\n");
      return "memory";
    }
    if (err instanceof EngineError) throw new CliExit(printEngineError(err, io, `cannot open the run store`));
    cliError(io, (typeof code === "string" ? code : "STORE_OPEN_FAILED") as ErrorCode, errorMessage(err));
    throw new CliExit(EXIT.usage);
  }
}
