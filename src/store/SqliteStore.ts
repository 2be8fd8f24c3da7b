/**
 * The embedded store (`"sqlite:<path>"`), on better-sqlite3 (an optional peer dependency, 12.x).
 * WAL journal, one transaction per commit, `busy_timeout` so processes sharing a file wait for
 * each other instead of failing.
 *
 * @module
 */
import { mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import type BetterSqlite3 from "better-sqlite3";
import type { JsonValue } from "../json.js";
import { loadDriver } from "./drivers.js";
import { SCHEMA_VERSION, SQLITE_MIGRATIONS, VERSION_TABLE, VERSION_TABLE_DDL } from "./migrations.js";
import { StoreError, byKey, checkBatch, decodeKey, encodeKey, checkCreate, checkTtl, cutoffMs, iso, msOf, toJsonText } from "./StoreError.js";
import {
  TERMINAL_STATUSES,
  type CommitBatch,
  type CreateRunOptions,
  type LeaseResult,
  type ListRunsOptions,
  type LoadedRun,
  type MemoryEntry,
  type PruneOptions,
  type RunListing,
  type RunStore,
  type StoredEvent,
  type StoredMemoryScope,
  type StoredRun,
  type StoredRunStatus,
} from "./types.js";

/** Options of {@link SqliteStore.open}. */
export interface SqliteStoreOptions {
  /** `PRAGMA synchronous`: `normal` (default; durable across process crashes) or `full` (also across power loss). */
  readonly synchronous?: "normal" | "full";
}

type Db = BetterSqlite3.Database;
type Stmt = BetterSqlite3.Statement;

interface RunRow {
  id: string;
  status: StoredRunStatus;
  config_hash: string;
  project_id: string;
  input: string;
  meta: string;
  started_at: number;
  updated_at: number;
  last_seq: number;
  state_seq: number;
  current_nodes: string;
  interrupts: string;
  result: string;
  finished_at: number | null;
  lease_owner: string | null;
  lease_expires_at: number | null;
}

const PAGE = 1000;

function sqliteCode(err: unknown): string {
  const c = (err as { code?: unknown } | null)?.code;
  return typeof c === "string" ? c : "";
}

function isCorruption(err: unknown): boolean {
  const c = sqliteCode(err);
  return c.startsWith("SQLITE_CORRUPT") || c.startsWith("SQLITE_NOTADB");
}

/** A {@link RunStore} in one SQLite file. */
export class SqliteStore implements RunStore {
  readonly kind = "sqlite" as const;
  private closed = false;
  private readonly s: Record<string, Stmt>;

  private constructor(
    private readonly db: Db,
    readonly url: string,
  ) {
    const p = (sql: string): Stmt => db.prepare(sql);
    this.s = {
      insertRun: p(
        "INSERT INTO ae_runs (id, status, config_hash, project_id, input, meta, started_at, updated_at, last_seq, state_seq, current_nodes, interrupts, result) VALUES (?, 'running', ?, ?, ?, ?, ?, ?, 0, 0, '[]', '[]', 'null')",
      ),
      getRun: p("SELECT * FROM ae_runs WHERE id = ?"),
      casRun: p(
        "UPDATE ae_runs SET last_seq = @toSeq, updated_at = @at, state_seq = CASE WHEN @hasState THEN @toSeq ELSE state_seq END, status = coalesce(@status, status), current_nodes = coalesce(@nodes, current_nodes), interrupts = coalesce(@interrupts, interrupts) WHERE id = @id AND last_seq = @prev AND status IN ('running', 'interrupted') AND (@owner IS NULL OR lease_owner = @owner)",
      ),
      insertEvent: p("INSERT INTO ae_events (run_id, seq, event) VALUES (?, ?, ?)"),
      clearState: p("DELETE FROM ae_state WHERE run_id = ?"),
      deleteState: p("DELETE FROM ae_state WHERE run_id = ? AND key = ?"),
      upsertState: p("INSERT INTO ae_state (run_id, key, value) VALUES (?, ?, ?) ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value"),
      upsertMemory: p(
        "INSERT INTO ae_memory (scope, project_id, store_id, key, value, updated_at, run_id) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (scope, project_id, store_id, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at, run_id = excluded.run_id",
      ),
      loadState: p("SELECT key, value FROM ae_state WHERE run_id = ?"),
      eventsAfter: p("SELECT event FROM ae_events WHERE run_id = ? AND seq > ? ORDER BY seq LIMIT ?"),
      list: p("SELECT id, status, started_at, updated_at, current_nodes, interrupts FROM ae_runs ORDER BY updated_at DESC, id DESC LIMIT ?"),
      listByStatus: p("SELECT id, status, started_at, updated_at, current_nodes, interrupts FROM ae_runs WHERE status = ? ORDER BY updated_at DESC, id DESC LIMIT ?"),
      finish: p(
        "UPDATE ae_runs SET status = ?, result = ?, finished_at = ?, updated_at = ?, current_nodes = '[]', interrupts = '[]', lease_owner = NULL, lease_expires_at = NULL WHERE id = ? AND status IN ('running', 'interrupted')",
      ),
      pruneIds: p("SELECT id FROM ae_runs WHERE updated_at < ? AND (? OR status IN ('success', 'failure', 'partial'))"),
      deleteRun: p("DELETE FROM ae_runs WHERE id = ?"),
      deleteEvents: p("DELETE FROM ae_events WHERE run_id = ?"),
      deleteRunState: p("DELETE FROM ae_state WHERE run_id = ?"),
      deleteMemory: p("DELETE FROM ae_memory WHERE scope = ? AND project_id = ? AND store_id = ? AND key = ?"),
      memGet: p("SELECT value, updated_at FROM ae_memory WHERE scope = ? AND project_id = ? AND store_id = ? AND key = ?"),
      memList: p("SELECT key, value, updated_at FROM ae_memory WHERE scope = ? AND project_id = ? AND store_id = ?"),
      acquire: p("UPDATE ae_runs SET lease_owner = @owner, lease_expires_at = @now + @ttl WHERE id = @id AND (lease_owner IS NULL OR lease_owner = @owner OR lease_expires_at < @now)"),
      renew: p("UPDATE ae_runs SET lease_expires_at = @now + @ttl WHERE id = @id AND lease_owner = @owner"),
      release: p("UPDATE ae_runs SET lease_owner = NULL, lease_expires_at = NULL WHERE id = ? AND lease_owner = ?"),
      lease: p("SELECT lease_owner, lease_expires_at FROM ae_runs WHERE id = ?"),
    };
  }

  /**
   * Opens (creating if needed) the SQLite file at `path` and brings its schema up to date.
   *
   * @throws {@link StoreError} `STORE_DRIVER_MISSING`, `STORE_OPEN_FAILED`, `STORE_CORRUPT`, `STORE_SCHEMA_TOO_NEW`.
   */
  static async open(path: string, url: string, options: SqliteStoreOptions = {}): Promise<SqliteStore> {
    const Driver = await loadDriver<typeof BetterSqlite3>("better-sqlite3", "^12", url);
    const memory = path === ":memory:" || path === "";
    let db: Db;
    try {
      if (!memory) mkdirSync(dirname(resolve(path)), { recursive: true });
      db = new Driver(memory ? ":memory:" : path);
    } catch (err) {
      throw new StoreError(isCorruption(err) ? "STORE_CORRUPT" : "STORE_OPEN_FAILED", `cannot open the SQLite database: ${errText(err)}`, { url, hint: "check the path and its permissions", cause: err });
    }
    try {
      db.pragma("busy_timeout = 5000");
      if (!memory) db.pragma("journal_mode = WAL");
      db.pragma(`synchronous = ${options.synchronous === "full" ? "FULL" : "NORMAL"}`);
      migrateSqlite(db, url);
      return new SqliteStore(db, url);
    } catch (err) {
      db.close();
      if (err instanceof StoreError) throw err;
      if (isCorruption(err)) {
        throw new StoreError("STORE_CORRUPT", `the file is not a valid SQLite database or is damaged: ${errText(err)}`, { url, hint: "restore it from a backup or point the store at another file; the file was not changed", cause: err });
      }
      throw new StoreError("STORE_OPEN_FAILED", `cannot open the SQLite database: ${errText(err)}`, { url, cause: err });
    }
  }

  /** Runs `fn`, turning driver errors into {@link StoreError}s. */
  private guard<T>(what: string, fn: () => T): T {
    if (this.closed) throw new StoreError("STORE_CLOSED", "this store was closed", { url: this.url });
    try {
      return fn();
    } catch (err) {
      if (err instanceof StoreError) throw err;
      const code = sqliteCode(err);
      if (isCorruption(err)) throw new StoreError("STORE_CORRUPT", `${what}: the database is damaged: ${errText(err)}`, { url: this.url, cause: err });
      if (code.startsWith("SQLITE_CONSTRAINT")) throw new StoreError("STORE_BATCH_INVALID", `${what}: rejected by the database (${code}): ${errText(err)}`, { url: this.url, cause: err });
      throw new StoreError("STORE_QUERY_FAILED", `${what} failed: ${errText(err)}`, { url: this.url, cause: err });
    }
  }

  private view(r: RunRow): StoredRun {
    return {
      id: r.id,
      status: r.status,
      configHash: r.config_hash,
      projectId: r.project_id,
      input: JSON.parse(r.input) as JsonValue,
      meta: JSON.parse(r.meta) as JsonValue,
      startedAt: iso(r.started_at),
      updatedAt: iso(r.updated_at),
      lastSeq: r.last_seq,
      currentNodes: JSON.parse(r.current_nodes) as string[],
      interrupts: JSON.parse(r.interrupts) as JsonValue[],
      result: JSON.parse(r.result) as JsonValue,
      finishedAt: r.finished_at === null ? null : iso(r.finished_at),
    };
  }

  private mustGet(runId: string): RunRow {
    const r = this.s.getRun!.get(runId) as RunRow | undefined;
    if (r === undefined) throw new StoreError("STORE_RUN_NOT_FOUND", `no run "${runId}" in this store`, { url: this.url, hint: "list runs with `agent-engine runs <configDir>`" });
    return r;
  }

  async createRun(o: CreateRunOptions): Promise<StoredRun> {
    return this.guard(`createRun(${o.runId})`, () => {
      checkCreate(o, this.url);
      const at = msOf(o.startedAt);
      const input = toJsonText(o.input, "run input", this.url);
      const meta = toJsonText(o.meta ?? null, "run meta", this.url);
      try {
        this.s.insertRun!.run(o.runId, o.configHash, o.projectId ?? "", input, meta, at, at);
      } catch (err) {
        if (sqliteCode(err) === "SQLITE_CONSTRAINT_PRIMARYKEY") throw new StoreError("STORE_RUN_EXISTS", `a run "${o.runId}" already exists`, { url: this.url, cause: err });
        throw err;
      }
      return this.view(this.mustGet(o.runId));
    });
  }

  /** The body of {@link commit}, wrapped in a transaction once (not per commit). */
  private commitTx: ReturnType<Db["transaction"]> | undefined;

  async commit(runId: string, b: CommitBatch): Promise<number> {
    return this.guard(`commit(${runId})`, () => {
      checkBatch(runId, b, this.url);
      this.commitTx ??= this.db.transaction((runId: string, b: CommitBatch) => {
        const hasState = b.state !== undefined;
        const changed = this.s.casRun!.run({
          id: runId,
          prev: b.fromSeq - 1,
          toSeq: b.toSeq,
          at: msOf(b.at),
          hasState: hasState ? 1 : 0,
          status: b.status ?? null,
          nodes: b.currentNodes ? toJsonText(b.currentNodes, "currentNodes", this.url) : null,
          interrupts: b.interrupts ? toJsonText(b.interrupts, "interrupts", this.url) : null,
          owner: b.leaseOwner ?? null,
        }).changes;
        if (changed !== 1) this.explainCasFailure(runId, b);
        for (const e of b.events) this.s.insertEvent!.run(runId, e.seq, toJsonText(e, `event seq ${e.seq}`, this.url));
        if (b.state !== undefined) {
          if (b.state.replace) this.s.clearState!.run(runId);
          for (const k of b.state.delete ?? []) this.s.deleteState!.run(runId, encodeKey(k));
          for (const [k, v] of Object.entries(b.state.set ?? {})) this.s.upsertState!.run(runId, encodeKey(k), toJsonText(v, `state key "${k}"`, this.url));
        }
        if (b.memoryWrites !== undefined && b.memoryWrites.length > 0) {
          const project = (this.s.getRun!.get(runId) as RunRow).project_id;
          const at = msOf(b.at);
          for (const w of b.memoryWrites) {
            const projectId = w.scope === "global" ? "" : project;
            if (w.deleted === true) this.s.deleteMemory!.run(w.scope, projectId, w.store, encodeKey(w.key));
            else this.s.upsertMemory!.run(w.scope, projectId, w.store, encodeKey(w.key), toJsonText(w.value, `memory write ${w.store}/${w.key}`, this.url), at, runId);
          }
        }
      });
      this.commitTx.immediate(runId, b);
      return b.toSeq;
    });
  }

  /** Throws the error that says why the compare-and-set of a commit matched no row. */
  private explainCasFailure(runId: string, b: CommitBatch): never {
    const r = this.mustGet(runId);
    if (TERMINAL_STATUSES.includes(r.status)) throw new StoreError("STORE_RUN_FINISHED", `run "${runId}" already ended (${r.status}); nothing can be committed to it`, { url: this.url });
    if (b.leaseOwner !== undefined && r.lease_owner !== b.leaseOwner) {
      throw new StoreError("STORE_LEASE_LOST", `commit(${runId}): lease owner "${b.leaseOwner}" does not hold the run's lease (held by ${r.lease_owner ?? "nobody"})`, { url: this.url });
    }
    throw new StoreError("STORE_SEQ_CONFLICT", `commit(${runId}): fromSeq ${b.fromSeq} does not follow the last committed seq ${r.last_seq}; another process may be running this run`, { url: this.url });
  }

  async load(runId: string): Promise<LoadedRun> {
    return this.guard(`load(${runId})`, () =>
      this.db.transaction(() => {
        const r = this.mustGet(runId);
        const state: Record<string, JsonValue> = {};
        for (const row of this.s.loadState!.all(runId) as { key: string; value: string }[]) state[decodeKey(row.key)] = JSON.parse(row.value) as JsonValue;
        const events: StoredEvent[] = [];
        for (const row of this.s.eventsAfter!.all(runId, r.state_seq, -1) as { event: string }[]) events.push(JSON.parse(row.event) as StoredEvent);
        return { run: this.view(r), state, stateSeq: r.state_seq, events };
      })(),
    );
  }

  async getRun(runId: string): Promise<StoredRun | undefined> {
    return this.guard(`getRun(${runId})`, () => {
      const r = this.s.getRun!.get(runId) as RunRow | undefined;
      return r === undefined ? undefined : this.view(r);
    });
  }

  async listRuns(o: ListRunsOptions = {}): Promise<readonly RunListing[]> {
    return this.guard("listRuns", () => {
      const limit = o.limit ?? 100;
      const rows = (o.status !== undefined ? this.s.listByStatus!.all(o.status, limit) : this.s.list!.all(limit)) as RunRow[];
      return rows.map((r) => ({
        id: r.id,
        status: r.status,
        startedAt: iso(r.started_at),
        updatedAt: iso(r.updated_at),
        currentNodes: JSON.parse(r.current_nodes) as string[],
        interrupts: JSON.parse(r.interrupts) as JsonValue[],
      }));
    });
  }

  async finish(runId: string, status: "success" | "failure" | "partial", result: JsonValue): Promise<void> {
    this.guard(`finish(${runId})`, () => {
      if (!TERMINAL_STATUSES.includes(status)) throw new StoreError("STORE_BATCH_INVALID", `finish(${runId}): status must be success, failure or partial, got ${JSON.stringify(status)}`, { url: this.url });
      const text = toJsonText(result, "run result", this.url);
      const now = Date.now();
      if (this.s.finish!.run(status, text, now, now, runId).changes !== 1) {
        const r = this.mustGet(runId);
        throw new StoreError("STORE_RUN_FINISHED", `run "${runId}" already ended (${r.status})`, { url: this.url });
      }
    });
  }

  async *events(runId: string, o: { readonly afterSeq?: number } = {}): AsyncIterable<StoredEvent> {
    this.guard(`events(${runId})`, () => this.mustGet(runId));
    let after = o.afterSeq ?? 0;
    for (;;) {
      // Pages, not one open cursor: the connection stays free for commits between pages.
      const rows = this.guard(`events(${runId})`, () => this.s.eventsAfter!.all(runId, after, PAGE) as { event: string }[]);
      for (const row of rows) {
        const e = JSON.parse(row.event) as StoredEvent;
        after = e.seq;
        yield e;
      }
      if (rows.length < PAGE) return;
    }
  }

  async prune(o: PruneOptions): Promise<number> {
    return this.guard("prune", () => {
      const cutoff = cutoffMs(o, this.url);
      return this.db.transaction(() => {
        const ids = (this.s.pruneIds!.all(cutoff, o.includeUnfinished === true ? 1 : 0) as { id: string }[]).map((r) => r.id);
        for (const id of ids) {
          this.s.deleteEvents!.run(id);
          this.s.deleteRunState!.run(id);
          this.s.deleteRun!.run(id);
        }
        return ids.length;
      }).immediate();
    });
  }

  async memoryGet(scope: StoredMemoryScope, storeId: string, key: string, projectId = ""): Promise<MemoryEntry | undefined> {
    return this.guard("memoryGet", () => {
      const r = this.s.memGet!.get(scope, scope === "global" ? "" : projectId, storeId, encodeKey(key)) as { value: string; updated_at: number } | undefined;
      return r === undefined ? undefined : { key, value: JSON.parse(r.value) as JsonValue, updatedAt: iso(r.updated_at) };
    });
  }

  async memoryList(scope: StoredMemoryScope, storeId: string, projectId = ""): Promise<readonly MemoryEntry[]> {
    return this.guard("memoryList", () =>
      (this.s.memList!.all(scope, scope === "global" ? "" : projectId, storeId) as { key: string; value: string; updated_at: number }[]).map((r) => ({
        key: decodeKey(r.key),
        value: JSON.parse(r.value) as JsonValue,
        updatedAt: iso(r.updated_at),
      })).sort(byKey),
    );
  }

  private leaseOf(runId: string): { owner: string | null; expiresAt: string | null } {
    const r = this.s.lease!.get(runId) as { lease_owner: string | null; lease_expires_at: number | null } | undefined;
    if (r === undefined) throw new StoreError("STORE_RUN_NOT_FOUND", `no run "${runId}" in this store`, { url: this.url });
    return { owner: r.lease_owner, expiresAt: r.lease_expires_at === null ? null : iso(r.lease_expires_at) };
  }

  async acquireLease(runId: string, owner: string, ttlMs: number): Promise<LeaseResult> {
    return this.guard(`acquireLease(${runId})`, () => {
      checkTtl(ttlMs, this.url);
      const changed = this.s.acquire!.run({ id: runId, owner, now: Date.now(), ttl: Math.ceil(ttlMs) }).changes;
      const cur = this.leaseOf(runId);
      return { acquired: changed === 1, ...cur };
    });
  }

  async renewLease(runId: string, owner: string, ttlMs: number): Promise<LeaseResult> {
    return this.guard(`renewLease(${runId})`, () => {
      checkTtl(ttlMs, this.url);
      const changed = this.s.renew!.run({ id: runId, owner, now: Date.now(), ttl: Math.ceil(ttlMs) }).changes;
      const cur = this.leaseOf(runId);
      if (changed !== 1) throw new StoreError("STORE_LEASE_LOST", `run "${runId}": "${owner}" no longer holds the lease (held by ${cur.owner ?? "nobody"}); stop working on this run`, { url: this.url });
      return { acquired: true, ...cur };
    });
  }

  async releaseLease(runId: string, owner: string): Promise<void> {
    this.guard(`releaseLease(${runId})`, () => {
      this.leaseOf(runId);
      this.s.release!.run(runId, owner);
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function versionOf(db: Db, url: string): number {
  const has = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name IN (?, 'ae_runs')").all(VERSION_TABLE) as { name: string }[];
  if (!has.some((t) => t.name === VERSION_TABLE)) {
    if (has.length > 0) throw new StoreError("STORE_CORRUPT", `the database has agent-engine tables but no ${VERSION_TABLE} table`, { url, hint: "restore it from a backup or use another file" });
    return 0;
  }
  const row = db.prepare(`SELECT max(version) AS v FROM ${VERSION_TABLE}`).get() as { v: unknown };
  if (typeof row.v !== "number" || !Number.isInteger(row.v) || row.v < 1) {
    throw new StoreError("STORE_CORRUPT", `the ${VERSION_TABLE} table holds no valid version (${JSON.stringify(row.v)})`, { url, hint: "restore it from a backup or use another file" });
  }
  return row.v;
}

function migrateSqlite(db: Db, url: string): void {
  const check = (v: number): void => {
    if (v > SCHEMA_VERSION) {
      throw new StoreError("STORE_SCHEMA_TOO_NEW", `the database has schema version ${v}, newer than this agent-engine's ${SCHEMA_VERSION}`, { url, hint: "upgrade agent-engine, or use another store; the database was not changed" });
    }
  };
  const seen = versionOf(db, url);
  check(seen);
  if (seen === SCHEMA_VERSION) return;
  db.transaction(() => {
    // Read again under the write lock: another process may have migrated meanwhile.
    const current = versionOf(db, url);
    check(current);
    if (current === 0) db.exec(VERSION_TABLE_DDL);
    for (const m of SQLITE_MIGRATIONS) {
      if (m.version <= current) continue;
      for (const sql of m.statements) db.exec(sql);
      db.prepare(`INSERT INTO ${VERSION_TABLE} (version, description, applied_at) VALUES (?, ?, ?)`).run(m.version, m.description, Date.now());
    }
  }).immediate();
}
