import { test } from "node:test";
import assert from "node:assert/strict";
import { createProjectConfig } from "../config/loadConfigDir.js";
import type { ProjectConfigInput } from "../config/loadConfigDir.js";
import type { NodeManifest, EdgeManifest } from "../config/types.js";
import { ConfigError } from "../errors.js";
import type { ErrorDetail } from "../errors.js";
import { fixture } from "../../test/helpers.js";
import { buildGraph, loadProject } from "./buildGraph.js";
import { validateProject } from "./validateProject.js";

type N = Partial<NodeManifest> & { id: string };

/** Nodes as `id:role[:kind]`, edges as `a>b[#label]`. */
function project(nodes: readonly (string | N)[], edges: readonly string[], extra: Omit<ProjectConfigInput, "workflow"> = {}): ProjectConfigInput {
  const ns = nodes.map((n): NodeManifest => {
    if (typeof n !== "string") return { kind: "deterministic", role: "linear", ...n } as NodeManifest;
    const [id = "", role = "linear", kind = "deterministic"] = n.split(":");
    return { id, role, kind, ...(kind === "agent" ? { agent: "writer" } : {}) } as NodeManifest;
  });
  const es = edges.map((e): EdgeManifest => {
    const [path = "", label] = e.split("#");
    const [from = "", to = ""] = path.split(">");
    return { from, to, ...(label !== undefined ? { label } : {}) };
  });
  return { dir: "/tmp/project", agents: { agents: [{ id: "writer", model: "m" }] }, ...extra, workflow: { nodes: ns, edges: es } };
}

function problems(input: ProjectConfigInput): ErrorDetail[] {
  return validateProject(createProjectConfig(input));
}

function one(details: readonly ErrorDetail[], code: string): ErrorDetail {
  const found = details.filter((d) => d.code === code);
  assert.equal(found.length, 1, `expected one ${code}, got ${JSON.stringify(details, null, 2)}`);
  const d = found[0] as ErrorDetail;
  assert.ok(d.file?.endsWith("workflow.yaml") || d.file?.endsWith(".yaml"), "detail names a file");
  assert.ok(d.message.length > 10);
  return d;
}

const LINE = ["s:start", "w:linear", "x:exit"];
const LINE_EDGES = ["s>w", "w>x"];

test("a minimal valid workflow has no problems", () => {
  assert.deepEqual(problems(project(LINE, LINE_EDGES)), []);
});

test("DAG_DUPLICATE_ID", () => {
  const d = one(problems(project([...LINE, "w:linear"], LINE_EDGES)), "DAG_DUPLICATE_ID");
  assert.equal(d.path, "/nodes/3/id");
  assert.equal(d.nodeId, "w");
  assert.match(d.message, /already used by \/nodes\/1/);
});

test("DAG_DANGLING_EDGE with did-you-mean", () => {
  const d = one(problems(project(LINE, ["s>w", "w>xx", "w>x"])), "DAG_DANGLING_EDGE");
  assert.equal(d.path, "/edges/1/to");
  assert.equal(d.hint, "did you mean `x`?");
  const f = one(problems(project(LINE, ["s>w", "w>x", "nope>x"])), "DAG_DANGLING_EDGE");
  assert.equal(f.path, "/edges/2/from");
});

test("DAG_CYCLE names the cycle", () => {
  const details = problems(project(["s:start", "a:linear", "b:decision", "x:exit"], ["s>a", "a>b", "b>a", "b>x"]));
  const d = one(details, "DAG_CYCLE");
  assert.match(d.message, /cycle a -> b -> a/);
  assert.equal(d.path, "/edges/2");
  assert.equal(d.nodeId, "a");
});

test("DAG_CYCLE on a self-loop", () => {
  const d = one(problems(project(["s:start", "a:decision", "x:exit"], ["s>a", "a>a", "a>x"])), "DAG_CYCLE");
  assert.match(d.message, /cycle a -> a/);
});

