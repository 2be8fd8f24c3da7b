/**
 * Eager scheduling (CONTRACT §12, §14): a stage starts as soon as its own input is known, never
 * held back by an unrelated slower stage; nothing waits forever. Proven structurally (a stage
 * that can only finish if an unrelated later stage already started), never by timing.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { pathToFileURL } from "node:url";
import { repoRoot, removeDir, writeConfigDir } from "../helpers.js";
import { normalizeEvents, normalizeResult, TaskNames } from "../normalize.js";
import { path, runWorkflow, withEngine } from "./harness.js";

// Arm a: a1 -> a2; arm b: b1 -> b2 -> b3; both meet at the merge.
const TWO_ARMS = (timeout: number): string => `
nodes:
  - { id: begin, kind: deterministic, role: start }
  - { id: fan, kind: deterministic, role: branch }
  - { id: a1, kind: deterministic, role: linear, timeout_ms: ${timeout} }
  - { id: a2, kind: deterministic, role: linear }
  - { id: b1, kind: deterministic, role: linear }
  - { id: b2, kind: deterministic, role: linear }
  - { id: b3, kind: deterministic, role: linear }
  - { id: join, kind: deterministic, role: merge, merge: { on_failure: partial } }
  - { id: done, kind: deterministic, role: exit }
edges:
  - { from: begin, to: fan }
  - { from: fan, to: a1 }
  - { from: fan, to: b1 }
  - { from: a1, to: a2 }
  - { from: a2, to: join }
  - { from: b1, to: b2 }
  - { from: b2, to: b3 }
  - { from: b3, to: join }
  - { from: join, to: done }
`;

/** a1 finishes only once b3 has started: possible only if b's stages do not wait for a1's wave. */
function gated() {
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  return {
    a1: async (input: unknown) => {
      await gate;
      return input;
    },
    b3: (input: unknown) => {
      open();
      return input;
    },
  };
}

describe("eager scheduling", () => {
  it("a stage starts when its own predecessor is done, not when the whole wave is", async () => {
    const { result } = await runWorkflow({ "workflow.yaml": TWO_ARMS(60_000) }, { x: 1 }, { handlers: gated() });
    assert.equal(result.status, "success");
    assert.deepEqual(path(result), ["begin", "fan", "join", "done"]);
  });

  it("the wave model cannot do it: a1 waits for b3, which waits for a1's wave (times out)", async () => {
    const { result } = await runWorkflow({ "workflow.yaml": TWO_ARMS(200) }, { x: 1 }, { handlers: gated(), scheduling: "waves" });
    assert.equal(result.status, "partial");
    const a = result.children.find((c) => c.history[0]?.nodeId === "a1")!;
    assert.equal(a.error?.code, "NODE_TIMEOUT");
  });

  it("events and results are the same in both models for the same handler results", async () => {
    const handlers = { a1: async (i: unknown) => i, b3: (i: unknown) => i };
    const eager = await runWorkflow({ "workflow.yaml": TWO_ARMS(60_000) }, { x: 1 }, { handlers });
    const waves = await runWorkflow({ "workflow.yaml": TWO_ARMS(60_000) }, { x: 1 }, { handlers, scheduling: "waves" });
    const n1 = new TaskNames();
    const n2 = new TaskNames();
    assert.deepEqual(normalizeEvents(eager.events, n1), normalizeEvents(waves.events, n2));
    assert.deepEqual(normalizeResult(eager.result, n1), normalizeResult(waves.result, n2));
  });

  it("event timestamps say when the work happened: node.completed of a fast arm is not later than its commit", async () => {
    const { events } = await runWorkflow({ "workflow.yaml": TWO_ARMS(60_000) }, { x: 1 }, { handlers: gated() });
    // b1..b3 completed before a1 (they opened its gate) although a1's events come first in seq.
    const at = (type: string, node: string): string => events.find((e) => e.type === type && e.nodeId === node)!.timestamp;
    const seq = (type: string, node: string): number => events.find((e) => e.type === type && e.nodeId === node)!.seq;
    assert.ok(seq("node.completed", "a1") < seq("node.completed", "b3"));
    assert.ok(at("node.completed", "b3") <= at("node.completed", "a1"));
  });

  it("rejects an unknown scheduling option", async () => {
    await assert.rejects(runWorkflow({ "workflow.yaml": TWO_ARMS(100) }, {}, { scheduling: "fast" as never }), /INVALID_OPTION|scheduling/);
  });
});

