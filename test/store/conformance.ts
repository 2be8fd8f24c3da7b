/**
 * The conformance suite every {@link RunStore} passes: the same tests, run against the memory,
 * SQLite and PostgreSQL stores (real databases), so the three behave alike.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import type { JsonValue } from "../../src/json.js";
import { StoreError, type CommitBatch, type MemoryWrite, type RunStore, type StateDelta, type StoredEvent } from "../../src/store/index.js";

/** Makes a fresh, empty store; `cleanup` runs after each test. */
export interface StoreFactory {
  readonly name: string;
  open(): Promise<RunStore>;
}

let counter = 0;
function runId(): string {
  return `run-${process.pid}-${Date.now().toString(36)}-${++counter}`;
}

const T0 = "2026-01-01T00:00:00.000Z";

/** An engine-like event. Key order matters: the journal must come back byte for byte. */
export function ev(seq: number, type = "node.completed", extra: Record<string, JsonValue> = {}): StoredEvent {
  return { type, seq, taskId: "t1", timestamp: T0, zeta: 1, alpha: { b: 2, a: [1, "x"] }, ...extra };
}

async function rejects(p: Promise<unknown>, code: string): Promise<StoreError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof StoreError, `expected a StoreError ${code}, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return err;
  }
  assert.fail(`expected ${code}, but it resolved`);
}

async function collect(it: AsyncIterable<StoredEvent>): Promise<StoredEvent[]> {
  const out: StoredEvent[] = [];
  for await (const e of it) out.push(e);
  return out;
}

async function withStore(f: StoreFactory, fn: (s: RunStore) => Promise<void>): Promise<void> {
  const s = await f.open();
  try {
    await fn(s);
  } finally {
    await s.close();
  }
}

async function newRun(s: RunStore, extra: { projectId?: string; startedAt?: string } = {}): Promise<string> {
  const id = runId();
  await s.createRun({ runId: id, configHash: "h1", input: { q: "hi" }, startedAt: extra.startedAt ?? T0, meta: { start: "a" }, ...(extra.projectId !== undefined ? { projectId: extra.projectId } : {}) });
  return id;
}

/** Registers the conformance tests for one store kind. */
export function conformance(f: StoreFactory): void {
  describe(`RunStore conformance: ${f.name}`, () => {
    test("createRun records a running run; a taken id is STORE_RUN_EXISTS", () =>
      withStore(f, async (s) => {
        const id = await newRun(s, { projectId: "p1" });
        const r = await s.getRun(id);
        assert.ok(r);
        assert.equal(r.status, "running");
        assert.equal(r.lastSeq, 0);
        assert.equal(r.projectId, "p1");
        assert.deepEqual(r.input, { q: "hi" });
        assert.deepEqual(r.meta, { start: "a" });
        assert.equal(r.startedAt, T0);
        assert.equal(await s.getRun("nope"), undefined);
        await rejects(s.createRun({ runId: id, configHash: "h", input: null, startedAt: T0 }), "STORE_RUN_EXISTS");
      }));

    test("commits accumulate; load returns the state as of the last state delta and the events after it", () =>
      withStore(f, async (s) => {
        const id = await newRun(s);
        assert.equal(await s.commit(id, { fromSeq: 1, toSeq: 2, events: [ev(1, "run.started"), ev(2, "node.started")], state: { set: { "o:a": { ok: true, output: 1 } } } }), 2);
        await s.commit(id, { fromSeq: 3, toSeq: 4, events: [ev(3), ev(4)], state: { set: { "o:b": { ok: true, output: "two" } } }, currentNodes: ["b"] });
        // No state delta: the state stays at seq 4 and these events come back for replay.
        await s.commit(id, { fromSeq: 5, toSeq: 6, events: [ev(5), ev(6)] });
        const l = await s.load(id);
        assert.equal(l.run.lastSeq, 6);
        assert.equal(l.stateSeq, 4);
        assert.deepEqual(l.state, { "o:a": { ok: true, output: 1 }, "o:b": { ok: true, output: "two" } });
        assert.deepEqual(
          l.events.map((e) => e.seq),
          [5, 6],
        );
        assert.deepEqual(l.run.currentNodes, ["b"]);
        assert.equal(JSON.stringify(l.events[0]), JSON.stringify(ev(5)));
      }));

    test("state deltas: set overwrites, delete removes, replace starts from empty", () =>
      withStore(f, async (s) => {
        const id = await newRun(s);
        await s.commit(id, { fromSeq: 1, toSeq: 1, events: [ev(1)], state: { set: { a: 1, b: 2, c: 3 } } });
        await s.commit(id, { fromSeq: 2, toSeq: 2, events: [ev(2)], state: { set: { a: 10 }, delete: ["b", "missing"] } });
        assert.deepEqual((await s.load(id)).state, { a: 10, c: 3 });
        await s.commit(id, { fromSeq: 3, toSeq: 3, events: [ev(3)], state: { replace: true, set: { z: [1, { y: null }] } } });
        const l = await s.load(id);
        assert.deepEqual(l.state, { z: [1, { y: null }] });
        assert.equal(l.stateSeq, 3);
        assert.deepEqual(l.events, []);
      }));

    test("a commit may cover seqs without events, and carry no events at all", () =>
      withStore(f, async (s) => {
        const id = await newRun(s);
        await s.commit(id, { fromSeq: 1, toSeq: 3, events: [ev(2)] });
        await s.commit(id, { fromSeq: 4, toSeq: 3, events: [], status: "interrupted", interrupts: [{ id: "i1", nodeId: "n" }], currentNodes: ["n"] });
        const r = await s.getRun(id);
        assert.equal(r?.lastSeq, 3);
        assert.equal(r?.status, "interrupted");
        assert.deepEqual(r?.interrupts, [{ id: "i1", nodeId: "n" }]);
        await s.commit(id, { fromSeq: 4, toSeq: 4, events: [ev(4, "run.resumed")], status: "running", interrupts: [], currentNodes: [] });
        assert.equal((await s.getRun(id))?.status, "running");
        assert.deepEqual(
          (await collect(s.events(id))).map((e) => e.seq),
          [2, 4],
        );
      }));

    test("a stale writer (fromSeq not following lastSeq) is STORE_SEQ_CONFLICT and writes nothing", () =>
      withStore(f, async (s) => {
        const id = await newRun(s);
        await s.commit(id, { fromSeq: 1, toSeq: 2, events: [ev(1), ev(2)], state: { set: { k: "first" } } });
        for (const fromSeq of [1, 2, 4]) {
          await rejects(
            s.commit(id, { fromSeq, toSeq: fromSeq + 1, events: [ev(fromSeq + 1)], state: { set: { k: "stale" } }, memoryWrites: [{ store: "facts", scope: "global", key: "k", value: "stale" }] }),
            "STORE_SEQ_CONFLICT",
          );
        }
        const l = await s.load(id);
        assert.equal(l.run.lastSeq, 2);
        assert.deepEqual(l.state, { k: "first" });
        assert.equal((await collect(s.events(id))).length, 2);
        assert.equal(await s.memoryGet("global", "facts", "k"), undefined);
      }));

    test("malformed batches are STORE_BATCH_INVALID before anything is written", () =>
      withStore(f, async (s) => {
        const id = await newRun(s);
        const cyclic: Record<string, unknown> = { a: 1 };
        cyclic["self"] = { back: cyclic };
        const bad: CommitBatch[] = [
          { fromSeq: 0, toSeq: 1, events: [] },
          { fromSeq: 1, toSeq: 2, events: [ev(3)] },
          { fromSeq: 1, toSeq: 3, events: [ev(2), ev(2)] },
          { fromSeq: 1, toSeq: 3, events: [ev(3), ev(2)] },
          { fromSeq: 1, toSeq: 1, events: [ev(1)], memoryWrites: [{ store: "s", scope: "task" as "global", key: "k", value: 1 }] },
          { fromSeq: 1, toSeq: 1, events: [ev(1)], status: "success" as "running" },
          // Values that are not JSON, wherever they are.
          { fromSeq: 1, toSeq: 1, events: [ev(1, "node.completed", { x: [1, Number.NaN] })] },
          { fromSeq: 1, toSeq: 1, events: [ev(1)], state: { set: { k: { f: (() => 1) as unknown as JsonValue } } } },
          { fromSeq: 1, toSeq: 1, events: [ev(1)], state: { set: { k: cyclic as unknown as JsonValue } } },
          { fromSeq: 1, toSeq: 1, events: [ev(1)], memoryWrites: [{ store: "s", scope: "global", key: "k", value: Number.POSITIVE_INFINITY }] },
        ];
        for (const b of bad) await rejects(s.commit(id, b as CommitBatch), "STORE_BATCH_INVALID");
        assert.equal((await s.getRun(id))?.lastSeq, 0);
      }));

    test("atomicity: a commit that fails midway (a database constraint on its last write) leaves nothing written", () =>
      withStore(f, async (s) => {
        const id = await newRun(s, { projectId: "p" });
        await s.commit(id, { fromSeq: 1, toSeq: 1, events: [ev(1)], state: { set: { keep: 1 } }, memoryWrites: [{ store: "facts", scope: "project", key: "a", value: "old" }] });
        const failing: CommitBatch = {
          fromSeq: 2,
          toSeq: 4,
          events: [ev(2), ev(3), ev(4)],
          state: { replace: true, set: { new: 2 } },
          status: "interrupted",
          currentNodes: ["x"],
          memoryWrites: [
            { store: "facts", scope: "project", key: "a", value: "new" },
            { store: "prefs", scope: "global", key: "g", value: true },
            // The last write breaks the key-length CHECK constraint (1024 characters).
            { store: "facts", scope: "project", key: "k".repeat(2000), value: 1 },
          ],
        };
        await rejects(s.commit(id, failing), "STORE_BATCH_INVALID");
        // A value that is not JSON, found while the transaction is under way: same outcome.
        await rejects(s.commit(id, { ...failing, memoryWrites: failing.memoryWrites!.slice(0, 2), events: [ev(2), ev(3), ev(4, "node.completed", { big: 1n as unknown as JsonValue })] }), "STORE_BATCH_INVALID");
        const l = await s.load(id);
        assert.equal(l.run.lastSeq, 1);
        assert.equal(l.run.status, "running");
        assert.deepEqual(l.run.currentNodes, []);
        assert.deepEqual(l.state, { keep: 1 });
        assert.equal(l.stateSeq, 1);
        assert.deepEqual(
          (await collect(s.events(id))).map((e) => e.seq),
          [1],
        );
        assert.equal((await s.memoryGet("project", "facts", "a", "p"))?.value, "old");
        assert.equal(await s.memoryGet("global", "prefs", "g"), undefined);
        // The same range commits fine once the batch is right.
        await s.commit(id, { ...failing, memoryWrites: failing.memoryWrites!.slice(0, 2) });
        assert.equal((await s.memoryGet("project", "facts", "a", "p"))?.value, "new");
        assert.equal((await s.getRun(id))?.lastSeq, 4);
      }));

    test("memory: project scope per project, global shared, writes applied in order (last wins), list by key", () =>
      withStore(f, async (s) => {
        const a = await newRun(s, { projectId: "proj-a" });
        const b = await newRun(s, { projectId: "proj-b" });
        await s.commit(a, {
          fromSeq: 1,
          toSeq: 1,
          events: [ev(1)],
          memoryWrites: [
            { store: "facts", scope: "project", key: "b", value: 1 },
            { store: "facts", scope: "project", key: "a", value: { x: [1] } },
            { store: "facts", scope: "project", key: "b", value: 2 },
            { store: "prefs", scope: "global", key: "lang", value: "en" },
          ],
        });
        await s.commit(b, { fromSeq: 1, toSeq: 1, events: [ev(1)], memoryWrites: [{ store: "facts", scope: "project", key: "b", value: "B" }, { store: "prefs", scope: "global", key: "lang", value: "fr" }] });
        assert.deepEqual(
          (await s.memoryList("project", "facts", "proj-a")).map((e) => [e.key, e.value]),
          [
            ["a", { x: [1] }],
            ["b", 2],
          ],
        );
        assert.equal((await s.memoryGet("project", "facts", "b", "proj-b"))?.value, "B");
        assert.equal((await s.memoryGet("global", "prefs", "lang", "whatever"))?.value, "fr");
        assert.equal(await s.memoryGet("project", "facts", "a", "proj-b"), undefined);
        assert.deepEqual(await s.memoryList("project", "nothing", "proj-a"), []);
        const e = await s.memoryGet("project", "facts", "a", "proj-a");
        assert.ok(e && !Number.isNaN(Date.parse(e.updatedAt)));
      }));

    test("memory deletes: the entry is removed (project and global), in order with puts (last wins), a missing key is no error, a failed commit deletes nothing", () =>
      withStore(f, async (s) => {
        const a = await newRun(s, { projectId: "proj-a" });
        const b = await newRun(s, { projectId: "proj-b" });
        await s.commit(a, {
          fromSeq: 1,
          toSeq: 1,
          events: [ev(1)],
          memoryWrites: [
            { store: "facts", scope: "project", key: "k", value: 1 },
            { store: "facts", scope: "project", key: "j", value: 2 },
            { store: "facts", scope: "project", key: "pd", value: 3 },
            { store: "prefs", scope: "global", key: "g", value: true },
          ],
        });
        await s.commit(b, { fromSeq: 1, toSeq: 1, events: [ev(1)], memoryWrites: [{ store: "facts", scope: "project", key: "k", value: "B" }] });
        await s.commit(a, {
          fromSeq: 2,
          toSeq: 2,
          events: [ev(2)],
          memoryWrites: [
            { store: "facts", scope: "project", key: "k", deleted: true },
            { store: "facts", scope: "project", key: "never", deleted: true },
            { store: "prefs", scope: "global", key: "g", deleted: true },
            // put then delete: gone; delete then put: kept (the last write of a key wins)
            { store: "facts", scope: "project", key: "pd", value: 4 },
            { store: "facts", scope: "project", key: "pd", deleted: true },
            { store: "facts", scope: "project", key: "dp", deleted: true },
            { store: "facts", scope: "project", key: "dp", value: 5 },
          ],
        });
        assert.equal(await s.memoryGet("project", "facts", "k", "proj-a"), undefined);
        assert.equal(await s.memoryGet("project", "facts", "pd", "proj-a"), undefined);
        assert.equal(await s.memoryGet("global", "prefs", "g"), undefined);
        assert.deepEqual(
          (await s.memoryList("project", "facts", "proj-a")).map((e) => [e.key, e.value]),
          [
            ["dp", 5],
            ["j", 2],
          ],
        );
        assert.deepEqual(await s.memoryList("global", "prefs"), []);
        // Another project's key of the same name is untouched.
        assert.equal((await s.memoryGet("project", "facts", "k", "proj-b"))?.value, "B");
        // A deleted key can be written again.
        await s.commit(a, { fromSeq: 3, toSeq: 3, events: [ev(3)], memoryWrites: [{ store: "prefs", scope: "global", key: "g", value: "again" }] });
        assert.equal((await s.memoryGet("global", "prefs", "g"))?.value, "again");
        // A commit that fails (its last put breaks the key-length constraint) deletes nothing.
        await rejects(
          s.commit(a, {
            fromSeq: 4,
            toSeq: 4,
            events: [ev(4)],
            memoryWrites: [
              { store: "facts", scope: "project", key: "j", deleted: true },
              { store: "facts", scope: "project", key: "k".repeat(2000), value: 1 },
            ],
          }),
          "STORE_BATCH_INVALID",
        );
        assert.equal((await s.memoryGet("project", "facts", "j", "proj-a"))?.value, 2);
        assert.equal((await s.getRun(a))?.lastSeq, 3);
        // Malformed deletes are refused before anything is written.
        for (const w of [
          { store: "facts", scope: "project", key: "j", deleted: false },
          { store: "facts", scope: "project", key: "j", deleted: true, value: 1 },
          { store: "facts", scope: "task", key: "j", deleted: true },
        ]) {
          await rejects(s.commit(a, { fromSeq: 4, toSeq: 4, events: [ev(4)], memoryWrites: [w as unknown as MemoryWrite] }), "STORE_BATCH_INVALID");
        }
        assert.equal((await s.memoryGet("project", "facts", "j", "proj-a"))?.value, 2);
      }));

    test("listRuns: newest update first, status filter, limit", () =>
      withStore(f, async (s) => {
        const ids: string[] = [];
        for (let i = 0; i < 3; i++) ids.push(await newRun(s, { startedAt: `2026-01-0${i + 1}T00:00:00.000Z` }));
        await s.commit(ids[0]!, { fromSeq: 1, toSeq: 1, events: [ev(1)], at: "2026-02-01T00:00:00.000Z", status: "interrupted", currentNodes: ["approve"] });
        await s.finish(ids[1]!, "success", { out: 1 });
        const all = await s.listRuns();
        assert.deepEqual(
          all.filter((r) => ids.includes(r.id)).map((r) => r.id),
          [ids[1], ids[0], ids[2]],
        );
        const inter = await s.listRuns({ status: "interrupted" });
        assert.deepEqual(
          inter.map((r) => [r.id, r.status, r.currentNodes]),
          [[ids[0], "interrupted", ["approve"]]],
        );
        assert.equal(inter[0]!.startedAt, "2026-01-01T00:00:00.000Z");
        assert.equal(inter[0]!.updatedAt, "2026-02-01T00:00:00.000Z");
        assert.equal((await s.listRuns({ limit: 1 })).length, 1);
      }));

    test("finish ends a run: result kept, lease released, further commits and finishes are STORE_RUN_FINISHED", () =>
      withStore(f, async (s) => {
        const id = await newRun(s);
        await s.acquireLease(id, "me", 60_000);
        await s.commit(id, { fromSeq: 1, toSeq: 1, events: [ev(1)] });
        await s.finish(id, "partial", { status: "partial", output: [1, 2] });
        const r = await s.getRun(id);
        assert.equal(r?.status, "partial");
        assert.deepEqual(r?.result, { status: "partial", output: [1, 2] });
        assert.ok(r?.finishedAt);
        assert.equal((await s.acquireLease(id, "other", 60_000)).acquired, true);
        await rejects(s.commit(id, { fromSeq: 2, toSeq: 2, events: [ev(2)] }), "STORE_RUN_FINISHED");
        await rejects(s.finish(id, "success", null), "STORE_RUN_FINISHED");
        await rejects(s.finish(id, "bogus" as "success", null), "STORE_BATCH_INVALID");
      }));

    test("events() streams the whole journal in seq order, byte for byte, across pages; afterSeq skips", () =>
      withStore(f, async (s) => {
        const id = await newRun(s);
        let seq = 0;
        const written: StoredEvent[] = [];
        for (let c = 0; c < 5; c++) {
          const events = Array.from({ length: 450 }, () => ev(++seq, "node.completed", { text: `é "quoted" \u0000 ${seq}` }));
          written.push(...events);
          await s.commit(id, { fromSeq: seq - 449, toSeq: seq, events });
        }
        const got = await collect(s.events(id));
        assert.equal(got.length, 2250);
        assert.equal(got.map((e) => JSON.stringify(e)).join("\n"), written.map((e) => JSON.stringify(e)).join("\n"));
        assert.deepEqual(
          (await collect(s.events(id, { afterSeq: 2247 }))).map((e) => e.seq),
          [2248, 2249, 2250],
        );
      }));

    test("prune deletes finished runs older than the cutoff with their journal; unfinished ones only on request", () =>
      withStore(f, async (s) => {
        const old = await newRun(s, { startedAt: "2020-01-01T00:00:00.000Z" });
        const oldOpen = await newRun(s, { startedAt: "2020-01-01T00:00:00.000Z" });
        const fresh = await newRun(s);
        await s.commit(old, { fromSeq: 1, toSeq: 1, events: [ev(1)], state: { set: { a: 1 } }, at: "2020-01-02T00:00:00.000Z" });
        await s.finish(old, "success", null);
        await s.finish(fresh, "success", null);
        // finish() stamps now; an old finished run is one whose last update is old.
        const cutoff = new Date(Date.now() + 60_000);
        assert.equal(await s.prune({ olderThan: "2019-01-01T00:00:00.000Z" }), 0);
        const n = await s.prune({ olderThan: cutoff });
        assert.equal(n, 2);
        assert.equal(await s.getRun(old), undefined);
        assert.equal(await s.getRun(fresh), undefined);
        assert.ok(await s.getRun(oldOpen));
        await rejects(s.load(old), "STORE_RUN_NOT_FOUND");
        assert.equal(await s.prune({ olderThan: cutoff, includeUnfinished: true }), 1);
        assert.equal(await s.getRun(oldOpen), undefined);
        await rejects(s.prune({ olderThan: "yesterday" }), "STORE_BATCH_INVALID");
      }));

    test("leases: one owner at a time, re-entrant, renew, release, takeover after expiry, fencing of commits", () =>
      withStore(f, async (s) => {
        const id = await newRun(s);
        const a = await s.acquireLease(id, "A", 60_000);
        assert.equal(a.acquired, true);
        assert.equal(a.owner, "A");
        const b = await s.acquireLease(id, "B", 60_000);
        assert.deepEqual([b.acquired, b.owner], [false, "A"]);
        assert.equal((await s.acquireLease(id, "A", 60_000)).acquired, true);
        assert.equal((await s.renewLease(id, "A", 60_000)).acquired, true);
        await rejects(s.renewLease(id, "B", 60_000), "STORE_LEASE_LOST");
        await s.commit(id, { fromSeq: 1, toSeq: 1, events: [ev(1)], leaseOwner: "A" });
        await rejects(s.commit(id, { fromSeq: 2, toSeq: 2, events: [ev(2)], leaseOwner: "B" }), "STORE_LEASE_LOST");
        await s.releaseLease(id, "B"); // not the holder: no-op
        assert.equal((await s.acquireLease(id, "B", 60_000)).acquired, false);
        await s.releaseLease(id, "A");
        assert.equal((await s.acquireLease(id, "B", 1)).acquired, true);
        await new Promise((r) => setTimeout(r, 30));
        // B's lease expired: A takes over, and B can no longer renew or commit.
        assert.equal((await s.acquireLease(id, "A", 60_000)).acquired, true);
        await rejects(s.renewLease(id, "B", 60_000), "STORE_LEASE_LOST");
        await rejects(s.commit(id, { fromSeq: 2, toSeq: 2, events: [ev(2)], leaseOwner: "B" }), "STORE_LEASE_LOST");
        await rejects(s.acquireLease(id, "A", 0), "STORE_BATCH_INVALID");
      }));

    test("an unknown run is STORE_RUN_NOT_FOUND everywhere", () =>
      withStore(f, async (s) => {
        await rejects(s.load("ghost"), "STORE_RUN_NOT_FOUND");
        await rejects(s.commit("ghost", { fromSeq: 1, toSeq: 1, events: [ev(1)] }), "STORE_RUN_NOT_FOUND");
        await rejects(s.finish("ghost", "success", null), "STORE_RUN_NOT_FOUND");
        await rejects(s.acquireLease("ghost", "A", 1000), "STORE_RUN_NOT_FOUND");
        await rejects(s.renewLease("ghost", "A", 1000), "STORE_RUN_NOT_FOUND");
        await rejects(s.releaseLease("ghost", "A"), "STORE_RUN_NOT_FOUND");
        await rejects(collect(s.events("ghost")), "STORE_RUN_NOT_FOUND");
      }));

    test("a closed store is STORE_CLOSED; close is idempotent", async () => {
      const s = await f.open();
      await s.close();
      await s.close();
      await rejects(s.listRuns(), "STORE_CLOSED");
      await rejects(s.createRun({ runId: "x", configHash: "", input: null, startedAt: T0 }), "STORE_CLOSED");
    });

    test("property: after any sequence of state deltas, load() returns the model's map", () =>
      withStore(f, async (s) => {
        const key = fc.constantFrom("a", "b", "c", "d", "o:x\u0000y");
        const delta = fc.record({ replace: fc.boolean(), set: fc.dictionary(key, fc.jsonValue({ maxDepth: 2 })), delete: fc.array(key, { maxLength: 2 }) }, { requiredKeys: ["set"] });
        await fc.assert(
          fc.asyncProperty(fc.array(delta, { minLength: 1, maxLength: 6 }), async (deltas) => {
            const id = await newRun(s);
            const model = new Map<string, JsonValue>();
            let seq = 0;
            for (const d of deltas) {
              seq++;
              await s.commit(id, { fromSeq: seq, toSeq: seq, events: [ev(seq)], state: d as StateDelta });
              if (d.replace) model.clear();
              for (const k of d.delete ?? []) model.delete(k);
              for (const [k, v] of Object.entries(d.set)) model.set(k, v as JsonValue);
            }
            const l = await s.load(id);
            // JSON round trip: -0 becomes 0, as in any JSON store.
            assert.deepEqual(l.state, JSON.parse(JSON.stringify(Object.fromEntries(model))));
            assert.equal(l.stateSeq, seq);
          }),
          { numRuns: 25 },
        );
      }));
  });
}