test("DAG_DUPLICATE_EDGE", () => {
  const d = one(problems(project(["s:start", "b:branch", "x:merge", "y:exit"], ["s>b", "b>x", "b>x", "x>y"])), "DAG_DUPLICATE_EDGE");
  assert.equal(d.path, "/edges/2");
});

for (const [role, nodes, edges, re] of [
  ["start", ["s:start", "t:start", "x:exit"], ["s>x", "t>x", "s>t"], /`start` node needs exactly 0 inbound/],
  ["linear", ["s:start", "w:linear", "x:exit", "y:exit"], ["s>w", "w>x", "w>y"], /`linear` node needs exactly 1 inbound and exactly 1 outbound/],
  ["decision", ["s:start", "d:decision", "x:exit"], ["s>d", "d>x"], /`decision` node needs exactly 1 inbound and at least 2 outbound/],
  ["branch", ["s:start", "d:branch", "x:exit"], ["s>d", "d>x"], /`branch` node needs/],
  ["split", ["s:start", "d:split", "x:exit"], ["s>x", "d>x"], /`split` node needs/],
  ["merge", ["s:start", "m:merge", "x:exit"], ["s>m", "m>x"], /`merge` node needs at least 2 inbound/],
  ["exit", ["s:start", "w:linear", "x:exit", "y:exit"], ["s>w", "w>x", "x>y"], /an `exit` node needs at least 1 inbound and exactly 0 outbound/],
] as const) {
  test(`DAG_ROLE_EDGES: ${role}`, () => {
    const details = problems(project(nodes, edges, { agents: { agents: [] } })).filter((d) => d.code === "DAG_ROLE_EDGES");
    assert.ok(details.some((d) => re.test(d.message) && d.path?.endsWith("/role")), JSON.stringify(details, null, 2));
  });
}

test("DAG_ROLE_KIND: start and exit must be deterministic", () => {
  const details = problems(project(["s:start:agent", "x:exit:agent"], ["s>x"]));
  assert.deepEqual(details.filter((d) => d.code === "DAG_ROLE_KIND").map((d) => d.path), ["/nodes/0/kind", "/nodes/1/kind"]);
});

test("DAG_INVALID_FIELD: exit tools, always_fail, default, merge, agent/handler placement", () => {
  const details = problems(
    project(
      [
        { id: "s", role: "start", always_fail: false },
        { id: "w", role: "linear", default: true, merge: { on_failure: "partial" }, agent: "writer" },
        { id: "a", role: "linear", kind: "agent", handler: "./h.js#a" },
        { id: "x", role: "exit", tools: ["t"] },
      ],
      ["s>w", "w>a", "a>x"],
      { tools: { tools: [{ id: "t" }] } },
    ),
  ).filter((d) => d.code === "DAG_INVALID_FIELD");
  assert.deepEqual(details.map((d) => d.path), ["/nodes/0/always_fail", "/nodes/1/default", "/nodes/1/merge", "/nodes/1/agent", "/nodes/2/agent", "/nodes/2/handler", "/nodes/3/tools"]);
});

test("DAG_UNREACHABLE", () => {
  const details = problems(project(["s:start", "w:linear", "x:exit", "m:merge", "o:linear"], ["s>w", "w>x", "o>m", "m>x"]));
  const unreachable = details.filter((d) => d.code === "DAG_UNREACHABLE").map((d) => d.nodeId);
  assert.deepEqual(unreachable, ["m", "o"]);
});

test("DAG_NO_EXIT_REACHABLE", () => {
  const d = one(problems(project(["s:start", "a:linear", "b:linear"], ["s>a", "a>b", "b>a"])), "DAG_NO_EXIT_REACHABLE");
  assert.equal(d.nodeId, "s");
});

