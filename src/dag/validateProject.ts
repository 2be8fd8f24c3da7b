/**
 * Pure load-time checks of a {@link ProjectConfig}: the DAG rules of CONTRACT §2 on
 * workflow.yaml, and the cross-references inside agents.yaml, tools.yaml, memory.yaml and
 * plugins.yaml. Every function returns every problem found and never throws, whatever shape the
 * manifests have (they may have failed their JSON Schema): what cannot be checked is skipped.
 *
 * @module
 */
import { templateProblems } from "../agents/render.js";
import { unsafeRegexReason } from "../agents/safeRegex.js";
import { join } from "node:path";
import { closest, didYouMean } from "../config/didYouMean.js";
import { compileJsonSchema } from "../config/jsonSchema.js";
import type { ManifestName, ProjectConfig } from "../config/types.js";
import type { ErrorCode, ErrorDetail } from "../errors.js";
import type { NodeKind, NodeRole } from "../telemetry/events.js";

/** Inbound/outbound edge counts each role requires (`max` undefined: unbounded). */
export const ROLE_EDGE_RULES: Readonly<Record<NodeRole, { readonly inMin: number; readonly inMax?: number; readonly outMin: number; readonly outMax?: number }>> = Object.freeze({
  start: { inMin: 0, inMax: 0, outMin: 1, outMax: 1 },
  linear: { inMin: 1, inMax: 1, outMin: 1, outMax: 1 },
  decision: { inMin: 1, inMax: 1, outMin: 2 },
  branch: { inMin: 1, inMax: 1, outMin: 2 },
  split: { inMin: 1, inMax: 1, outMin: 1 },
  // A merge closing a split may have ONE inbound edge (map-reduce: split -> worker -> merge);
  // see MERGE_AFTER_SPLIT_IN_MIN and validateWorkflow.
  merge: { inMin: 2, outMin: 1, outMax: 1 },
  exit: { inMin: 1, outMin: 0, outMax: 0 },
});

/** Inbound edges a merge needs when it closes a split (a split upstream can reach it). */
export const MERGE_AFTER_SPLIT_IN_MIN = 1;

const ROLES = new Set<string>(Object.keys(ROLE_EDGE_RULES));
const KINDS = new Set<string>(["deterministic", "agent"]);
/** Context names that are always available. */
export const BUILTIN_CONTEXTS: readonly string[] = Object.freeze(["none", "global"]);

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}
function str(v: unknown): string | undefined {
  return typeof v === "string" ? v : undefined;
}
function arr(v: unknown): readonly unknown[] {
  return Array.isArray(v) ? v : [];
}
function q(s: string): string {
  return `\`${s}\``;
}
function list(items: Iterable<string>, max = 12): string {
  const all = [...items];
  if (all.length === 0) return "(none declared)";
  const shown = all.slice(0, max).map(q).join(", ");
  return all.length > max ? `${shown}, ... (${all.length} in all)` : shown;
}

/** Builds located details for one manifest. */
class Reporter {
  readonly details: ErrorDetail[] = [];
  constructor(
    private readonly config: ProjectConfig,
    private readonly manifest: ManifestName,
  ) {}

  get file(): string {
    return this.config.files[this.manifest] ?? join(this.config.dir, `${this.manifest}.yaml`);
  }

  add(code: ErrorCode, path: string, message: string, extra: { nodeId?: string | undefined; pluginId?: string | undefined; hint?: string | undefined } = {}): void {
    let loc;
    try {
      loc = this.config.locate(this.manifest, path);
    } catch {
      loc = undefined;
    }
    this.details.push({
      code,
      message,
      file: this.file,
      path,
      ...(loc ? { line: loc.line, column: loc.column } : {}),
      ...(extra.nodeId !== undefined ? { nodeId: extra.nodeId } : {}),
      ...(extra.pluginId !== undefined ? { pluginId: extra.pluginId } : {}),
      ...(extra.hint !== undefined ? { hint: extra.hint } : {}),
    });
  }
}

/** A node as far as it could be read. */
interface NodeInfo {
  readonly index: number;
  readonly raw: Obj;
  readonly id: string | undefined;
  readonly kind: NodeKind | undefined;
  readonly role: NodeRole | undefined;
}

/** An edge as far as it could be read. */
interface EdgeInfo {
  readonly index: number;
  readonly raw: Obj;
  readonly from: string | undefined;
  readonly to: string | undefined;
  readonly label: string | undefined;
}

