import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { stringify } from "yaml";
import { createProjectConfig } from "../config/loadConfigDir.js";
import type { EdgeManifest, NodeManifest, WorkflowManifest } from "../config/types.js";
import { ConfigError } from "../errors.js";
import type { ErrorDetail } from "../errors.js";
import { validWorkflowArb } from "../../test/arbitraries/dag.js";
import type { GeneratedWorkflow } from "../../test/arbitraries/dag.js";
import { removeDir, writeConfigDir } from "../../test/helpers.js";
import { buildGraph, loadProject } from "./buildGraph.js";
import type { WorkflowGraph } from "./types.js";
import { validateProject } from "./validateProject.js";

const RUNS = 150;

function configOf(g: GeneratedWorkflow, workflow: WorkflowManifest = g.workflow) {
  return createProjectConfig({ dir: "/tmp/generated", workflow, agents: g.agents });
}

function bfsReach(edges: readonly EdgeManifest[], from: string): Set<string> {
  const seen = new Set([from]);
  const queue = [from];
  for (let h = 0; h < queue.length; h++) {
    for (const e of edges) {
      if (e.from === queue[h] && !seen.has(e.to)) {
        seen.add(e.to);
        queue.push(e.to);
      }
    }
  }
  return seen;
}

/** Asserts `err` is a ConfigError whose every detail has a code, a message and a file. */
function assertWellFormed(err: unknown): readonly ErrorDetail[] {
  assert.ok(err instanceof ConfigError, `expected ConfigError, got ${err instanceof Error ? err.stack : String(err)}`);
  assert.ok(err.details.length > 0);
  for (const d of err.details) {
    assert.equal(typeof d.code, "string");
    assert.ok(d.message.length > 0);
    assert.ok(typeof d.file === "string" && d.file.length > 0, `detail without file: ${JSON.stringify(d)}`);
  }
  return err.details;
}

function rejectedWith(config: ReturnType<typeof configOf>): readonly ErrorDetail[] {
  try {
    buildGraph(config);
  } catch (err) {
    return assertWellFormed(err);
  }
  assert.fail("expected buildGraph to reject the workflow");
}

test("property: every generated valid DAG is accepted; topoOrder and canReach are right", () => {
  fc.assert(
    fc.property(validWorkflowArb, (g) => {
      const config = configOf(g);
      assert.deepEqual(validateProject(config), []);
      const graph: WorkflowGraph = buildGraph(config);
      const { nodes, edges } = g.workflow;
      // topoOrder: a permutation respecting every edge, ties broken by declaration index
      assert.equal(graph.topoOrder.length, nodes.length);
      assert.deepEqual([...graph.topoOrder].sort(), nodes.map((n) => n.id).sort());
      const pos = new Map(graph.topoOrder.map((id, i) => [id, i]));
      for (const e of edges) assert.ok((pos.get(e.from) ?? 0) < (pos.get(e.to) ?? 0), `${e.from} before ${e.to}`);
      const declIndex = new Map(nodes.map((n, i) => [n.id, i]));
      const done = new Set<string>();
      for (const id of graph.topoOrder) {
        const ready = nodes.filter((n) => !done.has(n.id) && edges.every((e) => e.to !== n.id || done.has(e.from)));
        assert.equal(id, ready[0]?.id, "smallest declaration index first");
        assert.equal(declIndex.get(id), graph.nodes.get(id)?.index);
        done.add(id);
      }
      // canReach agrees with a BFS over the manifest edges
      for (const a of nodes) {
        const reach = bfsReach(edges, a.id);
        for (const b of nodes) assert.equal(graph.canReach(a.id, b.id), reach.has(b.id), `${a.id} -> ${b.id}`);
      }
      // edges attached in declaration order
      for (const n of graph.nodeList) {
        assert.deepEqual(n.outEdges.map((e) => e.index), edges.flatMap((e, i) => (e.from === n.id ? [i] : [])));
        assert.deepEqual(n.inEdges.map((e) => e.index), edges.flatMap((e, i) => (e.to === n.id ? [i] : [])));
      }
      assert.equal(graph.nodes.get(graph.defaultStart)?.isDefaultStart, true);
      assert.equal(graph.nodeList.filter((n) => n.isDefaultStart).length, 1);
      // topoIndex is the position in topoOrder; closes / closingMerges follow the join rule
      graph.topoOrder.forEach((id, i) => assert.equal(graph.topoIndex.get(id), i));
      assert.equal(graph.topoIndex.size, nodes.length);
      for (const f of nodes) {
        const expected: string[] = [];
        for (const m of graph.topoOrder) {
          const merge = graph.nodes.get(m);
          const reaching = edges.filter((e) => e.from === f.id && bfsReach(edges, e.to).has(m)).length;
          const want = merge?.role === "merge" && ((f.role === "branch" && reaching >= 2) || (f.role === "split" && reaching >= 1));
          assert.equal(graph.closes(f.id, m), want, `closes(${f.id}, ${m})`);
          if (want) expected.push(m);
        }
        assert.deepEqual(graph.closingMerges(f.id), expected, `closingMerges(${f.id})`);
      }
    }),
    { numRuns: RUNS },
  );
});


