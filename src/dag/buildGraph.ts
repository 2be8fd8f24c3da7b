/**
 * Turns a {@link ProjectConfig} into the validated, immutable {@link WorkflowGraph} the runtime
 * executes, and {@link loadProject}: load a config dir and build its graph, reporting every
 * problem at once.
 *
 * @module
 */
import { readConfigDir } from "../config/loadConfigDir.js";
import type { JsonSchema, NodeManifest, NodeWorkerManifest, ProjectConfig } from "../config/types.js";
import { ConfigError } from "../errors.js";
import type { ErrorDetail } from "../errors.js";
import { compileSchema } from "./compileSchema.js";
import { buildReachability } from "./reachability.js";
import { DEFAULT_HANDLER_IDLE_TIMEOUT_MS, DEFAULT_NODE_TIMEOUT_MS } from "./types.js";
import type { CompiledSchema, GraphEdge, GraphNode, HandlerWorkerSettings, WorkflowDefaults, WorkflowGraph } from "./types.js";
import { validateProject } from "./validateProject.js";

const frozenMaps = new WeakSet<object>();

/** Answers of `closes` kept per graph before the memo is emptied. */
const CLOSES_MEMO_LIMIT = 1 << 16;

/** A Map that cannot be changed once built (Object.freeze does not stop Map#set). */
class FrozenMap<K, V> extends Map<K, V> {
  constructor(entries: Iterable<readonly [K, V]>) {
    super(entries);
    frozenMaps.add(this);
    Object.freeze(this);
  }
  override set(key: K, value: V): this {
    if (frozenMaps.has(this)) throw new TypeError("WorkflowGraph.nodes is read-only");
    return super.set(key, value);
  }
  override delete(): boolean {
    throw new TypeError("WorkflowGraph.nodes is read-only");
  }
  override clear(): void {
    throw new TypeError("WorkflowGraph.nodes is read-only");
  }
}

function schemaFor(config: ProjectConfig, ref: NodeManifest["schema_in"]): CompiledSchema | undefined {
  if (ref === undefined) return undefined;
  if (typeof ref === "string") {
    const schema: JsonSchema | undefined = config.schemas.get(ref);
    return schema === undefined ? undefined : compileSchema(ref, schema);
  }
  return compileSchema("inline", ref);
}

/** `worker:` of a node as the runtime uses it (camelCase V8 names, `idleTimeoutMs` defaulted, frozen). */
function workerSettings(w: NodeWorkerManifest | undefined): HandlerWorkerSettings {
  const l = w?.resource_limits;
  return Object.freeze({
    env: Object.freeze([...(w?.env ?? [])]),
    resourceLimits: Object.freeze({
      ...(l?.max_old_generation_mb === undefined ? {} : { maxOldGenerationSizeMb: l.max_old_generation_mb }),
      ...(l?.max_young_generation_mb === undefined ? {} : { maxYoungGenerationSizeMb: l.max_young_generation_mb }),
      ...(l?.code_range_mb === undefined ? {} : { codeRangeSizeMb: l.code_range_mb }),
      ...(l?.stack_mb === undefined ? {} : { stackSizeMb: l.stack_mb }),
    }),
    ...(w?.max_workers === undefined ? {} : { maxWorkers: w.max_workers }),
    idleTimeoutMs: w?.idle_timeout_ms ?? DEFAULT_HANDLER_IDLE_TIMEOUT_MS,
  });
}

/**
 * Checks every load-time rule ({@link validateProject}) and builds the graph: defaults applied
 * (`context: none`, `tools: []`, `continue_on_failure: false`, `merge.on_failure: fail_on_any`,
 * `always_fail: false`, `timeout_ms` from `defaults.timeout_ms` or
 * {@link DEFAULT_NODE_TIMEOUT_MS}), edges attached in declaration order, a topological order
 * (Kahn, ties by declaration index) with each node's position (`topoIndex`), an exact
 * reachability index in memory linear in the graph (`canReach`), and which merge closes which
 * fork (`closes`, `closingMerges`). Deeply frozen.
 *
 * A workflow with exactly one start node and no `default: true` uses that start as the default.
 *
 * @example
 * ```ts
 * const graph = buildGraph(await loadConfigDir("./configs"));
 * graph.defaultStart; graph.topoOrder; graph.canReach("triage", "done");
 * ```
 * @throws {@link ConfigError} listing every problem found.
 */
export function buildGraph(config: ProjectConfig): WorkflowGraph {
  const problems = validateProject(config);
  if (problems.length > 0) throw new ConfigError(problems);
  return assemble(config);
}

