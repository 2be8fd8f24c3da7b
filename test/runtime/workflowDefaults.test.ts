/**
 * workflow.yaml `defaults:` seen by a real engine: `timeout_ms` ends a handler that never settles
 * as NODE_TIMEOUT; `max_concurrency` caps handlers in flight unless EngineOptions.maxConcurrency
 * is given.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Engine } from "../../src/index.js";
import { removeDir, writeConfigDir } from "../helpers.js";

const splitWorkflow = (defaults: string): string =>
  [
    defaults,
    "nodes:",
    "  - { id: s, kind: deterministic, role: start }",
    "  - { id: fan, kind: deterministic, role: split }",
    "  - { id: work, kind: deterministic, role: linear, handler: ./h.mjs#work }",
    "  - { id: gather, kind: deterministic, role: merge }",
    "  - { id: done, kind: deterministic, role: exit, handler: ./h.mjs#peak }",
    "edges:",
    "  - { from: s, to: fan }",
    "  - { from: fan, to: work }",
    "  - { from: work, to: gather }",
    "  - { from: gather, to: done }",
  ].join("\n");

const HANDLERS = [
  "let inFlight = 0; let top = 0;",
  "export const work = async (n) => { inFlight++; top = Math.max(top, inFlight); await new Promise((r) => setTimeout(r, 20)); inFlight--; return n; };",
  "export const peak = () => { const p = top; top = 0; return { peak: p }; };",
  "export const never = () => new Promise(() => {});",
].join("\n");

async function peakOf(defaults: string, options: { maxConcurrency?: number } = {}): Promise<number> {
  const dir = await writeConfigDir({ "workflow.yaml": splitWorkflow(defaults), "h.mjs": HANDLERS });
  try {
    const engine = await Engine.fromConfigDir(dir, options);
    try {
      const result = await engine.run([1, 2, 3, 4, 5, 6]);
      assert.equal(result.status, "success", JSON.stringify(result));
      return (result.output as { peak: number }).peak;
    } finally {
      await engine.shutdown();
    }
  } finally {
    await removeDir(dir);
  }
}

describe("workflow defaults in a running engine", () => {
  it("defaults.max_concurrency caps handlers in flight; EngineOptions.maxConcurrency wins", async () => {
    assert.equal(await peakOf(""), 6);
    assert.equal(await peakOf("defaults: { max_concurrency: 2 }"), 2);
    assert.equal(await peakOf("defaults: { max_concurrency: 2 }", { maxConcurrency: 3 }), 3);
  });

  it("defaults.timeout_ms ends a handler that never settles as NODE_TIMEOUT; a node's own timeout_ms wins", async () => {
    const workflow = (nodeTimeout: string): string =>
      [
        "defaults: { timeout_ms: 40 }",
        "nodes:",
        "  - { id: s, kind: deterministic, role: start }",
        `  - { id: stuck, kind: deterministic, role: linear, handler: ./h.mjs#never${nodeTimeout} }`,
        "  - { id: x, kind: deterministic, role: exit }",
        "edges:",
        "  - { from: s, to: stuck }",
        "  - { from: stuck, to: x }",
      ].join("\n");
    for (const [own, expect] of [["", /timeout_ms 40\b/], [", timeout_ms: 60", /timeout_ms 60\b/]] as const) {
      const dir = await writeConfigDir({ "workflow.yaml": workflow(own), "h.mjs": HANDLERS });
      try {
        const engine = await Engine.fromConfigDir(dir);
        try {
          const result = await engine.run({});
          assert.equal(result.status, "failure");
          assert.equal(result.error?.code, "NODE_TIMEOUT");
          assert.match(result.error?.message ?? "", expect);
        } finally {
          await engine.shutdown();
        }
      } finally {
        await removeDir(dir);
      }
    }
  });
});
