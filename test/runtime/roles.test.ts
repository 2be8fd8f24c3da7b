/**
 * Scenario tests, one per role and routing rule (CONTRACT §3), from real config dirs.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Engine } from "../../src/runtime/Engine.js";
import { EngineError } from "../../src/errors.js";
import { silentLogger } from "../../src/telemetry/logger.js";
import { removeDir, writeConfigDir } from "../helpers.js";
import { path, runWorkflow, sleep, trace, withEngine } from "./harness.js";

const LINEAR = `
name: linear
nodes:
  - { id: begin, kind: deterministic, role: start }
  - { id: step, kind: deterministic, role: linear }
  - { id: done, kind: deterministic, role: exit }
edges:
  - { from: begin, to: step }
  - { from: step, to: done }
`;

describe("start -> linear -> exit", () => {
  it("passes the input through nodes without handlers", async () => {
    const input = { text: "hi", n: [1, 2, { deep: true }] };
    const { result, events } = await runWorkflow({ "workflow.yaml": LINEAR }, input);
    assert.equal(result.status, "success");
    assert.deepEqual(result.output, input);
    assert.deepEqual(result.input, input);
    assert.deepEqual(path(result), ["begin", "step", "done"]);
    assert.deepEqual(result.lineage, []);
    assert.deepEqual(result.children, []);
    assert.equal(result.error, undefined);
    for (const h of result.history) {
      assert.equal(h.status, "success");
      assert.deepEqual(h.input, input);
      assert.deepEqual(h.output, input);
      assert.deepEqual(h.toolCalls, []);
    }
    assert.deepEqual(trace(events), [
      "task.started",
      "node.started@begin",
      "node.completed@begin",
      "node.started@step",
      "node.completed@step",
      "node.started@done",
      "node.completed@done",
      "task.completed",
    ]);
    const started = events[0]!;
    assert.equal(started.type, "task.started");
    assert.equal(started.taskId, result.taskId);
    assert.deepEqual(started.payload, { input, startNode: "begin", lineage: [] });
    const completed = events.at(-1)!;
    assert.deepEqual(completed.payload, { status: "success", output: input });
    assert.deepEqual(events[1]!.payload, { role: "start", kind: "deterministic", input });
  });

  it("runs with no input (null)", async () => {
    const { result } = await runWorkflow({ "workflow.yaml": LINEAR }, undefined);
    assert.equal(result.status, "success");
    assert.equal(result.output, null);
  });

  it("returns a deeply frozen result", async () => {
    const { result } = await runWorkflow({ "workflow.yaml": LINEAR }, { a: { b: 1 } });
    assert.ok(Object.isFrozen(result));
    assert.ok(Object.isFrozen(result.history));
    assert.ok(Object.isFrozen(result.history[0]));
    assert.ok(Object.isFrozen(result.output));
    assert.ok(Object.isFrozen((result.output as { a: object }).a));
  });

  it("copies the input: later mutation by the caller changes nothing", async () => {
    const input = { list: [1] };
    await withEngine({ "workflow.yaml": LINEAR }, { handlers: { step: async (i) => { await sleep(1); return i; } } }, async (engine) => {
      const p = engine.run(input);
      input.list.push(2);
      const result = await p;
      assert.deepEqual(result.output, { list: [1] });
    });
  });
});

describe("handlers", () => {
  it("loads `handler: ./h.js#name` from the config dir with a real import", async () => {
    const files = {
      "workflow.yaml": LINEAR.replace("{ id: step, kind: deterministic, role: linear }", "{ id: step, kind: deterministic, role: linear, handler: ./lib/h.js#shout }"),
      "lib/h.js": "export function shout(input, ctx) { return { text: input.text.toUpperCase(), node: ctx.nodeId }; }\n",
    };
    const { result } = await runWorkflow(files, { text: "hi" });
    assert.equal(result.status, "success");
    assert.deepEqual(result.output, { text: "HI", node: "step" });
  });

  it("options.handlers by node id override the YAML handler", async () => {
    const files = {
      "workflow.yaml": LINEAR.replace("{ id: step, kind: deterministic, role: linear }", "{ id: step, kind: deterministic, role: linear, handler: ./h.js#shout }"),
      "h.js": "export function shout(input) { return { text: input.text.toUpperCase() }; }\n",
    };
    const { result } = await runWorkflow(files, { text: "hi" }, { handlers: { step: (input) => ({ text: `${(input as { text: string }).text}!` }) } });
    assert.deepEqual(result.output, { text: "hi!" });
  });

  it("an exit handler formats the output", async () => {
    const { result } = await runWorkflow({ "workflow.yaml": LINEAR }, 2, { handlers: { step: (n) => (n as number) * 10, done: (n) => ({ total: n }) } });
    assert.deepEqual(result.output, { total: 20 });
  });

  it("options.handlers naming an unknown node is HANDLER_NOT_FOUND at fromConfigDir", async () => {
    const dir = await writeConfigDir({ "workflow.yaml": LINEAR });
    try {
      await assert.rejects(Engine.fromConfigDir(dir, { logger: silentLogger, handlers: { nope: (x) => x } }), (err: unknown) => {
        assert.ok(err instanceof EngineError);
        assert.equal(err.code, "HANDLER_NOT_FOUND");
        assert.equal(err.details[0]!.nodeId, "nope");
        assert.match(err.message, /begin, step, done/);
        return true;
      });
    } finally {
      await removeDir(dir);
    }
  });

  it("a YAML handler whose module is missing is HANDLER_LOAD_FAILED at fromConfigDir", async () => {
    const dir = await writeConfigDir({ "workflow.yaml": LINEAR.replace("role: linear }", "role: linear, handler: ./missing.js#x }") });
    try {
      await assert.rejects(Engine.fromConfigDir(dir, { logger: silentLogger }), (err: unknown) => {
        assert.ok(err instanceof EngineError);
        assert.equal(err.code, "HANDLER_LOAD_FAILED");
        assert.equal(err.details[0]!.nodeId, "step");
        return true;
      });
    } finally {
      await removeDir(dir);
    }
  });
});

describe("start nodes", () => {
  const TWO_STARTS = `
nodes:
  - { id: s1, kind: deterministic, role: start, default: true }
  - { id: s2, kind: deterministic, role: start }
  - { id: done, kind: deterministic, role: exit }
edges:
  - { from: s1, to: done }
  - { from: s2, to: done }
`;
  it("runs from the default start, or from options.startNode", async () => {
    await withEngine({ "workflow.yaml": TWO_STARTS }, { handlers: { s1: () => "one", s2: () => "two" } }, async (engine) => {
      const a = await engine.run({});
      assert.deepEqual([a.output, path(a)], ["one", ["s1", "done"]]);
      const b = await engine.run({}, { startNode: "s2" });
      assert.deepEqual([b.output, path(b)], ["two", ["s2", "done"]]);
      const started = engine.getEvents({ type: "task.started", taskId: b.taskId })[0]!;
      assert.equal((started.payload as { startNode: string }).startNode, "s2");
      assert.notEqual(a.taskId, b.taskId);
    });
  });

  it("rejects an unknown start (UNKNOWN_START_NODE), a non-start node (INVALID_START_NODE) and non-JSON input (INPUT_NOT_JSON), emitting nothing", async () => {
    await withEngine({ "workflow.yaml": TWO_STARTS }, {}, async (engine) => {
      const code = (c: string) => (err: unknown) => err instanceof EngineError && err.code === c;
      await assert.rejects(engine.run({}, { startNode: "nope" }), code("UNKNOWN_START_NODE"));
      await assert.rejects(engine.run({}, { startNode: "done" }), code("INVALID_START_NODE"));
      await assert.rejects(engine.run({ f: () => 1 }), code("INPUT_NOT_JSON"));
      await assert.rejects(engine.run({ n: Number.NaN }), code("INPUT_NOT_JSON"));
      assert.equal(engine.getEvents().length, 0);
    });
  });

  it("refuses runs after shutdown (ENGINE_SHUT_DOWN)", async () => {
    const dir = await writeConfigDir({ "workflow.yaml": TWO_STARTS });
    try {
      const engine = await Engine.fromConfigDir(dir, { logger: silentLogger });
      await engine.shutdown();
      await assert.rejects(engine.run({}), (err: unknown) => err instanceof EngineError && err.code === "ENGINE_SHUT_DOWN");
    } finally {
      await removeDir(dir);
    }
  });
});

const DECISION = `
nodes:
  - { id: begin, kind: deterministic, role: start }
  - { id: pick, kind: deterministic, role: decision }
  - { id: left, kind: deterministic, role: linear }
  - { id: right, kind: deterministic, role: linear }
  - { id: out_l, kind: deterministic, role: exit }
  - { id: out_r, kind: deterministic, role: exit }
edges:
  - { from: begin, to: pick }
  - { from: pick, to: left, label: go_left }
  - { from: pick, to: right }
  - { from: left, to: out_l }
  - { from: right, to: out_r }
`;

describe("decision", () => {
  const run = (choice: unknown) => runWorkflow({ "workflow.yaml": DECISION }, { v: 1 }, { handlers: { pick: () => choice } });

  it("a bare string names the edge by label; the data flowing on is the decision's input", async () => {
    const { result, events } = await run("go_left");
    assert.equal(result.status, "success");
    assert.deepEqual(path(result), ["begin", "pick", "left", "out_l"]);
    assert.deepEqual(result.output, { v: 1 });
    assert.equal(result.history[1]!.output, "go_left");
    const d = events.find((e) => e.type === "routing.decision")!;
    assert.equal(d.nodeId, "pick");
    assert.deepEqual(d.payload, { selected: "go_left", edge: { from: "pick", to: "left", label: "go_left" } });
    const i = events.indexOf(d);
    assert.equal(events[i - 1]!.type, "node.completed");
    assert.equal(events[i + 1]!.type, "node.started");
  });

  it("a bare string names the edge by target node id", async () => {
    const { result, events } = await run("right");
    assert.deepEqual(path(result), ["begin", "pick", "right", "out_r"]);
    assert.deepEqual(result.output, { v: 1 });
    assert.deepEqual(events.find((e) => e.type === "routing.decision")!.payload, { selected: "right", edge: { from: "pick", to: "right" } });
  });

  it("a labelled edge can also be chosen by its target id", async () => {
    const { result } = await run("left");
    assert.deepEqual(path(result), ["begin", "pick", "left", "out_l"]);
  });

  it("{ selected_edge } chooses the edge and the object flows on", async () => {
    const { result } = await run({ selected_edge: "go_left", why: "because" });
    assert.deepEqual(path(result), ["begin", "pick", "left", "out_l"]);
    assert.deepEqual(result.output, { selected_edge: "go_left", why: "because" });
  });

  for (const [what, choice] of [
    ["an unknown name", "nowhere"],
    ["a number", 42],
    ["an object without selected_edge", { pick: "left" }],
    ["a non-string selected_edge", { selected_edge: 1 }],
  ] as const) {
    it(`fails ROUTING_NO_MATCH for ${what}`, async () => {
      const { result, events } = await run(choice);
      assert.equal(result.status, "failure");
      assert.equal(result.error?.code, "ROUTING_NO_MATCH");
      assert.deepEqual(path(result), ["begin", "pick"]);
      const h = result.history[1]!;
      assert.equal(h.status, "failure");
      assert.equal(h.output, null);
      assert.equal(h.error?.code, "ROUTING_NO_MATCH");
      assert.deepEqual(trace(events).slice(-3), ["node.started@pick", "node.failed@pick", "task.failed"]);
      assert.equal(events.filter((e) => e.type === "routing.decision").length, 0);
      if (typeof choice === "string") assert.match(h.error!.message, /go_left/);
    });
  }

  it("a decision that fails cannot continue, even with continue_on_failure", async () => {
    const wf = DECISION.replace("{ id: pick, kind: deterministic, role: decision }", "{ id: pick, kind: deterministic, role: decision, continue_on_failure: true }");
    for (const handler of [() => "nowhere", () => { throw new Error("boom"); }]) {
      const { result, events } = await runWorkflow({ "workflow.yaml": wf }, {}, { handlers: { pick: handler } });
      assert.equal(result.status, "failure");
      assert.deepEqual(path(result), ["begin", "pick"]);
      const failed = events.find((e) => e.type === "node.failed")!;
      assert.equal((failed.payload as { continued: boolean }).continued, false);
    }
  });
});

const BRANCH_NO_MERGE = `
nodes:
  - { id: begin, kind: deterministic, role: start }
  - { id: fan, kind: deterministic, role: branch }
  - { id: a, kind: deterministic, role: linear }
  - { id: b, kind: deterministic, role: linear }
  - { id: c, kind: deterministic, role: linear }
  - { id: end_a, kind: deterministic, role: exit }
  - { id: end_b, kind: deterministic, role: exit }
  - { id: end_c, kind: deterministic, role: exit }
edges:
  - { from: begin, to: fan }
  - { from: fan, to: a }
  - { from: fan, to: b }
  - { from: fan, to: c }
  - { from: a, to: end_a }
  - { from: b, to: end_b }
  - { from: c, to: end_c }
`;

describe("branch without merge", () => {
  const fail = async (): Promise<never> => {
    await sleep(1);
    throw new Error("arm failed");
  };
  it("clones get the branch output; the parent completes with the first successful clone in edge order", async () => {
    const { result, events } = await runWorkflow({ "workflow.yaml": BRANCH_NO_MERGE }, { x: 1 }, {
      handlers: {
        fan: (i) => ({ ...(i as object), fanned: true }),
        a: fail,
        b: async (i) => { await sleep(15); return { arm: "b", got: i }; },
        c: async () => ({ arm: "c" }),
      },
    });
    assert.equal(result.status, "success");
    assert.deepEqual(result.output, { arm: "b", got: { x: 1, fanned: true } });
    assert.deepEqual(path(result), ["begin", "fan"]);
    assert.equal(result.children.length, 3);
    const [ca, cb, cc] = result.children;
    assert.deepEqual([ca!.status, cb!.status, cc!.status], ["failure", "success", "success"]);
    for (const c of result.children) {
      assert.deepEqual(c.input, { x: 1, fanned: true });
      assert.equal(c.parentTaskId, result.taskId);
      assert.deepEqual(c.lineage, [result.taskId]);
    }
    assert.deepEqual(path(ca!), ["a"]);
    assert.deepEqual(path(cb!), ["b", "end_b"]);
    const branch = events.find((e) => e.type === "routing.branch")!;
    assert.deepEqual(branch.payload, {
      clones: [
        { taskId: ca!.taskId, edge: { from: "fan", to: "a" } },
        { taskId: cb!.taskId, edge: { from: "fan", to: "b" } },
        { taskId: cc!.taskId, edge: { from: "fan", to: "c" } },
      ],
    });
    const created = events.filter((e) => e.type === "clone.created");
    assert.deepEqual(created.map((e) => e.payload), result.children.map((c, i) => ({ parentTaskId: result.taskId, childTaskId: c.taskId, edge: { from: "fan", to: ["a", "b", "c"][i] } })));
    // Parent ends last, after all of its clones.
    const last = events.at(-1)!;
    assert.equal(last.type, "task.completed");
    assert.equal(last.taskId, result.taskId);
  });

  it("fails when every clone fails", async () => {
    const { result } = await runWorkflow({ "workflow.yaml": BRANCH_NO_MERGE }, {}, { handlers: { a: fail, b: fail, c: fail } });
    assert.equal(result.status, "failure");
    assert.ok(result.error);
    assert.ok(result.children.every((c) => c.status === "failure"));
  });

  it("a clone's failure is isolated: the other clones still run", async () => {
    const seen: string[] = [];
    const { result } = await runWorkflow({ "workflow.yaml": BRANCH_NO_MERGE }, {}, {
      handlers: { a: () => { seen.push("a"); throw new Error("x"); }, b: () => { seen.push("b"); return 1; }, c: () => { seen.push("c"); return 2; } },
    });
    assert.deepEqual(seen.sort(), ["a", "b", "c"]);
    assert.equal(result.output, 1);
  });
});

const branchMerge = (policy: string | undefined) => `
nodes:
  - { id: begin, kind: deterministic, role: start }
  - { id: fan, kind: deterministic, role: branch }
  - { id: a, kind: deterministic, role: linear }
  - { id: b, kind: deterministic, role: linear }
  - { id: c, kind: deterministic, role: linear }
  - { id: join, kind: deterministic, role: merge${policy ? `, merge: { on_failure: ${policy} }` : ""} }
  - { id: done, kind: deterministic, role: exit }
edges:
  - { from: begin, to: fan }
  - { from: fan, to: a }
  - { from: fan, to: b }
  - { from: fan, to: c }
  - { from: c, to: join }
  - { from: a, to: join }
  - { from: b, to: join }
  - { from: join, to: done }
`;

describe("branch + merge", () => {
  const arms = (failB: boolean) => ({
    a: async () => { await sleep(12); return "A"; },
    b: async () => { await sleep(1); if (failB) throw new Error("b broke"); return "B"; },
    c: async () => { await sleep(6); return "C"; },
  });

  it("merge input is [{node_id, output, status, task_id}] in in-edge declaration order; the parent continues from the merge", async () => {
    const { result, events } = await runWorkflow({ "workflow.yaml": branchMerge(undefined) }, 0, { handlers: arms(false) });
    assert.equal(result.status, "success");
    const [ca, cb, cc] = result.children;
    // `index` is the clone's outbound-edge position at the branch (§14).
    assert.deepEqual(result.output, [
      { node_id: "c", output: "C", status: "success", task_id: cc!.taskId, index: 2 },
      { node_id: "a", output: "A", status: "success", task_id: ca!.taskId, index: 0 },
      { node_id: "b", output: "B", status: "success", task_id: cb!.taskId, index: 1 },
    ]);
    assert.deepEqual(path(result), ["begin", "fan", "join", "done"]);
    for (const c of result.children) assert.equal(c.status, "success");
    assert.deepEqual(path(ca!), ["a"]);
    const merge = events.find((e) => e.type === "routing.merge")!;
    assert.equal(merge.taskId, result.taskId);
    assert.equal(merge.nodeId, "join");
    assert.deepEqual(merge.payload, {
      inputs: [
        { node_id: "c", status: "success", task_id: cc!.taskId, index: 2 },
        { node_id: "a", status: "success", task_id: ca!.taskId, index: 0 },
        { node_id: "b", status: "success", task_id: cb!.taskId, index: 1 },
      ],
      failed: [],
      onFailure: "fail_on_any",
      status: "success",
    });
    // Every clone has ended before the merge fires.
    const mergeAt = events.indexOf(merge);
    for (const c of result.children) {
      const end = events.findIndex((e) => e.type === "task.completed" && e.taskId === c.taskId);
      assert.ok(end >= 0 && end < mergeAt);
    }
  });

  it("fail_on_any (the default): one failed clone fails the merge with MERGE_FAILED", async () => {
    for (const policy of [undefined, "fail_on_any"]) {
      const { result, events } = await runWorkflow({ "workflow.yaml": branchMerge(policy) }, 0, { handlers: arms(true) });
      assert.equal(result.status, "failure");
      assert.equal(result.error?.code, "MERGE_FAILED");
      assert.deepEqual(path(result), ["begin", "fan", "join"]);
      const merge = events.find((e) => e.type === "routing.merge")!;
      const p = merge.payload as unknown as { status: string; failed: { node_id: string; task_id: string; error?: { code: string } }[]; inputs: unknown[] };
      assert.equal(p.status, "failure");
      assert.equal(p.inputs.length, 2);
      assert.deepEqual(p.failed.map((f) => [f.node_id, f.task_id, f.error?.code]), [["b", result.children[1]!.taskId, "HANDLER_FAILED"]]);
      assert.deepEqual(trace(events).slice(-3), ["node.started@join", "node.failed@join", "task.failed"]);
    }
  });

  it("ignore_failures: merges the successful arrivals and succeeds", async () => {
    const { result } = await runWorkflow({ "workflow.yaml": branchMerge("ignore_failures") }, 0, { handlers: arms(true) });
    assert.equal(result.status, "success");
    assert.deepEqual((result.output as { node_id: string; output: string }[]).map((x) => [x.node_id, x.output]), [["c", "C"], ["a", "A"]]);
  });

  it("every clone failing fails the task under every policy", async () => {
    const boom = () => { throw new Error("no"); };
    for (const policy of ["fail_on_any", "ignore_failures", "partial"]) {
      const { result } = await runWorkflow({ "workflow.yaml": branchMerge(policy) }, 0, { handlers: { a: boom, b: boom, c: boom } });
      assert.equal(result.status, "failure", policy);
      assert.ok(result.error, policy);
    }
  });

  // Regression: with zero arrivals the merge used to never fire (no routing.merge, parent failed
  // UPSTREAM_FAILED). The fork's join is now the first merge closing it that a failed child was
  // heading to.
  it("ignore_failures with zero successes fails MERGE_FAILED at the merge node", async () => {
    const boom = () => { throw new Error("no"); };
    const { result, events } = await runWorkflow({ "workflow.yaml": branchMerge("ignore_failures") }, 0, { handlers: { a: boom, b: boom, c: boom } });
    assert.equal(result.status, "failure");
    assert.equal(result.error?.code, "MERGE_FAILED");
    assert.deepEqual(path(result), ["begin", "fan", "join"]);
    assert.equal(events.filter((e) => e.type === "routing.merge").length, 1);
  });

  it("partial: merges the successful arrivals, continues, and the task ends partial", async () => {
    const { result, events } = await runWorkflow({ "workflow.yaml": branchMerge("partial") }, 0, { handlers: arms(true) });
    assert.equal(result.status, "partial");
    assert.deepEqual(path(result), ["begin", "fan", "join", "done"]);
    assert.deepEqual((result.output as { node_id: string }[]).map((x) => x.node_id), ["c", "a"]);
    assert.equal((events.find((e) => e.type === "routing.merge")!.payload as { status: string }).status, "partial");
    assert.deepEqual(events.at(-1)!.payload, { status: "partial", output: result.output });
  });
});

describe("split", () => {
  const SPLIT3 = `
nodes:
  - { id: begin, kind: deterministic, role: start }
  - { id: sp, kind: deterministic, role: split }
  - { id: w1, kind: deterministic, role: linear }
  - { id: w2, kind: deterministic, role: linear }
  - { id: w3, kind: deterministic, role: linear }
  - { id: gather, kind: deterministic, role: merge }
  - { id: done, kind: deterministic, role: exit }
edges:
  - { from: begin, to: sp }
  - { from: sp, to: w1 }
  - { from: sp, to: w2 }
  - { from: sp, to: w3 }
  - { from: w1, to: gather }
  - { from: w2, to: gather }
  - { from: w3, to: gather }
  - { from: gather, to: done }
`;
  const worker = (name: string) => async (item: unknown) => {
    await sleep(Math.max(0, 10 - (item as number) * 2));
    return `${name}:${String(item)}`;
  };

  it("assigns items round-robin over edges; merge input is in item order whatever the edge (§14)", async () => {
    const { result, events } = await runWorkflow({ "workflow.yaml": SPLIT3 }, [0, 1, 2, 3, 4], { handlers: { w1: worker("w1"), w2: worker("w2"), w3: worker("w3") } });
    assert.equal(result.status, "success");
    assert.deepEqual((result.output as { output: string }[]).map((x) => x.output), ["w1:0", "w2:1", "w3:2", "w1:3", "w2:4"]);
    assert.deepEqual((result.output as { index: number }[]).map((x) => x.index), [0, 1, 2, 3, 4]);
    const kids = result.children;
    assert.equal(kids.length, 5);
    assert.deepEqual(kids.map((k) => [k.input, path(k)]), [[0, ["w1"]], [1, ["w2"]], [2, ["w3"]], [3, ["w1"]], [4, ["w2"]]]);
    assert.deepEqual((result.output as { task_id: string }[]).map((x) => x.task_id), [0, 1, 2, 3, 4].map((i) => kids[i]!.taskId));
    const split = events.find((e) => e.type === "routing.split")!;
    assert.deepEqual(split.payload, {
      count: 5,
      subtasks: kids.map((k, i) => ({ taskId: k.taskId, edge: { from: "sp", to: `w${(i % 3) + 1}` }, index: i })),
    });
    const created = events.filter((e) => e.type === "subtask.created").map((e) => e.payload);
    assert.deepEqual(created, kids.map((k, i) => ({ parentTaskId: result.taskId, childTaskId: k.taskId, edge: { from: "sp", to: `w${(i % 3) + 1}` }, index: i })));
  });

  it("with two edges and fewer items than edges", async () => {
    const wf = SPLIT3.replace("  - { from: sp, to: w3 }\n", "").replace("  - { id: w3, kind: deterministic, role: linear }\n", "").replace("  - { from: w3, to: gather }\n", "");
    const { result } = await runWorkflow({ "workflow.yaml": wf }, ["x"], { handlers: { w1: worker("w1"), w2: worker("w2") } });
    assert.equal(result.status, "success");
    assert.deepEqual(result.output, [{ node_id: "w1", output: "w1:x", status: "success", task_id: result.children[0]!.taskId, index: 0 }]);
  });

  for (const [what, value] of [["an empty array", []], ["an object", { a: 1 }], ["null", null]] as const) {
    it(`fails SPLIT_NOT_ARRAY for ${what}, even with continue_on_failure`, async () => {
      const wf = SPLIT3.replace("role: split }", "role: split, continue_on_failure: true }");
      const { result } = await runWorkflow({ "workflow.yaml": wf }, value);
      assert.equal(result.status, "failure");
      assert.equal(result.error?.code, "SPLIT_NOT_ARRAY");
      assert.deepEqual(path(result), ["begin", "sp"]);
      assert.equal(result.children.length, 0);
    });
  }

  const SPLIT_NO_MERGE = `
nodes:
  - { id: begin, kind: deterministic, role: start }
  - { id: sp, kind: deterministic, role: split }
  - { id: w1, kind: deterministic, role: linear }
  - { id: w2, kind: deterministic, role: linear }
  - { id: e1, kind: deterministic, role: exit }
  - { id: e2, kind: deterministic, role: exit }
edges:
  - { from: begin, to: sp }
  - { from: sp, to: w1 }
  - { from: sp, to: w2 }
  - { from: w1, to: e1 }
  - { from: w2, to: e2 }
`;
  const failing = (bad: (n: number) => boolean) => async (n: unknown) => {
    await sleep(Math.max(0, 8 - (n as number)));
    if (bad(n as number)) throw new Error(`item ${String(n)} failed`);
    return (n as number) * 10;
  };
  const noMerge = (bad: (n: number) => boolean) =>
    runWorkflow({ "workflow.yaml": SPLIT_NO_MERGE }, [1, 2, 3, 4], { handlers: { w1: failing(bad), w2: failing(bad) } });

  it("without a merge: success when all subtasks succeed; output = subtask outputs in item order", async () => {
    const { result, events } = await noMerge(() => false);
    assert.equal(result.status, "success");
    assert.deepEqual(result.output, [10, 20, 30, 40]);
    assert.deepEqual(result.children.map(path), [["w1", "e1"], ["w2", "e2"], ["w1", "e1"], ["w2", "e2"]]);
    assert.equal(events.at(-1)!.taskId, result.taskId);
  });

  it("without a merge: partial when some subtasks fail", async () => {
    const { result } = await noMerge((n) => n === 2);
    assert.equal(result.status, "partial");
    assert.deepEqual(result.children.map((c) => c.status), ["success", "failure", "success", "success"]);
    assert.deepEqual(result.output, [10, 2, 30, 40]);
  });

  it("without a merge: failure when every subtask fails", async () => {
    const { result } = await noMerge(() => true);
    assert.equal(result.status, "failure");
    assert.ok(result.error);
  });
});

describe("nested forks", () => {
  const NESTED = `
nodes:
  - { id: begin, kind: deterministic, role: start }
  - { id: fan, kind: deterministic, role: branch }
  - { id: sp, kind: deterministic, role: split }
  - { id: w1, kind: deterministic, role: linear }
  - { id: w2, kind: deterministic, role: linear }
  - { id: inner, kind: deterministic, role: merge }
  - { id: other, kind: deterministic, role: linear }
  - { id: outer, kind: deterministic, role: merge }
  - { id: done, kind: deterministic, role: exit }
edges:
  - { from: begin, to: fan }
  - { from: fan, to: sp }
  - { from: fan, to: other }
  - { from: sp, to: w1 }
  - { from: sp, to: w2 }
  - { from: w1, to: inner }
  - { from: w2, to: inner }
  - { from: inner, to: outer }
  - { from: other, to: outer }
  - { from: outer, to: done }
`;
  it("a split inside a branch arm merges its subtasks, then the clone meets its sibling at the outer merge", async () => {
    const { result, events } = await runWorkflow({ "workflow.yaml": NESTED }, { items: ["p", "q", "r"] }, {
      handlers: {
        sp: (i) => (i as { items: string[] }).items,
        w1: async (s) => { await sleep(5); return `w1(${String(s)})`; },
        w2: async (s) => `w2(${String(s)})`,
        inner: (arr) => (arr as { output: string }[]).map((x) => x.output),
        other: async () => { await sleep(3); return "other"; },
        outer: (arr) => (arr as { node_id: string; output: unknown }[]).map((x) => [x.node_id, x.output]),
      },
    });
    assert.equal(result.status, "success");
    assert.deepEqual(result.output, [["inner", ["w1(p)", "w2(q)", "w1(r)"]], ["other", "other"]]);
    assert.deepEqual(path(result), ["begin", "fan", "outer", "done"]);
    const clone = result.children[0]!;
    assert.deepEqual(path(clone), ["sp", "inner"]);
    const subtasks = result.children.filter((c) => c.parentTaskId === clone.taskId);
    assert.equal(subtasks.length, 3);
    for (const s of subtasks) assert.deepEqual(s.lineage, [result.taskId, clone.taskId]);
    assert.equal(events.filter((e) => e.type === "routing.merge").length, 2);
  });
});

describe("decision diamond inside a branch arm", () => {
  const DIAMOND = `
nodes:
  - { id: begin, kind: deterministic, role: start }
  - { id: fan, kind: deterministic, role: branch }
  - { id: pick, kind: deterministic, role: decision }
  - { id: x, kind: deterministic, role: linear }
  - { id: y, kind: deterministic, role: linear }
  - { id: rejoin, kind: deterministic, role: merge }
  - { id: other, kind: deterministic, role: linear }
  - { id: join, kind: deterministic, role: merge }
  - { id: done, kind: deterministic, role: exit }
edges:
  - { from: begin, to: fan }
  - { from: fan, to: pick }
  - { from: fan, to: other }
  - { from: pick, to: x }
  - { from: pick, to: y }
  - { from: x, to: rejoin }
  - { from: y, to: rejoin }
  - { from: rejoin, to: join }
  - { from: other, to: join }
  - { from: join, to: done }
`;
  // Regression: every merge a clone reached used to count as its fork's merge, so `rejoin` (a
  // decision join inside one arm) ended the clone and `join`/`done` ran twice. A merge now closes
  // a branch only when two or more of its arms lead there.
  it("a decision join inside one arm does not end the clone; the branch's merge gets both arms", async () => {
    const { result, events } = await runWorkflow({ "workflow.yaml": DIAMOND }, 0, { handlers: { pick: () => "x", x: () => "X", other: () => "O" } });
    assert.equal(result.status, "success");
    assert.deepEqual((result.output as { node_id: string }[]).map((a) => a.node_id), ["rejoin", "other"]);
    assert.equal(events.filter((e) => e.type === "node.started" && e.nodeId === "done").length, 1);
    assert.equal(events.at(-1)!.taskId, result.taskId);
  });
});
