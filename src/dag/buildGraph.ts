/**
 * Turns a {@link ProjectConfig} into the validated, immutable {@link WorkflowGraph} the runtime
 * executes, and {@link loadProject}: load a config dir and build its graph, reporting every
 * problem at once.
 *
 * @module
 */
import { readConfigDir } from "../config/loadConfigDir.js";
import type { JsonSchema, NodeManifest, ProjectConfig } from "../config/types.js";
import { ConfigError } from "../errors.js";
import type { ErrorDetail } from "../errors.js";
import { compileSchema } from "./compileSchema.js";
import type { CompiledSchema, GraphEdge, GraphNode, WorkflowGraph } from "./types.js";
import { validateProject } from "./validateProject.js";

const frozenMaps = new WeakSet<object>();

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

/**
 * Checks every load-time rule ({@link validateProject}) and builds the graph: defaults applied
 * (`context: none`, `tools: []`, `continue_on_failure: false`, `merge.on_failure: fail_on_any`,
 * `always_fail: false`), edges attached in declaration order, a topological order (Kahn, ties
 * by declaration index) and an O(1) reachability table behind `canReach`. Deeply frozen.
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
      ...(n.timeout_ms !== undefined ? { timeoutMs: n.timeout_ms } : {}),
      ...(n.interrupt !== undefined ? { interrupt: n.interrupt } : {}),
      outEdges: Object.freeze(outs.get(n.id) ?? []),
      inEdges: Object.freeze(ins.get(n.id) ?? []),
    };
    return Object.freeze(node);
  });

  const count = nodeList.length;
  const indexOf = new Map<string, number>(nodeList.map((n, i) => [n.id, i]));
  const succ: number[][] = nodeList.map((n) => n.outEdges.map((e) => indexOf.get(e.to) ?? 0));
  const topo = topologicalOrder(succ);

  // Reachability bitsets, filled in reverse topological order: reach[v] = {v} ∪ reach[successors].
  const words = Math.ceil(count / 32) || 1;
  const reach = new Uint32Array(count * words);
  for (let t = topo.length - 1; t >= 0; t--) {
    const v = topo[t] ?? 0;
    const base = v * words;
    reach[base + (v >>> 5)]! |= 1 << (v & 31);
    for (const w of succ[v] ?? []) {
      const wb = w * words;
      for (let k = 0; k < words; k++) reach[base + k]! |= reach[wb + k]!;
    }
  }

  const graph: WorkflowGraph = {
    ...(wf.name !== undefined ? { name: wf.name } : {}),
    nodes: new FrozenMap(nodeList.map((n) => [n.id, n] as const)),
    nodeList: Object.freeze(nodeList),
    edges: Object.freeze(edges),
    defaultStart,
    starts: Object.freeze(starts.map((n) => n.id)),
    topoOrder: Object.freeze(topo.map((i) => nodeList[i]?.id ?? "")),
    canReach(from: string, to: string): boolean {
      const a = indexOf.get(from);
      const b = indexOf.get(to);
      if (a === undefined || b === undefined) return false;
      return ((reach[a * words + (b >>> 5)] ?? 0) & (1 << (b & 31))) !== 0;
    },
  };
  return Object.freeze(graph);
}

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
