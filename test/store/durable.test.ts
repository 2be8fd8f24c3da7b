/**
 * What only the durable stores do: data survives reopening, schema versions are checked,
 * damaged files and unreachable servers are refused with coded errors, drivers are optional,
 * and two real processes never both hold a run.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { after, describe, test } from "node:test";
import Database from "better-sqlite3";
import { SCHEMA_VERSION, StoreError, defaultStoreUrl, openStore, redactUrl, type RunStore } from "../../src/store/index.js";
import { PG_BASE, dropSchemas, freshSchema, pgAvailable, pgExec, pgUrl } from "./pgHelper.js";

const here = dirname(fileURLToPath(import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "ae-durable-"));
const schemas: string[] = [];
after(async () => {
  rmSync(dir, { recursive: true, force: true });
  if (schemas.length > 0) await dropSchemas(schemas);
});

async function rejects(p: Promise<unknown>, code: string): Promise<StoreError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof StoreError, `expected StoreError ${code}, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return err;
  }
  assert.fail(`expected ${code}`);
}

async function fill(s: RunStore, id: string): Promise<void> {
  await s.createRun({ runId: id, configHash: "h", input: { n: 1 }, startedAt: "2026-01-01T00:00:00.000Z", projectId: "p" });
  await s.commit(id, { fromSeq: 1, toSeq: 2, events: [{ seq: 1, type: "a" }, { seq: 2, type: "b" }], state: { set: { k: [1] } }, memoryWrites: [{ store: "facts", scope: "project", key: "x", value: "y" }] });
}

async function reopenKeepsEverything(url: string): Promise<void> {
  const id = `persist-${process.pid}`;
  const s1 = await openStore(url);
  await fill(s1, id);
  await s1.close();
  const s2 = await openStore(url);
  try {
    const l = await s2.load(id);
    assert.equal(l.run.lastSeq, 2);
    assert.deepEqual(l.state, { k: [1] });
    assert.equal((await s2.memoryGet("project", "facts", "x", "p"))?.value, "y");
    assert.equal((await s2.listRuns())[0]?.id, id);
  } finally {
    await s2.close();
  }
}

describe("store URLs", () => {
  test("redactUrl hides passwords, in the authority and in a password= parameter", () => {
    assert.equal(redactUrl("postgres://u:s3cr3t@db:5432/x"), "postgres://u:***@db:5432/x");
    assert.equal(redactUrl("postgresql://u:p%40ss@h/x?password=zz&schema=a"), "postgresql://u:***@h/x?password=***&schema=a");
    assert.equal(redactUrl("postgres://u@h/x"), "postgres://u@h/x");
    assert.equal(redactUrl("sqlite:/tmp/a.db"), "sqlite:/tmp/a.db");
  });

  test("unknown schemes, empty paths and unknown sqlite parameters are STORE_URL_INVALID", async () => {
    await rejects(openStore("mysql://root@localhost/x"), "STORE_URL_INVALID");
    await rejects(openStore(""), "STORE_URL_INVALID");
    await rejects(openStore("sqlite:"), "STORE_URL_INVALID");
    await rejects(openStore(`sqlite:${join(dir, "p.db")}?journal=off`), "STORE_URL_INVALID");
  });

  test("defaultStoreUrl is <configDir>/.agent-engine/runs.db; relative sqlite paths resolve against baseDir, parents are created", async () => {
    assert.equal(defaultStoreUrl("/cfg"), "sqlite:/cfg/.agent-engine/runs.db");
    const s = await openStore("sqlite:.agent-engine/runs.db", { baseDir: join(dir, "cfg") });
    await s.close();
    assert.ok(readFileSync(join(dir, "cfg", ".agent-engine", "runs.db")).length > 0);
  });
});

describe("sqlite store: durability, migrations, damage", () => {
  test("everything survives closing and reopening the file", () => reopenKeepsEverything(`sqlite:${join(dir, "persist.db")}`));

  test("the file is in WAL mode with the chosen synchronous level, and records schema version " + SCHEMA_VERSION, async () => {
    const path = join(dir, "wal.db");
    await (await openStore(`sqlite:${path}?synchronous=full`)).close();
    const db = new Database(path, { readonly: true });
    try {
      assert.equal(db.pragma("journal_mode", { simple: true }), "wal");
      assert.deepEqual(
        db.prepare("SELECT version FROM ae_schema_version").all(),
        [{ version: SCHEMA_VERSION }],
      );
    } finally {
      db.close();
    }
  });

  test("a database with a newer schema version is refused (STORE_SCHEMA_TOO_NEW) and left unchanged", async () => {
    const path = join(dir, "newer.db");
    await (await openStore(`sqlite:${path}`)).close();
    const db = new Database(path);
    db.prepare("INSERT INTO ae_schema_version (version, description, applied_at) VALUES (?, 'from the future', 0)").run(SCHEMA_VERSION + 1);
    db.close();
    const err = await rejects(openStore(`sqlite:${path}`), "STORE_SCHEMA_TOO_NEW");
    assert.match(err.message, new RegExp(`version ${SCHEMA_VERSION + 1}`));
    assert.match(err.message, /newer\.db/);
    const check = new Database(path, { readonly: true });
    assert.equal((check.prepare("SELECT max(version) v FROM ae_schema_version").get() as { v: number }).v, SCHEMA_VERSION + 1);
    check.close();
  });

  test("a file that is not a SQLite database is STORE_CORRUPT and is not overwritten", async () => {
    const path = join(dir, "garbage.db");
    const bytes = Buffer.from("this is not a database, it is a note somebody wrote. ".repeat(200));
    writeFileSync(path, bytes);
    const err = await rejects(openStore(`sqlite:${path}`), "STORE_CORRUPT");
    assert.match(err.message, /garbage\.db/);
    assert.deepEqual(readFileSync(path), bytes);
  });

  test("a SQLite file with a damaged header is STORE_CORRUPT", async () => {
    const path = join(dir, "damaged.db");
    const s = await openStore(`sqlite:${path}`);
    await fill(s, "r1");
    await s.close();
    const bytes = readFileSync(path);
    bytes.fill(0xff, 16, 100); // page size, versions, counters: nonsense
    writeFileSync(path, bytes);
    rmSync(`${path}-wal`, { force: true });
    rmSync(`${path}-shm`, { force: true });
    await rejects(openStore(`sqlite:${path}`), "STORE_CORRUPT");
  });

  test("agent-engine tables without a version table, or a version table without a valid version, are STORE_CORRUPT", async () => {
    const a = join(dir, "noversion.db");
    const db = new Database(a);
    db.exec("CREATE TABLE ae_runs (id TEXT)");
    db.close();
    await rejects(openStore(`sqlite:${a}`), "STORE_CORRUPT");
    const b = join(dir, "emptyversion.db");
    await (await openStore(`sqlite:${b}`)).close();
    const db2 = new Database(b);
    db2.exec("DELETE FROM ae_schema_version");
    db2.close();
    await rejects(openStore(`sqlite:${b}`), "STORE_CORRUPT");
  });

  test("a path that cannot be opened is STORE_OPEN_FAILED naming it", async () => {
    const file = join(dir, "a-file");
    writeFileSync(file, "x");
    const err = await rejects(openStore(`sqlite:${join(file, "sub", "runs.db")}`), "STORE_OPEN_FAILED");
    assert.match(err.message, /a-file\/sub\/runs\.db/);
    mkdirSync(join(dir, "a-dir.db"));
    await rejects(openStore(`sqlite:${join(dir, "a-dir.db")}`), "STORE_OPEN_FAILED");
  });

  test("two stores on one file (two connections) see each other's commits and conflict on the same seq", async () => {
    const path = join(dir, "shared.db");
    const a = await openStore(`sqlite:${path}`);
    const b = await openStore(`sqlite:${path}`);
    try {
      await a.createRun({ runId: "r", configHash: "h", input: null, startedAt: "2026-01-01T00:00:00.000Z" });
      await b.commit("r", { fromSeq: 1, toSeq: 1, events: [{ seq: 1 }] });
      await rejects(a.commit("r", { fromSeq: 1, toSeq: 1, events: [{ seq: 1 }] }), "STORE_SEQ_CONFLICT");
      assert.equal((await a.getRun("r"))?.lastSeq, 1);
    } finally {
      await a.close();
      await b.close();
    }
  });
});

describe("optional drivers", () => {
  test("without better-sqlite3 or pg installed, opening that store is STORE_DRIVER_MISSING naming the package", async () => {
    // A copy of the compiled store with no node_modules above it: the real import() fails.
    const isolated = mkdtempSync(join(tmpdir(), "ae-nodrivers-"));
    try {
      cpSync(join(here, "..", "..", "src"), join(isolated, "src"), { recursive: true });
      writeFileSync(join(isolated, "package.json"), JSON.stringify({ type: "module" }));
      const mod = (await import(join(isolated, "src", "store", "index.js"))) as { openStore: typeof openStore };
      for (const [url, pkg] of [
        [`sqlite:${join(isolated, "x.db")}`, "better-sqlite3"],
        ["postgres://u:secret@127.0.0.1:5432/test", "pg"],
      ] as const) {
        try {
          await mod.openStore(url);
          assert.fail("expected STORE_DRIVER_MISSING");
        } catch (err) {
          const e = err as StoreError;
          assert.equal(e.code, "STORE_DRIVER_MISSING", String(err));
          assert.match(e.message, new RegExp(`"${pkg}"`));
          assert.match(e.details[0]?.hint ?? "", new RegExp(`npm install ${pkg}`));
          assert.doesNotMatch(e.message, /secret/);
        }
      }
      const mem = await mod.openStore("memory");
      await mem.close();
    } finally {
      rmSync(isolated, { recursive: true, force: true });
    }
  });
});

const pgUp = await pgAvailable();

/** Starts `n` processes that open `url`, waits until all are ready, says go, collects their reports. */
async function race(url: string, runId: string, n: number, mode: "lease" | "commit" = "lease"): Promise<{ owner: string; acquired: boolean; holder: string | null; commit: string }[]> {
  const kids = Array.from({ length: n }, (_, i) => {
    const child = spawn(process.execPath, [join(here, "raceChild.js"), url, runId, `proc-${i}`, mode], { stdio: ["pipe", "pipe", "inherit"] });
    const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
    return { child, lines, exited };
  });
  try {
    for (const k of kids) assert.equal((await k.lines.next()).value, "ready");
    for (const k of kids) k.child.stdin.write("go\n");
    const reports = [];
    for (const k of kids) reports.push(JSON.parse((await k.lines.next()).value as string) as { owner: string; acquired: boolean; holder: string | null; commit: string });
    for (const k of kids) assert.equal(await k.exited, 0);
    return reports;
  } finally {
    for (const k of kids) if (k.child.exitCode === null) k.child.kill();
  }
}

