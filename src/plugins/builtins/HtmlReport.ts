/**
 * Built-in plugin: one self-contained HTML report per run.
 *
 * @module
 */
import { mkdir, rename, stat, writeFile } from "node:fs/promises";
import { basename, dirname, isAbsolute, join, resolve } from "node:path";
import type { EngineEvent } from "../../telemetry/events.js";
import { PluginBase, type PluginContext } from "../PluginBase.js";
import { epochMs, get, num, str, usageOf } from "./eventFields.js";

/** Config of {@link HtmlReport} (snake_case, as written in plugins.yaml). */
export interface HtmlReportConfig extends Record<string, unknown> {
  /** Directory of the reports; relative paths resolve against the config dir (or the working directory). Default `./reports`. */
  readonly dir?: string;
  /**
   * Where the declared graph comes from: a config directory, or the path of its `workflow.yaml`.
   * Default: the config dir holding plugins.yaml, when the plugin is loaded from one. Without
   * either, the graph is drawn from the run's events (the nodes that ran and the edges taken).
   */
  readonly workflow?: string;
  /** Title shown at the top. Default: the workflow's `name`, else `agent-engine run`. */
  readonly title?: string;
  /** Longest input/output shown per value (longer ones are cut, saying by how much). Default 20000. */
  readonly max_value_chars?: number;
}

interface GraphNode {
  readonly id: string;
  readonly role?: string;
  readonly kind?: string;
}
interface GraphEdge {
  readonly from: string;
  readonly to: string;
  readonly label?: string;
}
interface Graph {
  readonly name?: string;
  readonly nodes: readonly GraphNode[];
  readonly edges: readonly GraphEdge[];
  /** True when read from workflow.yaml, false when derived from events. */
  readonly declared: boolean;
}

interface Call {
  readonly kind: "agent" | "tool";
  readonly name: string;
  readonly key: string;
  readonly startedAt: string;
  status: "running" | "success" | "failure";
  durationMs?: number;
  detail: string;
  args?: unknown;
  result?: unknown;
  error?: { code: string; message: string };
  inputTokens?: number;
  outputTokens?: number;
  costUsd?: number;
}

interface Exec {
  readonly taskId: string;
  readonly nodeId: string;
  role?: string;
  kind?: string;
  readonly startedAt: string;
  endedAt?: string;
  durationMs?: number;
  status: "running" | "success" | "failure";
  input?: unknown;
  output?: unknown;
  error?: { code: string; message: string };
  continued?: boolean;
  readonly calls: Call[];
  /** Its `memory.written` events (applied at its commit); `deleted` for a delete. */
  memory?: { store: string; scope: string; key: string; deleted?: true }[];
}

interface RunState {
  readonly rootTaskId: string;
  readonly startedAt: string;
  endedAt?: string;
  status: string;
  input?: unknown;
  output?: unknown;
  error?: { code: string; message: string };
  readonly tasks: Map<string, { parent?: string; status: string; startNode?: string }>;
  readonly execs: Exec[];
  readonly open: Map<string, Exec>;
  /** The latest execution of each `taskId SEP nodeId` (memory writes are committed after it ends). */
  readonly latest: Map<string, Exec>;
  /** Edges known to be followed, from routing and lineage events: `from SEP to`. */
  readonly followed: Set<string>;
  /** Merge inputs that failed: `from SEP to`. */
  readonly failedInto: Set<string>;
  /** Event-derived node facts, for drawing without a declared graph. */
  readonly seenNodes: Map<string, GraphNode>;
  /** Last node that ended in each task, to connect consecutive nodes. */
  readonly lastInTask: Map<string, string>;
  readonly consecutive: Set<string>;
  interrupted: boolean;
}

const SEP = "\u0000";

/**
 * Writes one self-contained HTML file per run (per root task) into `dir`, named
 * `<start time>-<task id>.html`: the workflow's DAG as inline SVG (laid out by topological
 * layers) with the path taken highlighted and each node coloured by status, a banner naming the
 * failure, and per node its executions (task, status, start offset, duration, input, output or
 * error, LLM calls with tokens and cost, tool calls). No script, no external asset: the page
 * carries a Content-Security-Policy that forbids both, and every value is HTML-escaped.
 *
 * The declared graph is read once at startup from the config dir (through the same loader as
 * the engine), or from `config.workflow`; see {@link HtmlReportConfig.workflow}. A report is
 * written when its root task ends (and again if the run is interrupted); runs still open at
 * shutdown are written as `unfinished`.
 *
 * @example
 * ```yaml
 * # plugins.yaml
 * plugins:
 *   - id: report
 *     module: agent-engine/plugins#HtmlReport
 *     config: { dir: ./reports }
 * ```
 */
export class HtmlReport extends PluginBase<HtmlReportConfig> {
  /** Absolute directory of the reports. */
  readonly dir: string;
  private readonly maxChars: number;
  private graph: Graph | undefined;
  private graphNote: string | undefined;
  private readonly runs = new Map<string, RunState>();
  private readonly rootOf = new Map<string, string>();
  private readonly written: string[] = [];
  private readonly pending = new Set<Promise<void>>();
  private writes = 0;

