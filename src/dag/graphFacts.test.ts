/**
 * Graph facts computed once in buildGraph (topoIndex, closes, closingMerges, defaults), the
 * map-reduce merge rule (§14) and validation of a large workflow. In-memory configs, no files,
 * except where the YAML schema itself is under test.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { createProjectConfig } from "../config/loadConfigDir.js";
import type { EdgeManifest, NodeManifest, WorkflowManifest } from "../config/types.js";
import { ConfigError } from "../errors.js";
import { removeDir, writeConfigDir } from "../../test/helpers.js";
import { buildGraph, loadProject } from "./buildGraph.js";
import { DEFAULT_NODE_TIMEOUT_MS } from "./types.js";
import { validateProject } from "./validateProject.js";

/** Nodes as `id:role[:default]`, edges as `a>b`. */
function wf(nodes: readonly string[], edges: readonly string[], extra: Partial<WorkflowManifest> = {}): WorkflowManifest {
  return {
    ...extra,
    nodes: nodes.map((s) => {
      const [id = "", role = "linear", def] = s.split(":");
      return { id, role, kind: "deterministic", ...(def === "default" ? { default: true } : {}) } as NodeManifest;
    }),
    edges: edges.map((e): EdgeManifest => {
      const [from = "", to = ""] = e.split(">");
      return { from, to };
    }),
  };
}

const build = (w: WorkflowManifest) => buildGraph(createProjectConfig({ dir: "/tmp/facts", workflow: w }));

test("topoIndex, closes and closingMerges: nested and overlapping joins", () => {
  // b fans out to a1, a2, a3; a1 and a2 meet at m12; m12 and a3 meet at m3 (closes b twice over);
  // sp splits into w, whose single edge ends at the map-reduce merge r.
  const g = build(
    wf(
      ["s:start", "b:branch", "a1", "a2", "a3", "m12:merge", "m3:merge", "sp:split", "w", "r:merge", "x:exit"],
      ["s>b", "b>a1", "b>a2", "b>a3", "a1>m12", "a2>m12", "m12>m3", "a3>m3", "m3>sp", "sp>w", "w>r", "r>x"],
    ),
  );
  assert.deepEqual([...g.topoIndex.entries()], g.topoOrder.map((id, i) => [id, i]));
  assert.throws(() => (g.topoIndex as Map<string, number>).set("s", 9), TypeError);
  assert.equal(g.closes("b", "m12"), true);
  assert.equal(g.closes("b", "m3"), true);
  assert.equal(g.closes("b", "r"), true, "every arm reaches r");
  assert.equal(g.closes("sp", "r"), true, "one reaching edge closes a split");
  assert.equal(g.closes("sp", "m3"), false, "upstream merge");
  assert.equal(g.closes("a1", "m12"), false, "not a fork");
  assert.equal(g.closes("b", "a1"), false, "not a merge");
  assert.equal(g.closes("nope", "m12"), false);
  assert.deepEqual(g.closingMerges("b"), ["m12", "m3", "r"]);
  assert.deepEqual(g.closingMerges("sp"), ["r"]);
  assert.deepEqual(g.closingMerges("a1"), []);
  assert.equal(g.closingMerges("b"), g.closingMerges("b"), "computed once");
  assert.ok(Object.isFrozen(g.closingMerges("b")));

  // a merge reached by only one arm of a branch does not close it
  const h = build(wf(["s:start:default", "b:branch", "p", "q", "t:start", "j:merge", "x:exit", "y:exit"], ["s>b", "b>p", "b>q", "t>j", "p>j", "j>x", "q>y"]));
  assert.equal(h.closes("b", "j"), false);
  assert.deepEqual(h.closingMerges("b"), []);
});

test("defaults: node timeout from the node, else defaults.timeout_ms, else the engine default; maxConcurrency exposed", () => {
  const nodes = ["s:start", "a", "x:exit"];
  const edges = ["s>a", "a>x"];
  const plain = build(wf(nodes, edges));
  assert.equal(DEFAULT_NODE_TIMEOUT_MS, 300_000);
  for (const n of plain.nodeList) {
    assert.equal(n.timeoutMs, DEFAULT_NODE_TIMEOUT_MS);
    assert.equal(n.timeoutFrom, "engine");
  }
  assert.deepEqual(plain.defaults, {});
  assert.equal(plain.defaults.maxConcurrency, undefined);

  const base = wf(nodes, edges, { defaults: { timeout_ms: 1234, max_concurrency: 4 } });
  const own = { ...base, nodes: base.nodes.map((n) => (n.id === "a" ? { ...n, timeout_ms: 50 } : n)) };
  const g = build(own);
  assert.equal(g.nodes.get("a")?.timeoutMs, 50);
  assert.equal(g.nodes.get("a")?.timeoutFrom, "node");
  assert.equal(g.nodes.get("s")?.timeoutMs, 1234);
  assert.equal(g.nodes.get("x")?.timeoutFrom, "workflow");
  assert.deepEqual(g.defaults, { timeoutMs: 1234, maxConcurrency: 4 });
  assert.ok(Object.isFrozen(g.defaults));
});

