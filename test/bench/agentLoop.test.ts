/**
 * The agent-loop bench cases do what they claim (no timing here): the engine's agent node, the
 * handler node and the hand-written loop each make 4 model calls and end with the same answer,
 * and the overhead figure is (measured - baseline) per unit of work over the reference time.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { AGENT_LOOP_STEPS, EXPECTED_ANSWER, agentLoopCases } from "../../bench/agentLoop.js";
import { ratioOf } from "../../bench/harness.js";

describe("bench: agent loop", () => {
  it("every case runs and verifies (model calls, tool calls, answer)", async () => {
    const { cases, dispose } = await agentLoopCases();
    try {
      assert.deepEqual(cases.map((c) => c.name), ["agent-loop-engine", "agent-loop-handler", "agent-loop-direct"]);
      for (const c of cases) {
        await c.batch(3);
        await c.verify?.();
      }
      assert.equal(AGENT_LOOP_STEPS, EXPECTED_ANSWER.sources.length + 1);
    } finally {
      await dispose();
    }
  });

  it("ratioOf: overhead = (a - b) / per / referenceNs; cost and speedup as before", () => {
    const spec = { name: "x", a: "a", b: "b", targetText: "" } as const;
    assert.equal(ratioOf({ ...spec, kind: "overhead", per: 4, referenceNs: 1e6 }, 300_000, 100_000), 0.05);
    assert.equal(ratioOf({ ...spec, kind: "cost" }, 300, 100), 3);
    assert.equal(ratioOf({ ...spec, kind: "speedup" }, 100, 300), 3);
  });
});