function idsOf(items: unknown): Set<string> {
  const out = new Set<string>();
  for (const it of arr(items)) {
    const id = isObj(it) ? str(it.id) : undefined;
    if (id !== undefined) out.add(id);
  }
  return out;
}

/** Reports repeated `id`s in `items` (at `<base>/<i>/id`). */
function checkUniqueIds(r: Reporter, items: unknown, base: string, what: string, extra: (id: string) => { pluginId?: string } = () => ({})): void {
  const first = new Map<string, number>();
  arr(items).forEach((it, i) => {
    const id = isObj(it) ? str(it.id) : undefined;
    if (id === undefined) return;
    const prev = first.get(id);
    if (prev === undefined) first.set(id, i);
    else r.add("CONFIG_DUPLICATE_ID", `${base}/${i}/id`, `${what} id ${q(id)} is already used by ${base}/${prev}; give each ${what} a unique id`, extra(id));
  });
}

/**
 * Checks the DAG rules of workflow.yaml (CONTRACT §2) against the other manifests. Runs on any
 * shape: nodes/edges that are not lists or not mappings yield nothing (the JSON Schema reports
 * them); structural checks (edge counts, cycles, reachability) run only when every node has a
 * string id and every edge string `from`/`to`.
 *
 * A workflow with exactly one start node and no `default: true` uses that start as the default.
 */
