/**
 * Determinism (CONTRACT §3): same manifests, input and LLM responses give the same results and
 * the same normalized event sequence, whatever order parallel handlers finish in.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Engine, type EngineOptions } from "../../src/runtime/Engine.js";
import type { HandlerContext } from "../../src/runtime/types.js";
import { silentLogger } from "../../src/telemetry/logger.js";
import { removeDir, writeConfigDir } from "../helpers.js";
import { normalizeEvents, normalizeResult, TaskNames } from "../normalize.js";
import { assertEventInvariants } from "./harness.js";

const WF = `
nodes:
  - { id: begin, kind: deterministic, role: start }
  - { id: route, kind: deterministic, role: decision }
  - { id: fan, kind: deterministic, role: branch }
  - { id: a, kind: deterministic, role: linear, tools: [echo] }
  - { id: b, kind: agent, role: linear, agent: writer }
  - { id: c, kind: deterministic, role: linear, continue_on_failure: true }
  - { id: join, kind: deterministic, role: merge, merge: { on_failure: partial } }
  - { id: sp, kind: deterministic, role: split }
  - { id: w1, kind: deterministic, role: linear }
  - { id: w2, kind: deterministic, role: linear }
  - { id: w3, kind: deterministic, role: linear }
  - { id: gather, kind: deterministic, role: merge, merge: { on_failure: ignore_failures } }
  - { id: done, kind: deterministic, role: exit }
  - { id: side, kind: deterministic, role: branch }
  - { id: s1, kind: deterministic, role: linear }
  - { id: s2, kind: deterministic, role: linear }
  - { id: side_1, kind: deterministic, role: exit }
  - { id: side_2, kind: deterministic, role: exit }
edges:
  - { from: begin, to: route }
  - { from: route, to: fan, label: main }
  - { from: route, to: side, label: side }
  - { from: fan, to: a }
  - { from: fan, to: b }
  - { from: fan, to: c }
  - { from: a, to: join }
  - { from: b, to: join }
  - { from: c, to: join }
  - { from: join, to: sp }
  - { from: sp, to: w1 }
  - { from: sp, to: w2 }
  - { from: sp, to: w3 }
  - { from: w1, to: gather }
  - { from: w2, to: gather }
  - { from: w3, to: gather }
  - { from: gather, to: done }
  - { from: side, to: s1 }
  - { from: side, to: s2 }
  - { from: s1, to: side_1 }
  - { from: s2, to: side_2 }
`;
const AGENTS = `
providers:
  - id: offline
    type: scripted
    rules:
      - { agent: writer, response: "drafted" }
agents:
  - { id: writer, model: m, prompt: "{{input.text}}" }
`;
const TOOLS = `
tools:
  - { id: echo }
`;

const jitter = (): Promise<void> => new Promise((r) => setTimeout(r, Math.random() * 5));
const slow =
  <T>(fn: (input: never, ctx: HandlerContext) => T) =>
  async (input: unknown, ctx: HandlerContext): Promise<T> => {
    await jitter();
    const out = fn(input as never, ctx);
    await jitter();
    return out;
  };

const options: EngineOptions = {
  logger: silentLogger,
  tools: { echo: async (args) => { await jitter(); return { echoed: args }; } },
  handlers: {
    begin: slow((i: { text: string; path: string }) => i),
    route: slow((i: { path: string }) => i.path),
    a: async (i, ctx) => { await jitter(); const r = await ctx.callTool("echo", { from: "a", i }); await jitter(); return r; },
    c: slow(() => { throw new Error("c always fails"); }),
    sp: slow((arr: { node_id: string }[]) => [...arr.map((x) => x.node_id), "x", "y", "z", "w"]),
    w1: slow((s: string) => `w1:${s}`),
    w2: slow((s: string) => { if (s === "y") throw new Error("w2 dislikes y"); return `w2:${s}`; }),
    w3: slow((s: string) => ({ w3: s })),
    gather: slow((arr: { output: unknown }[]) => arr.map((x) => x.output)),
    s1: slow(() => { throw new Error("s1 fails"); }),
    s2: slow((i: unknown) => ({ s2: i })),
    side_2: slow((i: unknown) => ({ formatted: i })),
  },
};

describe("determinism under random handler delays", () => {
  let dir = "";
  before(async () => {
    dir = await writeConfigDir({ "workflow.yaml": WF, "agents.yaml": AGENTS, "tools.yaml": TOOLS });
  });
  after(async () => {
    await removeDir(dir);
  });

  async function runFresh(input: unknown): Promise<{ result: unknown; events: unknown[] }> {
    const engine = await Engine.fromConfigDir(dir, options);
    const result = await engine.run(input);
    const events = engine.getEvents();
    assertEventInvariants(events);
    await engine.shutdown();
    const names = new TaskNames();
    const ev = normalizeEvents(events, names);
    return { result: normalizeResult(result, names), events: ev };
  }

  for (const pathName of ["main", "side"]) {
    it(`30 fresh engines give identical normalized results and events (${pathName} path)`, async () => {
      const input = { text: "hello", path: pathName };
      const first = await runFresh(input);
      const status = (first.result as { status: string }).status;
      assert.equal(status, pathName === "main" ? "partial" : "success");
      const runs = await Promise.all(Array.from({ length: 15 }, () => runFresh(input)));
      for (let i = 0; i < 15; i++) runs.push(await runFresh(input));
      for (const [i, r] of runs.entries()) {
        assert.deepEqual(r.result, first.result, `result of run ${i + 2} differs`);
        assert.deepEqual(r.events, first.events, `events of run ${i + 2} differ`);
      }
    });
  }

  it("the main path produces the expected merge orders", async () => {
    const { result } = await runFresh({ text: "t", path: "main" });
    const r = result as { output: unknown; children: { status: string }[] };
    // join (partial) kept a and b; c failed with continue_on_failure and arrives partial.
    // sp items: a, b, c, x, y, z, w -> round-robin over w1,w2,w3; w2 fails on "y" (ignored).
    // A split's arrivals are in item order (§14).
    assert.deepEqual(r.output, ["w1:a", "w2:b", { w3: "c" }, "w1:x", { w3: "z" }, "w1:w"]);
  });

  it("runs on one engine repeat the same normalized event sequence", async () => {
    const engine = await Engine.fromConfigDir(dir, options);
    const seqs: unknown[] = [];
    for (let i = 0; i < 5; i++) {
      const before = engine.getEvents().length;
      await engine.run({ text: "same", path: "main" });
      seqs.push(normalizeEvents(engine.getEvents().slice(before)).map(({ seq: _s, ...e }) => e));
    }
    await engine.shutdown();
    for (const s of seqs.slice(1)) assert.deepEqual(s, seqs[0]);
  });
});