  constructor(pluginId: string, config: HtmlReportConfig = {}, context: PluginContext = {}) {
    super(pluginId, config, context);
    const c = this.config as Record<string, unknown>;
    if (c.dir !== undefined && (typeof c.dir !== "string" || c.dir.length === 0)) throw new TypeError('config.dir must be a non-empty path such as "./reports"');
    if (c.workflow !== undefined && (typeof c.workflow !== "string" || c.workflow.length === 0)) throw new TypeError("config.workflow must be the path of a config dir or of its workflow.yaml");
    if (c.title !== undefined && typeof c.title !== "string") throw new TypeError("config.title must be a string");
    const max = c.max_value_chars ?? 20_000;
    if (typeof max !== "number" || !Number.isInteger(max) || max < 100) throw new TypeError("config.max_value_chars must be an integer >= 100");
    this.maxChars = max;
    this.dir = this.resolvePath(this.config.dir ?? "./reports");
  }

  /** Paths of the reports written or being written, in the order their runs ended (all written once `onShutdown` settles). */
  get files(): readonly string[] {
    return Object.freeze([...this.written]);
  }

  /** Reads the declared graph (config.workflow, else the config dir's workflow.yaml when present). */
  override async onStartup(): Promise<void> {
    const explicit = this.config.workflow;
    let dir: string | undefined;
    if (explicit !== undefined) {
      const path = this.resolvePath(explicit);
      let isDir = false;
      try {
        isDir = (await stat(path)).isDirectory();
      } catch (err) {
        throw new Error(`config.workflow: cannot read ${path} (${(err as { code?: string }).code ?? String(err)}); give a config dir or its workflow.yaml`, { cause: err });
      }
      if (!isDir && !/^workflow\.ya?ml$/.test(basename(path))) throw new Error(`config.workflow must be a config dir or its workflow.yaml (workflow.yml), got ${path}`);
      dir = isDir ? path : dirname(path);
    } else if (this.context.configDir !== undefined) {
      dir = this.context.configDir;
    }
    if (dir === undefined) return;
    try {
      const { loadConfigDir } = await import("../../config/loadConfigDir.js");
      const config = await loadConfigDir(dir);
      const wf = config.workflow;
      this.graph = {
        ...(wf.name === undefined ? {} : { name: wf.name }),
        nodes: wf.nodes.map((n) => ({ id: n.id, role: n.role, kind: n.kind })),
        edges: wf.edges.map((e) => ({ from: e.from, to: e.to, ...(e.label === undefined ? {} : { label: e.label }) })),
        declared: true,
      };
    } catch (err) {
      if (explicit !== undefined) throw err;
      this.graphNote = `the workflow in ${dir} could not be read (${(err as Error).message?.split("\n")[0] ?? String(err)}); the graph shows what the events tell`;
    }
  }