export function validateWorkflow(config: ProjectConfig): ErrorDetail[] {
  const r = new Reporter(config, "workflow");
  const wf: unknown = config.workflow;
  if (!isObj(wf)) return r.details;
  const nodes: NodeInfo[] = [];
  arr(wf.nodes).forEach((raw, index) => {
    if (!isObj(raw)) return;
    const kind = str(raw.kind);
    const role = str(raw.role);
    nodes.push({ index, raw, id: str(raw.id), kind: kind !== undefined && KINDS.has(kind) ? (kind as NodeKind) : undefined, role: role !== undefined && ROLES.has(role) ? (role as NodeRole) : undefined });
  });
  const edges: EdgeInfo[] = [];
  arr(wf.edges).forEach((raw, index) => {
    if (!isObj(raw)) return;
    edges.push({ index, raw, from: str(raw.from), to: str(raw.to), label: str(raw.label) });
  });

  // --- ids
  const byId = new Map<string, NodeInfo>();
  for (const n of nodes) {
    if (n.id === undefined) continue;
    const prev = byId.get(n.id);
    if (prev) {
      r.add("DAG_DUPLICATE_ID", `/nodes/${n.index}/id`, `node id ${q(n.id)} is already used by /nodes/${prev.index}; give each node a unique id`, { nodeId: n.id });
    } else byId.set(n.id, n);
  }

  checkNodeFields(config, r, nodes);

  // --- edges: endpoints, duplicates
  const edgeKeys = new Map<string, number>();
  const ids = [...byId.keys()];
  for (const e of edges) {
    for (const end of ["from", "to"] as const) {
      const id = e[end];
      if (id !== undefined && !byId.has(id)) {
        r.add("DAG_DANGLING_EDGE", `/edges/${e.index}/${end}`, `edge ${e.index} ${end === "from" ? "starts at" : "points to"} node ${q(id)}, which does not exist; use one of: ${list(ids)}`, { hint: didYouMean(id, ids) });
      }
    }
    if (e.from !== undefined && e.to !== undefined) {
      const key = JSON.stringify([e.from, e.to, e.label ?? null]);
      const prev = edgeKeys.get(key);
      if (prev !== undefined) {
        r.add("DAG_DUPLICATE_EDGE", `/edges/${e.index}`, `edge ${q(e.from)} -> ${q(e.to)}${e.label !== undefined ? ` (label ${q(e.label)})` : ""} repeats /edges/${prev}; remove one`, { nodeId: e.from });
      } else edgeKeys.set(key, e.index);
    }
  }

  // --- decision labels
  const outByNode = new Map<string, EdgeInfo[]>();
  const inByNode = new Map<string, EdgeInfo[]>();
  for (const e of edges) {
    if (e.from !== undefined && byId.has(e.from)) push(outByNode, e.from, e);
    if (e.to !== undefined && byId.has(e.to)) push(inByNode, e.to, e);
  }
  for (const n of byId.values()) {
    if (n.role !== "decision" || n.id === undefined) continue;
    const out = outByNode.get(n.id) ?? [];
    const labels = new Map<string, number>();
    for (const e of out) {
      if (e.label === undefined) continue;
      const prev = labels.get(e.label);
      if (prev !== undefined) r.add("DAG_AMBIGUOUS_LABEL", `/edges/${e.index}/label`, `decision ${q(n.id)} has two outbound edges labelled ${q(e.label)} (/edges/${prev} and /edges/${e.index}); give each a distinct label`, { nodeId: n.id });
      else labels.set(e.label, e.index);
    }
    for (const e of out) {
      if (e.label !== undefined || e.to === undefined) continue;
      const clash = labels.get(e.to);
      if (clash !== undefined && out.some((o) => o.index === clash && o.to !== e.to)) {
        r.add("DAG_AMBIGUOUS_LABEL", `/edges/${e.index}`, `decision ${q(n.id)}: the unlabelled edge to ${q(e.to)} can never be selected because /edges/${clash} is labelled ${q(e.to)}; label this edge or rename that label`, { nodeId: n.id });
      }
    }
  }

  // --- starts and the default start
  const starts = nodes.filter((n) => n.role === "start");
  if (starts.length === 0) {
    if (nodes.length > 0 && nodes.every((n) => n.role !== undefined)) r.add("DAG_DEFAULT_START", "/nodes", "the workflow has no start node; give one node `role: start`");
  } else {
    const defaults = starts.filter((n) => n.raw.default === true);
    if (defaults.length === 0 && starts.length > 1) {
      const first = starts[0];
      r.add("DAG_DEFAULT_START", `/nodes/${first?.index ?? 0}`, `${starts.length} start nodes (${list(starts.map((s) => s.id ?? "?"))}) but none has \`default: true\`; mark exactly one as the default`, { nodeId: first?.id });
    }
    for (const extra of defaults.slice(1)) {
      r.add("DAG_DEFAULT_START", `/nodes/${extra.index}/default`, `more than one start node has \`default: true\` (${list(defaults.map((s) => s.id ?? "?"))}); keep it on exactly one`, { nodeId: extra.id });
    }
  }

  const structureOk = nodes.length === arr(wf.nodes).length && edges.length === arr(wf.edges).length && nodes.every((n) => n.id !== undefined) && edges.every((e) => e.from !== undefined && e.to !== undefined);
  if (!structureOk) return r.details;

  // --- graph algorithms over existing-endpoint edges
  const order = [...byId.values()];
  const idx = new Map<string, number>(order.map((n, i) => [n.id ?? "", i]));
  const succ: number[][] = order.map(() => []);
  const closing = new Map<string, number>();
  for (const e of edges) {
    const a = idx.get(e.from ?? "");
    const b = idx.get(e.to ?? "");
    if (a === undefined || b === undefined) continue;
    const k = `${a},${b}`;
    if (!closing.has(k)) {
      closing.set(k, e.index);
      succ[a]?.push(b);
    }
  }
  // Nodes a split can reach: a merge among them closes that split (CONTRACT §14).
  const afterSplit = bfs(order.flatMap((n, i) => (n.role === "split" ? (succ[i] ?? []) : [])), succ);

  // --- edge counts per role
  for (const n of byId.values()) {
    if (n.role === undefined || n.id === undefined) continue;
    const closesSplit = n.role === "merge" && afterSplit.has(idx.get(n.id) ?? -1);
    const rule = closesSplit ? { ...ROLE_EDGE_RULES.merge, inMin: MERGE_AFTER_SPLIT_IN_MIN } : ROLE_EDGE_RULES[n.role];
    const ins = inByNode.get(n.id) ?? [];
    const outs = outByNode.get(n.id) ?? [];
    const inOk = ins.length >= rule.inMin && (rule.inMax === undefined || ins.length <= rule.inMax);
    const outOk = outs.length >= rule.outMin && (rule.outMax === undefined || outs.length <= rule.outMax);
    if (inOk && outOk) continue;
    const problems: string[] = [];
    if (!inOk) problems.push(`${ins.length} inbound${ins.length ? ` (from ${list(ins.map((e) => e.from ?? "?"), 5)})` : ""}`);
    if (!outOk) problems.push(`${outs.length} outbound${outs.length ? ` (to ${list(outs.map((e) => e.to ?? "?"), 5)})` : ""}`);
    const needs = n.role === "merge" && !closesSplit ? `${describeRule(n.role)} (1 inbound is enough only for a merge that closes a split: a split upstream leads to it)` : describeRule(n.role, rule.inMin);
    r.add("DAG_ROLE_EDGES", `/nodes/${n.index}/role`, `${/^[aeiou]/.test(n.role) ? "an" : "a"} ${q(n.role)} node needs ${needs}, but ${q(n.id)} has ${problems.join(" and ")}; fix its edges or change its role`, { nodeId: n.id });
  }

  for (const scc of stronglyConnected(succ)) {
    const root = Math.min(...scc);
    const members = new Set(scc);
    const selfLoop = succ[root]?.includes(root) ?? false;
    if (scc.length < 2 && !selfLoop) continue;
    const cycle = selfLoop && scc.length === 1 ? [root] : shortestCycle(root, succ, members);
    const names = cycle.map((i) => order[i]?.id ?? "?");
    const last = cycle[cycle.length - 1] ?? root;
    const edgeIndex = closing.get(`${last},${root}`);
    r.add("DAG_CYCLE", edgeIndex !== undefined ? `/edges/${edgeIndex}` : `/nodes/${order[root]?.index ?? 0}`, `cycle ${[...names, names[0] ?? "?"].join(" -> ")}: workflows must be acyclic; remove or redirect one of these edges`, { nodeId: names[0] });
  }

  const startIdx = order.flatMap((n, i) => (n.role === "start" ? [i] : []));
  if (startIdx.length > 0) {
    const reached = bfs(startIdx, succ);
    order.forEach((n, i) => {
      if (!reached.has(i)) r.add("DAG_UNREACHABLE", `/nodes/${n.index}`, `unreachable: no path from a start node leads to ${q(n.id ?? "?")}; add an edge leading to it or remove it`, { nodeId: n.id });
    });
    // Nodes that can reach an exit, found once backwards from the exits (one search per start
    // would cost starts x nodes).
    const pred: number[][] = order.map(() => []);
    succ.forEach((list, a) => {
      for (const b of list) pred[b]?.push(a);
    });
    const toExit = bfs(order.flatMap((n, i) => (n.role === "exit" ? [i] : [])), pred);
    for (const s of startIdx) {
      if (!toExit.has(s)) {
        const n = order[s];
        r.add("DAG_NO_EXIT_REACHABLE", `/nodes/${n?.index ?? 0}`, `no exit node can be reached from start ${q(n?.id ?? "?")}; add a path from it to a node with \`role: exit\``, { nodeId: n?.id });
      }
    }
  }
  return r.details;
}

