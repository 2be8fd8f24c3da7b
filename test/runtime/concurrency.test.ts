/**
 * maxConcurrency bounds how many node executions run at once, and changes nothing else.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { EngineError } from "../../src/errors.js";
import { normalizeEvents, normalizeResult } from "../normalize.js";
import { runWorkflow, withEngine } from "./harness.js";

const SPLIT = `
nodes:
  - { id: begin, kind: deterministic, role: start }
  - { id: sp, kind: deterministic, role: split }
  - { id: w1, kind: deterministic, role: linear }
  - { id: w2, kind: deterministic, role: linear }
  - { id: gather, kind: deterministic, role: merge }
  - { id: done, kind: deterministic, role: exit }
edges:
  - { from: begin, to: sp }
  - { from: sp, to: w1 }
  - { from: sp, to: w2 }
  - { from: w1, to: gather }
  - { from: w2, to: gather }
  - { from: gather, to: done }
`;

function tracked() {
  let inFlight = 0;
  let peak = 0;
  const work = async (input: unknown): Promise<unknown> => {
    inFlight++;
    peak = Math.max(peak, inFlight);
    // Yield a few times so other lanes get a chance to start if the limit allowed it.
    for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
    inFlight--;
    return { done: input };
  };
  return {
    handlers: { sp: () => [1, 2, 3, 4, 5, 6, 7], w1: work, w2: work },
    peak: () => peak,
  };
}

describe("maxConcurrency", () => {
  it("caps node executions in flight and leaves results and events unchanged", async () => {
    const limited = tracked();
    const a = await runWorkflow({ "workflow.yaml": SPLIT }, {}, { handlers: limited.handlers, maxConcurrency: 2 });
    assert.equal(limited.peak(), 2);
    const free = tracked();
    const b = await runWorkflow({ "workflow.yaml": SPLIT }, {}, { handlers: free.handlers });
    assert.equal(free.peak(), 7);
    assert.equal(a.result.status, "success");
    assert.deepEqual(normalizeResult(a.result), normalizeResult(b.result));
    assert.deepEqual(normalizeEvents(a.events), normalizeEvents(b.events));
  });

  it("rejects a limit below 1 with INVALID_OPTION", async () => {
    await assert.rejects(
      withEngine({ "workflow.yaml": SPLIT }, { maxConcurrency: 0 }, async () => undefined),
      (e: unknown) => e instanceof EngineError && e.code === "INVALID_OPTION",
    );
  });
});