function assemble(config: ProjectConfig): WorkflowGraph {
  const wf = config.workflow;
  const edges: GraphEdge[] = wf.edges.map((e, index) => Object.freeze({ from: e.from, to: e.to, ...(e.label !== undefined ? { label: e.label } : {}), index }));
  const outs = new Map<string, GraphEdge[]>();
  const ins = new Map<string, GraphEdge[]>();
  const add = (map: Map<string, GraphEdge[]>, id: string, e: GraphEdge): void => {
    const list = map.get(id);
    if (list) list.push(e);
    else map.set(id, [e]);
  };
  for (const e of edges) {
    add(outs, e.from, e);
    add(ins, e.to, e);
  }
  const starts = wf.nodes.filter((n) => n.role === "start");
  const defaults: WorkflowDefaults = Object.freeze({
    ...(wf.defaults?.timeout_ms !== undefined ? { timeoutMs: wf.defaults.timeout_ms } : {}),
    ...(wf.defaults?.max_concurrency !== undefined ? { maxConcurrency: wf.defaults.max_concurrency } : {}),
  });
  const defaultStart = (starts.find((n) => n.default === true) ?? starts[0])?.id ?? "";
  const nodeList: GraphNode[] = wf.nodes.map((n, index) => {
    const schemaIn = schemaFor(config, n.schema_in);
    const schemaOut = schemaFor(config, n.schema_out);
    const node: GraphNode = {
      id: n.id,
      kind: n.kind,
      role: n.role,
      index,
      ...(n.description !== undefined ? { description: n.description } : {}),
      isDefaultStart: n.id === defaultStart,
      ...(n.handler !== undefined ? { handler: n.handler } : {}),
      ...(n.agent !== undefined ? { agent: n.agent } : {}),
      ...(schemaIn ? { schemaIn } : {}),
      ...(schemaOut ? { schemaOut } : {}),
      context: n.context ?? "none",
      tools: Object.freeze([...(n.tools ?? [])]),
      continueOnFailure: n.continue_on_failure ?? false,
      mergeOnFailure: n.merge?.on_failure ?? "fail_on_any",
      alwaysFail: n.always_fail ?? false,
      timeoutMs: n.timeout_ms ?? defaults.timeoutMs ?? DEFAULT_NODE_TIMEOUT_MS,
      timeoutFrom: n.timeout_ms !== undefined ? "node" : defaults.timeoutMs !== undefined ? "workflow" : "engine",
      ...(n.interrupt !== undefined ? { interrupt: n.interrupt } : {}),
      ...(n.isolation === "worker" ? { isolation: "worker" as const, worker: workerSettings(n.worker) } : {}),
      outEdges: Object.freeze(outs.get(n.id) ?? []),
      inEdges: Object.freeze(ins.get(n.id) ?? []),
    };
    return Object.freeze(node);
  });

  const indexOf = new Map<string, number>(nodeList.map((n, i) => [n.id, i]));
  const succ: number[][] = nodeList.map((n) => n.outEdges.map((e) => indexOf.get(e.to) ?? 0));
  const topo = topologicalOrder(succ);
  const topoOrder = Object.freeze(topo.map((i) => nodeList[i]?.id ?? ""));
  const topoIndex = new FrozenMap(topoOrder.map((id, i) => [id, i] as const));
  const reach = buildReachability(succ, topo);
  const nodes = new FrozenMap(nodeList.map((n) => [n.id, n] as const));

  const canReach = (from: string, to: string): boolean => {
    const a = indexOf.get(from);
    const b = indexOf.get(to);
    return a !== undefined && b !== undefined && reach.canReach(a, b);
  };
  const isFork = (n: GraphNode | undefined): n is GraphNode => n !== undefined && (n.role === "branch" || n.role === "split");
  // The rule the runtime joins by; `closes` can be asked for every arrival at a merge, so its
  // answers are remembered (bounded), and `closingMerges` per fork on first use.
  const closesMemo = new Map<string, boolean>();
  const closes = (forkNodeId: string, mergeId: string): boolean => {
    const fork = nodes.get(forkNodeId);
    const merge = nodes.get(mergeId);
    if (!isFork(fork) || merge?.role !== "merge") return false;
    const key = `${forkNodeId}\u0000${mergeId}`;
    let hit = closesMemo.get(key);
    if (hit === undefined) {
      let reaching = 0;
      for (const e of fork.outEdges) if (canReach(e.to, mergeId)) reaching++;
      hit = fork.role === "split" ? reaching >= 1 : reaching >= 2;
      if (closesMemo.size >= CLOSES_MEMO_LIMIT) closesMemo.clear();
      closesMemo.set(key, hit);
    }
    return hit;
  };
  const closingCache = new Map<string, readonly string[]>();
  const closingMerges = (forkNodeId: string): readonly string[] => {
    const cached = closingCache.get(forkNodeId);
    if (cached) return cached;
    const fork = nodes.get(forkNodeId);
    if (!isFork(fork)) return EMPTY;
    // Count, per merge, how many of the fork's outbound edges lead to it (one search per edge).
    const hits = new Map<number, number>();
    for (const e of fork.outEdges) {
      const start = indexOf.get(e.to) ?? 0;
      const seen = new Set<number>([start]);
      const queue = [start];
      for (let h = 0; h < queue.length; h++) {
        const v = queue[h] ?? 0;
        if (nodeList[v]?.role === "merge") hits.set(v, (hits.get(v) ?? 0) + 1);
        for (const w of succ[v] ?? []) {
          if (!seen.has(w)) {
            seen.add(w);
            queue.push(w);
          }
        }
      }
    }
    const need = fork.role === "split" ? 1 : 2;
    const out = Object.freeze(
      [...hits]
        .filter(([, count]) => count >= need)
        .map(([v]) => nodeList[v]?.id ?? "")
        .sort((a, b) => (topoIndex.get(a) ?? 0) - (topoIndex.get(b) ?? 0)),
    );
    closingCache.set(forkNodeId, out);
    return out;
  };

  const graph: WorkflowGraph = {
    ...(wf.name !== undefined ? { name: wf.name } : {}),
    nodes,
    nodeList: Object.freeze(nodeList),
    edges: Object.freeze(edges),
    defaultStart,
    starts: Object.freeze(starts.map((n) => n.id)),
    topoOrder,
    topoIndex,
    defaults,
    canReach,
    closes,
    closingMerges,
  };
  return Object.freeze(graph);
}

