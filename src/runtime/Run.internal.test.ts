/**
 * The runtime's last line of defence: an internal error becomes an `error` event and failed
 * tasks, never an unhandled rejection or a hang.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { loadProject } from "../dag/buildGraph.js";
import type { WorkflowGraph } from "../dag/types.js";
import { TelemetryBus } from "../telemetry/TelemetryBus.js";
import { removeDir, writeConfigDir } from "../../test/helpers.js";
import { Run } from "./Run.js";

test("an internal error is recorded as an error event and fails every open task", async () => {
  const dir = await writeConfigDir({
    "workflow.yaml": `
nodes:
  - { id: s, kind: deterministic, role: start }
  - { id: b, kind: deterministic, role: branch }
  - { id: x, kind: deterministic, role: linear }
  - { id: y, kind: deterministic, role: linear }
  - { id: m, kind: deterministic, role: merge }
  - { id: z, kind: deterministic, role: exit }
edges:
  - { from: s, to: b }
  - { from: b, to: x }
  - { from: b, to: y }
  - { from: x, to: m }
  - { from: y, to: m }
  - { from: m, to: z }
`,
  });
  try {
    const { graph } = await loadProject(dir);
    const corrupt = {
      value(): never {
        throw new Error("reachability corrupted");
      },
    };
    const broken: WorkflowGraph = Object.defineProperties({ ...graph }, { canReach: corrupt, closes: corrupt, closingMerges: corrupt });
    const bus = new TelemetryBus();
    let n = 0;
    const run = new Run(
      {
        graph: broken,
        bus,
        handlers: new Map(),
        callAgent: () => Promise.reject(new Error("unused")),
        callTool: () => Promise.reject(new Error("unused")),
        assembleContext: () => null,
        newTaskId: () => `t${++n}`,
        maxConcurrency: Number.POSITIVE_INFINITY,
      },
      undefined,
      { runId: "run-1" },
    );
    const result = await run.execute({ a: 1 }, graph.nodes.get("s")!);
    assert.equal(result.status, "failure");
    assert.equal(result.error?.code, "INTERNAL_ERROR");
    assert.match(result.error?.message ?? "", /reachability corrupted/);
    const errors = bus.getEvents({ type: "error" });
    assert.equal(errors.length, 1);
    assert.equal(errors[0]!.type === "error" && errors[0]!.payload.source, "runtime");
    const started = bus.getEvents({ type: "task.started" }).map((e) => e.taskId);
    const ended = bus.getEvents({ type: "task.*" }).filter((e) => e.type !== "task.started").map((e) => e.taskId);
    assert.deepEqual([...ended].sort(), [...started].sort(), "every started task has exactly one terminal event");
  } finally {
    await removeDir(dir);
  }
});
