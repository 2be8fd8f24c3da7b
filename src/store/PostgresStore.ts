/**
 * The PostgreSQL store (`"postgres://..."`), on node-postgres (`pg`, an optional peer
 * dependency). One transaction per commit; the run row's compare-and-set on `last_seq` is its
 * first statement, so two writers of one run serialize on the row lock and the second fails with
 * `STORE_SEQ_CONFLICT`. Leases use the database's clock, so processes on different machines agree.
 *
 * A `schema=NAME` query parameter in the URL puts the tables in that schema (created if needed).
 *
 * @module
 */
import type pg from "pg";
import type { JsonValue } from "../json.js";
import { loadDriver } from "./drivers.js";
import { POSTGRES_MIGRATIONS, SCHEMA_VERSION, VERSION_TABLE, VERSION_TABLE_DDL } from "./migrations.js";
import { StoreError, byKey, checkBatch, decodeKey, encodeKey, checkCreate, checkTtl, cutoffMs, iso, msOf, toJsonText } from "./StoreError.js";
import {
  TERMINAL_STATUSES,
  type CommitBatch,
  type CreateRunOptions,
  type LeaseResult,
  type ListRunsOptions,
  type LoadedRun,
  type MemoryEntry,
  type MemoryDelete,
  type MemoryPut,
  type MemoryWrite,
  type PruneOptions,
  type RunListing,
  type RunStore,
  type StoredEvent,
  type StoredMemoryScope,
  type StoredRun,
  type StoredRunStatus,
} from "./types.js";

/** Options of {@link PostgresStore.open}. */
export interface PostgresStoreOptions {
  /** Most connections the store opens at once (default 4). */
  readonly maxConnections?: number;
  /** How long to wait for a connection (default 5000 ms). */
  readonly connectTimeoutMs?: number;
}

interface RunRow {
  id: string;
  status: StoredRunStatus;
  config_hash: string;
  project_id: string;
  input: string;
  meta: string;
  started_at: string;
  updated_at: string;
  last_seq: string;
  state_seq: string;
  current_nodes: string;
  interrupts: string;
  result: string;
  finished_at: string | null;
  lease_owner: string | null;
  lease_expires_at: string | null;
}

const PAGE = 1000;
const DB_NOW = "(extract(epoch from clock_timestamp()) * 1000)::bigint";

