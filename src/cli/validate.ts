/**
 * `agent-engine validate`: everything `run` would reject, reported all at once, without running
 * anything: manifests and DAG rules, LLM providers (script files, API key variables, output
 * schemas), memory files, built-in tools' permissions and roots; then (unless `--static`)
 * handler modules and their exports, tool implementations, MCP servers (connected, their tools
 * listed, then closed) and plugins (imported and constructed, never started).
 *
 * @module
 */
import { resolve } from "node:path";
import { AgentRunner } from "../agents/AgentRunner.js";
import { loadProject, type LoadedProject } from "../dag/buildGraph.js";
import { EngineError, errorMessage, formatDetail, type ErrorDetail } from "../errors.js";
import { inspectPlugins } from "../plugins/loader.js";
import { ContextAssembler } from "../runtime/ContextAssembler.js";
import { compileToolSchema, resolveHandlers } from "../runtime/Engine.js";
import { HandlerWorkers } from "../runtime/HandlerWorkers.js";
import type { LoadPolicy } from "../modules.js";
import { parseAllow } from "./allow.js";
import { loadExport } from "../runtime/loadExport.js";
import { checkToolsStatically } from "../tools/builtins.js";
import { ToolRegistry } from "../tools/ToolRegistry.js";
import { CliExit, type CliIO } from "./output.js";

/** What {@link checkProject} found. */
export interface ProjectCheck {
  readonly valid: boolean;
  readonly dir: string;
  /** True when imports were skipped (`--static`). */
  readonly static: boolean;
  /** Everything `run` would reject. */
  readonly problems: readonly ErrorDetail[];
  /** Problems `run` tolerates (plugins with `required: false` that fail to load). */
  readonly warnings: readonly ErrorDetail[];
  /** Counts, when the manifests could be loaded. */
  readonly summary?: {
    readonly workflow?: string;
    readonly nodes: number;
    readonly roles: Readonly<Record<string, number>>;
    readonly edges: number;
    readonly defaultStart: string;
    readonly agents: number;
    readonly tools: number;
    readonly schemas: number;
    readonly plugins: number;
  };
}

function detailsOf(err: unknown, fallback: Omit<ErrorDetail, "message">): ErrorDetail[] {
  if (err instanceof EngineError) return [...err.details];
  return [{ ...fallback, message: errorMessage(err) }];
}

