/**
 * `isolation: worker` for node handlers, with real worker threads: pre-emption at the timeout and
 * on cancellation, crashes (process.exit, heap limit, stray errors, forged messages) as coded
 * failures, the same results and events as inline handlers, the bounded pool, env scrubbing,
 * output kept off stdout, load-time checks done in a worker, idle workers stopped after
 * idle_timeout_ms, and no worker left after shutdown.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { join } from "node:path";
import { describe, it } from "node:test";
import { promisify } from "node:util";
import { EngineError } from "../../src/errors.js";
import { Engine } from "../../src/runtime/Engine.js";
import { liveHandlerWorkers } from "../../src/runtime/HandlerWorkers.js";
import type { RunResult } from "../../src/runtime/types.js";
import type { EngineEvent } from "../../src/telemetry/events.js";
import { silentLogger } from "../../src/telemetry/logger.js";
import { removeDir, repoRoot, writeConfigDir } from "../helpers.js";
import { normalizeEvents, normalizeResult } from "../normalize.js";
import { assertEventInvariants, withEngine } from "./harness.js";

const HANDLERS = `
import { parentPort, threadId } from "node:worker_threads";
globalThis.__aeHandlerModuleImported = true;
export const echo = (input, ctx) => ({ input, threadId, node: ctx.nodeId, frozen: Object.isFrozen(input) });
export const spin = () => { for (;;) {} };
export const exit3 = () => { process.exit(3); };
export const hog = () => { const keep = []; for (;;) keep.push(new Array(1e5).fill(Math.random())); };
export const coded = function userThrows() { throw Object.assign(new Error("boom"), { code: "E_MINE" }); };
export const env = () => ({ ...process.env });
export const print = () => { console.log("handler says hi on stdout"); console.error("and on stderr"); return "printed"; };
export const forgeNull = () => { parentPort.postMessage(null); return new Promise(() => {}); };
export const forgeResult = () => { parentPort.postMessage({ t: "result", id: 999999, value: "forged" }); return new Promise(() => {}); };
export const stray = () => { setTimeout(() => { throw new Error("stray timer"); }, 0); return new Promise(() => {}); };
export const selfThenable = () => { const t = { then(r) { r(t); } }; return t; };
export const notAFunction = 42;
export const nap = async (input) => { await new Promise((r) => setTimeout(r, input.ms)); return { threadId }; };
`;

/** One worker node `step` between a start and an exit. */
const wf = (handler: string, extra = "", timeout = 10_000): string => `
nodes:
  - { id: begin, kind: deterministic, role: start }
  - { id: step, kind: deterministic, role: linear, handler: "./h.mjs#${handler}", isolation: worker, timeout_ms: ${timeout}${extra} }
  - { id: done, kind: deterministic, role: exit }
edges:
  - { from: begin, to: step }
  - { from: step, to: done }
`;

const opts = { logger: silentLogger };

