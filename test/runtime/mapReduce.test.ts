/**
 * §14 map-reduce: a merge closing a split may have a single inbound edge. Real config dirs, real
 * handlers, the real engine; and the DAG generator's workflows (single-arm split diamonds
 * included) run to a valid end on the current runtime.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { stringify } from "yaml";
import { Engine } from "../../src/index.js";
import type { NodeManifest } from "../../src/config/types.js";
import { validWorkflowArb } from "../arbitraries/dag.js";
import { removeDir, writeConfigDir } from "../helpers.js";
import { normalizeResult } from "../normalize.js";

describe("map-reduce without duplicate nodes (§14)", () => {
  it("split -> worker -> merge (one inbound edge) gathers every item, in item order", async () => {
    const dir = await writeConfigDir({
      "workflow.yaml": [
        "nodes:",
        "  - { id: s, kind: deterministic, role: start }",
        "  - { id: fan, kind: deterministic, role: split, handler: ./h.mjs#items }",
        "  - { id: work, kind: deterministic, role: linear, handler: ./h.mjs#double }",
        "  - { id: gather, kind: deterministic, role: merge }",
        "  - { id: done, kind: deterministic, role: exit, handler: ./h.mjs#sum }",
        "edges:",
        "  - { from: s, to: fan }",
        "  - { from: fan, to: work }",
        "  - { from: work, to: gather }",
        "  - { from: gather, to: done }",
      ].join("\n"),
      "h.mjs": [
        "export const items = (input) => input.values;",
        // later items finish first: arrival order must not leak into the merge
        "export const double = async (n) => { await new Promise((r) => setTimeout(r, 30 - n * 5)); return n * 2; };",
        "export const sum = (arrivals) => ({ outputs: arrivals.map((a) => a.output), total: arrivals.reduce((t, a) => t + a.output, 0) });",
      ].join("\n"),
    });
    try {
      const engine = await Engine.fromConfigDir(dir);
      try {
        assert.equal(engine.graph.closes("fan", "gather"), true);
        const result = await engine.run({ values: [1, 2, 3, 4, 5] });
        assert.equal(result.status, "success", JSON.stringify(result));
        assert.deepEqual(result.output, { outputs: [2, 4, 6, 8, 10], total: 30 });
      } finally {
        await engine.shutdown();
      }
    } finally {
      await removeDir(dir);
    }
  });

  it("property: generated workflows (with single-inbound split merges) run to a valid, deterministic end", { timeout: 240_000 }, async () => {
    const deterministic = (n: NodeManifest): NodeManifest => {
      const { agent: _agent, ...rest } = n;
      return { ...rest, kind: "deterministic" } as NodeManifest;
    };
    let singleInbound = 0;
    await fc.assert(
      fc.asyncProperty(validWorkflowArb, fc.constantFrom<unknown>([1, 2], [[1], [2, 3]], { k: 1 }, "text"), async (g, input) => {
        if (g.workflow.nodes.some((n) => n.role === "merge" && g.workflow.edges.filter((e) => e.to === n.id).length === 1)) singleInbound++;
        const workflow = { ...g.workflow, nodes: g.workflow.nodes.map(deterministic) };
        const dir = await writeConfigDir({ "workflow.yaml": stringify(workflow) });
        try {
          const engine = await Engine.fromConfigDir(dir);
          try {
            const first = await engine.run(input);
            const second = await engine.run(input);
            assert.ok(["success", "partial", "failure"].includes(first.status), first.status);
            assert.deepEqual(normalizeResult(second), normalizeResult(first), "two runs differ");
          } finally {
            await engine.shutdown();
          }
        } finally {
          await removeDir(dir);
        }
      }),
      { numRuns: 40 },
    );
    assert.ok(singleInbound > 0, "the generator produced single-inbound split merges");
  });
});