describe("nothing waits forever (§14)", () => {
  it("a handler that never settles ends NODE_TIMEOUT and the process stays alive until run() resolves", async () => {
    const dir = await writeConfigDir({
      "workflow.yaml": `
nodes:
  - { id: begin, kind: deterministic, role: start }
  - { id: stuck, kind: deterministic, role: linear, timeout_ms: 100 }
  - { id: done, kind: deterministic, role: exit }
edges:
  - { from: begin, to: stuck }
  - { from: stuck, to: done }
`,
    });
    try {
      // A separate process with nothing else keeping its event loop alive: before the fix it
      // exited 13 (unsettled top-level await) with no output.
      const script = join(dir, "main.mjs");
      const engineUrl = pathToFileURL(join(repoRoot, "dist", "src", "index.js")).href;
      await writeFile(
        script,
        `import { Engine } from ${JSON.stringify(engineUrl)};
const engine = await Engine.fromConfigDir(${JSON.stringify(dir)}, { handlers: { stuck: () => new Promise(() => {}) } });
const r = await engine.run({});
await engine.shutdown();
console.log(JSON.stringify({ status: r.status, code: r.error?.code }));
`,
      );
      const out = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
        const child = spawn(process.execPath, [script], { stdio: ["ignore", "pipe", "inherit"] });
        let stdout = "";
        child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
        child.on("close", (code) => resolve({ code, stdout }));
      });
      assert.equal(out.code, 0);
      assert.deepEqual(JSON.parse(out.stdout), { status: "failure", code: "NODE_TIMEOUT" });
    } finally {
      await removeDir(dir);
    }
  });

  it("a handler throwing a non-Error, or an object with a code, ends with a coded result", async () => {
    const wf = `
nodes:
  - { id: begin, kind: deterministic, role: start }
  - { id: step, kind: deterministic, role: linear }
  - { id: done, kind: deterministic, role: exit }
edges:
  - { from: begin, to: step }
  - { from: step, to: done }
`;
    for (const thrown of [42, null, undefined, { code: "ERR_INVALID_ARG_TYPE", message: "bad" }, Symbol("s")]) {
      const { result } = await runWorkflow({ "workflow.yaml": wf }, {}, { handlers: { step: () => { throw thrown; } } });
      assert.equal(result.status, "failure");
      assert.equal(result.error?.code, "HANDLER_FAILED");
    }
  });

  it("a split of 100,000 items with maxConcurrency 4 completes with every subtask accounted for", async () => {
    const wf = `
nodes:
  - { id: begin, kind: deterministic, role: start }
  - { id: sp, kind: deterministic, role: split }
  - { id: work, kind: deterministic, role: linear }
  - { id: done, kind: deterministic, role: exit }
edges:
  - { from: begin, to: sp }
  - { from: sp, to: work }
  - { from: work, to: done }
`;
    let peak = 0;
    let inFlight = 0;
    const result = await withEngine(
      { "workflow.yaml": wf },
      {
        maxConcurrency: 4,
        maxEvents: 1000,
        handlers: {
          sp: (n: unknown) => Array.from({ length: n as number }, (_, i) => i),
          work: async (i: unknown) => {
            inFlight++;
            peak = Math.max(peak, inFlight);
            await null;
            inFlight--;
            if ((i as number) % 10_000 === 7) throw new Error(`item ${String(i)} is bad`);
            return (i as number) * 2;
          },
        },
      },
      (engine) => engine.run(100_000),
    );
    assert.equal(result.status, "partial");
    assert.equal(result.children.length, 100_000);
    assert.equal(result.children.filter((c) => c.status === "failure").length, 10);
    assert.ok(peak <= 4, `peak ${peak}`);
    const out = result.output as (number | null)[];
    assert.equal(out[3], 6);
    assert.equal(out[99_999], 199_998);
  });
});