/** Checks a config directory the way `run` would load it, collecting every problem. */
export async function checkProject(dir: string, options: { static?: boolean; allow?: LoadPolicy } = {}): Promise<ProjectCheck> {
  const allow = options.allow;
  const isStatic = options.static === true;
  let project: LoadedProject;
  try {
    project = await loadProject(dir);
  } catch (err) {
    if (!(err instanceof EngineError)) throw err;
    return { valid: false, dir, static: isStatic, problems: err.details, warnings: [] };
  }
  const { graph, config } = project;
  const problems: ErrorDetail[] = [];
  const warnings: ErrorDetail[] = [];

  // Providers: script files and API key variables (no import needed, so also with --static).
  try {
    const agents = await AgentRunner.create({ manifest: config.agents, configDir: config.dir, schemas: config.schemas, ...(config.files.agents ? { file: config.files.agents } : {}) });
    if (graph.nodeList.some((n) => n.kind === "agent")) problems.push(...agents.check(config.files.agents));
  } catch (err) {
    problems.push(...detailsOf(err, { code: "CONFIG_SCHEMA", ...(config.files.agents ? { file: config.files.agents } : {}) }));
  }
  try {
    await ContextAssembler.create(config.memory, config.dir, config.files.memory, allow);
  } catch (err) {
    problems.push(...detailsOf(err, { code: "CONFIG_FILE_UNREADABLE", ...(config.files.memory ? { file: config.files.memory } : {}) }));
  }

  if (isStatic) {
    // Built-in tools' permissions and roots need no import; MCP servers are not started.
    problems.push(...(await checkToolsStatically(config.tools?.tools ?? [], config.dir, { ...(config.files.tools ? { file: config.files.tools } : {}), locate: (p) => config.locate("tools", p) })));
  } else {
    try {
      // Worker handlers are imported in their own worker threads, closed again right away.
      const workers = new HandlerWorkers();
      try {
        await resolveHandlers(graph, config, {}, allow, workers);
      } finally {
        await workers.close();
      }
    } catch (err) {
      problems.push(...detailsOf(err, { code: "HANDLER_LOAD_FAILED", file: config.files.workflow }));
    }
    // Tools: implementations imported, built-in permissions checked, MCP servers started or
    // connected (and closed again), nodes' allow-lists checked against what the servers offer.
    try {
      const tools = await ToolRegistry.create(
        config.tools?.tools ?? [],
        {},
        (ref, path, toolId) => loadExport(ref, config.dir, { file: config.files.tools, path, what: `implementation of tool "${toolId}"`, code: "TOOL_NOT_FOUND", ...(allow ? { allow } : {}) }),
        (schema) => compileToolSchema(config, schema),
        config.files.tools,
        { configDir: config.dir, locate: (p) => config.locate("tools", p) },
      );
      try {
        problems.push(...tools.checkNodes(graph.nodeList, config.files.workflow));
      } finally {
        await tools.close();
      }
    } catch (err) {
      problems.push(...detailsOf(err, { code: "TOOL_NOT_FOUND", ...(config.files.tools ? { file: config.files.tools } : {}) }));
    }
    const plugins = await inspectPlugins(config.plugins, { configDir: config.dir, file: config.files.plugins ?? resolve(config.dir, "plugins.yaml"), locate: (p) => config.locate("plugins", p), ...(allow ? { allow } : {}) });
    for (const p of plugins) {
      if (p.status !== "failed" || !p.error) continue;
      (p.required ? problems : warnings).push(p.error);
    }
  }

  const roles: Record<string, number> = {};
  for (const n of graph.nodeList) roles[n.role] = (roles[n.role] ?? 0) + 1;
  return {
    valid: problems.length === 0,
    dir,
    static: isStatic,
    problems,
    warnings,
    summary: {
      ...(graph.name ? { workflow: graph.name } : {}),
      nodes: graph.nodeList.length,
      roles,
      edges: graph.edges.length,
      defaultStart: graph.defaultStart,
      agents: config.agents?.agents.length ?? 0,
      tools: config.tools?.tools.length ?? 0,
      schemas: config.schemas.size,
      plugins: config.plugins?.plugins.length ?? 0,
    },
  };
}

/** `agent-engine validate` */
export async function validateCommand(configDir: string, opts: { static?: boolean; json?: boolean; allow?: string }, io: CliIO): Promise<void> {
  // Handler and plugin modules may print when imported: keep stdout for the report.
  io.guardStdout();
  const allow = parseAllow(opts.allow, io);
  const check = await checkProject(resolve(io.cwd(), configDir), { static: opts.static === true, ...(allow ? { allow } : {}) });
  if (opts.json) {
    io.stdout(`${JSON.stringify({ ...check, dir: configDir }, null, 2)}\n`);
  } else if (check.valid) {
    const s = check.summary!;
    io.stdout(
      `ok: ${configDir} is valid${check.static ? " (static check: modules not imported)" : ""}\n` +
        `  workflow${s.workflow ? ` "${s.workflow}"` : ""}: ${s.nodes} nodes (${Object.entries(s.roles)
          .map(([r, c]) => `${c} ${r}`)
          .join(", ")}), ${s.edges} edges, default start "${s.defaultStart}"\n` +
        `  agents: ${s.agents}, tools: ${s.tools}, schemas: ${s.schemas}, plugins: ${s.plugins}\n`,
    );
  } else {
    const n = check.problems.length;
    io.stderr(`error: ${configDir} is invalid (${n} problem${n === 1 ? "" : "s"}${check.static ? "; static check, modules not imported" : ""})\n`);
    for (const d of check.problems) io.stderr(`  ${formatDetail(d)}\n`);
  }
  if (!opts.json) for (const w of check.warnings) io.stderr(`warning: ${formatDetail(w)} (required: false, so run skips this plugin)\n`);
  if (!check.valid) throw new CliExit(2);
}
