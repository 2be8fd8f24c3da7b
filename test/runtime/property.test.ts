/**
 * Property-based tests of the runtime: random valid workflows must always terminate with a valid
 * status, emit a well-formed event stream, and be deterministic (CONTRACT §3, §5).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { removeDir, writeConfigDir } from "../helpers.js";
import { checkOutcome, compile, CrashingStore, memoryFor, normalized, resumeSpec, runCutShort, runSpec, specArb } from "./generated.js";

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

describe("property: eager scheduling is equivalent to the wave model (CONTRACT §12)", () => {
  it("random workflows give identical results and normalized events under waves, eager, uneven delays, sync handlers and concurrency caps", async () => {
    await fc.assert(
      fc.asyncProperty(specArb, fc.integer({ min: 1, max: 3 }), async (spec, cap) => {
        const { yaml, behaviors } = compile(spec);
        const dir = await writeConfigDir({ "workflow.yaml": yaml });
        try {
          const reference = await runSpec(dir, spec, behaviors, { scheduling: "waves", pacing: "random" });
          checkOutcome(reference);
          // The sync and async variants are different handler code, so the user stacks recorded
          // in history entries legitimately differ; everything else must be identical.
          const expected = withoutStacks(normalized(reference));
          for (const options of [
            { scheduling: "eager", pacing: "uneven" },
            { scheduling: "eager", pacing: "sync" },
            { scheduling: "eager", pacing: "uneven", maxConcurrency: cap },
            { scheduling: "waves", pacing: "sync" },
          ] as const) {
            const o = await runSpec(dir, spec, behaviors, options);
            checkOutcome(o);
            assert.deepEqual(withoutStacks(normalized(o)), expected, `differs under ${JSON.stringify(options)}`);
          }
        } finally {
          await removeDir(dir);
        }
      }),
      { numRuns: 60 },
    );
  });
});

function withoutStacks(v: unknown): unknown {
  return JSON.parse(JSON.stringify(v, (k, x: unknown) => (k === "stack" ? undefined : x)));
}

describe("regressions found by the properties", () => {
  it("an outer split merge waits for a subtask whose inner branch failed entirely (its join fires first)", async () => {
    // split -> [x | y | branch -> (fail, fail) -> inner merge -> z] -> outer merge. The inner
    // fork settles with no arrivals, which fires the inner merge; the outer merge fired before
    // that subtask could arrive, and the root ended before one of its subtasks.
    const spec = JSON.parse(
      '{"seed":61867000,"chain":{"steps":[{"t":"fork","kind":"split","fail":"never","policy":"fail_on_any","arms":[[{"t":"linear","fail":"sometimes","cof":false}],[{"t":"linear","fail":"never","cof":false}],[{"t":"fork","kind":"branch","fail":"never","policy":"fail_on_any","arms":[[{"t":"linear","fail":"always","cof":false},{"t":"linear","fail":"never","cof":false}],[{"t":"linear","fail":"always","cof":false},{"t":"linear","fail":"never","cof":false}]]},{"t":"linear","fail":"never","cof":false}]]}],"end":{"t":"exit","alwaysFail":true}}}',
    ) as Parameters<typeof compile>[0];
    const { yaml, behaviors } = compile(spec);
    const dir = await writeConfigDir({ "workflow.yaml": yaml });
    try {
      for (const options of [{ scheduling: "waves", pacing: "sync" }, { scheduling: "eager", pacing: "uneven" }] as const) {
        checkOutcome(await runSpec(dir, spec, behaviors, options));
      }
    } finally {
      await removeDir(dir);
    }
  });
});

describe("property: a run cut short at any commit point resumes to the same result and events (§11)", () => {
  it("random workflows, random crash points: nothing committed runs again, no event twice, same outcome", async () => {
    await fc.assert(
      fc.asyncProperty(specArb, fc.nat(), async (spec, cut) => {
        const { yaml, behaviors } = compile(spec);
        const dir = await writeConfigDir({ "workflow.yaml": yaml });
        try {
          const reference = await runSpec(dir, spec, behaviors, { pacing: "uneven" });
          // First process: dies when it tries to write commit point `cut % n`.
          const probe = new CrashingStore(Number.POSITIVE_INFINITY);
          await runSpec(dir, spec, behaviors, { pacing: "sync", store: probe });
          const { first, store, at, of } = await runCutShort(dir, spec, behaviors, cut, probe.records.length, { pacing: "uneven" });
          const runId = first.result.runId;
          const survivor = store.survivor();
          const committed = new Set(survivor.outcomeKeys(runId));
          const prefix = [...survivor.events(runId)];
          // Second process: a new engine on what the store kept.
          const executed: string[] = [];
          const second = await resumeSpec(dir, spec, behaviors, survivor, runId, (taskId, nodeId) => executed.push(`${taskId}\u0000${nodeId}\u00000`));
          // One stream as a reader of the journal sees it: the recorded prefix, then the new events.
          const events = [...prefix, ...second.events].map((e, i) => ({ ...e, seq: i + 1 }));
          checkOutcome({ result: second.result, events });
          for (const k of executed) assert.ok(!committed.has(k), `committed stage ${k.split("\u0000").join("/")} ran again`);
          // The journal holds each committed outcome once: a resumed run does not record replayed ones again.
          const keys = survivor.outcomeKeys(runId);
          assert.equal(new Set(keys).size, keys.length, "an outcome was journaled twice");
          const strip = (o: unknown): unknown => JSON.parse(JSON.stringify(o, (k, v: unknown) => (k === "seq" || k === "stack" ? undefined : v)));
          assert.deepEqual(
            strip(normalized({ result: second.result, events })),
            strip(normalized(reference)),
            `resumed run differs (cut at commit point ${at} of ${of})`,
          );
        } finally {
          await removeDir(dir);
        }
      }),
      { numRuns: 40 },
    );
  });
});

describe("property: kv memory keeps the determinism guarantee (CONTRACT §10, §12)", () => {
  it("random workflows reading and writing task and project memory give identical results and events under waves, eager, uneven delays and concurrency caps", async () => {
    await fc.assert(
      fc.asyncProperty(specArb, fc.integer({ min: 1, max: 3 }), async (spec, cap) => {
        const { yaml, behaviors } = compile(spec);
        const memory = memoryFor(spec, behaviors);
        const dir = await writeConfigDir({ "workflow.yaml": yaml, "memory.yaml": memory.yaml });
        try {
          const memoryWriters = memory.writers;
          const reference = await runSpec(dir, spec, behaviors, { scheduling: "waves", pacing: "random", memoryWriters });
          checkOutcome(reference);
          const expected = normalized(reference);
          for (const options of [
            { scheduling: "eager", pacing: "uneven" },
            { scheduling: "eager", pacing: "random" },
            { scheduling: "eager", pacing: "sync" },
            { scheduling: "eager", pacing: "uneven", maxConcurrency: cap },
            { scheduling: "waves", pacing: "sync" },
          ] as const) {
            const o = await runSpec(dir, spec, behaviors, { ...options, memoryWriters });
            checkOutcome(o);
            assert.deepEqual(normalized(o), expected, `differs under ${JSON.stringify(options)}`);
          }
        } finally {
          await removeDir(dir);
        }
      }),
      { numRuns: 60 },
    );
  });

  it("a run with memory cut short at any commit point resumes to the same result, events and memory: no write lost or applied twice", async () => {
    await fc.assert(
      fc.asyncProperty(specArb, fc.nat(), async (spec, cut) => {
        const { yaml, behaviors } = compile(spec);
        const memory = memoryFor(spec, behaviors);
        const memoryWriters = memory.writers;
        const dir = await writeConfigDir({ "workflow.yaml": yaml, "memory.yaml": memory.yaml });
        try {
          const whole = new CrashingStore(Number.POSITIVE_INFINITY);
          const reference = await runSpec(dir, spec, behaviors, { pacing: "uneven", store: whole, memoryWriters });
          const { first, store, at, of } = await runCutShort(dir, spec, behaviors, cut, whole.records.length, { pacing: "uneven", memoryWriters });
          const runId = first.result.runId;
          const survivor = store.survivor();
          const prefix = [...survivor.events(runId)];
          const second = await resumeSpec(dir, spec, behaviors, survivor, runId, () => undefined, memoryWriters);
          const events = [...prefix, ...second.events].map((e, i) => ({ ...e, seq: i + 1 }));
          checkOutcome({ result: second.result, events });
          const strip = (o: unknown): unknown => JSON.parse(JSON.stringify(o, (k, v: unknown) => (k === "seq" || k === "stack" ? undefined : v)));
          assert.deepEqual(strip(normalized({ result: second.result, events })), strip(normalized(reference)), `resumed run differs (cut at commit point ${at} of ${of})`);
          // The store holds exactly the reference run's memory, each write applied once.
          assert.deepEqual([...survivor.memory].sort(), [...whole.memory].sort(), "final memory differs");
          assert.deepEqual(survivor.applied, whole.applied, "memory writes lost or applied twice");
        } finally {
          await removeDir(dir);
        }
      }),
      { numRuns: 40 },
    );
  });
});