  /** Records the event; writes the run's report when its root task ends or is interrupted. */
  onEvent(event: Readonly<EngineEvent>): void | Promise<void> {
    const p: unknown = event.payload;
    const type: string = event.type;
    if (type === "task.started") {
      const parent = str(p, "parentTaskId");
      const root = parent === undefined ? event.taskId : (this.rootOf.get(parent) ?? parent);
      this.rootOf.set(event.taskId, root);
      let run = this.runs.get(root);
      if (run === undefined) {
        if (parent !== undefined) return;
        run = newRun(root, event.timestamp, get(p, "input"));
        this.runs.set(root, run);
      }
      run.tasks.set(event.taskId, { ...(parent === undefined ? {} : { parent }), status: "running", ...(str(p, "startNode") === undefined ? {} : { startNode: str(p, "startNode")! }) });
      return;
    }
    const root = this.rootOf.get(event.taskId);
    const run = root === undefined ? undefined : this.runs.get(root);
    if (run === undefined) return;
    const nodeId = event.nodeId;
    switch (type) {
      case "task.completed":
      case "task.failed": {
        const status = str(p, "status") ?? (type === "task.failed" ? "failure" : "success");
        const task = run.tasks.get(event.taskId);
        if (task !== undefined) task.status = status;
        if (event.taskId !== run.rootTaskId) return;
        run.status = status;
        run.endedAt = event.timestamp;
        run.output = get(p, "output");
        const error = errorOf(get(p, "error"));
        if (error !== undefined) run.error = error;
        this.forget(run);
        return this.write(run);
      }
      case "run.interrupted":
        run.interrupted = true;
        run.status = "interrupted";
        return this.write(run);
      case "node.started": {
        if (nodeId === undefined) return;
        const exec: Exec = { taskId: event.taskId, nodeId, startedAt: event.timestamp, status: "running", input: get(p, "input"), calls: [] };
        setIf(exec, "role", str(p, "role"));
        setIf(exec, "kind", str(p, "kind"));
        run.execs.push(exec);
        run.open.set(event.taskId + SEP + nodeId, exec);
        run.latest.set(event.taskId + SEP + nodeId, exec);
        if (!run.seenNodes.has(nodeId)) run.seenNodes.set(nodeId, { id: nodeId, ...(exec.role === undefined ? {} : { role: exec.role }), ...(exec.kind === undefined ? {} : { kind: exec.kind }) });
        const prev = run.lastInTask.get(event.taskId);
        if (prev !== undefined) run.consecutive.add(prev + SEP + nodeId);
        return;
      }
      case "node.completed":
      case "node.failed": {
        if (nodeId === undefined) return;
        const key = event.taskId + SEP + nodeId;
        const exec = run.open.get(key);
        if (exec === undefined) return;
        run.open.delete(key);
        exec.endedAt = event.timestamp;
        setIf(exec, "durationMs", num(p, "durationMs"));
        if (type === "node.failed") {
          exec.status = "failure";
          exec.error = errorOf(get(p, "error")) ?? { code: "NODE_FAILED", message: "" };
          const continued = get(p, "continued");
          if (typeof continued === "boolean") exec.continued = continued;
        } else {
          exec.status = "success";
          exec.output = get(p, "output");
          run.lastInTask.set(event.taskId, nodeId);
        }
        for (const call of exec.calls) if (call.status === "running") call.status = exec.status === "failure" ? "failure" : "success";
        return;
      }
      case "routing.decision":
      case "clone.created":
      case "subtask.created":
        addEdge(run.followed, get(p, "edge"));
        return;
      case "routing.branch":
      case "routing.split": {
        const list = get(p, type === "routing.branch" ? "clones" : "subtasks");
        if (Array.isArray(list)) for (const item of list) addEdge(run.followed, get(item, "edge"));
        return;
      }
      case "routing.merge": {
        if (nodeId === undefined) return;
        const inputs = get(p, "inputs");
        if (Array.isArray(inputs)) for (const i of inputs) if (str(i, "node_id") !== undefined) run.followed.add(str(i, "node_id")! + SEP + nodeId);
        const failed = get(p, "failed");
        if (Array.isArray(failed)) for (const f of failed) if (str(f, "node_id") !== undefined) run.failedInto.add(str(f, "node_id")! + SEP + nodeId);
        return;
      }
      case "agent.request":
      case "tool.invoked": {
        const exec = nodeId === undefined ? undefined : run.open.get(event.taskId + SEP + nodeId);
        if (exec === undefined) return;
        if (type === "agent.request") {
          const model = str(p, "model");
          const step = num(p, "step");
          exec.calls.push({ kind: "agent", name: str(p, "agent") ?? "agent", key: str(p, "agent") ?? "agent", startedAt: event.timestamp, status: "running", detail: `${model ?? ""}${step === undefined ? "" : ` step ${step}`}`, args: get(p, "messages") });
        } else {
          exec.calls.push({ kind: "tool", name: str(p, "tool") ?? "tool", key: str(p, "callId") ?? "", startedAt: event.timestamp, status: "running", detail: str(p, "callId") ?? "", args: get(p, "args") });
        }
        return;
      }
      case "agent.response":
      case "tool.completed":
      case "tool.failed": {
        const exec = nodeId === undefined ? undefined : run.open.get(event.taskId + SEP + nodeId);
        if (exec === undefined) return;
        const isAgent = type === "agent.response";
        const key = isAgent ? (str(p, "agent") ?? "agent") : (str(p, "callId") ?? "");
        const call = exec.calls.find((c) => c.kind === (isAgent ? "agent" : "tool") && c.key === key && c.status === "running");
        if (call === undefined) return;
        call.status = type === "tool.failed" ? "failure" : "success";
        setIf(call, "durationMs", num(p, "durationMs"));
        if (type === "tool.failed") call.error = errorOf(get(p, "error")) ?? { code: "TOOL_FAILED", message: "" };
        else call.result = get(p, isAgent ? "output" : "result");
        if (isAgent) {
          const usage = usageOf(p);
          setIf(call, "inputTokens", usage.inputTokens);
          setIf(call, "outputTokens", usage.outputTokens);
          setIf(call, "costUsd", num(p, "costUsd"));
        }
        return;
      }
      case "memory.written": {
        const exec = nodeId === undefined ? undefined : run.latest.get(event.taskId + SEP + nodeId);
        if (exec === undefined) return;
        const write = { store: str(p, "store") ?? "?", scope: str(p, "scope") ?? "?", key: str(p, "key") ?? "?" };
        (exec.memory ??= []).push(get(p, "deleted") === true ? { ...write, deleted: true } : write);
        return;
      }
      default:
        return;
    }
  }

  /** Writes the reports of runs still open (as unfinished) and waits for every write. */
  override async onShutdown(): Promise<void> {
    for (const run of [...this.runs.values()]) {
      if (run.endedAt !== undefined) continue;
      if (!run.interrupted) run.status = "unfinished";
      this.forget(run);
      void this.write(run);
    }
    await Promise.all([...this.pending]);
  }

  private forget(run: RunState): void {
    this.runs.delete(run.rootTaskId);
    for (const taskId of run.tasks.keys()) this.rootOf.delete(taskId);
  }