test("property: adding a back edge is rejected with a named DAG_CYCLE", () => {
  fc.assert(
    fc.property(validWorkflowArb, fc.nat(), (g, pick) => {
      const graph = buildGraph(configOf(g));
      const pairs: [string, string][] = [];
      for (const a of graph.nodeList) for (const b of graph.nodeList) if (a.id !== b.id && graph.canReach(a.id, b.id)) pairs.push([a.id, b.id]);
      const [a, b] = pairs[pick % pairs.length] ?? ["", ""];
      const workflow = { ...g.workflow, edges: [...g.workflow.edges, { from: b, to: a }] };
      const details = rejectedWith(configOf(g, workflow));
      const cycle = details.find((d) => d.code === "DAG_CYCLE");
      assert.ok(cycle, JSON.stringify(details));
      assert.match(cycle.message, / -> /);
      assert.equal(cycle.path?.startsWith("/edges/"), true);
    }),
    { numRuns: RUNS },
  );
});

test("property: dropping a node that edges reference is rejected with DAG_DANGLING_EDGE", () => {
  fc.assert(
    fc.property(validWorkflowArb, fc.nat(), (g, pick) => {
      const victim = g.workflow.nodes[pick % g.workflow.nodes.length] as NodeManifest;
      const workflow = { ...g.workflow, nodes: g.workflow.nodes.filter((n) => n !== victim) };
      const details = rejectedWith(configOf(g, workflow));
      assert.ok(details.some((d) => d.code === "DAG_DANGLING_EDGE"), JSON.stringify(details));
    }),
    { numRuns: RUNS },
  );
});

test("property: a duplicated node id is rejected with DAG_DUPLICATE_ID", () => {
  fc.assert(
    fc.property(validWorkflowArb, fc.nat(), fc.nat(), (g, pick, at) => {
      const copy = g.workflow.nodes[pick % g.workflow.nodes.length] as NodeManifest;
      const nodes = [...g.workflow.nodes];
      nodes.splice(at % (nodes.length + 1), 0, { ...copy, description: "copy" });
      const details = rejectedWith(configOf(g, { ...g.workflow, nodes }));
      assert.ok(details.some((d) => d.code === "DAG_DUPLICATE_ID" && d.nodeId === copy.id), JSON.stringify(details));
    }),
    { numRuns: RUNS },
  );
});

test("property: a role whose edge counts no longer fit is rejected with DAG_ROLE_EDGES", () => {
  fc.assert(
    fc.property(validWorkflowArb, fc.nat(), (g, pick) => {
      const index = pick % g.workflow.nodes.length;
      const victim = g.workflow.nodes[index] as NodeManifest;
      const inCount = g.workflow.edges.filter((e) => e.to === victim.id).length;
      // fewer than 2 inbound edges cannot make a merge (1 can, when a split reaches it: §14
      // map-reduce); 2 or more cannot make a linear node
      const afterSplit = g.workflow.nodes.some((n) => n.role === "split" && n.id !== victim.id && bfsReach(g.workflow.edges, n.id).has(victim.id));
      const mergeOk = inCount >= 2 || (inCount === 1 && afterSplit);
      const role: NodeManifest["role"] = mergeOk ? "linear" : "merge";
      if (role === "linear" && inCount < 2) return; // 1 inbound after a split: both roles fit here
      const nodes = g.workflow.nodes.map((n, i): NodeManifest => {
        if (i !== index) return n;
        const { default: _d, always_fail: _a, merge: _m, ...rest } = n;
        return { ...rest, role, kind: "deterministic" } as NodeManifest;
      });
      const details = rejectedWith(configOf(g, { ...g.workflow, nodes }));
      assert.ok(details.some((d) => d.code === "DAG_ROLE_EDGES" && d.nodeId === victim.id), JSON.stringify(details));
    }),
    { numRuns: RUNS },
  );
});

