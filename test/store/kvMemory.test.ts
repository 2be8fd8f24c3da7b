/**
 * kv memory on the durable stores (CONTRACT §10–11): `project` and `global` stores live in the
 * run store, so a second engine (a new process, in effect: a new store connection) reads what the
 * first wrote; `project` memory is per project id, `global` memory is shared by every project in
 * the store; an interrupted run resumed by another engine reads as of its stages' starts and
 * applies each write once.
 */
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { join } from "node:path";
import Database from "better-sqlite3";
import type { JsonValue } from "../../src/json.js";
import { Engine } from "../../src/runtime/Engine.js";
import type { HandlerContext, NodeHandler } from "../../src/runtime/types.js";
import { openEngineStore } from "../../src/store/EngineRunStore.js";
import { openStore } from "../../src/store/openStore.js";
import { silentLogger } from "../../src/telemetry/logger.js";
import { removeDir, writeConfigDir } from "../helpers.js";
import { dropSchemas, freshSchema, pgAvailable, pgExec, pgUrl } from "./pgHelper.js";

const WORKFLOW = `
nodes:
  - { id: s, kind: deterministic, role: start }
  - { id: count, kind: deterministic, role: linear }
  - { id: review, kind: deterministic, role: linear, interrupt: before }
  - { id: after, kind: deterministic, role: linear }
  - { id: e, kind: deterministic, role: exit }
edges:
  - { from: s, to: count }
  - { from: count, to: review }
  - { from: review, to: after }
  - { from: after, to: e }
`;

const memoryYaml = (project: string): string => `
project_id: ${project}
stores:
  - { id: facts, kind: kv, scope: project }
  - { id: prefs, kind: kv, scope: global }
  - { id: scratch, kind: kv, scope: task }
`;

const pgUp = await pgAvailable();
const schemas: string[] = [];
after(() => dropSchemas(schemas));

const handlers: Record<string, NodeHandler> = {
  count: async (_i: JsonValue, ctx: HandlerContext) => {
    const n = ((await ctx.memory.get("facts", "runs")) as number | undefined) ?? 0;
    const seen = ((await ctx.memory.get("prefs", "seen")) as number | undefined) ?? 0;
    ctx.memory.put("facts", "runs", n + 1);
    ctx.memory.put("prefs", "seen", seen + 1);
    ctx.memory.put("scratch", "n", n);
    return { n, seen };
  },
  review: (input: JsonValue) => input,
  after: async (input: JsonValue, ctx: HandlerContext) => ({ ...(input as object), scratch: (await ctx.memory.get("scratch", "n")) ?? null, runs: (await ctx.memory.get("facts", "runs")) ?? null }),
};

async function engineOn(dir: string, url: string): Promise<Engine> {
  return Engine.fromConfigDir(dir, { logger: silentLogger, handlers, store: await openEngineStore(url) });
}

async function persistsAcrossEngines(url: string): Promise<void> {
  const dirA = await writeConfigDir({ "workflow.yaml": WORKFLOW, "memory.yaml": memoryYaml("alpha") });
  const dirA2 = await writeConfigDir({ "workflow.yaml": WORKFLOW, "memory.yaml": memoryYaml("alpha") });
  const dirB = await writeConfigDir({ "workflow.yaml": WORKFLOW, "memory.yaml": memoryYaml("beta") });
  try {
    // Engine 1 runs to the interrupt: `count` committed (its writes with it).
    const e1 = await engineOn(dirA, url);
    const first = await e1.run({});
    assert.equal(first.status, "interrupted");
    await e1.shutdown();

    // Engine 2, a new store connection, resumes it: the task memory comes back from the journal,
    // `after` reads the project memory as of its start, and nothing is written twice.
    const e2 = await engineOn(dirA, url);
    const resumed = await e2.resume(first.runId, { answer: "ok" });
    assert.equal(resumed.status, "success", JSON.stringify(resumed.error));
    assert.deepEqual(resumed.output, { n: 0, seen: 0, scratch: 0, runs: 1 });
    assert.equal(e2.getEvents({ type: "memory.written" }).length, 0, "the resumed part wrote nothing");
    // A second run of the same project (another config dir, same project_id) sees the first's writes.
    await e2.shutdown();
    const e3 = await engineOn(dirA2, url);
    const second = await e3.run({});
    assert.deepEqual(second.interrupt?.payload, { n: 1, seen: 1 });
    await e3.shutdown();

    // Another project: its own `project` memory, the shared `global` one.
    const e4 = await engineOn(dirB, url);
    const other = await e4.run({});
    assert.deepEqual(other.interrupt?.payload, { n: 0, seen: 2 });
    await e4.shutdown();

    const store = await openStore(url);
    try {
      assert.equal((await store.memoryGet("project", "facts", "runs", "alpha"))?.value, 2);
      assert.equal((await store.memoryGet("project", "facts", "runs", "beta"))?.value, 1);
      assert.equal((await store.memoryGet("global", "prefs", "seen"))?.value, 3);
      assert.deepEqual((await store.memoryList("project", "facts", "alpha")).map((e) => [e.key, e.value]), [["runs", 2]]);
      // Task memory never reaches the memory tables.
      assert.equal((await store.memoryList("project", "scratch", "alpha")).length, 0);
    } finally {
      await store.close();
    }
  } finally {
    await removeDir(dirA);
    await removeDir(dirA2);
    await removeDir(dirB);
  }
}

