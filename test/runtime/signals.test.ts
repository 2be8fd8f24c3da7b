/**
 * A run's AbortSignal is borrowed, not leaked: every stage removes what it added.
 */
import assert from "node:assert/strict";
import { getEventListeners } from "node:events";
import { describe, it } from "node:test";
import { runWorkflow } from "./harness.js";

function chain(n: number): string {
  let y = "nodes:\n  - { id: n0, kind: deterministic, role: start }\n";
  for (let i = 1; i < n - 1; i++) y += `  - { id: n${i}, kind: deterministic, role: linear, timeout_ms: 10000 }\n`;
  y += `  - { id: n${n - 1}, kind: deterministic, role: exit }\nedges:\n`;
  for (let i = 0; i < n - 1; i++) y += `  - { from: n${i}, to: n${i + 1} }\n`;
  return y;
}

describe("run signals", () => {
  it("leaves no abort listener on the caller's signal and no pending timer after a long run", async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => {
      warnings.push(w);
    };
    process.on("warning", onWarning);
    try {
      const controller = new AbortController();
      const handlers: Record<string, (input: unknown) => Promise<unknown>> = {};
      for (let i = 0; i < 30; i++) handlers[`n${i}`] = async (input) => ({ ...(input as object), [`n${i}`]: true });
      const { result } = await runWorkflow({ "workflow.yaml": chain(30) }, {}, { handlers }, { signal: controller.signal });
      assert.equal(result.status, "success");
      assert.equal(getEventListeners(controller.signal, "abort").length, 0);
      await new Promise((r) => setImmediate(r));
      assert.deepEqual(
        warnings.filter((w) => w.name === "MaxListenersExceededWarning"),
        [],
      );
    } finally {
      process.off("warning", onWarning);
    }
  });

  it("adds no listener per stage when the run has no signal (20 async stages in flight at once)", async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => {
      warnings.push(w);
    };
    process.on("warning", onWarning);
    try {
      const workflow = [
        "nodes:",
        "  - { id: s, kind: deterministic, role: start }",
        "  - { id: fan, kind: deterministic, role: split }",
        "  - { id: work, kind: deterministic, role: linear, timeout_ms: 10000 }",
        "  - { id: gather, kind: deterministic, role: merge }",
        "  - { id: done, kind: deterministic, role: exit }",
        "edges:",
        "  - { from: s, to: fan }",
        "  - { from: fan, to: work }",
        "  - { from: work, to: gather }",
        "  - { from: gather, to: done }",
      ].join("\n");
      let inFlight = 0;
      let most = 0;
      const handlers = {
        fan: () => Array.from({ length: 20 }, (_, i) => i),
        work: async (input: unknown) => {
          inFlight++;
          most = Math.max(most, inFlight);
          await new Promise((r) => setImmediate(r));
          inFlight--;
          return (input as number) * 2;
        },
      };
      const { result } = await runWorkflow({ "workflow.yaml": workflow }, {}, { handlers });
      assert.equal(result.status, "success");
      assert.equal(most, 20, "the 20 stages were in flight together");
      await new Promise((r) => setImmediate(r));
      assert.deepEqual(
        warnings.filter((w) => w.name === "MaxListenersExceededWarning").map((w) => w.message),
        [],
      );
    } finally {
      process.off("warning", onWarning);
    }
  });
});