/** Waits until every handler worker of this process has exited (they exit once terminated; no timing assumed). */
async function noLiveWorkers(message = "every handler worker has exited"): Promise<void> {
  for (let i = 0; i < 500 && liveHandlerWorkers() > 0; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(liveHandlerWorkers(), 0, message);
}

function failedWith(result: RunResult, code: string): string {
  assert.equal(result.status, "failure");
  assert.equal(result.error?.code, code, result.error?.message);
  const step = result.history.find((h) => h.nodeId === "step")!;
  assert.equal(step.status, "failure");
  assert.equal(step.error?.code, code);
  return result.error!.message;
}

describe("isolation: worker handlers", () => {
  it("run in a worker thread: the module is never imported in the engine's thread; input frozen there too", { timeout: 30_000 }, async () => {
    await withEngine({ "workflow.yaml": wf("echo"), "h.mjs": HANDLERS }, opts, async (engine) => {
      const r = await engine.run({ a: [1, { b: 2 }] });
      assert.equal(r.status, "success");
      const out = r.output as { input: unknown; threadId: number; node: string; frozen: boolean };
      assert.deepEqual(out.input, { a: [1, { b: 2 }] });
      assert.ok(out.threadId > 0, "ran off the main thread");
      assert.equal(out.node, "step");
      assert.equal(out.frozen, true);
      assert.ok(Object.isFrozen(r.output), "the output is sealed in the engine's thread");
      assert.equal((globalThis as { __aeHandlerModuleImported?: boolean }).__aeHandlerModuleImported, undefined);
    });
    await noLiveWorkers();
  });

  it("an infinite loop is pre-empted at timeout_ms: NODE_TIMEOUT, the worker terminated, the next call gets a fresh one", { timeout: 30_000 }, async () => {
    // max_workers: 1 -- a terminated worker holds its slot until it has exited, so the second
    // run can only succeed if the spinning thread was really stopped.
    const files = {
      "workflow.yaml": `
nodes:
  - { id: begin, kind: deterministic, role: start }
  - { id: pick, kind: deterministic, role: decision }
  - { id: step, kind: deterministic, role: linear, handler: ./h.mjs#spin, isolation: worker, timeout_ms: 200, worker: { max_workers: 1 } }
  - { id: ok, kind: deterministic, role: linear, handler: ./h.mjs#echo, isolation: worker, timeout_ms: 20000, worker: { max_workers: 1 } }
  - { id: done, kind: deterministic, role: exit }
edges:
  - { from: begin, to: pick }
  - { from: pick, to: step, label: spin }
  - { from: pick, to: ok, label: ok }
  - { from: step, to: done }
  - { from: ok, to: done }
`,
      "h.mjs": HANDLERS,
    };
    await withEngine(files, { ...opts, handlers: { pick: (i) => i as string } }, async (engine) => {
      const spun = await engine.run("spin");
      assert.equal(failedWith(spun, "NODE_TIMEOUT"), 'node "step" exceeded timeout_ms 200');
      const ok = await engine.run("ok");
      assert.equal(ok.status, "success", ok.error?.message);
      const again = await engine.run("spin");
      failedWith(again, "NODE_TIMEOUT");
    });
    await noLiveWorkers();
  });

  it("cancelling the run terminates a spinning worker: ABORTED", { timeout: 30_000 }, async () => {
    const controller = new AbortController();
    const aborter = { pluginId: "aborter", onEvent: (e: EngineEvent) => (e.type === "node.started" && e.nodeId === "step" ? controller.abort() : undefined) };
    await withEngine({ "workflow.yaml": wf("spin", ", worker: { max_workers: 1 }", 60_000), "h.mjs": HANDLERS }, { ...opts, plugins: [aborter as never] }, async (engine) => {
      const r = await engine.run({}, { signal: controller.signal });
      failedWith(r, "ABORTED");
    });
    await noLiveWorkers();
  });

  it("process.exit() inside the handler ends its worker only: HANDLER_WORKER_CRASHED, and the engine goes on", { timeout: 30_000 }, async () => {
    const files = { "workflow.yaml": wf("exit3"), "h.mjs": HANDLERS };
    await withEngine(files, opts, async (engine) => {
      for (let i = 0; i < 2; i++) {
        const r = await engine.run({});
        assert.match(failedWith(r, "HANDLER_WORKER_CRASHED"), /exited with code 3/);
      }
    });
    await noLiveWorkers();
  });

  it("a worker over its heap limit (resource_limits) dies alone: HANDLER_WORKER_CRASHED naming the limit", { timeout: 60_000 }, async () => {
    const files = { "workflow.yaml": wf("hog", ", worker: { resource_limits: { max_old_generation_mb: 16 } }", 60_000), "h.mjs": HANDLERS };
    await withEngine(files, opts, async (engine) => {
      const r = await engine.run({});
      assert.match(failedWith(r, "HANDLER_WORKER_CRASHED"), /out of memory.*max_old_generation_mb is 16/);
    });
    await noLiveWorkers();
  });

  it("a stray uncaught error in the worker fails the call it ran: HANDLER_WORKER_CRASHED", { timeout: 30_000 }, async () => {
    await withEngine({ "workflow.yaml": wf("stray"), "h.mjs": HANDLERS }, opts, async (engine) => {
      assert.match(failedWith(await engine.run({}), "HANDLER_WORKER_CRASHED"), /uncaught error: stray timer/);
    });
    await noLiveWorkers();
  });

  it("forged protocol messages from handler code are rejected at the boundary: the worker is terminated, never the host", { timeout: 30_000 }, async () => {
    for (const [handler, why] of [
      ["forgeNull", /malformed message \(not a plain object \(null\)\)/],
      ["forgeResult", /"result" message for a call it is not running/],
    ] as const) {
      await withEngine({ "workflow.yaml": wf(handler), "h.mjs": HANDLERS }, opts, async (engine) => {
        assert.match(failedWith(await engine.run({}), "HANDLER_WORKER_CRASHED"), why);
      });
    }
    await noLiveWorkers();
  });

  it("a self-resolving thenable is adopted once (no spin), its value is not JSON: OUTPUT_NOT_JSON, as inline", { timeout: 30_000 }, async () => {
    await withEngine({ "workflow.yaml": wf("selfThenable", "", 500), "h.mjs": HANDLERS }, opts, async (engine) => {
      failedWith(await engine.run({}), "OUTPUT_NOT_JSON");
    });
    await noLiveWorkers();
  });

  it("a thrown error is HANDLER_FAILED with its code as originalCode and the user's stack frames", { timeout: 30_000 }, async () => {
    await withEngine({ "workflow.yaml": wf("coded"), "h.mjs": HANDLERS }, opts, async (engine) => {
      const r = await engine.run({});
      assert.equal(failedWith(r, "HANDLER_FAILED"), "boom");
      const err = r.history.find((h) => h.nodeId === "step")!.error!;
      assert.equal(err.originalCode, "E_MINE");
      assert.match(err.stack ?? "", /userThrows .*h\.mjs/);
      assert.doesNotMatch(err.stack ?? "", /handlerWorker|HandlerWorkers|StageExecutor/);
    });
    await noLiveWorkers();
  });

  it("the worker sees only worker.env (default: an empty environment)", { timeout: 30_000 }, async () => {
    process.env["AE_WORKER_SECRET"] = "secret";
    process.env["AE_WORKER_ALLOWED"] = "visible";
    try {
      for (const [extra, expected] of [
        ["", {}],
        [", worker: { env: [AE_WORKER_ALLOWED, AE_WORKER_UNSET] }", { AE_WORKER_ALLOWED: "visible" }],
      ] as const) {
        await withEngine({ "workflow.yaml": wf("env", extra), "h.mjs": HANDLERS }, opts, async (engine) => {
          const r = await engine.run({});
          assert.deepEqual(r.output, expected);
        });
      }
    } finally {
      delete process.env["AE_WORKER_SECRET"];
      delete process.env["AE_WORKER_ALLOWED"];
    }
    await noLiveWorkers();
  });

  it("the pool is bounded by max_workers and reuses its workers", { timeout: 30_000 }, async () => {
    // max_workers: 1 (the default here would be the number of CPUs): eight concurrent split items share one thread.
    const files = {
      "workflow.yaml": `
nodes:
  - { id: begin, kind: deterministic, role: start }
  - { id: fan, kind: deterministic, role: split }
  - { id: step, kind: deterministic, role: linear, handler: ./h.mjs#echo, isolation: worker, worker: { max_workers: 1 } }
  - { id: join, kind: deterministic, role: merge }
  - { id: done, kind: deterministic, role: exit }
edges:
  - { from: begin, to: fan }
  - { from: fan, to: step }
  - { from: step, to: join }
  - { from: join, to: done }
`,
      "h.mjs": HANDLERS,
    };
    await withEngine(files, opts, async (engine) => {
      const r = await engine.run([1, 2, 3, 4, 5, 6, 7, 8]);
      assert.equal(r.status, "success");
      const arrivals = r.output as { output: { input: number; threadId: number } }[];
      assert.deepEqual(arrivals.map((a) => a.output.input), [1, 2, 3, 4, 5, 6, 7, 8]);
      const threads = new Set(arrivals.map((a) => a.output.threadId));
      assert.equal(threads.size, 1, `one worker, got ${threads.size}`);
      assert.equal(liveHandlerWorkers(), 1);
    });
    await noLiveWorkers();
  });

  it("shutdown during a run stops the worker (the stage fails ABORTED) and leaves no worker behind", { timeout: 30_000 }, async () => {
    const dir = await writeConfigDir({ "workflow.yaml": wf("spin", "", 60_000), "h.mjs": HANDLERS });
    try {
      const engine = await Engine.fromConfigDir(dir, opts);
      const running = engine.run({});
      await new Promise((r) => setTimeout(r, 50));
      const report = await engine.shutdown(100);
      const r = await running;
      failedWith(r, "ABORTED");
      assert.equal(report.complete, false, "a run was still in flight");
      assert.equal(liveHandlerWorkers(), 0, "shutdown waited for every worker to exit");
    } finally {
      await removeDir(dir);
    }
  });

  it("stdout of a worker handler goes to the host's stderr, prefixed; stdout carries only the host's own output", { timeout: 30_000 }, async () => {
    const dir = await writeConfigDir({ "workflow.yaml": wf("print"), "h.mjs": HANDLERS });
    try {
      const script = `
        import { Engine } from ${JSON.stringify(join(repoRoot, "dist/src/runtime/Engine.js"))};
        const engine = await Engine.fromConfigDir(${JSON.stringify(dir)});
        const r = await engine.run({});
        await engine.shutdown();
        process.stdout.write(JSON.stringify(r.output));
      `;
      const { stdout, stderr } = await promisify(execFile)(process.execPath, ["--input-type=module", "-e", script], { cwd: dir });
      assert.equal(stdout, '"printed"');
      assert.match(stderr, /^\[handler \.\/h\.mjs\] handler says hi on stdout$/m);
      assert.match(stderr, /^\[handler \.\/h\.mjs\] and on stderr$/m);
    } finally {
      await removeDir(dir);
    }
  });
});

describe("isolation: worker idle workers", () => {
  it("idle_timeout_ms: a worker without a call is stopped while the engine lives (the pool goes to 0), and a later run gets a fresh one", { timeout: 30_000 }, async () => {
    await withEngine({ "workflow.yaml": wf("echo", ", worker: { idle_timeout_ms: 50 }"), "h.mjs": HANDLERS }, opts, async (engine) => {
      // The worker of the load-time import check is idle from then on: it goes too.
      await noLiveWorkers("the load-time worker was stopped once idle");
      const first = await engine.run({ n: 1 });
      assert.equal(first.status, "success", first.error?.message);
      await noLiveWorkers("the worker of the first run was stopped once idle, the engine still up");
      const second = await engine.run({ n: 2 });
      assert.equal(second.status, "success", second.error?.message);
      const [a, b] = [first, second].map((r) => (r.output as { threadId: number }).threadId);
      assert.notEqual(b, a, "the second run ran in a fresh worker");
      await noLiveWorkers("and that one was stopped too");
    });
    await noLiveWorkers();
  });

  it("a call longer than idle_timeout_ms is not cut: its worker is busy; calls handed on in a one-worker pool keep the same worker", { timeout: 30_000 }, async () => {
    const files = {
      "workflow.yaml": `
nodes:
  - { id: begin, kind: deterministic, role: start }
  - { id: fan, kind: deterministic, role: split }
  - { id: step, kind: deterministic, role: linear, handler: ./h.mjs#nap, isolation: worker, timeout_ms: 20000, worker: { max_workers: 1, idle_timeout_ms: 20 } }
  - { id: join, kind: deterministic, role: merge }
  - { id: done, kind: deterministic, role: exit }
edges:
  - { from: begin, to: fan }
  - { from: fan, to: step }
  - { from: step, to: join }
  - { from: join, to: done }
`,
      "h.mjs": HANDLERS,
    };
    await withEngine(files, opts, async (engine) => {
      // Each call sleeps 10x idle_timeout_ms; a reaped worker would fail its call HANDLER_WORKER_CRASHED.
      const r = await engine.run([{ ms: 200 }, { ms: 200 }, { ms: 200 }, { ms: 200 }]);
      assert.equal(r.status, "success", r.error?.message);
      const arrivals = r.output as { output: { threadId: number } }[];
      assert.equal(arrivals.length, 4);
      const threads = new Set(arrivals.map((a) => a.output.threadId));
      assert.equal(threads.size, 1, `the waiting calls went to the same worker as it finished each, got ${threads.size} workers`);
      await noLiveWorkers("stopped once idle after the run");
    });
    await noLiveWorkers();
  });

  it("the idle timer is unref'd, and a host that never calls shutdown() exits by itself once its idle workers are stopped", { timeout: 60_000 }, async () => {
    // A child process per case; execFile's deadline only guards against a hang.
    const child = async (idle: number, shutdown: boolean): Promise<{ status: string; live: number; resources: string[] }> => {
      const dir = await writeConfigDir({ "workflow.yaml": wf("echo", `, worker: { idle_timeout_ms: ${idle} }`), "h.mjs": HANDLERS });
      try {
        const script = `
          import { Engine } from ${JSON.stringify(join(repoRoot, "dist/src/runtime/Engine.js"))};
          import { liveHandlerWorkers } from ${JSON.stringify(join(repoRoot, "dist/src/runtime/HandlerWorkers.js"))};
          const engine = await Engine.fromConfigDir(${JSON.stringify(dir)});
          const r = await engine.run({ n: 1 });
          process.stdout.write(JSON.stringify({ status: r.status, live: liveHandlerWorkers(), resources: process.getActiveResourcesInfo() }));
          ${shutdown ? "await engine.shutdown();" : ""}
        `;
        const { stdout } = await promisify(execFile)(process.execPath, ["--input-type=module", "-e", script], { cwd: dir, timeout: 50_000 });
        return JSON.parse(stdout) as { status: string; live: number; resources: string[] };
      } finally {
        await removeDir(dir);
      }
    };
    // Idle for 10 minutes: the worker's timer is pending, and not among the resources that keep the loop alive.
    const pending = await child(600_000, true);
    assert.equal(pending.status, "success");
    assert.equal(pending.live, 1, "the worker is idle, its timer pending");
    assert.ok(!pending.resources.includes("Timeout"), `no ref'd timer: ${pending.resources.join(", ")}`);
    // No shutdown(): the idle worker is stopped after 50 ms and the process then ends on its own.
    const reaped = await child(50, false);
    assert.equal(reaped.status, "success");
    assert.equal(reaped.live, 1);
  });
});

describe("isolation: worker at load time", () => {
  async function loadFails(files: Record<string, string>, options: Parameters<typeof Engine.fromConfigDir>[1] = {}): Promise<EngineError> {
    const dir = await writeConfigDir(files);
    try {
      let caught: unknown;
      try {
        const engine = await Engine.fromConfigDir(dir, { ...opts, ...options });
        await engine.shutdown();
      } catch (err) {
        caught = err;
      }
      assert.ok(caught instanceof EngineError, `expected an EngineError, got ${String(caught)}`);
      return caught;
    } finally {
      await removeDir(dir);
      assert.equal(liveHandlerWorkers(), 0, "a failed load closes its workers");
    }
  }

  it("a missing export, a non-function export and a module that throws are HANDLER_LOAD_FAILED found in the worker", { timeout: 30_000 }, async () => {
    let e = await loadFails({ "workflow.yaml": wf("nope"), "h.mjs": HANDLERS });
    assert.equal(e.details[0]!.code, "HANDLER_LOAD_FAILED");
    assert.equal(e.details[0]!.path, "/nodes/1/handler");
    assert.match(e.details[0]!.message, /has no export "nope".*exports: .*echo/);
    e = await loadFails({ "workflow.yaml": wf("notAFunction"), "h.mjs": HANDLERS });
    assert.match(e.details[0]!.message, /is number, not a function/);
    e = await loadFails({ "workflow.yaml": wf("x"), "h.mjs": 'throw new Error("broken at import");\n' });
    assert.match(e.details[0]!.message, /importing "\.\/h\.mjs" for the handler of node "step" threw: broken at import/);
    e = await loadFails({ "workflow.yaml": wf("x"), "h.mjs": "process.exit(7);\n" });
    assert.match(e.details[0]!.message, /in a worker thread failed: .*exited with code 7/);
  });

  it("the load policy applies: node: builtins and files outside the config dir are refused before any worker starts", { timeout: 30_000 }, async () => {
    let e = await loadFails({ "workflow.yaml": wf("x").replace('"./h.mjs#x"', '"node:fs#readFileSync"') });
    assert.equal(e.details[0]!.code, "CONFIG_MODULE_NOT_ALLOWED");
    e = await loadFails({ "workflow.yaml": wf("x").replace('"./h.mjs#x"', JSON.stringify(`${join(repoRoot, "dist/src/index.js")}#x`)) });
    assert.equal(e.details[0]!.code, "CONFIG_MODULE_NOT_ALLOWED");
  });

  it("options.handlers cannot override a worker node (a function cannot move to a worker): INVALID_OPTION", { timeout: 30_000 }, async () => {
    const e = await loadFails({ "workflow.yaml": wf("echo"), "h.mjs": HANDLERS }, { handlers: { step: (i) => i } });
    assert.equal(e.details[0]!.code, "INVALID_OPTION");
    assert.equal(e.details[0]!.nodeId, "step");
  });

  it("isolation: worker needs a deterministic node with a handler; worker: needs isolation: worker", async () => {
    const bad = `
nodes:
  - { id: begin, kind: deterministic, role: start, isolation: worker }
  - { id: mid, kind: deterministic, role: linear, handler: ./h.mjs#echo, worker: { max_workers: 2 } }
  - { id: done, kind: deterministic, role: exit }
edges:
  - { from: begin, to: mid }
  - { from: mid, to: done }
`;
    const e = await loadFails({ "workflow.yaml": bad, "h.mjs": HANDLERS });
    const got = e.details.map((d) => [d.code, d.path]);
    assert.deepEqual(got, [
      ["DAG_INVALID_FIELD", "/nodes/0/isolation"],
      ["DAG_INVALID_FIELD", "/nodes/1/worker"],
    ]);
  });

  it("a bad worker.idle_timeout_ms or max_workers (0, negative, not an integer, past the longest timer) is CONFIG_SCHEMA with file, path and line", async () => {
    const node = (id: string, worker: string): string => `  - { id: ${id}, kind: deterministic, role: linear, handler: ./h.mjs#echo, isolation: worker, worker: ${worker} }\n`;
    const bad = [
      ["a", "{ idle_timeout_ms: 0 }"],
      ["b", "{ idle_timeout_ms: -1 }"],
      ["c", '{ idle_timeout_ms: "x" }'],
      ["d", "{ idle_timeout_ms: 1.5 }"],
      ["e", "{ idle_timeout_ms: 2147483648 }"],
      ["f", "{ max_workers: 0 }"],
    ] as const;
    const workflow =
      "nodes:\n  - { id: begin, kind: deterministic, role: start }\n" +
      bad.map(([id, w]) => node(id, w)).join("") +
      "  - { id: done, kind: deterministic, role: exit }\nedges:\n  - { from: begin, to: a }\n" +
      ["a", "b", "c", "d", "e", "f", "done"].slice(1).map((to, i) => `  - { from: ${"abcdef"[i]!}, to: ${to} }\n`).join("");
    const e = await loadFails({ "workflow.yaml": workflow, "h.mjs": HANDLERS });
    const got = e.details.map((d) => [d.code, d.file?.replace(/^.*[\\/]/, ""), d.path, d.line]);
    assert.deepEqual(got, [
      ["CONFIG_SCHEMA", "workflow.yaml", "/nodes/1/worker/idle_timeout_ms", 3],
      ["CONFIG_SCHEMA", "workflow.yaml", "/nodes/2/worker/idle_timeout_ms", 4],
      ["CONFIG_SCHEMA", "workflow.yaml", "/nodes/3/worker/idle_timeout_ms", 5],
      ["CONFIG_SCHEMA", "workflow.yaml", "/nodes/4/worker/idle_timeout_ms", 6],
      ["CONFIG_SCHEMA", "workflow.yaml", "/nodes/5/worker/idle_timeout_ms", 7],
      ["CONFIG_SCHEMA", "workflow.yaml", "/nodes/6/worker/max_workers", 8],
    ]);
  });
});

describe("isolation: worker gives the same results and events as inline", () => {
  const WORK = `
export async function work(item, ctx) {
  if (item.delay) await new Promise((r) => setTimeout(r, item.delay));
  switch (item.kind) {
    case "ok": return { n: item.n * 2, tool: await ctx.callTool("kv", { k: item.n }) };
    case "throw": throw Object.assign(new Error("item " + item.n + " failed"), { code: "E_ITEM" });
    case "string": throw "a plain string";
    case "notjson": return { bad: Number.NaN };
    case "mutate": item.n = 0; return item;
    case "schema": return "not an object";
    case "badtool": return await ctx.callTool("nope", {});
    case "toolfail": return await ctx.callTool("kv", { fail: true });
    case "context": return { context: ctx.context, task: typeof ctx.taskId };
  }
  return null;
}
export function fan(input) { return input.items; }
export function ask(input, ctx) {
  const a = ctx.interrupt({ q: "first?", input });
  const b = ctx.interrupt({ q: "second?" });
  return { a, b, resume: ctx.resumeValue };
}
`;
  const TOOLS = "export function kv(args) { if (args.fail) throw Object.assign(new Error(\"tool broke\"), { code: \"E_TOOL\" }); return { v: args.k + 100 }; }\n";
  const SPLIT = (iso: string): string => `
nodes:
  - { id: begin, kind: deterministic, role: start }
  - { id: fan, kind: deterministic, role: split, handler: ./h.mjs#fan${iso} }
  - { id: work, kind: deterministic, role: linear, handler: ./h.mjs#work, tools: [kv], schema_out: { type: object }, context: global${iso} }
  - { id: join, kind: deterministic, role: merge, merge: { on_failure: partial } }
  - { id: done, kind: deterministic, role: exit }
edges:
  - { from: begin, to: fan }
  - { from: fan, to: work }
  - { from: work, to: join }
  - { from: join, to: done }
`;
  const ASK = (iso: string): string => `
nodes:
  - { id: begin, kind: deterministic, role: start }
  - { id: ask, kind: deterministic, role: linear, handler: ./h.mjs#ask${iso} }
  - { id: done, kind: deterministic, role: exit }
edges:
  - { from: begin, to: ask }
  - { from: ask, to: done }
`;
  const ISO = ", isolation: worker, worker: { max_workers: 3 }";

  /** Result and events normalized, without stacks (a worker's stack has no frames of the caller of run()). */
  function comparable(results: readonly RunResult[], events: readonly EngineEvent[]): unknown {
    // Interrupt ids embed the engine's random id prefix (`task-<hex>-1/ask/0`).
    const strip = (v: unknown): unknown => JSON.parse(JSON.stringify(v, (k, x: unknown) => (k === "stack" ? undefined : typeof x === "string" ? x.replace(/task-[0-9a-f]+-/g, "task-") : x)));
    return strip({ results: results.map((r) => normalizeResult(r)), events: normalizeEvents(events) });
  }

  async function both(make: (iso: string) => string, drive: (engine: Engine) => Promise<RunResult[]>, invariants = true): Promise<void> {
    const out: unknown[] = [];
    for (const iso of ["", ISO]) {
      out.push(
        await withEngine({ "workflow.yaml": make(iso), "h.mjs": WORK, "tools.yaml": "tools:\n  - { id: kv, handler: ./tools.mjs#kv }\n", "tools.mjs": TOOLS, "memory.yaml": "stores:\n  - { id: facts, kind: static, items: [motto] }\nglobal: [facts]\n" }, opts, async (engine) => {
          const results = await drive(engine);
          const events = engine.getEvents();
          if (invariants) assertEventInvariants(events);
          return comparable(results, events);
        }),
      );
    }
    assert.deepEqual(out[1], out[0]);
  }

  it("a split whose items succeed, throw, return non-JSON, mutate their input, fail schema_out, call tools (allowed, not allowed, failing), in uneven order", { timeout: 60_000 }, async () => {
    const items = [
      { kind: "ok", n: 1, delay: 30 },
      { kind: "throw", n: 2 },
      { kind: "ok", n: 3 },
      { kind: "string", n: 4, delay: 10 },
      { kind: "notjson", n: 5 },
      { kind: "mutate", n: 6, delay: 5 },
      { kind: "schema", n: 7 },
      { kind: "badtool", n: 8 },
      { kind: "toolfail", n: 9, delay: 20 },
      { kind: "context", n: 10 },
    ];
    await both(SPLIT, async (engine) => {
      const r = await engine.run({ items });
      assert.equal(r.status, "partial");
      return [r];
    });
  });

  it("ctx.interrupt() twice, resumed twice: same suspensions, answers and resumeValue", { timeout: 60_000 }, async () => {
    await both(ASK, async (engine) => {
      const first = await engine.run({ doc: 1 });
      assert.equal(first.status, "interrupted");
      const second = await engine.resume(first.runId, { answer: "yes" });
      assert.equal(second.status, "interrupted");
      const third = await engine.resume(first.runId, { answer: "really" });
      assert.equal(third.status, "success");
      assert.deepEqual(third.output, { a: "yes", b: "really", resume: "really" });
      return [first, second, third];
    }, false); // a suspended node starts again when resumed
  });
});
