/**
 * `agent-engine graph`: the declared workflow as Mermaid or Graphviz DOT, optionally with a
 * recorded run's path and node statuses.
 *
 * @module
 */
import { resolve } from "node:path";
import { loadProject } from "../dag/buildGraph.js";
import type { WorkflowGraph } from "../dag/types.js";
import { EngineError, errorMessage } from "../errors.js";
import { CliExit, cliError, printEngineError, type CliIO } from "./output.js";
import { nodeStatuses, readEventsFile, summarizeRun } from "./recorded.js";

/** A recorded run drawn over the graph. */
export interface GraphOverlay {
  /** Node id -> status in the recorded run. */
  readonly statuses: ReadonlyMap<string, string>;
  /** Indexes (in `graph.edges`) of the edges the run followed. */
  readonly taken: ReadonlySet<number>;
}

const COLOURS: Record<string, { fill: string; stroke: string }> = {
  success: { fill: "#d4f7d4", stroke: "#2e7d32" },
  failure: { fill: "#ffd6d6", stroke: "#c62828" },
  partial: { fill: "#fff0c2", stroke: "#b26a00" },
  running: { fill: "#dde8ff", stroke: "#1f4fb3" },
};

function shapeMermaid(role: string, label: string): string {
  const l = JSON.stringify(label).replace(/^"|"$/g, "").replace(/"/g, "#quot;");
  switch (role) {
    case "start":
    case "exit":
      return `(["${l}"])`;
    case "decision":
      return `{"${l}"}`;
    case "branch":
    case "split":
      return `[/"${l}"/]`;
    case "merge":
      return `[\\"${l}"\\]`;
    default:
      return `["${l}"]`;
  }
}

function mermaidLabel(text: string): string {
  return text.replace(/"/g, "#quot;").replace(/\|/g, "#124;");
}

/** The graph as a Mermaid flowchart. Node ids become `n<index>`; labels carry the real ids. */
export function toMermaid(graph: WorkflowGraph, overlay?: GraphOverlay): string {
  const lines = ["flowchart TD"];
  for (const n of graph.nodeList) {
    const status = overlay?.statuses.get(n.id);
    const label = `${n.id}${n.kind === "agent" ? ` (agent${n.agent ? `: ${n.agent}` : ""})` : ""}${status ? ` · ${status}` : ""}`;
    lines.push(`  n${n.index}${shapeMermaid(n.role, label)}`);
  }
  for (const e of graph.edges) {
    const from = graph.nodes.get(e.from)!.index;
    const to = graph.nodes.get(e.to)!.index;
    const arrow = overlay?.taken.has(e.index) ? "==>" : "-->";
    lines.push(`  n${from} ${arrow}${e.label !== undefined ? `|"${mermaidLabel(e.label)}"|` : ""} n${to}`);
  }
  if (overlay) {
    for (const [status, c] of Object.entries(COLOURS)) lines.push(`  classDef ${status} fill:${c.fill},stroke:${c.stroke},stroke-width:2px`);
    lines.push("  classDef skipped fill:#f4f4f4,stroke:#aaaaaa,color:#888888");
    for (const n of graph.nodeList) lines.push(`  class n${n.index} ${overlay.statuses.get(n.id) ?? "skipped"}`);
    for (const e of graph.edges) if (overlay.taken.has(e.index)) lines.push(`  linkStyle ${e.index} stroke:#1f4fb3,stroke-width:3px`);
  }
  return `${lines.join("\n")}\n`;
}

function dotString(s: string): string {
  return JSON.stringify(s);
}

/** The graph as Graphviz DOT. */
export function toDot(graph: WorkflowGraph, overlay?: GraphOverlay): string {
  const lines = [`digraph ${dotString(graph.name ?? "workflow")} {`, "  rankdir=TB;", '  node [fontname="Helvetica", shape=box, style="rounded"];', '  edge [fontname="Helvetica"];'];
  const shapes: Record<string, string> = { start: "oval", exit: "oval", decision: "diamond", branch: "trapezium", split: "trapezium", merge: "invtrapezium", linear: "box" };
  for (const n of graph.nodeList) {
    const status = overlay?.statuses.get(n.id);
    const label = `${n.id}\n(${n.role}${n.kind === "agent" ? `, agent${n.agent ? ` ${n.agent}` : ""}` : ""})${status ? `\n${status}` : ""}`;
    const attrs = [`label=${dotString(label)}`, `shape=${shapes[n.role] ?? "box"}`];
    if (overlay) {
      const c = status ? COLOURS[status] : undefined;
      attrs.push(c ? `style="rounded,filled", fillcolor=${dotString(c.fill)}, color=${dotString(c.stroke)}, penwidth=2` : `style="rounded,dashed", color="#aaaaaa", fontcolor="#888888"`);
    }
    lines.push(`  ${dotString(n.id)} [${attrs.join(", ")}];`);
  }
  for (const e of graph.edges) {
    const attrs: string[] = [];
    if (e.label !== undefined) attrs.push(`label=${dotString(e.label)}`);
    if (overlay?.taken.has(e.index)) attrs.push('color="#1f4fb3"', "penwidth=3");
    else if (overlay) attrs.push('color="#aaaaaa"', "style=dashed");
    lines.push(`  ${dotString(e.from)} -> ${dotString(e.to)}${attrs.length > 0 ? ` [${attrs.join(", ")}]` : ""};`);
  }
  lines.push("}");
  return `${lines.join("\n")}\n`;
}

/** `agent-engine graph` */
export async function graphCommand(configDir: string, opts: { format?: "mermaid" | "dot"; events?: string }, io: CliIO): Promise<void> {
  let graph: WorkflowGraph;
  try {
    ({ graph } = await loadProject(resolve(io.cwd(), configDir)));
  } catch (err) {
    if (err instanceof EngineError) throw new CliExit(printEngineError(err, io, `invalid config directory ${configDir}`));
    throw err;
  }
  let overlay: GraphOverlay | undefined;
  if (opts.events) {
    const path = resolve(io.cwd(), opts.events);
    let summary;
    try {
      summary = summarizeRun(await readEventsFile(path));
    } catch (err) {
      cliError(io, "CLI_INPUT", `--events ${path}: cannot read: ${errorMessage(err)}`);
      throw new CliExit(2);
    }
    for (const s of summary.skipped) io.stderr(`warning: ${path} ${s} (skipped)\n`);
    if (summary.events === 0) {
      cliError(io, "CLI_INPUT", `--events ${path} holds no agent-engine events`, "write one with: agent-engine run <configDir> --events run.jsonl");
      throw new CliExit(2);
    }
    const unknown = [...new Set(summary.nodes.map((n) => n.nodeId).filter((id) => !graph.nodes.has(id)))];
    if (unknown.length > 0) {
      cliError(io, "CLI_INPUT", `--events ${path} records nodes this workflow does not declare: ${unknown.join(", ")}`, "was the run recorded with another config directory?");
      throw new CliExit(2);
    }
    const keys = new Set(summary.transitions.map((t) => `${t.from}\u0000${t.to}`));
    const taken = new Set(graph.edges.filter((e) => keys.has(`${e.from}\u0000${e.to}`)).map((e) => e.index));
    overlay = { statuses: nodeStatuses(summary), taken };
  }
  io.stdout(opts.format === "dot" ? toDot(graph, overlay) : toMermaid(graph, overlay));
}
