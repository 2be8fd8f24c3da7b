#!/usr/bin/env node
/**
 * The `agent-engine` command line: `run`, `validate`, `graph`, `inspect`, `init`, `plugins`.
 *
 * Exit codes: 0 success; 1 the task failed or ended partial (or an unexpected error); 2 invalid
 * config or usage; 3 the run was interrupted for a human answer; 130 cancelled by SIGINT/SIGTERM.
 * Errors are printed as located, coded lines on stderr, never as stack traces (set
 * `AGENT_ENGINE_DEBUG=1` to see one). See docs/cli.md.
 *
 * @module
 */
import { readFileSync, realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Command, CommanderError, Option } from "commander";
import { ALLOW_HELP } from "./allow.js";
import { pluginsCommand } from "./commands.js";
import { graphCommand } from "./graph.js";
import { initCommand } from "./init.js";
import { inspectCommand } from "./inspect.js";
import { CliExit, cliError, reportError, type CliIO } from "./output.js";
import { resumeCommand, runCommand, type RunCommandOptions } from "./run.js";
import { runsCommand, type RunsCommandOptions } from "./runs.js";
import { validateCommand } from "./validate.js";

export type { CliIO } from "./output.js";

function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as { version?: string };
    return pkg.version ?? "0.0.0";
  } catch {
    return "0.0.0";
  }
}

const LOG_LEVELS = ["debug", "info", "warn", "error", "silent"];

/** Builds the CLI program; `io` is injectable for tests. */
export function buildProgram(io: CliIO): Command {
  const program = new Command();
  program
    .name("agent-engine")
    .description("Run workflows of deterministic code and LLM agents declared as a DAG in YAML.")
    .version(version())
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout(s), writeErr: (s) => io.stderr(s) })
    .showHelpAfterError("(run with --help for usage)");

  program
    .command("run")
    .description("run one task and print the result as JSON on stdout (exit 0 success, 1 failure or partial, 2 invalid config or usage, 3 interrupted, 130 cancelled)")
    .argument("<configDir>", "config directory holding workflow.yaml")
    .option("--input <json>", "task input as JSON text (default: <configDir>/input.json if there is one, else {})")
    .option("--input-file <path>", "read the task input from a JSON (or YAML) file; - reads JSON from stdin")
    .option("--start <node>", "start node id (default: the default start)")
    .option("--events <file.jsonl>", "append every event of the run to this file as it happens (JSON lines)")
    .option("--output-only", "print only the task's output, not the whole result")
    .option("--compact", "print the JSON on one line")
    .option("--max-concurrency <n>", "at most this many node executions at once")
    .option("--record <file.jsonl>", "record every LLM and tool call of the run to this file")
    .option("--replay <file.jsonl>", "answer every LLM and tool call from a recording (no network, no tool side effects)")
    .option("-q, --quiet", "no progress on stderr")
    .addOption(new Option("--progress <mode>", "progress on stderr: live (terminal), plain (lines), none; auto picks live on a terminal without CI").choices(["auto", "live", "plain", "none"]).default("auto"))
    .option("--store <url>", "run store: memory, sqlite:<path> or postgres://... (default sqlite:<configDir>/.agent-engine/runs.db)")
    .option("--allow <list>", ALLOW_HELP)
    .action(async (configDir: string, opts: RunCommandOptions) => {
      await runCommand(configDir, opts, io);
    });

  program
    .command("resume")
    .description("continue a run: one interrupted for an answer (--answer), or one cut short by a crash (exit codes as run)")
    .argument("<configDir>", "config directory holding workflow.yaml")
    .argument("<runId>", "the run's id (agent-engine runs)")
    .option("--answer <json>", "the answer to the interrupt, as JSON")
    .option("--interrupt <id>", "which interrupt the answer is for (default: the first waiting)")
    .option("--allow-config-change", "continue although workflow.yaml, agents.yaml, tools.yaml, memory.yaml or schemas/ changed since the run started (refused by default: RESUME_CONFIG_CHANGED)")
    .option("--store <url>", "run store (default sqlite:<configDir>/.agent-engine/runs.db)")
    .option("--events <file.jsonl>", "append every new event to this file as it happens (JSON lines)")
    .option("--output-only", "print only the task's output, not the whole result")
    .option("--compact", "print the JSON on one line")
    .option("--max-concurrency <n>", "at most this many node executions at once")
    .option("-q, --quiet", "no progress on stderr")
    .addOption(new Option("--progress <mode>", "progress on stderr").choices(["auto", "live", "plain", "none"]).default("auto"))
    .option("--allow <list>", ALLOW_HELP)
    .action(async (configDir: string, runId: string, opts: RunCommandOptions) => {
      await resumeCommand(configDir, runId, opts, io);
    });

  program
    .command("runs")
    .description("list the runs in the store; --prune --older-than 30d deletes old ones; --export <runId> prints a run's journal as JSONL")
    .argument("<configDir>", "config directory holding workflow.yaml")
    .option("--store <url>", "run store (default sqlite:<configDir>/.agent-engine/runs.db)")
    .option("--json", "print an array of { id, status, startedAt, updatedAt, currentNodes, interrupts }")
    .option("--status <status>", "only runs with this status")
    .option("--limit <n>", "at most this many (newest first)")
    .option("--prune", "delete finished runs last updated before --older-than")
    .option("--older-than <age>", "with --prune: an age like 30d, 12h, 45m")
    .option("--include-unfinished", "with --prune: also delete running and interrupted runs")
    .option("--export <runId>", "print the run's journal as the JSONL that run --events writes")
    .action(async (configDir: string, opts: RunsCommandOptions) => {
      await runsCommand(configDir, opts, io);
    });

  program
    .command("validate")
    .description("check a config directory for everything run would reject (modules imported, exports, tools, providers' key variables, required plugins): exit 0 with a summary, or 2 listing every problem")
    .argument("<configDir>", "config directory holding workflow.yaml")
    .option("--static", "check without importing modules or starting MCP servers (manifests, DAG, providers, memory files, built-in tool permissions)")
    .option("--json", "print the report as JSON on stdout")
    .option("--allow <list>", ALLOW_HELP)
    .action(async (configDir: string, opts: { static?: boolean; json?: boolean; allow?: string }) => {
      await validateCommand(configDir, opts, io);
    });

  program
    .command("graph")
    .description("draw the workflow (declared nodes and edges); with --events, the path a recorded run took and each node's status")
    .argument("<configDir>", "config directory holding workflow.yaml")
    .addOption(new Option("--format <format>", "output format").choices(["mermaid", "dot"]).default("mermaid"))
    .option("--events <file.jsonl>", "events of a recorded run (run --events)")
    .action(async (configDir: string, opts: { format: "mermaid" | "dot"; events?: string }) => {
      await graphCommand(configDir, opts, io);
    });

  program
    .command("inspect")
    .description("a recorded run at a glance: tasks, paths, node status and timing, failures with their input, tokens and cost per agent, tool calls")
    .argument("<events.jsonl>", "events file written by run --events")
    .option("--json", "print the summary as JSON")
    .action(async (file: string, opts: { json?: boolean }) => {
      await inspectCommand(file, opts, io);
    });

  program
    .command("init")
    .description("create a starter project (decision, branch and merge, scripted agents, a tool, a plugin) that runs offline as created")
    .argument("<dir>", "directory to create (must be empty or absent)")
    .action(async (dir: string) => {
      await initCommand(dir, io);
    });

  program
    .command("plugins")
    .description("list the plugins of plugins.yaml with their enabled/loaded status")
    .argument("<configDir>", "config directory holding workflow.yaml")
    .option("--json", "print the list as JSON")
    .option("--allow <list>", ALLOW_HELP)
    .action(async (configDir: string, opts: { json?: boolean; allow?: string }) => {
      await pluginsCommand(configDir, opts, io);
    });
  return program;
}