function describeRule(role: NodeRole, inMin: number = ROLE_EDGE_RULES[role].inMin): string {
  const rule = ROLE_EDGE_RULES[role];
  const range = (min: number, max: number | undefined): string => (max === undefined ? `at least ${min}` : min === max ? `exactly ${min}` : `${min}-${max}`);
  return `${range(inMin, rule.inMax)} inbound and ${range(rule.outMin, rule.outMax)} outbound edge${rule.outMax === 1 ? "" : "s"}`;
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const l = map.get(key);
  if (l) l.push(value);
  else map.set(key, [value]);
}

function bfs(from: readonly number[], succ: readonly (readonly number[])[]): Set<number> {
  const seen = new Set<number>(from);
  const queue = [...from];
  for (let h = 0; h < queue.length; h++) {
    for (const b of succ[queue[h] ?? 0] ?? []) {
      if (!seen.has(b)) {
        seen.add(b);
        queue.push(b);
      }
    }
  }
  return seen;
}

/** Shortest cycle through `root` inside `members`, as the node list starting at `root`. */
function shortestCycle(root: number, succ: readonly (readonly number[])[], members: ReadonlySet<number>): number[] {
  const parent = new Map<number, number>([[root, -1]]);
  const queue = [root];
  for (let h = 0; h < queue.length; h++) {
    const a = queue[h] ?? root;
    for (const b of succ[a] ?? []) {
      if (!members.has(b)) continue;
      if (b === root) {
        const path: number[] = [];
        for (let c = a; c !== -1; c = parent.get(c) ?? -1) path.push(c);
        return path.reverse();
      }
      if (!parent.has(b)) {
        parent.set(b, a);
        queue.push(b);
      }
    }
  }
  return [root];
}

