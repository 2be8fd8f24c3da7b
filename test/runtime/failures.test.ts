/**
 * Scenario tests for failures (CONTRACT §3 status model): handler errors, schemas, non-JSON
 * outputs, frozen inputs, continue_on_failure, always_fail, timeouts and cancellation.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { HandlerContext } from "../../src/runtime/types.js";
import { path, runWorkflow, sleep, trace, withEngine } from "./harness.js";

const wf = (stepExtra = "", doneExtra = "") => `
nodes:
  - { id: begin, kind: deterministic, role: start }
  - { id: step, kind: deterministic, role: linear${stepExtra} }
  - { id: done, kind: deterministic, role: exit${doneExtra} }
edges:
  - { from: begin, to: step }
  - { from: step, to: done }
`;

async function failsWith(files: Record<string, string>, input: unknown, handlers: Record<string, (i: never, c: HandlerContext) => unknown>, code: string) {
  const { result, events } = await runWorkflow(files, input, { handlers: handlers as never });
  assert.equal(result.status, "failure");
  assert.equal(result.error?.code, code, result.error?.message);
  const failed = events.find((e) => e.type === "node.failed")!;
  assert.equal(failed.nodeId, "step");
  assert.equal((failed.payload as { error: { code: string } }).error.code, code);
  assert.equal(typeof (failed.payload as { error: { message: string } }).error.message, "string");
  assert.deepEqual(trace(events).slice(-3), ["node.started@step", "node.failed@step", "task.failed"]);
  assert.deepEqual(path(result), ["begin", "step"]);
  const h = result.history[1]!;
  assert.equal(h.status, "failure");
  assert.equal(h.error?.code, code);
  return { result, events };
}

describe("node failures", () => {
  it("a throwing handler fails HANDLER_FAILED with its message", async () => {
    const { result } = await failsWith({ "workflow.yaml": wf() }, 1, { step: () => { throw new Error("kaboom"); } }, "HANDLER_FAILED");
    assert.match(result.error!.message, /kaboom/);
  });

  it("a rejecting async handler fails HANDLER_FAILED", async () => {
    await failsWith({ "workflow.yaml": wf() }, 1, { step: async () => { await sleep(1); throw new Error("later"); } }, "HANDLER_FAILED");
  });

  it("a thrown non-Error is still reported", async () => {
    const { result } = await failsWith({ "workflow.yaml": wf() }, 1, { step: () => { throw "plain string"; } }, "HANDLER_FAILED");
    assert.match(result.error!.message, /plain string/);
  });

  it("a handler's own error code never becomes an engine code: HANDLER_FAILED, the code kept as originalCode", async () => {
    for (const code of ["MY_CODE", "ENOENT", "ERR_INVALID_ARG_TYPE", "TOOL_NOT_ALLOWED"]) {
      const { result, events } = await failsWith({ "workflow.yaml": wf() }, 1, { step: () => { throw Object.assign(new Error("mine"), { code }); } }, "HANDLER_FAILED");
      assert.equal(result.history[1]!.error?.originalCode, code);
      const failed = events.find((e) => e.type === "node.failed")!;
      assert.equal((failed.payload as { error: { code: string; originalCode?: string } }).error.originalCode, code);
    }
    // A hostile error: a throwing `code` getter, a Proxy. Still HANDLER_FAILED, never a crash.
    const hostile = { get code(): string { throw new Error("gotcha"); }, get message(): string { throw new Error("gotcha"); } };
    await failsWith({ "workflow.yaml": wf() }, 1, { step: () => { throw hostile; } }, "HANDLER_FAILED");
    await failsWith({ "workflow.yaml": wf() }, 1, { step: async () => { throw new Proxy({}, { get() { throw new Error("trap"); } }); } }, "HANDLER_FAILED");
    await failsWith({ "workflow.yaml": wf() }, 1, { step: () => Promise.reject(hostile) }, "HANDLER_FAILED");
    // Regression: `instanceof` runs a Proxy's getPrototypeOf trap. A throwing one made a
    // synchronous throw an INTERNAL_ERROR of the run and an async one an unhandled rejection.
    const noProto = new Proxy({}, { getPrototypeOf(): never { throw new Error("proto trap"); } });
    await failsWith({ "workflow.yaml": wf() }, 1, { step: () => { throw noProto; } }, "HANDLER_FAILED");
    await failsWith({ "workflow.yaml": wf() }, 1, { step: async () => { throw noProto; } }, "HANDLER_FAILED");
  });

  it("the history entry carries the stack of the user's code that threw (no engine frames)", async () => {
    const { result, events } = await failsWith({ "workflow.yaml": wf() }, 1, { step: function userStep() { throw new Error("kaboom"); } }, "HANDLER_FAILED");
    const stack = result.history[1]!.error?.stack ?? "";
    assert.match(stack, /userStep/);
    assert.doesNotMatch(stack, /StageExecutor|Run\.js/);
    const failed = events.find((e) => e.type === "node.failed")!;
    assert.equal((failed.payload as { error: { stack?: string } }).error.stack, undefined, "events carry code and message only");
  });

  for (const [what, value] of [
    ["a function", () => 1],
    ["NaN", { n: Number.NaN }],
    ["a class instance", new Map()],
    ["a Date", { d: new Date(0) }],
    ["a bigint", { b: 1n }],
    ["undefined", undefined],
  ] as const) {
    it(`returning ${what} fails OUTPUT_NOT_JSON`, async () => {
      await failsWith({ "workflow.yaml": wf() }, 1, { step: () => value }, "OUTPUT_NOT_JSON");
    });
  }

  it("a cyclic output fails OUTPUT_NOT_JSON naming the path", async () => {
    const cyc: Record<string, unknown> = { a: {} };
    (cyc["a"] as Record<string, unknown>)["back"] = cyc;
    const { result } = await failsWith({ "workflow.yaml": wf() }, 1, { step: () => cyc }, "OUTPUT_NOT_JSON");
    assert.match(result.error!.message, /\/a\/back/);
    assert.match(result.error!.message, /circular/);
  });

  it("mutating the frozen input fails the node (strict-mode handler)", async () => {
    const { result } = await failsWith({ "workflow.yaml": wf() }, { list: [1], o: { k: 1 } }, {
      step: (input: { list: number[] }) => {
        "use strict";
        input.list.push(2);
        return input;
      },
    }, "HANDLER_FAILED");
    assert.deepEqual(result.output, { list: [1], o: { k: 1 } });
    assert.deepEqual(result.history[1]!.input, { list: [1], o: { k: 1 } });
  });

  it("handler input is deeply frozen", async () => {
    let frozen: boolean[] = [];
    await runWorkflow({ "workflow.yaml": wf() }, { a: { b: [{ c: 1 }] } }, {
      handlers: { step: (i) => { const x = i as { a: { b: { c: number }[] } }; frozen = [Object.isFrozen(x), Object.isFrozen(x.a), Object.isFrozen(x.a.b), Object.isFrozen(x.a.b[0])]; return 1; } },
    });
    assert.deepEqual(frozen, [true, true, true, true]);
  });

  it("a failure stops the task: later nodes never run", async () => {
    let ran = false;
    await failsWith({ "workflow.yaml": wf() }, 1, { step: () => { throw new Error("x"); }, done: () => { ran = true; return 1; } } as never, "HANDLER_FAILED");
    assert.equal(ran, false);
  });
});

describe("continue_on_failure", () => {
  it("routes on with the input unchanged and the task ends partial", async () => {
    const { result, events } = await runWorkflow({ "workflow.yaml": wf(", continue_on_failure: true") }, { v: 1 }, {
      handlers: { step: () => { throw new Error("soft"); }, done: (i) => ({ got: i }) },
    });
    assert.equal(result.status, "partial");
    assert.deepEqual(result.output, { got: { v: 1 } });
    assert.deepEqual(path(result), ["begin", "step", "done"]);
    assert.equal(result.history[1]!.status, "failure");
    assert.equal(result.error?.code, "HANDLER_FAILED");
    const failed = events.find((e) => e.type === "node.failed")!;
    assert.equal((failed.payload as { continued: boolean }).continued, true);
    assert.deepEqual(events.at(-1)!.payload, { status: "partial", output: { got: { v: 1 } } });
    assert.deepEqual(events.find((e) => e.type === "node.started" && e.nodeId === "done")!.payload, { role: "exit", kind: "deterministic", input: { v: 1 } });
  });

  it("applies to schema_out failures too", async () => {
    const { result } = await runWorkflow({ "workflow.yaml": wf(', continue_on_failure: true, schema_out: { type: string }') }, 5, { handlers: { step: () => 6 } });
    assert.equal(result.status, "partial");
    assert.equal(result.output, 5);
  });

  it("an exit's failure ends the task failure even with continue_on_failure", async () => {
    const { result } = await runWorkflow({ "workflow.yaml": wf("", ", continue_on_failure: true") }, 1, { handlers: { done: () => { throw new Error("x"); } } });
    assert.equal(result.status, "failure");
  });
});

describe("always_fail", () => {
  it("an exit with always_fail ends the task failure, keeping the output", async () => {
    const { result, events } = await runWorkflow({ "workflow.yaml": wf("", ", always_fail: true") }, { r: "rejected" });
    assert.equal(result.status, "failure");
    assert.deepEqual(result.output, { r: "rejected" });
    assert.equal(result.history[2]!.status, "success");
    assert.ok(result.error);
    assert.deepEqual(trace(events).slice(-3), ["node.started@done", "node.completed@done", "task.failed"]);
  });
});

describe("schemas", () => {
  const SCHEMA = JSON.stringify({ type: "object", required: ["n"], properties: { n: { type: "integer" } }, additionalProperties: false });
  it("schema_in by file stem: a bad input fails SCHEMA_IN_FAILED before the handler runs", async () => {
    let ran = false;
    const files = { "workflow.yaml": wf(", schema_in: thing"), "schemas/thing.json": SCHEMA };
    const { result } = await failsWith(files, { n: "x" }, { step: () => { ran = true; return 1; } }, "SCHEMA_IN_FAILED");
    assert.equal(ran, false);
    assert.match(result.error!.message, /thing/);
    const ok = await runWorkflow(files, { n: 3 });
    assert.equal(ok.result.status, "success");
  });

  it("schema_out by file stem (YAML schema file)", async () => {
    const files = { "workflow.yaml": wf(", schema_out: thing"), "schemas/thing.yaml": "type: object\nrequired: [n]\nproperties: { n: { type: integer } }\n" };
    await failsWith(files, 1, { step: () => ({ n: 1.5 }) }, "SCHEMA_OUT_FAILED");
    const ok = await runWorkflow(files, 1, { handlers: { step: () => ({ n: 2 }) } });
    assert.deepEqual(ok.result.output, { n: 2 });
  });

  it("inline schema_in and schema_out", async () => {
    const files = { "workflow.yaml": wf(", schema_in: { type: number }, schema_out: { type: string }") };
    await failsWith(files, "not a number", {}, "SCHEMA_IN_FAILED");
    await failsWith(files, 1, { step: (n: number) => n + 1 }, "SCHEMA_OUT_FAILED");
    const ok = await runWorkflow(files, 1, { handlers: { step: (n) => String(n) } });
    assert.equal(ok.result.output, "1");
  });
});

describe("timeouts and cancellation", () => {
  it("timeout_ms: a slow handler fails NODE_TIMEOUT and sees its signal aborted", async () => {
    let sawAbort = false;
    const { result } = await failsWith({ "workflow.yaml": wf(", timeout_ms: 20") }, 1, {
      step: (_i: unknown, ctx: HandlerContext) =>
        new Promise((resolve) => ctx.signal.addEventListener("abort", () => { sawAbort = ctx.signal.aborted; resolve("too late"); })),
    }, "NODE_TIMEOUT");
    assert.equal(sawAbort, true);
    assert.match(result.error!.message, /timeout_ms 20/);
  });

  it("timeout_ms: a handler that ignores its signal cannot hold the run", async () => {
    await failsWith({ "workflow.yaml": wf(", timeout_ms: 10") }, 1, { step: () => new Promise(() => {}) }, "NODE_TIMEOUT");
  });

  it("timeout_ms: a synchronous handler that overruns it fails NODE_TIMEOUT, its result dropped", async () => {
    // It cannot be interrupted in the engine's thread (isolation: worker can); it is still reported.
    const { result } = await failsWith({ "workflow.yaml": wf(", timeout_ms: 5") }, 1, {
      step: () => {
        const t0 = performance.now();
        while (performance.now() - t0 < 50) {
          // busy: longer than timeout_ms by construction
        }
        return "late";
      },
    }, "NODE_TIMEOUT");
    assert.match(result.error!.message, /ran synchronously for longer than timeout_ms 5/);
    assert.equal(result.output, 1);
  });

  it("timeout_ms does not affect a handler that finishes in time", async () => {
    const { result } = await runWorkflow({ "workflow.yaml": wf(", timeout_ms: 5000") }, 1, { handlers: { step: async (n) => (n as number) + 1 } });
    assert.equal(result.output, 2);
  });

  it("run(input, { signal }): aborting mid-node fails ABORTED; the handler sees ctx.signal aborted", async () => {
    const controller = new AbortController();
    let entered!: () => void;
    const inside = new Promise<void>((r) => (entered = r));
    let seen: boolean | undefined;
    let ran = false;
    await withEngine({ "workflow.yaml": wf() }, {
      handlers: {
        step: (_i, ctx) => {
          entered();
          return new Promise((resolve) => ctx.signal.addEventListener("abort", () => { seen = ctx.signal.aborted; resolve("ignored"); }));
        },
        done: () => { ran = true; return null; },
      },
    }, async (engine) => {
      const p = engine.run({ a: 1 }, { signal: controller.signal });
      await inside;
      controller.abort();
      const result = await p;
      assert.equal(result.status, "failure");
      assert.equal(result.error?.code, "ABORTED");
      assert.equal(seen, true);
      assert.equal(ran, false);
      assert.deepEqual(path(result), ["begin", "step"]);
    });
  });

  it("aborting never hangs, even when the handler ignores the signal", async () => {
    const controller = new AbortController();
    await withEngine({ "workflow.yaml": wf() }, { handlers: { step: () => { setTimeout(() => controller.abort(), 1); return new Promise(() => {}); } } }, async (engine) => {
      const result = await engine.run(1, { signal: controller.signal });
      assert.equal(result.error?.code, "ABORTED");
    });
  });

  it("an already-aborted signal fails the first node ABORTED without running it", async () => {
    let ran = false;
    await withEngine({ "workflow.yaml": wf() }, { handlers: { begin: () => { ran = true; return 1; } } }, async (engine) => {
      const result = await engine.run(1, { signal: AbortSignal.abort() });
      assert.equal(result.status, "failure");
      assert.equal(result.error?.code, "ABORTED");
      assert.deepEqual(path(result), ["begin"]);
      assert.equal(ran, false);
    });
  });

  it("aborting stops every clone of a branch and continue_on_failure does not route on", async () => {
    const BRANCH = `
nodes:
  - { id: begin, kind: deterministic, role: start }
  - { id: fan, kind: deterministic, role: branch }
  - { id: a, kind: deterministic, role: linear, continue_on_failure: true }
  - { id: b, kind: deterministic, role: linear }
  - { id: join, kind: deterministic, role: merge, merge: { on_failure: partial } }
  - { id: done, kind: deterministic, role: exit }
edges:
  - { from: begin, to: fan }
  - { from: fan, to: a }
  - { from: fan, to: b }
  - { from: a, to: join }
  - { from: b, to: join }
  - { from: join, to: done }
`;
    const controller = new AbortController();
    let count = 0;
    const wait = (_i: unknown, ctx: HandlerContext) => {
      if (++count === 2) setTimeout(() => controller.abort(), 1);
      return new Promise((r) => ctx.signal.addEventListener("abort", () => r("x")));
    };
    await withEngine({ "workflow.yaml": BRANCH }, { handlers: { a: wait, b: wait } }, async (engine) => {
      const result = await engine.run(1, { signal: controller.signal });
      assert.equal(result.status, "failure");
      assert.deepEqual(result.children.map((c) => [c.status, c.error?.code]), [["failure", "ABORTED"], ["failure", "ABORTED"]]);
      const failed = engine.getEvents({ type: "node.failed" });
      assert.ok(failed.every((e) => (e.payload as { continued: boolean }).continued === false));
    });
  });
});
