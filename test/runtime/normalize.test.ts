/**
 * Tests of the test helper test/normalize.ts itself.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { normalizeEvents, normalizeResult, TaskNames } from "../normalize.js";

describe("normalizeEvents / normalizeResult", () => {
  const events = [
    { id: "x-1", seq: 1, type: "task.started", taskId: "task-ab-1", timestamp: "2020-01-01T00:00:00.000Z", payload: { input: { id: "user-id-kept" }, lineage: [] } },
    { id: "x-2", seq: 2, type: "clone.created", taskId: "task-ab-1", nodeId: "f", timestamp: "t", payload: { parentTaskId: "task-ab-1", childTaskId: "task-ab-1.1" } },
    { id: "x-3", seq: 3, type: "task.started", taskId: "task-ab-1.1", timestamp: "t", payload: { lineage: ["task-ab-1"], parentTaskId: "task-ab-1" } },
    { id: "x-4", seq: 4, type: "tool.completed", taskId: "task-ab-1.1", nodeId: "n", timestamp: "t", payload: { callId: "task-ab-1.1/n/1", durationMs: 3.2, result: { nested: { durationMs: 1 } } } },
    { id: "x-5", seq: 5, type: "routing.merge", taskId: "task-ab-1", nodeId: "m", timestamp: "t", payload: { inputs: [{ node_id: "a", task_id: "task-ab-1.1" }] } },
  ];
  it("drops id, timestamp and durationMs (anywhere) and renames task ids by first appearance", () => {
    assert.deepEqual(normalizeEvents(events), [
      { seq: 1, type: "task.started", taskId: "t1", payload: { input: { id: "user-id-kept" }, lineage: [] } },
      { seq: 2, type: "clone.created", taskId: "t1", nodeId: "f", payload: { parentTaskId: "t1", childTaskId: "t2" } },
      { seq: 3, type: "task.started", taskId: "t2", payload: { lineage: ["t1"], parentTaskId: "t1" } },
      { seq: 4, type: "tool.completed", taskId: "t2", nodeId: "n", payload: { callId: "t2/n/1", result: { nested: {} } } },
      { seq: 5, type: "routing.merge", taskId: "t1", nodeId: "m", payload: { inputs: [{ node_id: "a", task_id: "t2" }] } },
    ]);
  });

  it("gives equal output for runs that differ only in generated ids", () => {
    const other = JSON.parse(JSON.stringify(events).replaceAll("task-ab", "task-zz").replaceAll("x-", "y-")) as typeof events;
    assert.deepEqual(normalizeEvents(other), normalizeEvents(events));
  });

  it("normalizes results: history timestamps dropped (user data kept), shared names with events", () => {
    const names = new TaskNames();
    normalizeEvents(events, names);
    const result = {
      taskId: "task-ab-1",
      history: [{ nodeId: "a", startedAt: "s", endedAt: "e", output: { startedAt: "user data" } }],
      children: [{ taskId: "task-ab-1.1", parentTaskId: "task-ab-1", lineage: ["task-ab-1"], history: [] }],
    };
    assert.deepEqual(normalizeResult(result, names), {
      taskId: "t1",
      history: [{ nodeId: "a", output: { startedAt: "user data" } }],
      children: [{ taskId: "t2", parentTaskId: "t1", lineage: ["t1"], history: [] }],
    });
  });
});