test("DAG_DEFAULT_START: several starts and no default; two defaults; a lone start is the default", () => {
  const nodes = ["s:start", "t:start", "m:merge", "x:exit"];
  const edges = ["s>m", "t>m", "m>x"];
  const d = one(problems(project(nodes, edges)), "DAG_DEFAULT_START");
  assert.match(d.message, /2 start nodes .* none has `default: true`/);
  const two = problems(project([{ id: "s", role: "start", default: true }, { id: "t", role: "start", default: true }, "m:merge", "x:exit"], edges));
  assert.equal(one(two, "DAG_DEFAULT_START").path, "/nodes/1/default");
  assert.deepEqual(problems(project([{ id: "s", role: "start" }, { id: "t", role: "start", default: true }, "m:merge", "x:exit"], edges)), []);
  assert.equal(buildGraph(createProjectConfig(project(LINE, LINE_EDGES))).defaultStart, "s");
  const none = one(problems(project(["w:linear", "x:exit"], ["w>x"])), "DAG_DEFAULT_START");
  assert.match(none.message, /no start node/);
});

test("DAG_UNKNOWN_AGENT, and agents.yaml missing names agents.yaml", () => {
  const nodes = ["s:start", { id: "a", kind: "agent", agent: "writr" } as N, "x:exit"];
  const d = one(problems(project(nodes, LINE_EDGES.map((e) => e.replace("w", "a")))), "DAG_UNKNOWN_AGENT");
  assert.equal(d.hint, "did you mean `writer`?");
  assert.equal(d.path, "/nodes/1/agent");
  const input = project(nodes, ["s>a", "a>x"]);
  const missing = one(problems({ ...input, agents: undefined } as ProjectConfigInput), "DAG_UNKNOWN_AGENT");
  assert.match(missing.message, /agents\.yaml is missing/);
});

test("DAG_UNKNOWN_TOOL", () => {
  const nodes = ["s:start", { id: "w", tools: ["serach"] } as N, "x:exit"];
  const d = one(problems(project(nodes, LINE_EDGES, { tools: { tools: [{ id: "search" }] } })), "DAG_UNKNOWN_TOOL");
  assert.equal(d.path, "/nodes/1/tools/0");
  assert.equal(d.hint, "did you mean `search`?");
  assert.match(one(problems(project(nodes, LINE_EDGES)), "DAG_UNKNOWN_TOOL").message, /tools\.yaml is missing/);
});

test("tools: lists accept <prefix>.* for declared ids and MCP servers, as agents do; other wildcards are DAG_UNKNOWN_TOOL", () => {
  const tools = { tools: [{ id: "orders.lookup" }, { id: "kb", type: "mcp", command: ["node", "kb.mjs"] }] } as ProjectConfigInput["tools"];
  const listing = (list: string[]) => problems(project(["s:start", { id: "w", tools: list } as N, "x:exit"], LINE_EDGES, { tools })).filter((d) => d.code === "DAG_UNKNOWN_TOOL");
  assert.deepEqual(listing(["orders.*", "kb.*", "kb.search", "orders.lookup"]), []);
  assert.deepEqual(listing(["order.*", "nope.*", ".*", "orders.lookup.*"]).map((d) => d.path), ["/nodes/1/tools/0", "/nodes/1/tools/1", "/nodes/1/tools/2", "/nodes/1/tools/3"]);
});

test("DAG_AMBIGUOUS_LABEL", () => {
  const nodes = ["s:start", "d:decision", "x:exit", "y:exit"];
  const d = one(problems(project(nodes, ["s>d", "d>x#go", "d>y#go"])), "DAG_AMBIGUOUS_LABEL");
  assert.equal(d.path, "/edges/2/label");
  one(problems(project(nodes, ["s>d", "d>x#y", "d>y"])), "DAG_AMBIGUOUS_LABEL");
});

test("CONFIG_SCHEMA_REF and inline schemas that do not compile", () => {
  const nodes = ["s:start", { id: "w", schema_in: "reqest", schema_out: { type: "nope" } } as N, "x:exit"];
  const details = problems(project(nodes, LINE_EDGES, { schemas: { request: { type: "object" } } }));
  const ref = one(details, "CONFIG_SCHEMA_REF");
  assert.equal(ref.path, "/nodes/1/schema_in");
  assert.equal(ref.hint, "did you mean `request`?");
  assert.equal(one(details, "CONFIG_INVALID_JSON_SCHEMA").path, "/nodes/1/schema_out");
});