  private write(run: RunState): Promise<void> {
    const html = renderReport(run, this.graph ?? graphFromEvents(run), {
      title: this.config.title ?? this.graph?.name ?? "agent-engine run",
      maxChars: this.maxChars,
      ...(this.graphNote === undefined ? {} : { note: this.graphNote }),
    });
    const file = join(this.dir, `${run.startedAt.replace(/[:.]/g, "-")}-${run.rootTaskId.replace(/[^A-Za-z0-9_.-]/g, "_")}.html`);
    // Listed in the order runs end (writes may finish out of order).
    if (!this.written.includes(file)) this.written.push(file);
    const job = (async () => {
      await mkdir(this.dir, { recursive: true });
      const tmp = `${file}.${process.pid}.${++this.writes}.tmp`;
      await writeFile(tmp, html);
      await rename(tmp, file);
    })();
    this.pending.add(job);
    return job.finally(() => this.pending.delete(job));
  }

  private resolvePath(path: string): string {
    return isAbsolute(path) ? path : resolve(this.context.configDir ?? process.cwd(), path);
  }
}

function newRun(rootTaskId: string, startedAt: string, input: unknown): RunState {
  return {
    rootTaskId,
    startedAt,
    status: "running",
    input,
    tasks: new Map(),
    execs: [],
    open: new Map(),
    latest: new Map(),
    followed: new Set(),
    failedInto: new Set(),
    seenNodes: new Map(),
    lastInTask: new Map(),
    consecutive: new Set(),
    interrupted: false,
  };
}

function setIf<T extends object, K extends keyof T>(target: T, key: K, value: T[K] | undefined): void {
  if (value !== undefined) target[key] = value;
}

function errorOf(value: unknown): { code: string; message: string } | undefined {
  const code = str(value, "code");
  const message = str(value, "message");
  if (code === undefined && message === undefined) return undefined;
  return { code: code ?? "ERROR", message: message ?? "" };
}

function addEdge(set: Set<string>, edge: unknown): void {
  const from = str(edge, "from");
  const to = str(edge, "to");
  if (from !== undefined && to !== undefined) set.add(from + SEP + to);
}

/** The graph as the events tell it: nodes that ran, edges followed or between consecutive nodes of a task. */
function graphFromEvents(run: RunState): Graph {
  const edges = new Map<string, GraphEdge>();
  for (const key of [...run.followed, ...run.failedInto, ...run.consecutive]) {
    const [from, to] = key.split(SEP) as [string, string];
    if (run.seenNodes.has(from) && run.seenNodes.has(to)) edges.set(key, { from, to });
  }
  return { nodes: [...run.seenNodes.values()], edges: [...edges.values()], declared: false };
}

// ---------------------------------------------------------------------------------------------
// Rendering

/** HTML-escapes text for element content and double- or single-quoted attributes. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => (c === "&" ? "&amp;" : c === "<" ? "&lt;" : c === ">" ? "&gt;" : c === '"' ? "&quot;" : "&#39;"));
}

interface RenderOptions {
  readonly title: string;
  readonly maxChars: number;
  readonly note?: string;
}

interface NodeSummary {
  status: "success" | "failure" | "running" | "not-run";
  runs: number;
  failures: number;
  totalMs: number;
}

interface Layout {
  readonly pos: Map<string, { x: number; y: number }>;
  readonly width: number;
  readonly height: number;
  readonly order: string[];
}

const BOX_W = 150;
const BOX_H = 50;
const GAP_X = 56;
const GAP_Y = 26;
const PAD = 24;

/** Layers by longest path from the sources; within a layer, ordered by the mean position of predecessors. */
function layout(graph: Graph): Layout {
  const ids = graph.nodes.map((n) => n.id);
  const preds = new Map<string, string[]>(ids.map((id) => [id, []]));
  const succs = new Map<string, string[]>(ids.map((id) => [id, []]));
  for (const e of graph.edges) {
    if (!preds.has(e.from) || !preds.has(e.to)) continue;
    preds.get(e.to)!.push(e.from);
    succs.get(e.from)!.push(e.to);
  }
  // Kahn's algorithm; nodes left over (a cycle in an event-derived graph) go last in declaration order.
  const indegree = new Map(ids.map((id) => [id, preds.get(id)!.length]));
  const layer = new Map<string, number>();
  const queue = ids.filter((id) => indegree.get(id) === 0);
  for (const id of queue) layer.set(id, 0);
  const topo: string[] = [];
  while (queue.length > 0) {
    const id = queue.shift()!;
    topo.push(id);
    for (const s of succs.get(id)!) {
      layer.set(s, Math.max(layer.get(s) ?? 0, (layer.get(id) ?? 0) + 1));
      indegree.set(s, indegree.get(s)! - 1);
      if (indegree.get(s) === 0) queue.push(s);
    }
  }
  let maxLayer = Math.max(0, ...layer.values());
  for (const id of ids) {
    if (!topo.includes(id)) {
      topo.push(id);
      layer.set(id, ++maxLayer);
    }
  }
  const layers: string[][] = [];
  for (const id of topo) (layers[layer.get(id)!] ??= []).push(id);
  const rank = new Map<string, number>();
  for (const [, members] of layers.entries()) {
    if (members === undefined) continue;
    const key = (id: string) => {
      const ps = preds.get(id)!.filter((p) => rank.has(p));
      return ps.length === 0 ? ids.indexOf(id) / ids.length : ps.reduce((a, p) => a + rank.get(p)!, 0) / ps.length;
    };
    const keyed = members.map((id) => ({ id, k: key(id), d: ids.indexOf(id) }));
    keyed.sort((a, b) => a.k - b.k || a.d - b.d);
    keyed.forEach((m, i) => rank.set(m.id, i));
    members.splice(0, members.length, ...keyed.map((m) => m.id));
  }
  const tallest = Math.max(1, ...layers.map((l) => l?.length ?? 0));
  const height = PAD * 2 + tallest * BOX_H + (tallest - 1) * GAP_Y;
  const pos = new Map<string, { x: number; y: number }>();
  layers.forEach((members, li) => {
    if (members === undefined) return;
    const column = members.length * BOX_H + (members.length - 1) * GAP_Y;
    const top = (height - column) / 2;
    members.forEach((id, i) => pos.set(id, { x: PAD + li * (BOX_W + GAP_X), y: top + i * (BOX_H + GAP_Y) }));
  });
  const width = PAD * 2 + layers.length * BOX_W + Math.max(0, layers.length - 1) * GAP_X;
  return { pos, width, height, order: layers.flatMap((l) => l ?? []) };
}