describe("postgres store: durability, migrations, processes", { skip: pgUp ? false : "PostgreSQL unreachable (see the message above)" }, () => {
  const url = (tag: string): string => {
    const s = freshSchema(tag);
    schemas.push(s);
    return pgUrl(s);
  };

  test("everything survives closing and reopening", () => reopenKeepsEverything(url("persist")));

  test("a schema with a newer version is refused (STORE_SCHEMA_TOO_NEW) and left unchanged", async () => {
    const u = url("newer");
    await (await openStore(u)).close();
    const schema = schemas[schemas.length - 1]!;
    await pgExec(`INSERT INTO "${schema}".ae_schema_version (version, description, applied_at) VALUES ($1, 'future', 0)`, [SCHEMA_VERSION + 7]);
    const err = await rejects(openStore(u), "STORE_SCHEMA_TOO_NEW");
    assert.match(err.message, new RegExp(`version ${SCHEMA_VERSION + 7}`));
    assert.equal((await pgExec(`SELECT max(version) AS v FROM "${schema}".ae_schema_version`)).rows[0].v, SCHEMA_VERSION + 7);
  });

  test("agent-engine tables without a version table are STORE_CORRUPT", async () => {
    const u = url("corrupt");
    const schema = schemas[schemas.length - 1]!;
    await pgExec(`CREATE SCHEMA "${schema}"`);
    await pgExec(`CREATE TABLE "${schema}".ae_runs (id text)`);
    await rejects(openStore(u), "STORE_CORRUPT");
  });

  test("stores opened at once on a fresh schema migrate it once, without errors", async () => {
    const u = url("concurrent");
    const stores = await Promise.all([openStore(u), openStore(u), openStore(u)]);
    for (const s of stores) await s.close();
    const schema = schemas[schemas.length - 1]!;
    assert.deepEqual((await pgExec(`SELECT version FROM "${schema}".ae_schema_version`)).rows, [{ version: SCHEMA_VERSION }]);
  });

  test("an unreachable server or a missing database is STORE_OPEN_FAILED, the password redacted", async () => {
    const err = await rejects(openStore("postgres://postgres:hunter2@127.0.0.1:1/test"), "STORE_OPEN_FAILED");
    assert.match(err.message, /postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:1\/test/);
    assert.doesNotMatch(JSON.stringify(err.toJSON()), /hunter2/);
    const err2 = await rejects(openStore(`${PG_BASE.replace(/\/test$/, "")}/no_such_db_${process.pid}`), "STORE_OPEN_FAILED");
    assert.match(err2.message, /no_such_db/);
    await rejects(openStore(`${PG_BASE}?schema=bad-name;drop`), "STORE_URL_INVALID");
  });

  test("processes race to resume one run: exactly one gets the lease and commits; without leases exactly one commit wins", async () => {
    const u = url("lease");
    const s = await openStore(u);
    try {
      for (let round = 0; round < 3; round++) {
        const runId = `race-${round}`;
        await s.createRun({ runId, configHash: "h", input: null, startedAt: "2026-01-01T00:00:00.000Z" });
        const reports = await race(u, runId, 2);
        const winners = reports.filter((r) => r.acquired);
        assert.equal(winners.length, 1, JSON.stringify(reports));
        const loser = reports.find((r) => !r.acquired)!;
        assert.equal(loser.holder, winners[0]!.owner);
        assert.equal(winners[0]!.commit, "ok");
        assert.equal(loser.commit, "skipped");
        const l = await s.load(runId);
        assert.equal(l.run.lastSeq, 1);
        assert.deepEqual(l.events, [{ seq: 1, type: "run.started", by: winners[0]!.owner }]);
      }
      // Without leases, the seq compare-and-set alone lets exactly one of racing writers commit.
      await s.createRun({ runId: "race-nolease", configHash: "h", input: null, startedAt: "2026-01-01T00:00:00.000Z" });
      const reports = await race(u, "race-nolease", 3, "commit");
      assert.deepEqual(reports.map((r) => r.commit).sort(), ["STORE_SEQ_CONFLICT", "STORE_SEQ_CONFLICT", "ok"]);
      const winner = reports.find((r) => r.commit === "ok")!;
      assert.deepEqual((await s.load("race-nolease")).events, [{ seq: 1, type: "run.started", by: winner.owner }]);
    } finally {
      await s.close();
    }
  });

  test("an expired lease held by a dead process is taken over by the next one", async () => {
    const u = url("takeover");
    const s = await openStore(u);
    try {
      await s.createRun({ runId: "r", configHash: "h", input: null, startedAt: "2026-01-01T00:00:00.000Z" });
      assert.equal((await s.acquireLease("r", "crashed-process", 1)).acquired, true);
      await new Promise((r) => setTimeout(r, 30));
      const [rep] = await race(u, "r", 1);
      assert.deepEqual([rep!.acquired, rep!.commit], [true, "ok"]);
      await rejects(s.renewLease("r", "crashed-process", 1000), "STORE_LEASE_LOST");
    } finally {
      await s.close();
    }
  });

  test("keys with NUL characters (the runtime's stage keys) round-trip", async () => {
    const s = await openStore(url("nul"));
    try {
      await s.createRun({ runId: "r", configHash: "h", input: null, startedAt: "2026-01-01T00:00:00.000Z" });
      await s.commit("r", { fromSeq: 1, toSeq: 1, events: [{ seq: 1 }], state: { set: { "t1\u0000node\u00000": 1 } }, memoryWrites: [{ store: "m", scope: "global", key: "a\u0000b", value: 2 }] });
      assert.deepEqual((await s.load("r")).state, { "t1\u0000node\u00000": 1 });
      assert.equal((await s.memoryGet("global", "m", "a\u0000b"))?.value, 2);
    } finally {
      await s.close();
    }
  });
});