test("property: validateProject never throws on arbitrary JSON manifests", () => {
  const manifest = fc.oneof(fc.jsonValue(), fc.record({ nodes: fc.array(fc.jsonValue(), { maxLength: 5 }), edges: fc.array(fc.jsonValue(), { maxLength: 5 }) }));
  fc.assert(
    fc.property(manifest, fc.jsonValue(), fc.jsonValue(), fc.jsonValue(), fc.jsonValue(), (workflow, agents, tools, memory, plugins) => {
      const config = createProjectConfig({ dir: "/tmp/garbage", workflow, agents, tools, memory, plugins } as never);
      const details = validateProject(config);
      for (const d of details) {
        assert.ok(d.code && d.message && d.file);
      }
      if (details.length > 0) assertWellFormed(new ConfigError(details));
    }),
    { numRuns: RUNS },
  );
});

/** Sets `value` at a random path of a plain JSON document (returns a new document). */
function mutateAt(doc: unknown, choices: readonly number[], value: unknown): unknown {
  const [c, ...rest] = choices;
  if (c === undefined || doc === null || typeof doc !== "object") return value;
  if (Array.isArray(doc)) {
    if (doc.length === 0) return value;
    const i = c % doc.length;
    const copy = [...doc];
    copy[i] = rest.length === 0 || c % 5 === 0 ? value : mutateAt(doc[i], rest, value);
    return copy;
  }
  const keys = Object.keys(doc);
  const key = c % 7 === 0 || keys.length === 0 ? `k${c % 3}` : (keys[c % keys.length] as string);
  return { ...doc, [key]: rest.length === 0 ? value : mutateAt((doc as Record<string, unknown>)[key], rest, value) };
}

test("property: loadProject rejects garbage YAML/JSON files with a well-formed ConfigError and nothing else", async () => {
  const garbageText = fc.oneof(
    fc.string({ maxLength: 200 }),
    fc.jsonValue().map((v) => JSON.stringify(v)),
    fc.jsonValue().map((v) => stringify(v)),
  );
  await fc.assert(
    fc.asyncProperty(garbageText, fc.option(garbageText), async (workflowText, agentsText) => {
      const files: Record<string, string> = { "workflow.yaml": workflowText };
      if (agentsText !== null) files["agents.yaml"] = agentsText;
      const dir = await writeConfigDir(files);
      try {
        await loadProject(dir);
        assert.fail("garbage accepted");
      } catch (err) {
        assertWellFormed(err);
      } finally {
        await removeDir(dir);
      }
    }),
    { numRuns: 100 },
  );
});

test("property: random mutations of valid files either load or fail with a well-formed ConfigError", async () => {
  await fc.assert(
    fc.asyncProperty(validWorkflowArb, fc.array(fc.nat(), { minLength: 1, maxLength: 4 }), fc.jsonValue({ maxDepth: 2 }), fc.boolean(), async (g, path, value, asJson) => {
      const workflow = mutateAt(g.workflow, path, value);
      const files = { "workflow.yaml": asJson ? JSON.stringify(workflow) : stringify(workflow), "agents.yaml": stringify(g.agents) };
      const dir = await writeConfigDir(files);
      try {
        const { graph } = await loadProject(dir);
        assert.ok(graph.topoOrder.length > 0);
      } catch (err) {
        assertWellFormed(err);
      } finally {
        await removeDir(dir);
      }
    }),
    { numRuns: 100 },
  );
});

test("property: valid DAGs written as YAML files load through loadProject", async () => {
  await fc.assert(
    fc.asyncProperty(validWorkflowArb, async (g) => {
      const dir = await writeConfigDir({ "workflow.yaml": stringify(g.workflow), "agents.yaml": stringify(g.agents) });
      try {
        const { graph } = await loadProject(dir);
        assert.equal(graph.nodeList.length, g.workflow.nodes.length);
      } finally {
        await removeDir(dir);
      }
    }),
    { numRuns: 30 },
  );
});