function fmtMs(ms: number | undefined): string {
  if (ms === undefined) return "–";
  if (ms < 1) return `${ms.toFixed(2)} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
}

function clipText(value: unknown, max: number): string {
  let text: string;
  try {
    text = typeof value === "string" ? value : (JSON.stringify(value, null, 2) ?? "undefined");
  } catch {
    text = String(value);
  }
  if (text.length <= max) return text;
  return `${text.slice(0, max)}\n… (${text.length - max} more characters)`;
}

function pre(value: unknown, max: number, cls = "value"): string {
  return `<pre class="${cls}">${escapeHtml(clipText(value, max))}</pre>`;
}

/** Renders the whole report page. */
function renderReport(run: RunState, graph: Graph, options: RenderOptions): string {
  const e = escapeHtml;
  const max = options.maxChars;
  const summaries = new Map<string, NodeSummary>();
  for (const n of graph.nodes) summaries.set(n.id, { status: "not-run", runs: 0, failures: 0, totalMs: 0 });
  for (const x of run.execs) {
    let s = summaries.get(x.nodeId);
    if (s === undefined) {
      s = { status: "not-run", runs: 0, failures: 0, totalMs: 0 };
      summaries.set(x.nodeId, s);
    }
    s.runs++;
    s.totalMs += x.durationMs ?? 0;
    if (x.status === "failure") s.failures++;
    if (x.status === "failure") s.status = "failure";
    else if (x.status === "running" && s.status !== "failure") s.status = "running";
    else if (s.status === "not-run") s.status = "success";
  }
  const ran = new Set(run.execs.map((x) => x.nodeId));
  const succeeded = new Set(run.execs.filter((x) => x.status === "success").map((x) => x.nodeId));
  const roleOf = new Map(graph.nodes.map((n) => [n.id, n.role]));
  const edgeState = (edge: GraphEdge): "taken" | "failed" | "idle" => {
    const key = edge.from + SEP + edge.to;
    if (run.failedInto.has(key)) return "failed";
    if (run.followed.has(key)) return "taken";
    // Edges out of decisions, branches and splits are known from routing events only.
    const role = roleOf.get(edge.from);
    if (role === "decision" || role === "branch" || role === "split") return "idle";
    return succeeded.has(edge.from) && ran.has(edge.to) ? "taken" : "idle";
  };

  const lay = layout(graph);
  const anchor = new Map(lay.order.map((id, i) => [id, `node-${i}`]));
  const svg: string[] = [];
  svg.push(`<svg xmlns="http://www.w3.org/2000/svg" class="dag" role="img" aria-label="workflow graph" width="${lay.width}" height="${lay.height}" viewBox="0 0 ${lay.width} ${lay.height}">`);
  svg.push(
    `<defs>${["idle", "taken", "failed"].map((k) => `<marker id="arrow-${k}" viewBox="0 0 10 10" refX="9" refY="5" markerUnits="userSpaceOnUse" markerWidth="9" markerHeight="9" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" class="arrowhead ${k}"/></marker>`).join("")}</defs>`,
  );
  const edgesSvg: string[] = [];
  const labelsSvg: string[] = [];
  for (const edge of graph.edges) {
    const a = lay.pos.get(edge.from);
    const b = lay.pos.get(edge.to);
    if (a === undefined || b === undefined) continue;
    const state = edgeState(edge);
    const x1 = a.x + BOX_W;
    const y1 = a.y + BOX_H / 2;
    const x2 = b.x;
    const y2 = b.y + BOX_H / 2;
    const mx = (x1 + x2) / 2;
    edgesSvg.push(
      `<path class="edge ${state}" data-from="${e(edge.from)}" data-to="${e(edge.to)}" data-state="${state}" d="M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2 - 2},${y2}" marker-end="url(#arrow-${state})"/>`,
    );
    if (edge.label !== undefined) {
      const lx = mx;
      const ly = (y1 + y2) / 2;
      const w = Math.max(24, edge.label.length * 6.6 + 10);
      labelsSvg.push(`<g class="edge-label ${state}"><rect x="${lx - w / 2}" y="${ly - 9}" width="${w}" height="18" rx="4"/><text x="${lx}" y="${ly + 4}" text-anchor="middle">${e(edge.label)}</text></g>`);
    }
  }
  svg.push(...edgesSvg, ...labelsSvg);
  for (const id of lay.order) {
    const p = lay.pos.get(id)!;
    const node = graph.nodes.find((n) => n.id === id);
    const s = summaries.get(id) ?? { status: "not-run", runs: 0, failures: 0, totalMs: 0 };
    const mark = s.status === "success" ? "✓" : s.status === "failure" ? "✗" : s.status === "running" ? "…" : "·";
    const line2 =
      s.runs === 0 ? "not run" : `${mark} ${s.runs > 1 ? `${s.runs} runs · ` : ""}${s.failures > 0 && s.runs > 1 ? `${s.failures} failed · ` : ""}${fmtMs(s.totalMs)}`;
    const shown = id.length > 19 ? `${id.slice(0, 18)}…` : id;
    const meta = [node?.role, node?.kind === "agent" ? "agent" : undefined].filter((x) => x !== undefined).join(" · ");
    svg.push(
      `<a href="#${anchor.get(id)!}"><g class="node ${s.status}" data-node="${e(id)}" data-status="${s.status}"><title>${e(id)}${meta ? ` (${e(meta)})` : ""}: ${e(s.status)}</title>` +
        `<rect x="${p.x}" y="${p.y}" width="${BOX_W}" height="${BOX_H}" rx="8"/>` +
        `<text class="id" x="${p.x + 10}" y="${p.y + 19}">${e(shown)}</text>` +
        `<text class="meta" x="${p.x + BOX_W - 8}" y="${p.y + 19}" text-anchor="end">${e(meta)}</text>` +
        `<text class="line2" x="${p.x + 10}" y="${p.y + 38}">${e(line2)}</text></g></a>`,
    );
  }
  svg.push("</svg>");

  // Totals and failures.
  const runStart = epochMs(run.startedAt, 0);
  const totalMs = run.endedAt === undefined ? undefined : epochMs(run.endedAt, runStart) - runStart;
  const agentRows = new Map<string, { calls: number; input: number; output: number; cost: number; ms: number }>();
  let tokensIn = 0;
  let tokensOut = 0;
  let cost = 0;
  let toolCalls = 0;
  for (const x of run.execs) {
    for (const c of x.calls) {
      if (c.kind === "tool") {
        toolCalls++;
        continue;
      }
      const row = agentRows.get(c.name) ?? { calls: 0, input: 0, output: 0, cost: 0, ms: 0 };
      row.calls++;
      row.input += c.inputTokens ?? 0;
      row.output += c.outputTokens ?? 0;
      row.cost += c.costUsd ?? 0;
      row.ms += c.durationMs ?? 0;
      agentRows.set(c.name, row);
      tokensIn += c.inputTokens ?? 0;
      tokensOut += c.outputTokens ?? 0;
      cost += c.costUsd ?? 0;
    }
  }
  const failures = run.execs.filter((x) => x.status === "failure");

  const out: string[] = [];
  out.push("<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">');
  out.push(`<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">`);
  out.push('<meta name="viewport" content="width=device-width, initial-scale=1">');
  out.push(`<title>${e(options.title)} · ${e(run.status)} · ${e(run.rootTaskId)}</title>`);
  out.push(`<style>${CSS}</style>`, "</head>", "<body>");
  out.push(`<header><h1>${e(options.title)}</h1><span id="run-status" class="badge ${e(run.status)}">${e(run.status)}</span></header>`);
  out.push('<dl class="facts">');
  const fact = (k: string, v: string) => out.push(`<div><dt>${e(k)}</dt><dd>${e(v)}</dd></div>`);
  fact("task", run.rootTaskId);
  fact("started", run.startedAt);
  fact("duration", fmtMs(totalMs));
  fact("tasks", String(run.tasks.size));
  fact("node runs", String(run.execs.length));
  fact("tokens in / out", `${tokensIn} / ${tokensOut}`);
  if (cost > 0) fact("cost", `$${cost.toFixed(4)}`);
  fact("tool calls", String(toolCalls));
  out.push("</dl>");
  if (failures.length > 0) {
    out.push('<section id="failures" class="failure-banner"><h2>Failed</h2><ul>');
    for (const f of failures) {
      out.push(
        `<li><a href="#${anchor.get(f.nodeId) ?? ""}">${e(f.nodeId)}</a> in task ${e(f.taskId)}${f.continued === true ? " (the run continued)" : ""}: <code>${e(f.error?.code ?? "")}</code> <span class="message">${e(f.error?.message ?? "")}</span></li>`,
      );
    }
    out.push("</ul></section>");
  } else if (run.error !== undefined) {
    out.push(`<section id="failures" class="failure-banner"><h2>Failed</h2><p><code>${e(run.error.code)}</code> ${e(run.error.message)}</p></section>`);
  }
  if (options.note !== undefined) out.push(`<p class="note">${e(options.note)}</p>`);
  out.push(`<section class="graph"><h2>Graph${graph.declared ? "" : " (from the events)"}</h2><div class="legend"><span class="lg success">success</span><span class="lg failure">failure</span><span class="lg running">unfinished</span><span class="lg not-run">not run</span><span class="lg taken">path taken</span></div><div class="svg-wrap">${svg.join("")}</div></section>`);
  if (agentRows.size > 0) {
    out.push('<section class="agents"><h2>Agents</h2><table><thead><tr><th>agent</th><th>calls</th><th>tokens in</th><th>tokens out</th><th>cost</th><th>time</th></tr></thead><tbody>');
    for (const [name, r] of agentRows) out.push(`<tr><td>${e(name)}</td><td>${r.calls}</td><td>${r.input}</td><td>${r.output}</td><td>${r.cost > 0 ? `$${r.cost.toFixed(4)}` : "–"}</td><td>${fmtMs(r.ms)}</td></tr>`);
    out.push("</tbody></table></section>");
  }
  out.push('<section class="nodes"><h2>Nodes</h2>');
  for (const id of lay.order) {
    const s = summaries.get(id)!;
    const execs = run.execs.filter((x) => x.nodeId === id);
    out.push(`<section id="${anchor.get(id)!}" class="node-detail ${s.status}" data-node="${e(id)}" data-status="${s.status}">`);
    out.push(`<h3>${e(id)} <span class="badge ${s.status}">${s.status === "not-run" ? "not run" : e(s.status)}</span></h3>`);
    for (const x of execs) {
      const offset = epochMs(x.startedAt, runStart) - runStart;
      out.push(`<div class="exec ${x.status}" data-task="${e(x.taskId)}" data-status="${x.status}">`);
      out.push(`<p class="exec-head"><span class="badge ${x.status}">${x.status}</span> task <code>${e(x.taskId)}</code> · started +${fmtMs(offset)} · took ${fmtMs(x.durationMs)}</p>`);
      if (x.error !== undefined) out.push(`<div class="error"><code>${e(x.error.code)}</code> <span class="message">${e(x.error.message)}</span></div>`);
      out.push(`<details${x.status === "failure" ? " open" : ""}><summary>input</summary>${pre(x.input, max)}</details>`);
      if (x.status === "success") out.push(`<details><summary>output</summary>${pre(x.output, max)}</details>`);
      if (x.memory !== undefined) out.push(`<p class="memory">memory writes: ${x.memory.map((m) => `<code>${e(m.store)}/${e(m.key)}</code> (${e(m.scope)}${m.deleted === true ? ", deleted" : ""})`).join(", ")}</p>`);
      for (const c of x.calls) {
        const tokens = c.kind === "agent" && (c.inputTokens !== undefined || c.outputTokens !== undefined) ? ` · ${c.inputTokens ?? 0} in / ${c.outputTokens ?? 0} out tokens` : "";
        const price = c.costUsd !== undefined ? ` · $${c.costUsd.toFixed(4)}` : "";
        out.push(
          `<details class="call ${c.kind} ${c.status}"><summary>${c.kind === "agent" ? "LLM" : "tool"} <b>${e(c.name)}</b> ${e(c.detail)} · <span class="badge ${c.status}">${c.status}</span> · ${fmtMs(c.durationMs)}${e(tokens)}${e(price)}</summary>` +
            `${c.kind === "agent" ? "<h4>messages</h4>" : "<h4>arguments</h4>"}${pre(c.args, max)}` +
            (c.error !== undefined ? `<div class="error"><code>${e(c.error.code)}</code> <span class="message">${e(c.error.message)}</span></div>` : `<h4>${c.kind === "agent" ? "reply" : "result"}</h4>${pre(c.result, max)}`) +
            "</details>",
        );
      }
      out.push("</div>");
    }
    out.push("</section>");
  }
  out.push("</section>");
  out.push(`<section class="io"><h2>Run input and output</h2><details><summary>input</summary>${pre(run.input, max)}</details><details${run.output === undefined ? "" : " open"}><summary>output</summary>${pre(run.output, max)}</details></section>`);
  out.push(`<footer>Written by the agent-engine HtmlReport plugin. Self-contained: no scripts, no external resources.</footer>`);
  out.push("</body>", "</html>", "");
  return out.join("\n");
}

