import { test } from "node:test";
import assert from "node:assert/strict";
import { createProjectConfig, loadConfigDir } from "../config/loadConfigDir.js";
import { ConfigError } from "../errors.js";
import { fixture, removeDir, writeConfigDir } from "../../test/helpers.js";
import { buildGraph, loadProject } from "./buildGraph.js";

test("buildGraph on the valid-basic fixture: defaults, edges, topo order, reachability", async () => {
  const { graph, config } = await loadProject(fixture("config", "valid-basic"));
  assert.equal(config.workflow.name, "support-triage");
  assert.equal(graph.name, "support-triage");
  assert.equal(graph.defaultStart, "normalize");
  assert.deepEqual(graph.starts, ["normalize"]);
  assert.deepEqual(graph.topoOrder, ["normalize", "triage", "urgent", "page", "ticket", "join", "routine", "done", "rejected"]);
  assert.deepEqual(graph.nodeList.map((n) => n.index), [0, 1, 2, 3, 4, 5, 6, 7, 8]);

  const triage = graph.nodes.get("triage");
  assert.ok(triage);
  assert.equal(triage.kind, "agent");
  assert.equal(triage.agent, "triager");
  assert.equal(triage.context, "recent");
  assert.deepEqual(triage.tools, ["lookup"]);
  assert.deepEqual(triage.outEdges.map((e) => [e.to, e.label, e.index]), [["urgent", "urgent", 1], ["routine", "routine", 2], ["rejected", "spam", 3]]);
  assert.deepEqual(triage.inEdges.map((e) => e.from), ["normalize"]);

  const ticket = graph.nodes.get("ticket");
  assert.equal(ticket?.context, "none");
  assert.deepEqual(ticket?.tools, []);
  assert.equal(ticket?.continueOnFailure, false);
  assert.equal(ticket?.mergeOnFailure, "fail_on_any");
  assert.equal(ticket?.alwaysFail, false);
  assert.equal(ticket?.timeoutMs, 500);
  assert.equal(graph.nodes.get("page")?.continueOnFailure, true);
  assert.equal(graph.nodes.get("join")?.mergeOnFailure, "ignore_failures");
  assert.equal(graph.nodes.get("rejected")?.alwaysFail, true);
  assert.equal(graph.nodes.get("normalize")?.isDefaultStart, true);
  assert.equal(graph.nodes.get("normalize")?.handler, "./handlers.js#normalize");

  assert.equal(graph.canReach("normalize", "done"), true);
  assert.equal(graph.canReach("page", "done"), true);
  assert.equal(graph.canReach("page", "ticket"), false);
  assert.equal(graph.canReach("done", "normalize"), false);
  assert.equal(graph.canReach("join", "join"), true);
  assert.equal(graph.canReach("nope", "done"), false);
});

test("compiled schemas validate with `/path: message` lines (file and inline)", async () => {
  const graph = buildGraph(await loadConfigDir(fixture("config", "valid-basic")));
  const normalize = graph.nodes.get("normalize");
  assert.equal(normalize?.schemaIn?.name, "request");
  assert.deepEqual(normalize?.schemaIn?.validate({ text: "hi" }), []);
  assert.deepEqual(normalize?.schemaIn?.validate({ text: 3 }), ["/text: must be string"]);
  assert.deepEqual(normalize?.schemaIn?.validate([]), ["/: must be object"]);
  assert.equal(normalize?.schemaOut?.name, "inline");
  assert.deepEqual(normalize?.schemaOut?.validate({}), ["/: must have required property 'text'"]);
});

test("the graph is deeply frozen", async () => {
  const { graph } = await loadProject(fixture("config", "valid-basic"));
  assert.ok(Object.isFrozen(graph));
  assert.ok(Object.isFrozen(graph.nodeList));
  assert.ok(Object.isFrozen(graph.edges));
  assert.ok(Object.isFrozen(graph.edges[0]));
  assert.ok(Object.isFrozen(graph.topoOrder));
  const node = graph.nodes.get("triage");
  assert.ok(node && Object.isFrozen(node) && Object.isFrozen(node.tools) && Object.isFrozen(node.outEdges));
  assert.throws(() => (graph.nodes as Map<string, unknown>).set("x", {}), TypeError);
  assert.throws(() => (graph.nodes as Map<string, unknown>).delete("triage"), TypeError);
  assert.throws(() => (graph.nodes as Map<string, unknown>).clear(), TypeError);
  assert.equal(graph.nodes.size, 9);
});

test("buildGraph throws one ConfigError listing every DAG problem", () => {
  const config = createProjectConfig({
    workflow: {
      nodes: [
        { id: "s", kind: "deterministic", role: "start" },
        { id: "s", kind: "deterministic", role: "exit" },
      ],
      edges: [{ from: "s", to: "q" }],
    },
  });
  assert.throws(
    () => buildGraph(config),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.deepEqual(
        err.details.map((d) => d.code),
        ["DAG_DUPLICATE_ID", "DAG_DANGLING_EDGE", "DAG_NO_EXIT_REACHABLE"],
      );
      return true;
    },
  );
});

test("loadProject reports schema problems and DAG problems together", async () => {
  const dir = await writeConfigDir({
    "workflow.yaml": `nodes:
  - id: s
    kind: deterministic
    role: start
    handler: 42
  - id: w
    kind: agent
    role: linear
  - id: x
    kind: deterministic
    role: exit
edges:
  - { from: s, to: w }
  - { from: w, to: xx }
`,
    "tools.yaml": "tools:\n  - id: t\n    typ: builtin\n",
  });
  try {
    await assert.rejects(loadProject(dir), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      const got = err.details.map((d) => [d.file?.split(/[\\/]/).pop(), d.code, d.path, d.line]);
      assert.deepEqual(got, [
        ["workflow.yaml", "CONFIG_SCHEMA", "/nodes/0/handler", 5],
        ["tools.yaml", "CONFIG_UNKNOWN_KEY", "/tools/0/typ", 3],
        ["workflow.yaml", "DAG_INVALID_FIELD", "/nodes/1/agent", 6],
        ["workflow.yaml", "DAG_DANGLING_EDGE", "/edges/1/to", 14],
        ["workflow.yaml", "DAG_ROLE_EDGES", "/nodes/2/role", 11],
        ["workflow.yaml", "DAG_UNREACHABLE", "/nodes/2", 9],
        ["workflow.yaml", "DAG_NO_EXIT_REACHABLE", "/nodes/0", 2],
      ]);
      return true;
    });
  } finally {
    await removeDir(dir);
  }
});

test("loadProject skips DAG checks when nodes is not a list of mappings", async () => {
  const dir = await writeConfigDir({ "workflow.yaml": "nodes: [1, 2]\nedges: {}\n" });
  try {
    await assert.rejects(loadProject(dir), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.ok(err.details.every((d) => d.code === "CONFIG_SCHEMA"));
      return true;
    });
  } finally {
    await removeDir(dir);
  }
});