/** Tarjan's strongly connected components, iterative (no recursion limit on big graphs). */
function stronglyConnected(succ: readonly (readonly number[])[]): number[][] {
  const n = succ.length;
  const index = new Int32Array(n).fill(-1);
  const low = new Int32Array(n);
  const onStack = new Uint8Array(n);
  const stack: number[] = [];
  const out: number[][] = [];
  let counter = 0;
  for (let s = 0; s < n; s++) {
    if (index[s] !== -1) continue;
    const work: [number, number][] = [[s, 0]];
    index[s] = low[s] = counter++;
    stack.push(s);
    onStack[s] = 1;
    while (work.length > 0) {
      const top = work[work.length - 1];
      if (!top) break;
      const [v, i] = top;
      const next = succ[v] ?? [];
      if (i < next.length) {
        top[1] = i + 1;
        const w = next[i] ?? 0;
        if (index[w] === -1) {
          index[w] = low[w] = counter++;
          stack.push(w);
          onStack[w] = 1;
          work.push([w, 0]);
        } else if (onStack[w]) {
          low[v] = Math.min(low[v] ?? 0, index[w] ?? 0);
        }
      } else {
        work.pop();
        const parent = work[work.length - 1];
        if (parent) low[parent[0]] = Math.min(low[parent[0]] ?? 0, low[v] ?? 0);
        if (low[v] === index[v]) {
          const comp: number[] = [];
          for (;;) {
            const w = stack.pop();
            if (w === undefined) break;
            onStack[w] = 0;
            comp.push(w);
            if (w === v) break;
          }
          out.push(comp);
        }
      }
    }
  }
  return out;
}

function checkNodeFields(config: ProjectConfig, r: Reporter, nodes: readonly NodeInfo[]): void {
  const agentsUnknown = config.files.agents !== undefined && !isObj(config.agents);
  const toolsUnknown = config.files.tools !== undefined && !isObj(config.tools);
  const memoryUnknown = config.files.memory !== undefined && !isObj(config.memory);
  const agentIds = idsOf(isObj(config.agents) ? config.agents.agents : undefined);
  const toolIds = idsOf(isObj(config.tools) ? config.tools.tools : undefined);
  const profileIds = idsOf(isObj(config.memory) ? config.memory.profiles : undefined);
  for (const n of nodes) {
    const p = `/nodes/${n.index}`;
    const at = { nodeId: n.id };
    const raw = n.raw;
    const name = q(n.id ?? `#${n.index}`);
    if (n.kind === "agent" && (n.role === "start" || n.role === "exit")) {
      r.add("DAG_ROLE_KIND", `${p}/kind`, `${n.role} node ${name} must be \`kind: deterministic\`; put the agent in a node after the start / before the exit`, at);
    }
    if (n.role !== undefined) {
      if (raw.always_fail !== undefined && n.role !== "exit") r.add("DAG_INVALID_FIELD", `${p}/always_fail`, `\`always_fail\` is only allowed on exit nodes; remove it from ${n.role} node ${name}`, at);
      if (raw.default !== undefined && n.role !== "start") r.add("DAG_INVALID_FIELD", `${p}/default`, `\`default\` is only allowed on start nodes; remove it from ${n.role} node ${name}`, at);
      if (raw.merge !== undefined && n.role !== "merge") r.add("DAG_INVALID_FIELD", `${p}/merge`, `\`merge\` settings are only allowed on merge nodes; remove them from ${n.role} node ${name}`, at);
      if (n.role === "exit" && Array.isArray(raw.tools) && raw.tools.length > 0) r.add("DAG_INVALID_FIELD", `${p}/tools`, `exit node ${name} may not use tools; remove \`tools\` (an exit only formats the task's output)`, at);
    }
    if (n.kind === "agent") {
      if (raw.agent === undefined) r.add("DAG_INVALID_FIELD", `${p}/agent`, `agent node ${name} needs \`agent:\` naming an agent in agents.yaml; add it`, at);
      if (raw.handler !== undefined) r.add("DAG_INVALID_FIELD", `${p}/handler`, `agent node ${name} cannot have a \`handler\` (its work is the agent call); remove it, or make the node \`kind: deterministic\``, at);
    } else if (n.kind === "deterministic" && raw.agent !== undefined) {
      r.add("DAG_INVALID_FIELD", `${p}/agent`, `deterministic node ${name} cannot name an agent; remove \`agent\`, or make the node \`kind: agent\``, at);
    }
    if (raw.isolation === "worker") {
      if (n.kind === "agent") r.add("DAG_INVALID_FIELD", `${p}/isolation`, `agent node ${name} runs no handler, so \`isolation: worker\` has nothing to isolate; remove it (agent calls are bounded by timeout_ms already)`, at);
      else if (raw.handler === undefined) r.add("DAG_INVALID_FIELD", `${p}/isolation`, `node ${name} has \`isolation: worker\` but no \`handler\`; name the handler module (./module.js#export) that should run in a worker, or remove \`isolation\``, at);
    } else if (raw.worker !== undefined) {
      r.add("DAG_INVALID_FIELD", `${p}/worker`, `\`worker\` settings need \`isolation: worker\` on node ${name}; add it, or remove \`worker\``, at);
    }
    const agent = str(raw.agent);
    if (n.kind === "agent" && agent !== undefined) {
      if (config.files.agents === undefined && config.agents === undefined) {
        r.add("DAG_UNKNOWN_AGENT", `${p}/agent`, `names agent ${q(agent)} but agents.yaml is missing; create agents.yaml in ${config.dir} declaring it`, at);
      } else if (!agentsUnknown && !agentIds.has(agent)) {
        r.add("DAG_UNKNOWN_AGENT", `${p}/agent`, `agent ${q(agent)} is not declared in agents.yaml; declare it or use one of: ${list(agentIds)}`, { ...at, hint: didYouMean(agent, agentIds) });
      }
    }
    arr(raw.tools).forEach((t, k) => {
      if (typeof t !== "string") return;
      if (config.files.tools === undefined && config.tools === undefined) {
        r.add("DAG_UNKNOWN_TOOL", `${p}/tools/${k}`, `lists tool ${q(t)} but tools.yaml is missing; create tools.yaml in ${config.dir} declaring it`, at);
      } else if (!toolsUnknown && !toolIds.has(t) && !isMcpToolRef(config, t) && !wildcardOfDeclared(t, toolIds)) {
        r.add("DAG_UNKNOWN_TOOL", `${p}/tools/${k}`, `tool ${q(t)} is not declared in tools.yaml; declare it or use one of: ${list(toolIds)}`, { ...at, hint: didYouMean(t, toolIds) });
      }
    });
    for (const field of ["schema_in", "schema_out"] as const) checkSchemaRef(config, r, `${p}/${field}`, raw[field], at);
    const context = str(raw.context);
    if (context !== undefined && !BUILTIN_CONTEXTS.includes(context) && !memoryUnknown && !profileIds.has(context)) {
      const all = [...BUILTIN_CONTEXTS, ...profileIds];
      r.add("DAG_INVALID_FIELD", `${p}/context`, `context ${q(context)} is not \`none\`, \`global\` or a profile in memory.yaml; use one of: ${list(all)}`, { ...at, hint: didYouMean(context, all) });
    }
  }
}