function pgCode(err: unknown): string {
  const c = (err as { code?: unknown } | null)?.code;
  return typeof c === "string" ? c : "";
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** A {@link RunStore} in a PostgreSQL database. */
export class PostgresStore implements RunStore {
  readonly kind = "postgres" as const;
  private closed = false;

  private constructor(
    private readonly pool: pg.Pool,
    readonly url: string,
  ) {}

  /**
   * Connects, creates the schema named by `?schema=` if needed, and brings the tables up to date.
   *
   * @throws {@link StoreError} `STORE_DRIVER_MISSING`, `STORE_OPEN_FAILED`, `STORE_CORRUPT`, `STORE_SCHEMA_TOO_NEW`, `STORE_URL_INVALID`.
   */
  static async open(connectionUrl: string, redacted: string, options: PostgresStoreOptions = {}): Promise<PostgresStore> {
    const driver = await loadDriver<typeof pg>("pg", "^8", redacted);
    let parsed: URL;
    try {
      parsed = new URL(connectionUrl);
    } catch (err) {
      throw new StoreError("STORE_URL_INVALID", `not a valid PostgreSQL URL: ${errText(err)}`, { url: redacted, hint: "postgres://user:password@host:5432/database?schema=name", cause: err });
    }
    const schema = parsed.searchParams.get("schema");
    parsed.searchParams.delete("schema");
    if (schema !== null && !/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(schema)) {
      throw new StoreError("STORE_URL_INVALID", `schema "${schema}" is not a plain SQL identifier`, { url: redacted, hint: "use letters, digits and _ (at most 63)" });
    }
    const pool = new driver.Pool({ connectionString: parsed.toString(), max: options.maxConnections ?? 4, connectionTimeoutMillis: options.connectTimeoutMs ?? 5000 });
    // An idle client's error (the server went away) must not crash the process; the next query reports it.
    pool.on("error", () => {});
    if (schema !== null) {
      pool.on("connect", (client) => {
        client.query(`SET search_path TO ${quoteIdent(schema)}`).catch(() => {});
      });
    }
    try {
      const client = await pool.connect();
      try {
        await migratePostgres(client, redacted, schema);
      } finally {
        client.release();
      }
      return new PostgresStore(pool, redacted);
    } catch (err) {
      await pool.end().catch(() => {});
      if (err instanceof StoreError) throw err;
      throw new StoreError("STORE_OPEN_FAILED", `cannot open the PostgreSQL store: ${errText(err) || pgCode(err) || "connection failed"}`, {
        url: redacted,
        hint: "check that the server runs, the URL (host, port, database, user) and the password",
        cause: err,
      });
    }
  }

  private check(): void {
    if (this.closed) throw new StoreError("STORE_CLOSED", "this store was closed", { url: this.url });
  }

  private wrap(what: string, err: unknown): StoreError {
    if (err instanceof StoreError) return err;
    const code = pgCode(err);
    if (code.startsWith("23") || code === "22021" || code === "22P05") return new StoreError("STORE_BATCH_INVALID", `${what}: rejected by the database (${code}): ${errText(err)}`, { url: this.url, cause: err });
    if (code === "XX001" || code === "XX002") return new StoreError("STORE_CORRUPT", `${what}: the database reports damaged data: ${errText(err)}`, { url: this.url, cause: err });
    return new StoreError("STORE_QUERY_FAILED", `${what} failed: ${errText(err)}`, { url: this.url, cause: err });
  }

  private async q<R extends pg.QueryResultRow>(what: string, sql: string, params: unknown[] = []): Promise<pg.QueryResult<R>> {
    this.check();
    try {
      return await this.pool.query<R>(sql, params);
    } catch (err) {
      throw this.wrap(what, err);
    }
  }

  /** Runs `fn` in one transaction on one connection. */
  private async tx<T>(what: string, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    this.check();
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw this.wrap(what, err);
    }
    let broken = false;
    try {
      await client.query("BEGIN");
      const out = await fn(client);
      await client.query("COMMIT");
      return out;
    } catch (err) {
      try {
        await client.query("ROLLBACK");
      } catch {
        broken = true;
      }
      throw this.wrap(what, err);
    } finally {
      client.release(broken);
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
      lastSeq: Number(r.last_seq),
      currentNodes: JSON.parse(r.current_nodes) as string[],
      interrupts: JSON.parse(r.interrupts) as JsonValue[],
      result: JSON.parse(r.result) as JsonValue,
      finishedAt: r.finished_at === null ? null : iso(r.finished_at),
    };
  }

  private notFound(runId: string): StoreError {
    return new StoreError("STORE_RUN_NOT_FOUND", `no run "${runId}" in this store`, { url: this.url, hint: "list runs with `agent-engine runs <configDir>`" });
  }

  async createRun(o: CreateRunOptions): Promise<StoredRun> {
    checkCreate(o, this.url);
    const at = msOf(o.startedAt);
    const input = toJsonText(o.input, "run input", this.url);
    const meta = toJsonText(o.meta ?? null, "run meta", this.url);
    try {
      const res = await this.q<RunRow>(
        `createRun(${o.runId})`,
        "INSERT INTO ae_runs (id, status, config_hash, project_id, input, meta, started_at, updated_at, last_seq, state_seq, current_nodes, interrupts, result) VALUES ($1, 'running', $2, $3, $4, $5, $6, $6, 0, 0, '[]', '[]', 'null') RETURNING *",
        [o.runId, o.configHash, o.projectId ?? "", input, meta, at],
      );
      return this.view(res.rows[0]!);
    } catch (err) {
      if (err instanceof StoreError && pgCode(err.cause) === "23505") throw new StoreError("STORE_RUN_EXISTS", `a run "${o.runId}" already exists`, { url: this.url, cause: err.cause });
      throw err;
    }
  }

  async commit(runId: string, b: CommitBatch): Promise<number> {
    checkBatch(runId, b, this.url);
    const what = `commit(${runId})`;
    const setEntries = Object.entries(b.state?.set ?? {});
    const setKeys = setEntries.map(([k]) => encodeKey(k));
    const setValues = setEntries.map(([k, v]) => toJsonText(v, `state key "${k}"`, this.url));
    // A key both deleted and set ends up set: the delete spares it, so no row is touched twice.
    const deleteKeys = (b.state?.delete ?? []).map(encodeKey);
    // One upsert cannot touch a row twice: keep each key's last write (applied in order, last
    // wins). A key's last write is a put (upserted) or a delete (its row deleted): the two sets of
    // keys are disjoint, so no row is touched twice in the statement.
    const last = new Map<string, MemoryWrite>();
    for (const w of b.memoryWrites ?? []) {
      const k = `${w.scope}\u0000${w.store}\u0000${w.key}`;
      last.delete(k);
      last.set(k, w);
    }
    const ws: MemoryPut[] = [];
    const ds: MemoryDelete[] = [];
    for (const w of last.values()) {
      if (w.deleted === true) ds.push(w);
      else ws.push(w);
    }
    const params = [
      runId, // $1
      b.fromSeq - 1, // $2
      b.toSeq, // $3
      msOf(b.at), // $4
      b.state !== undefined, // $5
      b.status ?? null, // $6
      b.currentNodes ? toJsonText(b.currentNodes, "currentNodes", this.url) : null, // $7
      b.interrupts ? toJsonText(b.interrupts, "interrupts", this.url) : null, // $8
      b.leaseOwner ?? null, // $9
      b.events.map((e) => e.seq), // $10
      b.events.map((e) => toJsonText(e, `event seq ${e.seq}`, this.url)), // $11
      b.state?.replace === true, // $12
      deleteKeys, // $13
      setKeys, // $14
      setValues, // $15
      ws.map((w) => w.scope), // $16
      ws.map((w) => w.store), // $17
      ws.map((w) => encodeKey(w.key)), // $18
      ws.map((w) => toJsonText(w.value, `memory write ${w.store}/${w.key}`, this.url)), // $19
      ds.map((w) => w.scope), // $20
      ds.map((w) => w.store), // $21
      ds.map((w) => encodeKey(w.key)), // $22
    ];
    // One statement, one round trip, atomic by itself: the run row's compare-and-set first; every
    // other write happens only if it matched. (Round trips dominate a commit's cost.)
    const res = await this.q<{ ok: string }>(
      what,
      `WITH cas AS (
         UPDATE ae_runs SET last_seq = $3, updated_at = $4, state_seq = CASE WHEN $5 THEN $3 ELSE state_seq END, status = coalesce($6, status),
           current_nodes = coalesce($7, current_nodes), interrupts = coalesce($8, interrupts)
         WHERE id = $1 AND last_seq = $2 AND status IN ('running', 'interrupted') AND ($9::text IS NULL OR lease_owner = $9) RETURNING project_id
       ), ev AS (
         INSERT INTO ae_events (run_id, seq, event) SELECT $1, s, e FROM unnest($10::bigint[], $11::text[]) AS t(s, e) WHERE EXISTS (SELECT 1 FROM cas)
       ), del AS (
         DELETE FROM ae_state WHERE run_id = $1 AND EXISTS (SELECT 1 FROM cas) AND NOT (key = ANY($14::text[])) AND ($12 OR key = ANY($13::text[]))
       ), st AS (
         INSERT INTO ae_state (run_id, key, value) SELECT $1, k, v FROM unnest($14::text[], $15::text[]) AS t(k, v) WHERE EXISTS (SELECT 1 FROM cas)
         ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value
       ), mem AS (
         INSERT INTO ae_memory (scope, project_id, store_id, key, value, updated_at, run_id)
         SELECT sc, CASE WHEN sc = 'global' THEN '' ELSE (SELECT project_id FROM cas) END, st, k, v, $4, $1
         FROM unnest($16::text[], $17::text[], $18::text[], $19::text[]) AS t(sc, st, k, v) WHERE EXISTS (SELECT 1 FROM cas)
         ON CONFLICT (scope, project_id, store_id, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at, run_id = excluded.run_id
       ), memdel AS (
         DELETE FROM ae_memory m USING unnest($20::text[], $21::text[], $22::text[]) AS t(sc, st, k)
         WHERE EXISTS (SELECT 1 FROM cas) AND m.scope = t.sc AND m.project_id = CASE WHEN t.sc = 'global' THEN '' ELSE (SELECT project_id FROM cas) END AND m.store_id = t.st AND m.key = t.k
       )
       SELECT count(*) AS ok FROM cas`,
      params,
    );
    if (Number(res.rows[0]?.ok) !== 1) await this.explainCasFailure(runId, b);
    return b.toSeq;
  }

  private async explainCasFailure(runId: string, b: CommitBatch): Promise<never> {
    const r = (await this.q<RunRow>(`commit(${runId})`, "SELECT * FROM ae_runs WHERE id = $1", [runId])).rows[0];
    if (r === undefined) throw this.notFound(runId);
    if (TERMINAL_STATUSES.includes(r.status)) throw new StoreError("STORE_RUN_FINISHED", `run "${runId}" already ended (${r.status}); nothing can be committed to it`, { url: this.url });
    if (b.leaseOwner !== undefined && r.lease_owner !== b.leaseOwner) {
      throw new StoreError("STORE_LEASE_LOST", `commit(${runId}): lease owner "${b.leaseOwner}" does not hold the run's lease (held by ${r.lease_owner ?? "nobody"})`, { url: this.url });
    }
    throw new StoreError("STORE_SEQ_CONFLICT", `commit(${runId}): fromSeq ${b.fromSeq} does not follow the last committed seq ${r.last_seq}; another process may be running this run`, { url: this.url });
  }

  async load(runId: string): Promise<LoadedRun> {
    return this.tx(`load(${runId})`, async (c) => {
      // One snapshot of the run, its state and its events.
      await c.query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY");
      const r = (await c.query<RunRow>("SELECT * FROM ae_runs WHERE id = $1", [runId])).rows[0];
      if (r === undefined) throw this.notFound(runId);
      const state: Record<string, JsonValue> = {};
      for (const row of (await c.query<{ key: string; value: string }>("SELECT key, value FROM ae_state WHERE run_id = $1", [runId])).rows) state[decodeKey(row.key)] = JSON.parse(row.value) as JsonValue;
      const events = (await c.query<{ event: string }>("SELECT event FROM ae_events WHERE run_id = $1 AND seq > $2 ORDER BY seq", [runId, r.state_seq])).rows.map((row) => JSON.parse(row.event) as StoredEvent);
      return { run: this.view(r), state, stateSeq: Number(r.state_seq), events };
    });
  }

  async getRun(runId: string): Promise<StoredRun | undefined> {
    const r = (await this.q<RunRow>(`getRun(${runId})`, "SELECT * FROM ae_runs WHERE id = $1", [runId])).rows[0];
    return r === undefined ? undefined : this.view(r);
  }

  async listRuns(o: ListRunsOptions = {}): Promise<readonly RunListing[]> {
    const res = await this.q<RunRow>(
      "listRuns",
      "SELECT id, status, started_at, updated_at, current_nodes, interrupts FROM ae_runs WHERE ($1::text IS NULL OR status = $1) ORDER BY updated_at DESC, id DESC LIMIT $2",
      [o.status ?? null, o.limit ?? 100],
    );
    return res.rows.map((r) => ({
      id: r.id,
      status: r.status,
      startedAt: iso(r.started_at),
      updatedAt: iso(r.updated_at),
      currentNodes: JSON.parse(r.current_nodes) as string[],
      interrupts: JSON.parse(r.interrupts) as JsonValue[],
    }));
  }

  async finish(runId: string, status: "success" | "failure" | "partial", result: JsonValue): Promise<void> {
    if (!TERMINAL_STATUSES.includes(status)) throw new StoreError("STORE_BATCH_INVALID", `finish(${runId}): status must be success, failure or partial, got ${JSON.stringify(status)}`, { url: this.url });
    const text = toJsonText(result, "run result", this.url);
    const now = Date.now();
    const res = await this.q(
      `finish(${runId})`,
      "UPDATE ae_runs SET status = $1, result = $2, finished_at = $3, updated_at = $3, current_nodes = '[]', interrupts = '[]', lease_owner = NULL, lease_expires_at = NULL WHERE id = $4 AND status IN ('running', 'interrupted')",
      [status, text, now, runId],
    );
    if (res.rowCount !== 1) {
      const r = await this.getRun(runId);
      if (r === undefined) throw this.notFound(runId);
      throw new StoreError("STORE_RUN_FINISHED", `run "${runId}" already ended (${r.status})`, { url: this.url });
    }
  }

  async *events(runId: string, o: { readonly afterSeq?: number } = {}): AsyncIterable<StoredEvent> {
    if ((await this.getRun(runId)) === undefined) throw this.notFound(runId);
    let after = o.afterSeq ?? 0;
    for (;;) {
      const rows = (await this.q<{ event: string }>(`events(${runId})`, "SELECT event FROM ae_events WHERE run_id = $1 AND seq > $2 ORDER BY seq LIMIT $3", [runId, after, PAGE])).rows;
      for (const row of rows) {
        const e = JSON.parse(row.event) as StoredEvent;
        after = e.seq;
        yield e;
      }
      if (rows.length < PAGE) return;
    }
  }

  async prune(o: PruneOptions): Promise<number> {
    const cutoff = cutoffMs(o, this.url);
    return this.tx("prune", async (c) => {
      const ids = (
        await c.query<{ id: string }>("DELETE FROM ae_runs WHERE updated_at < $1 AND ($2 OR status IN ('success', 'failure', 'partial')) RETURNING id", [cutoff, o.includeUnfinished === true])
      ).rows.map((r) => r.id);
      if (ids.length > 0) {
        await c.query("DELETE FROM ae_events WHERE run_id = ANY($1::text[])", [ids]);
        await c.query("DELETE FROM ae_state WHERE run_id = ANY($1::text[])", [ids]);
      }
      return ids.length;
    });
  }

  async memoryGet(scope: StoredMemoryScope, storeId: string, key: string, projectId = ""): Promise<MemoryEntry | undefined> {
    const r = (
      await this.q<{ value: string; updated_at: string }>("memoryGet", "SELECT value, updated_at FROM ae_memory WHERE scope = $1 AND project_id = $2 AND store_id = $3 AND key = $4", [
        scope,
        scope === "global" ? "" : projectId,
        storeId,
        encodeKey(key),
      ])
    ).rows[0];
    return r === undefined ? undefined : { key, value: JSON.parse(r.value) as JsonValue, updatedAt: iso(r.updated_at) };
  }

  async memoryList(scope: StoredMemoryScope, storeId: string, projectId = ""): Promise<readonly MemoryEntry[]> {
    const res = await this.q<{ key: string; value: string; updated_at: string }>(
      "memoryList",
      "SELECT key, value, updated_at FROM ae_memory WHERE scope = $1 AND project_id = $2 AND store_id = $3",
      [scope, scope === "global" ? "" : projectId, storeId],
    );
    return res.rows.map((r) => ({ key: decodeKey(r.key), value: JSON.parse(r.value) as JsonValue, updatedAt: iso(r.updated_at) })).sort(byKey);
  }

  private async leaseOf(runId: string): Promise<{ owner: string | null; expiresAt: string | null }> {
    const r = (await this.q<{ lease_owner: string | null; lease_expires_at: string | null }>(`lease(${runId})`, "SELECT lease_owner, lease_expires_at FROM ae_runs WHERE id = $1", [runId])).rows[0];
    if (r === undefined) throw this.notFound(runId);
    return { owner: r.lease_owner, expiresAt: r.lease_expires_at === null ? null : iso(r.lease_expires_at) };
  }

  async acquireLease(runId: string, owner: string, ttlMs: number): Promise<LeaseResult> {
    checkTtl(ttlMs, this.url);
    // Compare-and-set on the row: concurrent callers serialize on its lock, and the loser
    // re-evaluates the condition against the winner's committed lease.
    const res = await this.q<{ lease_expires_at: string }>(
      `acquireLease(${runId})`,
      `UPDATE ae_runs SET lease_owner = $2, lease_expires_at = ${DB_NOW} + $3 WHERE id = $1 AND (lease_owner IS NULL OR lease_owner = $2 OR lease_expires_at < ${DB_NOW}) RETURNING lease_expires_at`,
      [runId, owner, Math.ceil(ttlMs)],
    );
    if (res.rowCount === 1) return { acquired: true, owner, expiresAt: iso(res.rows[0]!.lease_expires_at) };
    return { acquired: false, ...(await this.leaseOf(runId)) };
  }

  async renewLease(runId: string, owner: string, ttlMs: number): Promise<LeaseResult> {
    checkTtl(ttlMs, this.url);
    const res = await this.q<{ lease_expires_at: string }>(
      `renewLease(${runId})`,
      `UPDATE ae_runs SET lease_expires_at = ${DB_NOW} + $3 WHERE id = $1 AND lease_owner = $2 RETURNING lease_expires_at`,
      [runId, owner, Math.ceil(ttlMs)],
    );
    if (res.rowCount === 1) return { acquired: true, owner, expiresAt: iso(res.rows[0]!.lease_expires_at) };
    const cur = await this.leaseOf(runId);
    throw new StoreError("STORE_LEASE_LOST", `run "${runId}": "${owner}" no longer holds the lease (held by ${cur.owner ?? "nobody"}); stop working on this run`, { url: this.url });
  }

  async releaseLease(runId: string, owner: string): Promise<void> {
    const res = await this.q(`releaseLease(${runId})`, "UPDATE ae_runs SET lease_owner = NULL, lease_expires_at = NULL WHERE id = $1 AND lease_owner = $2", [runId, owner]);
    if (res.rowCount !== 1) await this.leaseOf(runId);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }
}