test("defaults: non-positive or non-integer values are located CONFIG_SCHEMA errors", async () => {
  const yaml = [
    "defaults: { timeout_ms: 0, max_concurrency: 1.5, retries: 2 }",
    "nodes:",
    "  - { id: s, kind: deterministic, role: start }",
    "  - { id: x, kind: deterministic, role: exit }",
    "edges:",
    "  - { from: s, to: x }",
  ].join("\n");
  const dir = await writeConfigDir({ "workflow.yaml": yaml });
  try {
    await assert.rejects(loadProject(dir), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      const paths = err.details.map((d) => `${d.code} ${d.path} ${d.line}`);
      assert.ok(paths.includes("CONFIG_SCHEMA /defaults/timeout_ms 1"), paths.join("\n"));
      assert.ok(err.details.some((d) => d.path === "/defaults/max_concurrency" && /integer/.test(d.message)), JSON.stringify(err.details));
      assert.ok(err.details.some((d) => d.path?.startsWith("/defaults") && /retries/.test(d.message)), JSON.stringify(err.details));
      assert.ok(err.details.find((d) => d.path === "/defaults/timeout_ms")!.message.length > 20);
      return true;
    });
  } finally {
    await removeDir(dir);
  }
});

test("§14 map-reduce: a merge closing a split may have one inbound edge; other merges still need two", () => {
  const ok = validateProject(createProjectConfig({ dir: "/tmp/mr", workflow: wf(["s:start", "sp:split", "w", "m:merge", "x:exit"], ["s>sp", "sp>w", "w>m", "m>x"]) }));
  assert.deepEqual(ok, []);
  // the merge may sit anywhere downstream of the split, e.g. after a linear chain
  const deeper = validateProject(createProjectConfig({ dir: "/tmp/mr", workflow: wf(["s:start", "sp:split", "w", "v", "m:merge", "x:exit"], ["s>sp", "sp>w", "w>v", "v>m", "m>x"]) }));
  assert.deepEqual(deeper, []);
  for (const [what, nodes, edges] of [
    ["no split upstream", ["s:start", "l", "m:merge", "x:exit"], ["s>l", "l>m", "m>x"]],
    ["only a branch upstream", ["s:start", "b:branch", "p", "m:merge", "x:exit", "y:exit"], ["s>b", "b>p", "b>y", "p>m", "m>x"]],
    ["a split elsewhere", ["s:start:default", "sp:split", "w", "x:exit", "t:start", "m:merge", "y:exit"], ["s>sp", "sp>w", "w>x", "t>m", "m>y"]],
  ] as const) {
    const details = validateProject(createProjectConfig({ dir: "/tmp/mr", workflow: wf(nodes, edges) })).filter((d) => d.code === "DAG_ROLE_EDGES");
    assert.equal(details.length, 1, `${what}: ${JSON.stringify(details)}`);
    assert.equal(details[0]?.nodeId, "m");
    assert.match(details[0]?.message ?? "", /at least 2 inbound .*closes a split/);
  }
  // zero inbound is never enough
  const none = validateProject(createProjectConfig({ dir: "/tmp/mr", workflow: wf(["s:start", "sp:split", "w", "x:exit", "m:merge", "y:exit"], ["s>sp", "sp>w", "w>x", "m>y"]) }));
  assert.ok(none.some((d) => d.code === "DAG_ROLE_EDGES" && d.nodeId === "m"), JSON.stringify(none));
});

test("regression: a 50k-node workflow validates and builds, with exact answers across its length", () => {
  // start -> 12,500 diamonds (branch -> 2 arms -> merge) -> exit: 50,002 nodes.
  const diamonds = 12_500;
  const nodes: NodeManifest[] = [{ id: "s", kind: "deterministic", role: "start" }];
  const edges: EdgeManifest[] = [];
  let prev = "s";
  for (let i = 0; i < diamonds; i++) {
    nodes.push({ id: `b${i}`, kind: "deterministic", role: "branch" }, { id: `p${i}`, kind: "deterministic", role: "linear" }, { id: `q${i}`, kind: "deterministic", role: "linear" }, { id: `m${i}`, kind: "deterministic", role: "merge" });
    edges.push({ from: prev, to: `b${i}` }, { from: `b${i}`, to: `p${i}` }, { from: `b${i}`, to: `q${i}` }, { from: `p${i}`, to: `m${i}` }, { from: `q${i}`, to: `m${i}` });
    prev = `m${i}`;
  }
  nodes.push({ id: "x", kind: "deterministic", role: "exit" });
  edges.push({ from: prev, to: "x" });
  const g = build({ nodes, edges });
  assert.equal(g.nodeList.length, 50_002);
  assert.equal(g.topoIndex.get("x"), 50_001);
  assert.equal(g.canReach("s", "x"), true);
  assert.equal(g.canReach("p0", `m${diamonds - 1}`), true);
  assert.equal(g.canReach("p0", "q0"), false);
  assert.equal(g.canReach(`m${diamonds - 1}`, "b0"), false);
  assert.equal(g.closes("b0", "m0"), true);
  assert.equal(g.closes(`b${diamonds - 1}`, "m0"), false);
  assert.equal(g.closes(`b${diamonds - 1}`, `m${diamonds - 1}`), true);
});

test("timeouts past the longest Node.js timer (2^31-1 ms; longer ones fire at once) are located CONFIG_SCHEMA errors", async () => {
  const yaml = [
    "defaults: { timeout_ms: 2147483648 }",
    "nodes:",
    "  - { id: s, kind: deterministic, role: start, timeout_ms: 3000000000 }",
    "  - { id: x, kind: deterministic, role: exit, timeout_ms: 2147483647 }",
    "edges:",
    "  - { from: s, to: x }",
  ].join("\n");
  const dir = await writeConfigDir({ "workflow.yaml": yaml });
  try {
    await assert.rejects(loadProject(dir), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      const paths = err.details.map((d) => `${d.code} ${d.path} ${d.line}`).sort();
      assert.deepEqual(paths, ["CONFIG_SCHEMA /defaults/timeout_ms 1", "CONFIG_SCHEMA /nodes/0/timeout_ms 3"]);
      return true;
    });
  } finally {
    await removeDir(dir);
  }
});
