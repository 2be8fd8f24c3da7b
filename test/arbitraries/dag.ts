/**
 * fast-check arbitraries for workflow manifests: random VALID DAGs that respect every role rule
 * of CONTRACT §2 (built from start nodes through linear / decision / branch / split / merge
 * shapes to exits), shuffled into random declaration orders. Split diamonds may have a single
 * arm, so single-inbound merges closing a split (map-reduce, §14) are generated too. Shared by the DAG validator's and
 * the runtime's property tests.
 */
import fc from "fast-check";
import type { AgentsManifest, EdgeManifest, NodeManifest, WorkflowManifest } from "../../src/config/types.js";

/** A recursive plan for what follows one edge. */
export type Segment =
  | { readonly t: "exit"; readonly shared: boolean; readonly alwaysFail: boolean }
  | { readonly t: "linear"; readonly agent: boolean; readonly next: Segment }
  | { readonly t: "fan"; readonly role: "decision" | "branch" | "split"; readonly agent: boolean; readonly kids: readonly Segment[] }
  | { readonly t: "diamond"; readonly role: "decision" | "branch" | "split"; readonly arms: number; readonly next: Segment }; // arms >= 2, or >= 1 for a split

/** A top-level entry: one start followed by a segment, or 2-3 starts joined by a merge. */
export type Entry = { readonly starts: number; readonly next: Segment };

/** A generated workflow plus the agents it needs. */
export interface GeneratedWorkflow {
  readonly workflow: WorkflowManifest;
  readonly agents: AgentsManifest;
}

const segmentArb: fc.Arbitrary<Segment> = fc.letrec<{ seg: Segment }>((tie) => ({
  seg: fc.oneof(
    { depthSize: "small", maxDepth: 5, depthIdentifier: "segment" },
    fc.record({ t: fc.constant("exit" as const), shared: fc.boolean(), alwaysFail: fc.boolean() }),
    fc.record({ t: fc.constant("linear" as const), agent: fc.boolean(), next: tie("seg") }),
    fc.record({ t: fc.constant("fan" as const), role: fc.constantFrom("decision" as const, "branch" as const), agent: fc.boolean(), kids: fc.array(tie("seg"), { minLength: 2, maxLength: 3 }) }),
    fc.record({ t: fc.constant("fan" as const), role: fc.constant("split" as const), agent: fc.boolean(), kids: fc.array(tie("seg"), { minLength: 1, maxLength: 3 }) }),
    fc.record({ t: fc.constant("diamond" as const), role: fc.constantFrom("decision" as const, "branch" as const), arms: fc.integer({ min: 2, max: 3 }), next: tie("seg") }),
    // A split's merge may have a single inbound edge (map-reduce: split -> worker -> merge, §14).
    fc.record({ t: fc.constant("diamond" as const), role: fc.constant("split" as const), arms: fc.integer({ min: 1, max: 3 }), next: tie("seg") }),
  ),
})).seg;

/** Interprets a plan into manifests (declaration order = construction order). */
export function interpret(entries: readonly Entry[], defaultIndex: number, labelled: boolean): GeneratedWorkflow {
  const nodes: NodeManifest[] = [];
  const edges: EdgeManifest[] = [];
  const edgeKeys = new Set<string>();
  const exits: string[] = [];
  let counter = 0;
  const node = (role: NodeManifest["role"], agent = false, extra: Partial<NodeManifest> = {}): string => {
    const id = `${role}_${counter++}`;
    nodes.push({ id, role, kind: agent ? "agent" : "deterministic", ...(agent ? { agent: "writer" } : {}), ...extra } as NodeManifest);
    return id;
  };
  const labels = new Map<string, number>();
  const edge = (from: string, to: string, decision: boolean): void => {
    const n = labels.get(from) ?? 0;
    labels.set(from, n + 1);
    edges.push({ from, to, ...(decision && labelled ? { label: `l${n}` } : {}) });
    edgeKeys.add(`${from}>${to}`);
  };
  const walk = (from: string, fromDecision: boolean, seg: Segment): void => {
    switch (seg.t) {
      case "exit": {
        const reuse = seg.shared ? exits.find((e) => !edgeKeys.has(`${from}>${e}`)) : undefined;
        if (reuse !== undefined) edge(from, reuse, fromDecision);
        else {
          const id = node("exit", false, seg.alwaysFail ? { always_fail: true } : {});
          exits.push(id);
          edge(from, id, fromDecision);
        }
        return;
      }
      case "linear": {
        const id = node("linear", seg.agent);
        edge(from, id, fromDecision);
        walk(id, false, seg.next);
        return;
      }
      case "fan": {
        const id = node(seg.role, seg.agent);
        edge(from, id, fromDecision);
        for (const k of seg.kids) walk(id, seg.role === "decision", k);
        return;
      }
      case "diamond": {
        const id = node(seg.role);
        edge(from, id, fromDecision);
        const merge = node("merge", false, { merge: { on_failure: "partial" } });
        for (let i = 0; i < seg.arms; i++) {
          const arm = node("linear");
          edge(id, arm, seg.role === "decision");
          edge(arm, merge, false);
        }
        walk(merge, false, seg.next);
        return;
      }
    }
  };
  const startIds: string[] = [];
  for (const entry of entries) {
    if (entry.starts <= 1) {
      const s = node("start");
      startIds.push(s);
      walk(s, false, entry.next);
    } else {
      const ss: string[] = [];
      for (let i = 0; i < entry.starts; i++) ss.push(node("start"));
      startIds.push(...ss);
      const m = node("merge");
      for (const s of ss) edge(s, m, false);
      walk(m, false, entry.next);
    }
  }
  const def = startIds[defaultIndex % startIds.length];
  const withDefault = startIds.length > 1 ? nodes.map((n) => (n.id === def ? { ...n, default: true } : n)) : nodes;
  return { workflow: { name: "generated", nodes: withDefault, edges }, agents: { agents: [{ id: "writer", model: "m" }] } };
}

function shuffle<T>(items: readonly T[], keys: readonly number[]): T[] {
  return items
    .map((item, i) => ({ item, k: keys[i % Math.max(1, keys.length)] ?? 0, i }))
    .sort((a, b) => a.k - b.k || a.i - b.i)
    .map((x) => x.item);
}

/** Random valid workflows (nodes and edges in a random declaration order). */
export const validWorkflowArb: fc.Arbitrary<GeneratedWorkflow> = fc
  .record({
    entries: fc.array(fc.record({ starts: fc.integer({ min: 1, max: 3 }), next: segmentArb }), { minLength: 1, maxLength: 3 }),
    defaultIndex: fc.nat(),
    labelled: fc.boolean(),
    nodeKeys: fc.array(fc.nat(1000), { maxLength: 64 }),
    edgeKeys: fc.array(fc.nat(1000), { maxLength: 64 }),
  })
  .map(({ entries, defaultIndex, labelled, nodeKeys, edgeKeys }) => {
    const g = interpret(entries, defaultIndex, labelled);
    return { ...g, workflow: { ...g.workflow, nodes: shuffle(g.workflow.nodes, nodeKeys), edges: shuffle(g.workflow.edges, edgeKeys) } };
  });