describe("kv memory in the durable stores", () => {
  test("sqlite: project memory per project id, global shared, across engines and a resume", async () => {
    const dir = await writeConfigDir({});
    try {
      await persistsAcrossEngines(`sqlite:${join(dir, "runs.db")}`);
    } finally {
      await removeDir(dir);
    }
  });

  test("postgres: project memory per project id, global shared, across engines and a resume", { skip: pgUp ? false : "PostgreSQL unreachable" }, async () => {
    const s = freshSchema("kv");
    schemas.push(s);
    await persistsAcrossEngines(pgUrl(s));
  });

  test("the default project id is the config directory: two directories keep apart", async () => {
    const db = await writeConfigDir({});
    const memory = "stores:\n  - { id: facts, kind: kv, scope: project }\n  - { id: prefs, kind: kv, scope: global }\n  - { id: scratch, kind: kv, scope: task }\n";
    const a = await writeConfigDir({ "workflow.yaml": WORKFLOW, "memory.yaml": memory });
    const b = await writeConfigDir({ "workflow.yaml": WORKFLOW, "memory.yaml": memory });
    const url = `sqlite:${join(db, "runs.db")}`;
    try {
      for (const dir of [a, a, b]) {
        const e = await engineOn(dir, url);
        await e.run({});
        await e.shutdown();
      }
      const store = await openStore(url);
      try {
        assert.equal((await store.memoryGet("project", "facts", "runs", a))?.value, 2);
        assert.equal((await store.memoryGet("project", "facts", "runs", b))?.value, 1);
        assert.equal((await store.memoryGet("global", "prefs", "seen"))?.value, 3);
      } finally {
        await store.close();
      }
    } finally {
      await removeDir(a);
      await removeDir(b);
      await removeDir(db);
    }
  });
});

/** Workflows of the delete scenario: one run puts, a later run deletes (then waits for an answer). */
const PUT_WORKFLOW = `
nodes:
  - { id: s, kind: deterministic, role: start }
  - { id: put, kind: deterministic, role: linear }
  - { id: e, kind: deterministic, role: exit }
edges:
  - { from: s, to: put }
  - { from: put, to: e }
`;
const DELETE_WORKFLOW = `
nodes:
  - { id: s, kind: deterministic, role: start }
  - { id: del, kind: deterministic, role: linear }
  - { id: review, kind: deterministic, role: linear, interrupt: before }
  - { id: check, kind: deterministic, role: linear }
  - { id: e, kind: deterministic, role: exit }
edges:
  - { from: s, to: del }
  - { from: del, to: review }
  - { from: review, to: check }
  - { from: check, to: e }
`;

const deleteHandlers: Record<string, NodeHandler> = {
  put: (_i: JsonValue, ctx: HandlerContext) => {
    ctx.memory.put("facts", "k", 1);
    ctx.memory.put("facts", "stay", 1);
    ctx.memory.put("prefs", "g", 1);
    return null;
  },
  del: async (_i: JsonValue, ctx: HandlerContext) => {
    const before = { k: (await ctx.memory.get("facts", "k")) ?? null, g: (await ctx.memory.get("prefs", "g")) ?? null };
    ctx.memory.delete("facts", "k");
    ctx.memory.delete("prefs", "g");
    ctx.memory.delete("facts", "never");
    return before;
  },
  review: (input: JsonValue) => input,
  check: async (input: JsonValue, ctx: HandlerContext) => ({ before: input, k: (await ctx.memory.get("facts", "k")) ?? null, g: (await ctx.memory.get("prefs", "g")) ?? null, facts: await ctx.memory.list("facts") }),
};