/**
 * `<prefix>.*` matching at least one tool id declared in tools.yaml (`orders.*` for
 * `orders.lookup`); the same prefix rule as the runtime's allow-list check (tools/allowList.ts).
 */
function wildcardOfDeclared(t: string, toolIds: ReadonlySet<string>): boolean {
  if (t.length <= 2 || !t.endsWith(".*")) return false;
  const prefix = t.slice(0, -1);
  for (const id of toolIds) if (id.length > prefix.length && id.startsWith(prefix)) return true;
  return false;
}

/** `<server>.<tool>` or `<server>.*` of a `type: mcp` tool (its tools are known only when the server starts). */
function isMcpToolRef(config: ProjectConfig, t: string): boolean {
  const dot = t.indexOf(".");
  if (dot <= 0 || dot === t.length - 1 || !isObj(config.tools)) return false;
  const server = t.slice(0, dot);
  return arr(config.tools.tools).some((x) => isObj(x) && x.id === server && x.type === "mcp");
}

function checkSchemaRef(config: ProjectConfig, r: Reporter, path: string, value: unknown, at: { nodeId?: string | undefined }): void {
  if (typeof value === "string") {
    if (!config.schemas.has(value)) {
      const stems = [...config.schemas.keys()];
      r.add("CONFIG_SCHEMA_REF", path, `schema ${q(value)} not found: add schemas/${value}.json (or .yaml) to ${config.dir}${stems.length ? `, or use one of: ${list(stems)}` : ""}`, { ...at, hint: didYouMean(value, stems) });
    }
  } else if (isObj(value)) {
    try {
      compileJsonSchema(value);
    } catch (err) {
      r.add("CONFIG_INVALID_JSON_SCHEMA", path, `inline schema is not a valid JSON Schema: ${err instanceof Error ? err.message : String(err)}; fix it`, at);
    }
  }
}