async function versionOf(c: pg.PoolClient, url: string, schema: string): Promise<number> {
  const tables = (await c.query<{ table_name: string }>("SELECT table_name FROM information_schema.tables WHERE table_schema = $1 AND table_name IN ($2, 'ae_runs')", [schema, VERSION_TABLE])).rows.map((r) => r.table_name);
  if (!tables.includes(VERSION_TABLE)) {
    if (tables.length > 0) throw new StoreError("STORE_CORRUPT", `schema "${schema}" has agent-engine tables but no ${VERSION_TABLE} table`, { url, hint: "restore it from a backup or use another schema (?schema=NAME)" });
    return 0;
  }
  const v = (await c.query<{ v: number | null }>(`SELECT max(version) AS v FROM ${VERSION_TABLE}`)).rows[0]?.v;
  if (typeof v !== "number" || !Number.isInteger(v) || v < 1) {
    throw new StoreError("STORE_CORRUPT", `the ${VERSION_TABLE} table holds no valid version (${JSON.stringify(v)})`, { url, hint: "restore it from a backup or use another schema (?schema=NAME)" });
  }
  return v;
}

async function migratePostgres(c: pg.PoolClient, url: string, ownSchema: string | null): Promise<void> {
  const schema = ownSchema ?? "public";
  const check = (v: number): void => {
    if (v > SCHEMA_VERSION) {
      throw new StoreError("STORE_SCHEMA_TOO_NEW", `the database has schema version ${v}, newer than this agent-engine's ${SCHEMA_VERSION}`, { url, hint: "upgrade agent-engine, or use another store; the database was not changed" });
    }
  };
  const seen = await versionOf(c, url, schema);
  check(seen);
  if (seen === SCHEMA_VERSION) return;
  await c.query("BEGIN");
  try {
    // Processes opening the store at once: one migrates, the others wait and then see its work.
    await c.query("SELECT pg_advisory_xact_lock(hashtext($1))", [`agent-engine-schema:${schema}`]);
    // Under the lock: concurrent CREATE SCHEMA IF NOT EXISTS can still collide on the catalog.
    if (ownSchema !== null) await c.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(ownSchema)}`);
    const current = await versionOf(c, url, schema);
    check(current);
    if (current === 0) await c.query(VERSION_TABLE_DDL);
    for (const m of POSTGRES_MIGRATIONS) {
      if (m.version <= current) continue;
      for (const sql of m.statements) await c.query(sql);
      await c.query(`INSERT INTO ${VERSION_TABLE} (version, description, applied_at) VALUES ($1, $2, $3)`, [m.version, m.description, Date.now()]);
    }
    await c.query("COMMIT");
  } catch (err) {
    await c.query("ROLLBACK").catch(() => {});
    throw err;
  }
}