/**
 * A delete removes the row from `ae_memory` in the commit's transaction (read with SQL, not
 * through the store), and a run resumed by another engine after the delete does not apply it
 * again. `rows` lists `[scope, project_id, store_id, key, updated_at]` of the table.
 */
async function deletesRows(url: string, rows: () => Promise<[string, string, string, string, number][]>): Promise<void> {
  const memory = "project_id: gamma\nstores:\n  - { id: facts, kind: kv, scope: project }\n  - { id: prefs, kind: kv, scope: global }\n";
  const putDir = await writeConfigDir({ "workflow.yaml": PUT_WORKFLOW, "memory.yaml": memory });
  const delDir = await writeConfigDir({ "workflow.yaml": DELETE_WORKFLOW, "memory.yaml": memory });
  const on = async (dir: string): Promise<Engine> => {
    const handlers = Object.fromEntries(Object.entries(deleteHandlers).filter(([id]) => (dir === putDir) === (id === "put")));
    return Engine.fromConfigDir(dir, { logger: silentLogger, handlers, store: await openEngineStore(url) });
  };
  try {
    const e1 = await on(putDir);
    assert.equal((await e1.run({})).status, "success");
    await e1.shutdown();
    const mine = async (): Promise<[string, string, string, string, number][]> => (await rows()).filter(([scope, project]) => scope === "global" || project === "gamma").sort();
    const put = await mine();
    assert.deepEqual(
      put.map(([scope, project, store, key]) => [scope, project, store, key]),
      [
        ["global", "", "prefs", "g"],
        ["project", "gamma", "facts", "k"],
        ["project", "gamma", "facts", "stay"],
      ],
    );

    // Another engine deletes, and the run stops at the interrupt after the delete committed.
    const e2 = await on(delDir);
    const first = await e2.run({});
    assert.equal(first.status, "interrupted");
    await e2.shutdown();
    const left = await mine();
    assert.deepEqual(left, put.filter(([, , , key]) => key === "stay"), "the deleted rows are gone, the other one untouched (updated_at too)");

    // A third engine resumes: the run still reads as of its stages' starts, and writes nothing again.
    const e3 = await on(delDir);
    const done = await e3.resume(first.runId, { answer: "ok" });
    assert.equal(done.status, "success", JSON.stringify(done.error));
    assert.deepEqual(done.output, { before: { k: 1, g: 1 }, k: null, g: null, facts: [{ key: "stay", value: 1 }] });
    assert.equal(e3.getEvents({ type: "memory.written" }).length, 0, "the resumed part wrote nothing");
    await e3.shutdown();
    assert.deepEqual(await mine(), left);

    // The journal keeps the delete events.
    const store = await openEngineStore(url);
    try {
      const journaled: string[] = [];
      for await (const e of store.journal(first.runId)) if (e.type === "memory.written") journaled.push(JSON.stringify(e.payload));
      assert.deepEqual(journaled, [
        '{"store":"facts","scope":"project","key":"k","deleted":true}',
        '{"store":"prefs","scope":"global","key":"g","deleted":true}',
        '{"store":"facts","scope":"project","key":"never","deleted":true}',
      ]);
    } finally {
      await store.close();
    }
  } finally {
    await removeDir(putDir);
    await removeDir(delDir);
  }
}

describe("ctx.memory.delete in the durable stores", () => {
  test("sqlite: the row is deleted in the commit's transaction; a resume by another engine does not delete again", async () => {
    const dir = await writeConfigDir({});
    const path = join(dir, "runs.db");
    try {
      await deletesRows(`sqlite:${path}`, async () => {
        const db = new Database(path, { readonly: true });
        try {
          return (db.prepare("SELECT scope, project_id, store_id, key, updated_at FROM ae_memory").all() as { scope: string; project_id: string; store_id: string; key: string; updated_at: number }[]).map((r) => [r.scope, r.project_id, r.store_id, JSON.parse(r.key) as string, r.updated_at]);
        } finally {
          db.close();
        }
      });
    } finally {
      await removeDir(dir);
    }
  });

  test("postgres: the row is deleted in the commit's statement; a resume by another engine does not delete again", { skip: pgUp ? false : "PostgreSQL unreachable" }, async () => {
    const s = freshSchema("kvdel");
    schemas.push(s);
    await deletesRows(pgUrl(s), async () =>
      (await pgExec(`SELECT scope, project_id, store_id, key, updated_at FROM "${s}".ae_memory`)).rows.map((r: { scope: string; project_id: string; store_id: string; key: string; updated_at: string }) => [r.scope, r.project_id, r.store_id, JSON.parse(r.key) as string, Number(r.updated_at)]),
    );
  });
});