const CSS = `
:root { --ok: #1a7f37; --ok-bg: #dafbe1; --bad: #cf222e; --bad-bg: #ffebe9; --run: #9a6700; --run-bg: #fff8c5; --idle: #8c959f; --path: #0969da; --fg: #1f2328; --muted: #59636e; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); margin: 0 auto; padding: 20px 28px 40px; max-width: 1400px; background: #fff; }
header { display: flex; align-items: center; gap: 12px; }
h1 { font-size: 22px; margin: 0; }
h2 { font-size: 16px; margin: 22px 0 8px; border-bottom: 1px solid #d1d9e0; padding-bottom: 4px; }
h3 { font-size: 15px; margin: 0 0 6px; }
h4 { font-size: 12px; margin: 8px 0 2px; color: var(--muted); text-transform: uppercase; letter-spacing: .04em; }
code { font: 12.5px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600; background: #eaeef2; color: var(--muted); }
.badge.success { background: var(--ok-bg); color: var(--ok); }
.badge.failure { background: var(--bad-bg); color: var(--bad); }
.badge.partial, .badge.running, .badge.unfinished, .badge.interrupted { background: var(--run-bg); color: var(--run); }
.facts { display: flex; flex-wrap: wrap; gap: 8px 28px; margin: 12px 0; }
.facts div { display: flex; flex-direction: column; }
.facts dt { font-size: 11px; color: var(--muted); text-transform: uppercase; letter-spacing: .04em; }
.facts dd { margin: 0; font-weight: 600; }
.failure-banner { border: 2px solid var(--bad); background: var(--bad-bg); border-radius: 8px; padding: 4px 16px 10px; }
.failure-banner h2 { color: var(--bad); border: 0; margin-top: 8px; }
.failure-banner a { color: var(--bad); font-weight: 700; }
.note { color: var(--muted); font-style: italic; }
.svg-wrap { overflow-x: auto; border: 1px solid #d1d9e0; border-radius: 8px; background: #f6f8fa; }
.legend { display: flex; gap: 14px; font-size: 12px; margin-bottom: 6px; color: var(--muted); }
.lg::before { content: ""; display: inline-block; width: 12px; height: 12px; border-radius: 3px; margin-right: 5px; vertical-align: -2px; border: 2px solid var(--idle); background: #fff; }
.lg.success::before { border-color: var(--ok); background: var(--ok-bg); }
.lg.failure::before { border-color: var(--bad); background: var(--bad-bg); }
.lg.running::before { border-color: var(--run); background: var(--run-bg); }
.lg.not-run::before { border-style: dashed; }
.lg.taken::before { border: 0; height: 3px; background: var(--path); vertical-align: 3px; }
svg.dag { display: block; max-width: 100%; height: auto; }
svg.dag text { font: 12px system-ui, sans-serif; fill: var(--fg); }
svg.dag .node rect { fill: #fff; stroke: var(--idle); stroke-width: 1.5; stroke-dasharray: 5 4; }
svg.dag .node.success rect { fill: var(--ok-bg); stroke: var(--ok); stroke-dasharray: none; }
svg.dag .node.running rect { fill: var(--run-bg); stroke: var(--run); stroke-dasharray: none; }
svg.dag .node.failure rect { fill: var(--bad-bg); stroke: var(--bad); stroke-width: 3.5; stroke-dasharray: none; }
svg.dag .node.not-run text { fill: var(--muted); }
svg.dag .node text.id { font-weight: 700; }
svg.dag .node text.meta { font-size: 10.5px; fill: var(--muted); }
svg.dag .node.failure text.line2 { fill: var(--bad); font-weight: 700; }
svg.dag a:hover rect { filter: brightness(0.96); }
svg.dag .edge { fill: none; stroke: var(--idle); stroke-width: 1.3; stroke-dasharray: 4 4; }
svg.dag .edge.taken { stroke: var(--path); stroke-width: 2.6; stroke-dasharray: none; }
svg.dag .edge.failed { stroke: var(--bad); stroke-width: 2; stroke-dasharray: 6 3; }
svg.dag .arrowhead { fill: var(--idle); }
svg.dag .arrowhead.taken { fill: var(--path); }
svg.dag .arrowhead.failed { fill: var(--bad); }
svg.dag .edge-label rect { fill: #fff; stroke: var(--idle); }
svg.dag .edge-label.taken rect { stroke: var(--path); }
svg.dag .edge-label.taken text { fill: var(--path); font-weight: 700; }
svg.dag .edge-label text { font-size: 11px; }
table { border-collapse: collapse; }
th, td { text-align: left; padding: 4px 12px 4px 0; border-bottom: 1px solid #eaeef2; }
.node-detail { border: 1px solid #d1d9e0; border-left: 5px solid var(--idle); border-radius: 6px; padding: 10px 14px; margin: 10px 0; }
.node-detail.success { border-left-color: var(--ok); }
.node-detail.running { border-left-color: var(--run); }
.node-detail.failure { border: 2px solid var(--bad); border-left-width: 6px; background: #fffafa; }
.node-detail.not-run { color: var(--muted); }
.node-detail:target { box-shadow: 0 0 0 3px #54aeff66; }
.exec { padding: 6px 0; border-top: 1px dashed #eaeef2; }
.exec:first-of-type { border-top: 0; }
.exec-head { margin: 0 0 4px; color: var(--muted); }
.error { background: var(--bad-bg); color: var(--bad); border-radius: 6px; padding: 6px 10px; margin: 4px 0; white-space: pre-wrap; word-break: break-word; }
details { margin: 3px 0; }
summary { cursor: pointer; color: var(--muted); }
pre.value { background: #f6f8fa; border-radius: 6px; padding: 8px 10px; margin: 4px 0; max-height: 360px; overflow: auto; white-space: pre-wrap; word-break: break-word; font: 12px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
footer { margin-top: 30px; color: var(--muted); font-size: 12px; }
`;