const EMPTY: readonly string[] = Object.freeze([]);

/** Kahn's algorithm; among ready nodes the lowest declaration index goes first (binary heap). */
function topologicalOrder(succ: readonly (readonly number[])[]): number[] {
  const indeg = new Int32Array(succ.length);
  for (const list of succ) for (const w of list) indeg[w]! += 1;
  const heap: number[] = [];
  const pushHeap = (v: number): void => {
    heap.push(v);
    let i = heap.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if ((heap[p] ?? 0) <= v) break;
      heap[i] = heap[p] ?? 0;
      i = p;
    }
    heap[i] = v;
  };
  const popHeap = (): number => {
    const top = heap[0] ?? 0;
    const last = heap.pop() ?? 0;
    if (heap.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= heap.length) break;
        const r = l + 1;
        const c = r < heap.length && (heap[r] ?? 0) < (heap[l] ?? 0) ? r : l;
        if ((heap[c] ?? 0) >= last) break;
        heap[i] = heap[c] ?? 0;
        i = c;
      }
      heap[i] = last;
    }
    return top;
  };
  for (let v = 0; v < succ.length; v++) if (indeg[v] === 0) pushHeap(v);
  const order: number[] = [];
  while (heap.length > 0) {
    const v = popHeap();
    order.push(v);
    for (const w of succ[v] ?? []) {
      indeg[w]! -= 1;
      if (indeg[w] === 0) pushHeap(w);
    }
  }
  return order;
}

/** A loaded config directory and its graph. */
export interface LoadedProject {
  readonly config: ProjectConfig;
  readonly graph: WorkflowGraph;
}

/**
 * Loads a config directory ({@link readConfigDir}) and builds its graph ({@link buildGraph}),
 * throwing ONE {@link ConfigError} with every problem: syntax and schema problems of every file
 * plus the DAG and cross-reference rules. DAG rules are checked whenever workflow.yaml parsed
 * and its `nodes` / `edges` are lists of mappings, even if some fields failed the schema.
 *
 * @example
 * ```ts
 * const { config, graph } = await loadProject("./configs");
 * ```
 * @throws {@link ConfigError}
 */
export async function loadProject(dir: string): Promise<LoadedProject> {
  const read = await readConfigDir(dir);
  const details: ErrorDetail[] = [...read.details];
  const wf: unknown = read.config.workflow;
  const listOfMappings = (v: unknown): boolean => Array.isArray(v) && v.every((x) => x !== null && typeof x === "object" && !Array.isArray(x));
  if (read.workflowParsed && wf !== null && typeof wf === "object" && listOfMappings((wf as { nodes?: unknown }).nodes) && listOfMappings((wf as { edges?: unknown }).edges ?? [])) {
    const seen = new Set(details.map(key));
    for (const d of validateProject(read.config)) {
      if (!seen.has(key(d))) details.push(d);
    }
  }
  if (details.length > 0) throw new ConfigError(details);
  return Object.freeze({ config: read.config, graph: assemble(read.config) });
}

function key(d: ErrorDetail): string {
  return `${d.code}|${d.file ?? ""}|${d.path ?? ""}`;
}
