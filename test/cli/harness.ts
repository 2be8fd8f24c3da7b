/**
 * Runs the real built CLI (dist/src/cli/main.js) as a child process.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { repoRoot } from "../helpers.js";

/** The built CLI entry point. */
export const bin = join(repoRoot, "dist", "src", "cli", "main.js");

/** What a finished CLI process left. */
export interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Options of {@link cli}. */
export interface CliOptions {
  cwd?: string;
  env?: Record<string, string | undefined>;
  stdin?: string;
}

/** Environment for CLI children: quiet logger, no CI detection unless asked. */
export function childEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, AGENT_ENGINE_LOG_LEVEL: "error", ...extra };
  for (const [k, v] of Object.entries(extra)) if (v === undefined) delete env[k];
  return env;
}

/** Starts the CLI; use {@link finished} to wait for it. */
export function start(args: readonly string[], options: CliOptions = {}): { child: ChildProcess; done: Promise<Outcome>; stderrSoFar: () => string } {
  const child = spawn(process.execPath, [bin, ...args], { cwd: options.cwd ?? repoRoot, env: childEnv(options.env), stdio: ["pipe", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout!.setEncoding("utf8").on("data", (s: string) => (stdout += s));
  child.stderr!.setEncoding("utf8").on("data", (s: string) => (stderr += s));
  if (options.stdin !== undefined) child.stdin!.end(options.stdin);
  else child.stdin!.end();
  const done = new Promise<Outcome>((resolve) => {
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return { child, done, stderrSoFar: () => stderr };
}

/** Runs the CLI to completion. */
export function cli(args: readonly string[], options: CliOptions = {}): Promise<Outcome> {
  return start(args, options).done;
}

/** Resolves when `check()` holds, polling every 20 ms (no timing assertion: the test runner's timeout bounds it). */
export async function until(check: () => boolean | Promise<boolean>): Promise<void> {
  while (!(await check())) await new Promise((r) => setTimeout(r, 20));
}

/** Fails when `text` holds a JavaScript stack trace. */
export function hasStackTrace(text: string): boolean {
  return /^\s+at .+:\d+:\d+\)?$/m.test(text);
}

/**
 * Files that add a deterministic `kill -9` to a config dir: a plugin that SIGKILLs its own
 * process when it receives the event named by `AE_KILL_AT` (`<type>:<nodeId>`, e.g.
 * `node.completed:draft`). Plugins get an event only once its commit is stored, so the run dies
 * right after that commit is durable, and before anything later is. Without the variable the
 * plugin does nothing (plugins.yaml is not part of a run's configuration fingerprint).
 */
export const KILL_PLUGIN: Readonly<Record<string, string>> = Object.freeze({
  "plugins.yaml": "plugins:\n  - { id: kill_at, module: ./kill-at.mjs }\n",
  "kill-at.mjs": [
    "const at = process.env.AE_KILL_AT;",
    "export default {",
    "  onEvent(event) {",
    "    if (at && `${event.type}:${event.nodeId ?? ''}` === at) process.kill(process.pid, 'SIGKILL');",
    "  },",
    "};",
    "",
  ].join("\n"),
});
