/**
 * `engine.shutdown()` called while a run is in flight (issue 7): it waits for the run (bounded by
 * its timeout) so plugins get every event, or says honestly that it could not.
 */
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { Engine, MemoryLogger, PluginBase, type EngineEvent } from "../../src/index.js";
import { removeDir, writeConfigDir } from "../helpers.js";

const workflow = `
nodes:
  - { id: start, kind: deterministic, role: start, default: true, handler: ./h.js#wait }
  - { id: done, kind: deterministic, role: exit }
edges:
  - { from: start, to: done }
`;

// The handler waits for the number of milliseconds given as input.
const handlers = `export const wait = (input) => new Promise((r) => setTimeout(() => r(input), input.ms));`;

class Recorder extends PluginBase {
  readonly types: string[] = [];
  onEvent(event: Readonly<EngineEvent>): void {
    this.types.push(event.type);
  }
}

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await removeDir(d);
});

async function engineWith(recorder: Recorder): Promise<Engine> {
  const dir = await writeConfigDir({ "workflow.yaml": workflow, "h.js": handlers });
  dirs.push(dir);
  return Engine.fromConfigDir(dir, { plugins: [recorder], logger: new MemoryLogger() });
}

describe("engine.shutdown() during a run", () => {
  test("waits for the run: plugins get its remaining events and the report is complete", { timeout: 20_000 }, async () => {
    const recorder = new Recorder("rec");
    const engine = await engineWith(recorder);
    const run = engine.run({ ms: 100 });
    await new Promise((r) => setTimeout(r, 10));
    const report = await engine.shutdown(10_000);
    const result = await run;
    assert.equal(result.status, "success");
    assert.equal(recorder.types.at(-1), "task.completed");
    assert.equal(report.complete, true);
    assert.equal(report.sourcesInFlight, 0);
    assert.equal(report.undelivered, 0);
  });

  test("a run still going at the deadline: the report is not complete and counts what the plugins missed", { timeout: 20_000 }, async () => {
    const recorder = new Recorder("rec");
    const engine = await engineWith(recorder);
    const run = engine.run({ ms: 1500 });
    await new Promise((r) => setTimeout(r, 10));
    const report = await engine.shutdown(200);
    assert.equal(report.complete, false);
    assert.equal(report.ok, false);
    assert.equal(report.sourcesInFlight, 1);
    assert.ok(!recorder.types.includes("task.completed"));
    const result = await run;
    assert.equal(result.status, "success");
  });
});
