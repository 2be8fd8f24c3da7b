/**
 * Property-based tests of the runtime: random valid workflows must always terminate with a valid
 * status, emit a well-formed event stream, and be deterministic (CONTRACT §3, §5).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { removeDir, writeConfigDir } from "../helpers.js";
import { checkOutcome, compile, normalized, runSpec, specArb } from "./generated.js";

describe("property: random valid workflows", () => {
  it("load, terminate with a valid status, emit well-formed events, and run deterministically", async () => {
    await fc.assert(
      fc.asyncProperty(specArb, async (spec) => {
        const { yaml, behaviors } = compile(spec);
        const dir = await writeConfigDir({ "workflow.yaml": yaml });
        try {
          const first = await runSpec(dir, spec, behaviors);
          checkOutcome(first);
          const second = await runSpec(dir, spec, behaviors);
          checkOutcome(second);
          assert.deepEqual(normalized(second), normalized(first), "two runs differ");
        } finally {
          await removeDir(dir);
        }
      }),
      { numRuns: 60 },
    );
  });
});
