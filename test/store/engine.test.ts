/**
 * The engine on the durable stores: a run interrupted for approval in one engine (process) is
 * resumed by a new engine over a newly opened store on the same database; nothing committed runs
 * again and the journal holds every event once.
 */
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { join } from "node:path";
import type { JsonValue } from "../../src/json.js";
import { Engine } from "../../src/runtime/Engine.js";
import type { HandlerContext } from "../../src/runtime/types.js";
import { openEngineStore } from "../../src/store/EngineRunStore.js";
import { silentLogger } from "../../src/telemetry/logger.js";
import { removeDir, writeConfigDir } from "../helpers.js";
import { dropSchemas, freshSchema, pgAvailable, pgUrl } from "./pgHelper.js";

const WORKFLOW = `
nodes:
  - { id: begin, kind: deterministic, role: start }
  - { id: fan, kind: deterministic, role: branch }
  - { id: review, kind: deterministic, role: linear, interrupt: before }
  - { id: publish, kind: deterministic, role: linear }
  - { id: other, kind: deterministic, role: linear }
  - { id: join, kind: deterministic, role: merge }
  - { id: done, kind: deterministic, role: exit }
edges:
  - { from: begin, to: fan }
  - { from: fan, to: review }
  - { from: review, to: publish }
  - { from: publish, to: join }
  - { from: fan, to: other }
  - { from: other, to: join }
  - { from: join, to: done }
`;

const pgUp = await pgAvailable();
const schemas: string[] = [];
after(() => dropSchemas(schemas));

async function interruptThenResume(url: (dir: string) => string): Promise<void> {
  const dir = await writeConfigDir({ "workflow.yaml": WORKFLOW });
  const calls: Record<string, number> = {};
  const h = (id: string) => (input: JsonValue, ctx: HandlerContext) => {
    calls[id] = (calls[id] ?? 0) + 1;
    return { from: id, input, ...(ctx.resumeValue !== undefined ? { answer: ctx.resumeValue } : {}) };
  };
  const handlers = { review: h("review"), publish: h("publish"), other: h("other") };
  try {
    const a = await Engine.fromConfigDir(dir, { logger: silentLogger, handlers, store: await openEngineStore(url(dir)) });
    const first = await a.run({ doc: "draft" });
    const firstEvents = a.getEvents();
    await a.shutdown();
    assert.equal(first.status, "interrupted");
    assert.equal(first.interrupt?.nodeId, "review");
    assert.equal(calls["other"], 1);

    const store = await openEngineStore(url(dir));
    const b = await Engine.fromConfigDir(dir, { logger: silentLogger, handlers, store });
    try {
      const listed = await b.listRuns({ status: "interrupted" });
      assert.deepEqual(
        listed.map((r) => r.id),
        [first.runId],
      );
      const second = await b.resume(first.runId, { answer: { ok: "ship it" } });
      assert.equal(second.status, "success", JSON.stringify(second.error ?? null));
      assert.deepEqual(calls, { other: 1, review: 1, publish: 1 }, "nothing committed ran again");
      const journal: { type: string; nodeId?: string; taskId: string }[] = [];
      for await (const e of store.journal(first.runId)) journal.push(e);
      assert.equal(journal.length, firstEvents.length + b.getEvents().length, "every event journaled exactly once");
      const completed = journal.filter((e) => e.type === "node.completed").map((e) => e.nodeId);
      assert.equal(new Set(completed.map((n, i) => `${n}-${journal.filter((x) => x.type === "node.completed")[i]!.taskId}`)).size, completed.length, "no node completed twice in one task");
      assert.equal((await store.store.getRun(first.runId))?.status, "success");
    } finally {
      await b.shutdown();
    }
  } finally {
    await removeDir(dir);
  }
}

describe("engine over durable stores", () => {
  test("sqlite: interrupted in one engine, resumed by another over the same file", () => interruptThenResume((dir) => `sqlite:${join(dir, ".agent-engine", "runs.db")}`));
  test("postgres: interrupted in one engine, resumed by another over the same database", { skip: pgUp ? false : "PostgreSQL unreachable" }, () => {
    const s = freshSchema("engine");
    schemas.push(s);
    return interruptThenResume(() => pgUrl(s));
  });
});
