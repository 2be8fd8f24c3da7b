/**
 * Interrupts (CONTRACT §11): `interrupt: before | after` and `ctx.interrupt()`; the run suspends
 * with `status: "interrupted"`, other branches keep running, `engine.resume(runId, { answer })`
 * continues without re-running anything committed.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { EngineError } from "../../src/errors.js";
import type { JsonValue } from "../../src/json.js";
import type { HandlerContext } from "../../src/runtime/types.js";
import { path, withEngine } from "./harness.js";

const BRANCH = (interrupt: string): string => `
nodes:
  - { id: begin, kind: deterministic, role: start }
  - { id: fan, kind: deterministic, role: branch }
  - { id: review, kind: deterministic, role: linear${interrupt} }
  - { id: publish, kind: deterministic, role: linear }
  - { id: other, kind: deterministic, role: linear }
  - { id: join, kind: deterministic, role: merge }
  - { id: done, kind: deterministic, role: exit }
edges:
  - { from: begin, to: fan }
  - { from: fan, to: review }
  - { from: review, to: publish }
  - { from: publish, to: join }
  - { from: fan, to: other }
  - { from: other, to: join }
  - { from: join, to: done }
`;

function counting() {
  const calls: Record<string, number> = {};
  const seen: Record<string, unknown> = {};
  const h = (id: string, fn?: (input: JsonValue, ctx: HandlerContext) => unknown) => (input: JsonValue, ctx: HandlerContext) => {
    calls[id] = (calls[id] ?? 0) + 1;
    if (ctx.resumeValue !== undefined) seen[id] = ctx.resumeValue;
    return fn ? fn(input, ctx) : { from: id, input };
  };
  return { calls, seen, h };
}

describe("interrupt: before", () => {
  it("suspends before the node runs; other branches finish first; resume runs the node with the answer", async () => {
    const { calls, seen, h } = counting();
    await withEngine({ "workflow.yaml": BRANCH(", interrupt: before") }, { handlers: { review: h("review"), publish: h("publish"), other: h("other") } }, async (engine) => {
      const first = await engine.run({ doc: "draft" });
      assert.equal(first.status, "interrupted");
      assert.equal(first.interrupt?.nodeId, "review");
      assert.equal(first.interrupt?.kind, "before");
      assert.deepEqual(first.interrupt?.payload, { doc: "draft" });
      assert.equal(calls["review"], undefined, "the node has not run");
      assert.equal(calls["other"], 1, "the other branch ran meanwhile");
      // A task that has not ended is "interrupted" in the result, not "failure".
      const waits = first.children.find((c) => c.taskId === first.interrupt?.taskId);
      assert.equal(waits?.status, "interrupted");
      assert.deepEqual(first.children.map((c) => c.status).sort(), ["interrupted", "success"]);
      const events = engine.getEvents();
      assert.ok(events.some((e) => e.type === "task.completed" && e.taskId !== first.taskId), "the other clone completed");
      assert.ok(!events.some((e) => e.type === "routing.merge"), "the merge waits for the suspended arm");
      assert.ok(!events.some((e) => e.type === "node.started" && e.nodeId === "review"), "no node.started before the answer");
      const interrupted = events.filter((e) => e.type === "run.interrupted");
      assert.equal(interrupted.length, 1);
      assert.deepEqual((await engine.listRuns({ status: "interrupted" })).map((r) => r.id), [first.runId]);

      const before = engine.getEvents().length;
      const second = await engine.resume(first.runId, { answer: { approved_by: "ana" } });
      assert.equal(second.status, "success");
      assert.equal(second.runId, first.runId);
      assert.deepEqual(second.children.map((c) => c.status), ["success", "success"]);
      assert.equal(calls["review"], 1);
      assert.equal(calls["other"], 1, "nothing committed runs again");
      assert.deepEqual(seen["review"], { approved_by: "ana" });
      assert.deepEqual(path(second), ["begin", "fan", "join", "done"]);
      const after = engine.getEvents().slice(before);
      assert.equal(after[0]!.type, "run.resumed");
      assert.deepEqual(after[0]!.payload, { interruptId: first.interrupt!.id, answer: { approved_by: "ana" } });
      assert.equal(after.filter((e) => e.type === "task.started").length, 0, "no event is emitted twice");
      assert.equal((await engine.listRuns({ status: "success" }))[0]!.id, first.runId);
    });
  });
});

describe("interrupt: after", () => {
  for (const [what, answer, status, check] of [
    ["{ approve: true } keeps the output", { approve: true }, "success", (out: unknown) => assert.deepEqual((out as { output: { from: string } }[])[0]!.output, { from: "publish", input: { from: "review", input: { doc: "d" } } })],
    ["{ output } replaces it", { output: { edited: true } }, "success", (out: unknown) => assert.deepEqual((out as { output: { input: unknown } }[])[0]!.output.input, { edited: true })],
    ["{ approve: false, reason } fails the node INTERRUPT_REJECTED", { approve: false, reason: "too long" }, "failure", undefined],
  ] as const) {
    it(what, async () => {
      const { calls, h } = counting();
      await withEngine({ "workflow.yaml": BRANCH(", interrupt: after") }, { handlers: { review: h("review"), publish: h("publish"), other: h("other") } }, async (engine) => {
        const first = await engine.run({ doc: "d" });
        assert.equal(first.status, "interrupted");
        assert.equal(first.interrupt?.kind, "after");
        assert.deepEqual(first.interrupt?.payload, { from: "review", input: { doc: "d" } });
        assert.equal(calls["review"], 1);
        const second = await engine.resume(first.runId, { answer });
        assert.equal(second.status, status);
        assert.equal(calls["review"], 1, "the node does not run again");
        if (check) check(second.output);
        else {
          const clone = second.children.find((c) => c.history[0]?.nodeId === "review")!;
          assert.equal(clone.error?.code, "INTERRUPT_REJECTED");
          assert.match(clone.error?.message ?? "", /too long/);
          const failed = engine.getEvents({ type: "node.failed" }).filter((e) => e.nodeId === "review");
          assert.equal(failed.length, 1);
          assert.equal((failed[0]!.payload as { error: { code: string } }).error.code, "INTERRUPT_REJECTED");
        }
        // One node.started for review in total: the answer commits the same stage.
        assert.equal(engine.getEvents({ type: "node.started" }).filter((e) => e.nodeId === "review").length, 1);
      });
    });
  }
});

describe("ctx.interrupt()", () => {
  it("suspends the handler; on resume it runs again and ctx.interrupt() returns the answer", async () => {
    const { calls, h } = counting();
    const review = h("review", (input, ctx) => {
      const verdict = ctx.interrupt({ question: "publish?", draft: input });
      return { verdict };
    });
    await withEngine({ "workflow.yaml": BRANCH("") }, { handlers: { review, publish: h("publish"), other: h("other") } }, async (engine) => {
      const first = await engine.run("draft");
      assert.equal(first.status, "interrupted");
      assert.equal(first.interrupt?.kind, "handler");
      assert.deepEqual(first.interrupt?.payload, { question: "publish?", draft: "draft" });
      const second = await engine.resume(first.runId, { answer: "yes" });
      assert.equal(second.status, "success");
      assert.equal(calls["review"], 2, "the handler runs again from the start");
      assert.deepEqual((second.output as { output: { input: unknown } }[])[0]!.output.input, { verdict: "yes" });
    });
  });

  it("two interrupts in one handler need two answers", async () => {
    const wf = `
nodes:
  - { id: begin, kind: deterministic, role: start }
  - { id: ask, kind: deterministic, role: linear }
  - { id: done, kind: deterministic, role: exit }
edges:
  - { from: begin, to: ask }
  - { from: ask, to: done }
`;
    await withEngine({ "workflow.yaml": wf }, { handlers: { ask: (_i: JsonValue, ctx: HandlerContext) => ({ a: ctx.interrupt("first?"), b: ctx.interrupt("second?") }) } }, async (engine) => {
      const r1 = await engine.run(null);
      assert.deepEqual(r1.interrupt?.payload, "first?");
      const r2 = await engine.resume(r1.runId, { answer: 1 });
      assert.equal(r2.status, "interrupted");
      assert.deepEqual(r2.interrupt?.payload, "second?");
      assert.notEqual(r2.interrupt?.id, r1.interrupt?.id);
      const r3 = await engine.resume(r1.runId, { answer: 2 });
      assert.equal(r3.status, "success");
      assert.deepEqual(r3.output, { a: 1, b: 2 });
    });
  });
});

describe("resume errors", () => {
  it("unknown run, finished run, missing answer, wrong interrupt: coded errors, nothing changed", async () => {
    const { h } = counting();
    await withEngine({ "workflow.yaml": BRANCH(", interrupt: before") }, { handlers: { review: h("review"), publish: h("publish"), other: h("other") } }, async (engine) => {
      await assert.rejects(engine.resume("run-nope", { answer: 1 }), (e: unknown) => e instanceof EngineError && e.code === "RUN_NOT_FOUND");
      const r = await engine.run({});
      await assert.rejects(engine.resume(r.runId), (e: unknown) => e instanceof EngineError && e.code === "ANSWER_REQUIRED");
      await assert.rejects(engine.resume(r.runId, { answer: 1, interruptId: "x/y/0" }), (e: unknown) => e instanceof EngineError && e.code === "INTERRUPT_UNKNOWN");
      await assert.rejects(engine.resume(r.runId, { answer: () => 1 }), (e: unknown) => e instanceof EngineError && e.code === "INPUT_NOT_JSON");
      const done = await engine.resume(r.runId, { answer: true });
      assert.equal(done.status, "success");
      await assert.rejects(engine.resume(r.runId, { answer: 1 }), (e: unknown) => e instanceof EngineError && e.code === "RUN_FINISHED");
    });
  });
});
