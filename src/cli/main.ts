#!/usr/bin/env node
/**
 * The `agent-engine` command line: `run`, `validate`, `plugins`.
 *
 * Exit codes: 0 success; 1 the task failed or ended partial (or an unexpected error); 2 invalid
 * config or usage. Errors are printed as located, coded lines on stderr, never as stack traces
 * (set `AGENT_ENGINE_DEBUG=1` to see one).
 *
 * @module
 */
import { readFileSync, realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Command, CommanderError } from "commander";
import { runCommand, pluginsCommand, validateCommand, type CliIO } from "./commands.js";
import { CliExit, reportError } from "./output.js";

function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as { version?: string };
    return pkg.version ?? "0.0.0";
  } catch {
    return "0.0.0";
  }
}

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
    .description("run one task and print the result as JSON (exit 0 success, 1 failure or partial, 2 invalid config or usage)")
    .argument("<configDir>", "config directory holding workflow.yaml")
    .option("--input <json>", "task input as JSON text")
    .option("--input-file <path>", "read the task input from a JSON (or YAML) file")
    .option("--start <node>", "start node id (default: the default start)")
    .option("--events <file.jsonl>", "write every event of the run as JSON lines to this file")
    .action(async (configDir: string, opts: { input?: string; inputFile?: string; start?: string; events?: string }) => {
      await runCommand(configDir, opts, io);
    });

  program
    .command("validate")
    .description("validate a config directory: exit 0 with a summary, or 2 listing every problem")
    .argument("<configDir>", "config directory holding workflow.yaml")
    .action(async (configDir: string) => {
      await validateCommand(configDir, io);
    });

  program
    .command("plugins")
    .description("list the plugins of plugins.yaml with their enabled/loaded status")
    .argument("<configDir>", "config directory holding workflow.yaml")
    .option("--json", "print the list as JSON")
    .action(async (configDir: string, opts: { json?: boolean }) => {
      await pluginsCommand(configDir, opts, io);
    });
  return program;
}

/** Runs the CLI with `argv` (without node and script) and returns the exit code. */
export async function main(argv: readonly string[], io: CliIO): Promise<number> {
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

const processIO: CliIO = {
  stdout: (s) => process.stdout.write(s),
  stderr: (s) => process.stderr.write(s),
  cwd: () => process.cwd(),
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
  // Let stdout drain before exiting; pending plugin workers are unref'd.
  process.exitCode = code;
}