/**
 * Checks references inside agents.yaml (providers, default_provider, rule agents, unique ids),
 * tools.yaml (unique ids, schema refs), memory.yaml (unique ids, profile and global stores exist,
 * store kinds have their fields) and plugins.yaml (unique ids).
 */
export function validateReferences(config: ProjectConfig): ErrorDetail[] {
  const out: ErrorDetail[] = [];
  const agents: unknown = config.agents;
  if (isObj(agents)) {
    const r = new Reporter(config, "agents");
    checkUniqueIds(r, agents.providers, "/providers", "provider");
    checkUniqueIds(r, agents.agents, "/agents", "agent");
    const providers = idsOf(agents.providers);
    const agentIds = idsOf(agents.agents);
    const dp = str(agents.default_provider);
    if (dp !== undefined && !providers.has(dp)) {
      r.add("CONFIG_UNKNOWN_REF", "/default_provider", `default_provider ${q(dp)} is not declared in \`providers\`; declare it or use one of: ${list(providers)}`, { hint: didYouMean(dp, providers) });
    }
    const toolIds = isObj(config.tools) ? idsOf(config.tools.tools) : new Set<string>();
    const pricing = isObj(agents.pricing) ? agents.pricing : {};
    arr(agents.agents).forEach((a, i) => {
      // Agents (issue 9): strict templates, schema_out, tools, max_cost_usd.
      if (isObj(a)) {
        for (const field of ["system", "prompt"] as const) {
          const t = str(a[field]);
          if (t !== undefined) for (const problem of templateProblems(t)) r.add("CONFIG_SCHEMA", `/agents/${i}/${field}`, `${field} of agent ${q(str(a.id) ?? String(i))}: ${problem}`);
        }
        if (a.schema_out !== undefined) checkSchemaRef(config, r, `/agents/${i}/schema_out`, a.schema_out, {});
        arr(a.tools).forEach((t, k) => {
          const id = str(t);
          if (id === undefined) return;
          const known = toolIds.has(id) || wildcardOfDeclared(id, toolIds) || (id.endsWith(".*") && toolIds.has(id.slice(0, -2)));
          if (!known) r.add("CONFIG_UNKNOWN_REF", `/agents/${i}/tools/${k}`, `tool ${q(id)} is not declared in tools.yaml; declare it or use one of: ${list(toolIds)}`, { hint: didYouMean(id, toolIds) });
        });
        const model = str(a.model);
        if (a.max_cost_usd !== undefined && model !== undefined && !isObj(pricing[model])) {
          r.add("CONFIG_SCHEMA", `/agents/${i}/max_cost_usd`, `max_cost_usd needs the price of model ${q(model)}: add pricing: { ${q(model)}: { input: <USD per 1M tokens>, output: <USD per 1M tokens> } } to agents.yaml`);
        }
      }
      const prov = isObj(a) ? str(a.provider) : undefined;
      if (prov !== undefined && !providers.has(prov)) {
        r.add("CONFIG_UNKNOWN_REF", `/agents/${i}/provider`, `provider ${q(prov)} is not declared in \`providers\`; declare it or use one of: ${list(providers)}`, { hint: didYouMean(prov, providers) });
      }
    });
    arr(agents.providers).forEach((p, i) => {
      if (!isObj(p)) return;
      arr(p.rules).forEach((rule, k) => {
        if (!isObj(rule)) return;
        const ag = str(rule.agent);
        if (ag !== undefined && !agentIds.has(ag)) {
          r.add("CONFIG_UNKNOWN_REF", `/providers/${i}/rules/${k}/agent`, `rule for agent ${q(ag)}, which is not declared in \`agents\`; use one of: ${list(agentIds)}`, { hint: didYouMean(ag, agentIds) });
        }
        for (const field of ["match", "tool_result"] as const) {
          const match = str(rule[field]);
          if (match === undefined) continue;
          try {
            new RegExp(match);
          } catch (err) {
            r.add("CONFIG_SCHEMA", `/providers/${i}/rules/${k}/${field}`, `\`${field}\` is not a valid regular expression (${err instanceof Error ? err.message : String(err)}); fix it`);
            continue;
          }
          const unsafe = unsafeRegexReason(match);
          if (unsafe !== undefined) r.add("CONFIG_SCHEMA", `/providers/${i}/rules/${k}/${field}`, `\`${field}\` is refused: ${unsafe}; simplify the pattern`);
        }
      });
    });
    out.push(...r.details);
  }
  const tools: unknown = config.tools;
  if (isObj(tools)) {
    const r = new Reporter(config, "tools");
    checkUniqueIds(r, tools.tools, "/tools", "tool");
    arr(tools.tools).forEach((t, i) => {
      if (isObj(t)) checkSchemaRef(config, r, `/tools/${i}/schema`, t.schema, {});
    });
    out.push(...r.details);
  }
  const memory: unknown = config.memory;
  if (isObj(memory)) {
    const r = new Reporter(config, "memory");
    checkUniqueIds(r, memory.stores, "/stores", "store");
    checkUniqueIds(r, memory.profiles, "/profiles", "profile");
    const stores = idsOf(memory.stores);
    const checkStoreList = (value: unknown, base: string): void => {
      arr(value).forEach((s, k) => {
        if (typeof s === "string" && !stores.has(s)) {
          r.add("CONFIG_UNKNOWN_REF", `${base}/${k}`, `store ${q(s)} is not declared in \`stores\`; declare it or use one of: ${list(stores)}`, { hint: closest(s, stores) === undefined ? undefined : didYouMean(s, stores) });
        }
      });
    };
    const workflow: unknown = config.workflow;
    const nodes = isObj(workflow) ? arr(workflow.nodes).filter(isObj) : undefined;
    const nodeIds = new Set(nodes?.map((n) => str(n.id)).filter((id): id is string => id !== undefined));
    arr(memory.stores).forEach((s, i) => {
      if (!isObj(s)) return;
      const name = q(str(s.id) ?? "?");
      if (s.kind === "static" && s.items === undefined) r.add("CONFIG_SCHEMA", `/stores/${i}`, `static store ${name} needs \`items\` (a list); add it`);
      if (s.kind === "file" && s.path === undefined) r.add("CONFIG_SCHEMA", `/stores/${i}`, `file store ${name} needs \`path\` (relative to the config dir); add it`);
      if (s.kind === "kv") {
        if (s.scope === undefined) r.add("CONFIG_SCHEMA", `/stores/${i}`, `kv store ${name} needs \`scope\`: task, project or global; add it`);
        for (const field of ["items", "path"] as const) {
          if (s[field] !== undefined) r.add("CONFIG_SCHEMA", `/stores/${i}/${field}`, `kv store ${name} cannot have \`${field}\` (its entries are written by handlers through ctx.memory.put); remove it, or use kind ${field === "items" ? "static" : "file"}`);
        }
        arr(s.writers).forEach((w, k) => {
          const id = str(w);
          if (id === undefined || nodes === undefined) return;
          if (!nodeIds.has(id)) {
            r.add("CONFIG_UNKNOWN_REF", `/stores/${i}/writers/${k}`, `writer ${q(id)} of kv store ${name} is not a node in workflow.yaml; use one of: ${list(nodeIds)}`, { hint: didYouMean(id, nodeIds) });
          } else if (nodes.some((n) => n.id === id && n.kind === "agent")) {
            r.add("CONFIG_SCHEMA", `/stores/${i}/writers/${k}`, `writer ${q(id)} of kv store ${name} is an agent node; only handlers write memory (ctx.memory.put), agents read it through a context profile`);
          }
        });
      } else {
        for (const field of ["scope", "writers"] as const) {
          if (s[field] !== undefined) r.add("CONFIG_SCHEMA", `/stores/${i}/${field}`, `\`${field}\` is only for kv stores; remove it from ${String(s.kind)} store ${name}, or make it \`kind: kv\``);
        }
      }
    });
    arr(memory.profiles).forEach((p, i) => {
      if (!isObj(p)) return;
      const id = str(p.id);
      if (id !== undefined && BUILTIN_CONTEXTS.includes(id)) r.add("CONFIG_SCHEMA", `/profiles/${i}/id`, `profile id ${q(id)} is reserved (built-in context); rename the profile`);
      checkStoreList(p.stores, `/profiles/${i}/stores`);
    });
    checkStoreList(memory.global, "/global");
    out.push(...r.details);
  }
  const plugins: unknown = config.plugins;
  if (isObj(plugins)) {
    const r = new Reporter(config, "plugins");
    checkUniqueIds(r, plugins.plugins, "/plugins", "plugin", (id) => ({ pluginId: id }));
    out.push(...r.details);
  }
  return out;
}

/** Every load-time check: {@link validateWorkflow} then {@link validateReferences}. Never throws. */
export function validateProject(config: ProjectConfig): ErrorDetail[] {
  return [...validateWorkflow(config), ...validateReferences(config)];
}
