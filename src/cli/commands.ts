/**
 * The CLI's commands.
 *
 * @module
 */
import { open, readFile, type FileHandle } from "node:fs/promises";
import { resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import { loadProject } from "../dag/buildGraph.js";
import { EngineError, errorMessage, formatDetail } from "../errors.js";
import { inspectPlugins } from "../plugins/loader.js";
import { Engine } from "../runtime/Engine.js";
import { createConsoleLogger } from "../telemetry/logger.js";
import { CliExit, printEngineError, type CliIO } from "./output.js";

export type { CliIO } from "./output.js";

function usage(io: CliIO, message: string): never {
  io.stderr(`error: [CLI_USAGE] ${message}\n`);
  throw new CliExit(2);
}

async function readInput(opts: { input?: string; inputFile?: string }, io: CliIO): Promise<unknown> {
  if (opts.input !== undefined && opts.inputFile !== undefined) usage(io, "give either --input or --input-file, not both");
  if (opts.input !== undefined) {
    try {
      return JSON.parse(opts.input) as unknown;
    } catch (err) {
      io.stderr(`error: [CLI_INPUT] --input is not valid JSON: ${errorMessage(err)}\n  quote it for your shell, e.g. --input '{"text":"hi"}'\n`);
      throw new CliExit(2);
    }
  }
  if (opts.inputFile !== undefined) {
    const path = resolve(io.cwd(), opts.inputFile);
    let text: string;
    try {
      text = await readFile(path, "utf8");
    } catch (err) {
      io.stderr(`error: [CLI_INPUT] ${path}: cannot read the input file: ${errorMessage(err)}\n`);
      throw new CliExit(2);
    }
    try {
      return /\.ya?ml$/i.test(path) ? (parseYaml(text) as unknown) : (JSON.parse(text) as unknown);
    } catch (err) {
      io.stderr(`error: [CLI_INPUT] ${path}: not valid ${/\.ya?ml$/i.test(path) ? "YAML" : "JSON"}: ${errorMessage(err)}\n`);
      throw new CliExit(2);
    }
  }
  return {};
}

/** `agent-engine run` */
export async function runCommand(configDir: string, opts: { input?: string; inputFile?: string; start?: string; events?: string }, io: CliIO): Promise<void> {
  const input = await readInput(opts, io);
  // Open the events file before running, so a bad path fails fast instead of losing the events.
  let eventsFile: FileHandle | undefined;
  if (opts.events) {
    const path = resolve(io.cwd(), opts.events);
    try {
      eventsFile = await open(path, "w");
    } catch (err) {
      io.stderr(`error: [CLI_INPUT] --events ${path}: cannot open for writing: ${errorMessage(err)}\n`);
      throw new CliExit(2);
    }
  }
  try {
    await runWithEvents(configDir, opts, input, eventsFile, io);
  } finally {
    await eventsFile?.close();
  }
}

async function runWithEvents(configDir: string, opts: { start?: string; events?: string }, input: unknown, eventsFile: FileHandle | undefined, io: CliIO): Promise<void> {
  let engine: Engine;
  try {
    engine = await Engine.fromConfigDir(resolve(io.cwd(), configDir), {
      logger: createConsoleLogger(),
      ...(opts.events ? { maxEvents: Number.POSITIVE_INFINITY } : {}),
    });
  } catch (err) {
    if (err instanceof EngineError) throw new CliExit(printEngineError(err, io, `invalid config directory ${configDir}`));
    throw err;
  }
  let code: number;
  try {
    const result = await engine.run(input, opts.start ? { startNode: opts.start } : {});
    io.stdout(`${JSON.stringify(result, null, 2)}\n`);
    code = result.status === "success" ? 0 : 1;
    if (eventsFile) await writeEvents(eventsFile, engine, io);
  } catch (err) {
    await engine.shutdown();
    if (err instanceof EngineError) throw new CliExit(printEngineError(err, io));
    throw err;
  }
  const report = await engine.shutdown();
  if (!report.complete) io.stderr(`warning: plugins did not finish in time: ${report.unfinished.join(", ")}\n`);
  if (code !== 0) throw new CliExit(code);
}

async function writeEvents(file: FileHandle, engine: Engine, io: CliIO): Promise<void> {
  const lines = engine.getEvents().map((e) => `${JSON.stringify(e)}\n`);
  try {
    await file.writeFile(lines.join(""));
  } catch (err) {
    io.stderr(`error: [CLI_INPUT] --events: writing the events failed: ${errorMessage(err)}\n`);
    throw new CliExit(2);
  }
}

/** `agent-engine validate` */
export async function validateCommand(configDir: string, io: CliIO): Promise<void> {
  try {
    const { graph, config } = await loadProject(resolve(io.cwd(), configDir));
    const roles = new Map<string, number>();
    for (const n of graph.nodeList) roles.set(n.role, (roles.get(n.role) ?? 0) + 1);
    const agents = config.agents?.agents.length ?? 0;
    const tools = config.tools?.tools.length ?? 0;
    const plugins = config.plugins?.plugins.length ?? 0;
    io.stdout(
      `ok: ${configDir} is valid\n` +
        `  workflow${graph.name ? ` "${graph.name}"` : ""}: ${graph.nodeList.length} nodes (${[...roles].map(([r, c]) => `${c} ${r}`).join(", ")}), ${graph.edges.length} edges, default start "${graph.defaultStart}"\n` +
        `  agents: ${agents}, tools: ${tools}, schemas: ${config.schemas.size}, plugins: ${plugins}\n`,
    );
  } catch (err) {
    if (err instanceof EngineError) throw new CliExit(printEngineError(err, io, `${configDir} is invalid (${err.details.length} problem${err.details.length === 1 ? "" : "s"})`));
    throw err;
  }
}

/** `agent-engine plugins` */
export async function pluginsCommand(configDir: string, opts: { json?: boolean }, io: CliIO): Promise<void> {
  let config;
  try {
    ({ config } = await loadProject(resolve(io.cwd(), configDir)));
  } catch (err) {
    if (err instanceof EngineError) throw new CliExit(printEngineError(err, io, `invalid config directory ${configDir}`));
    throw err;
  }
  const list = await inspectPlugins(config.plugins, { configDir: config.dir, file: config.files.plugins ?? resolve(config.dir, "plugins.yaml"), locate: (p) => config.locate("plugins", p) });
  if (opts.json) {
    io.stdout(`${JSON.stringify(list, null, 2)}\n`);
  } else if (list.length === 0) {
    io.stdout(`no plugins (${config.files.plugins ? "plugins.yaml lists none" : "no plugins.yaml"})\n`);
  } else {
    for (const p of list) {
      const flags = [p.status, p.required ? "required" : "optional", p.isolation].join(", ");
      io.stdout(`${p.id}  ${p.module}  [${flags}]${p.events ? `  events: ${p.events.join(" ")}` : ""}\n`);
      if (p.error) io.stdout(`    ${formatDetail(p.error)}\n`);
    }
  }
  if (list.some((p) => p.status === "failed" && p.required)) throw new CliExit(2);
}