/** Runs the CLI with `argv` (without node and script) and returns the exit code. */
export async function main(argv: readonly string[], io: CliIO): Promise<number> {
  const level = io.env("AGENT_ENGINE_LOG_LEVEL");
  if (level !== undefined && level !== "" && !LOG_LEVELS.includes(level)) {
    cliError(io, "INVALID_OPTION", `AGENT_ENGINE_LOG_LEVEL="${level}" is not a log level`, `use one of ${LOG_LEVELS.join(", ")}, or unset it (default warn)`);
    return 2;
  }
  const program = buildProgram(io);
  try {
    await program.parseAsync(argv as string[], { from: "user" });
    return 0;
  } catch (err) {
    if (err instanceof CliExit) return err.exitCode;
    if (err instanceof CommanderError) {
      if (err.code === "commander.helpDisplayed" || err.code === "commander.version" || err.code === "commander.help") return 0;
      return 2;
    }
    return reportError(err, io);
  }
}

const realStdoutWrite = process.stdout.write.bind(process.stdout);
const realStderrWrite = process.stderr.write.bind(process.stderr) as (...args: unknown[]) => boolean;
let stdoutGuarded = false;
let beforeForeignStderr: (() => void) | undefined;

/** The real process behind {@link CliIO}. */
export const processIO: CliIO = {
  stdout: (s) => {
    realStdoutWrite(s);
  },
  stderr: (s) => {
    realStderrWrite(s);
  },
  cwd: () => process.cwd(),
  env: (name) => process.env[name],
  stderrIsTTY: process.stderr.isTTY === true,
  ...(process.stderr.columns ? { columns: process.stderr.columns } : {}),
  guardStdout() {
    if (stdoutGuarded) return;
    stdoutGuarded = true;
    // Output of handlers and plugins (their stdout included) goes to stderr; a live progress view
    // gets to clear its status line first, so their lines do not land after it.
    const toStderr = (...args: unknown[]): boolean => {
      try {
        beforeForeignStderr?.();
      } catch {
        // the hook only tidies the terminal
      }
      return realStderrWrite(...args);
    };
    process.stdout.write = toStderr as typeof process.stdout.write;
    process.stderr.write = toStderr as typeof process.stderr.write;
  },
  onForeignStderr(hook) {
    beforeForeignStderr = hook;
  },
  onSignals(handler) {
    process.on("SIGINT", handler);
    process.on("SIGTERM", handler);
    return () => {
      process.off("SIGINT", handler);
      process.off("SIGTERM", handler);
    };
  },
  exit(code) {
    process.exit(code);
  },
};

function isEntryPoint(): boolean {
  const arg = process.argv[1];
  if (!arg) return false;
  try {
    return realpathSync(arg) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  const code = await main(process.argv.slice(2), processIO);
  process.exitCode = code;
  // Exit once stdout has drained: a handler that ignored cancellation, or a plugin's timer, must
  // not keep a finished CLI alive.
  realStdoutWrite("", () => process.exit(code));
}