test("context names none, global or a memory.yaml profile", () => {
  const nodes = ["s:start", { id: "w", context: "recnt" } as N, { id: "x", role: "exit", context: "global" } as N];
  const memory = { stores: [{ id: "faq", kind: "static" as const, items: [] }], profiles: [{ id: "recent", stores: ["faq"] }] };
  const d = one(problems(project(nodes, LINE_EDGES, { memory })), "DAG_INVALID_FIELD");
  assert.equal(d.path, "/nodes/1/context");
  assert.equal(d.hint, "did you mean `recent`?");
});

test("agents.yaml, memory.yaml and plugins.yaml cross-references", () => {
  const details = problems(
    project(LINE, LINE_EDGES, {
      agents: {
        default_provider: "nope",
        providers: [{ id: "p", type: "scripted", rules: [{ agent: "ghost", match: "(", response: "x" }] }],
        agents: [{ id: "writer", model: "m", provider: "q" }, { id: "writer", model: "m" }],
      },
      memory: { stores: [{ id: "faq", kind: "file" }], profiles: [{ id: "global", stores: ["faw"] }], global: ["zzz"] },
      plugins: { plugins: [{ id: "a", module: "./a.js" }, { id: "a", module: "./b.js" }] },
    }),
  );
  const got = details.map((d) => `${d.file?.split("/").pop()} ${d.code} ${d.path}`);
  assert.deepEqual(got, [
    "agents.yaml CONFIG_DUPLICATE_ID /agents/1/id",
    "agents.yaml CONFIG_UNKNOWN_REF /default_provider",
    "agents.yaml CONFIG_UNKNOWN_REF /agents/0/provider",
    "agents.yaml CONFIG_UNKNOWN_REF /providers/0/rules/0/agent",
    "agents.yaml CONFIG_SCHEMA /providers/0/rules/0/match",
    "memory.yaml CONFIG_SCHEMA /stores/0",
    "memory.yaml CONFIG_SCHEMA /profiles/0/id",
    "memory.yaml CONFIG_UNKNOWN_REF /profiles/0/stores/0",
    "memory.yaml CONFIG_UNKNOWN_REF /global/0",
    "plugins.yaml CONFIG_DUPLICATE_ID /plugins/1/id",
  ]);
  assert.equal(details.at(-1)?.pluginId, "a");
});

test("loadProject: DAG problems located in workflow.yaml (invalid-dag fixture)", async () => {
  await assert.rejects(loadProject(fixture("config", "invalid-dag")), (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    const got = err.details.map((d) => [d.code, d.path, d.line, d.nodeId]);
    assert.deepEqual(got, [
      ["DAG_ROLE_KIND", "/nodes/3/kind", 12, "done"],
      ["DAG_UNKNOWN_AGENT", "/nodes/3/agent", 13, "done"],
      ["DAG_DANGLING_EDGE", "/edges/3/to", 22, undefined],
      ["DAG_ROLE_EDGES", "/nodes/1/role", 7, "check"],
      ["DAG_ROLE_EDGES", "/nodes/3/role", 14, "done"],
      ["DAG_ROLE_EDGES", "/nodes/4/role", 17, "orphan"],
      ["DAG_CYCLE", "/edges/2", 21, "check"],
      ["DAG_UNREACHABLE", "/nodes/3", 11, "done"],
      ["DAG_UNREACHABLE", "/nodes/4", 15, "orphan"],
      ["DAG_NO_EXIT_REACHABLE", "/nodes/0", 2, "start"],
    ]);
    assert.match(err.details[2]?.message ?? "", /`dne`, which does not exist/);
    assert.match(err.details[6]?.message ?? "", /cycle check -> loop -> check/);
    for (const d of err.details) assert.match(d.file ?? "", /invalid-dag[\\/]workflow\.yaml$/);
    return true;
  });
});
