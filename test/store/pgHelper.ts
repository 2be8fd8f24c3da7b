/**
 * PostgreSQL for the store tests: the server on 127.0.0.1:5432 (trust auth, database `test`),
 * a fresh schema per test file, dropped at the end. Unreachable: the tests FAIL when `CI` is set
 * (`.ci/run` starts the server), and are skipped with a loud message otherwise.
 */
import { randomBytes } from "node:crypto";
import pg from "pg";

/** Base URL of the test database (override with AGENT_ENGINE_TEST_PG). */
export const PG_BASE = process.env.AGENT_ENGINE_TEST_PG ?? "postgres://postgres@127.0.0.1:5432/test";

/** Whether the server answers; in CI an unreachable server is an error, not a skip. */
export async function pgAvailable(): Promise<boolean> {
  const c = new pg.Client({ connectionString: PG_BASE, connectionTimeoutMillis: 3000 });
  try {
    await c.connect();
    await c.query("SELECT 1");
    return true;
  } catch (err) {
    const msg = `PostgreSQL at ${PG_BASE} is unreachable (${err instanceof Error ? err.message : String(err)})`;
    if (process.env.CI) throw new Error(`${msg}: CI must run the PostgreSQL store tests; .ci/run starts the server`);
    console.error(`\n!!! ${msg}: SKIPPING the PostgreSQL store tests (start it: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start)\n`);
    return false;
  } finally {
    await c.end().catch(() => {});
  }
}

/** A new schema name, unique to this process. */
export function freshSchema(tag: string): string {
  return `ae_test_${tag}_${process.pid}_${randomBytes(3).toString("hex")}`;
}

/** The store URL for a schema. */
export function pgUrl(schema: string): string {
  return `${PG_BASE}?schema=${schema}`;
}

/** Runs SQL on the test database (outside any store). */
export async function pgExec(sql: string, params: unknown[] = []): Promise<pg.QueryResult> {
  const c = new pg.Client({ connectionString: PG_BASE });
  await c.connect();
  try {
    return await c.query(sql, params);
  } finally {
    await c.end();
  }
}

/** Drops the schemas made by {@link freshSchema}. */
export async function dropSchemas(schemas: readonly string[]): Promise<void> {
  for (const s of schemas) await pgExec(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
}
