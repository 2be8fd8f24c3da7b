/**
 * Versioned schema migrations of the SQL stores. Each migration moves the schema from
 * `version - 1` to `version` and runs in one transaction together with the insert of its row in
 * `ae_schema_version`. A database whose version is newer than {@link SCHEMA_VERSION} is refused
 * (`STORE_SCHEMA_TOO_NEW`): an older engine must not write a schema it does not know.
 *
 * Payloads are kept as JSON text, not `jsonb`: the journal must export byte-for-byte as the
 * events were written (`jsonb` reorders keys).
 *
 * @module
 */

/** One schema step. */
export interface Migration {
  readonly version: number;
  readonly description: string;
  readonly statements: readonly string[];
}

/** The schema version this code writes and reads. */
export const SCHEMA_VERSION = 1;

/** Name of the table holding one row per applied migration. */
export const VERSION_TABLE = "ae_schema_version";

const KEY_CHECK = "CHECK (length(key) <= 1024)";

/** SQLite migrations, in order. */
export const SQLITE_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: "runs, journal, run state, kv memory, leases",
    statements: [
      `CREATE TABLE ae_runs (
        id TEXT PRIMARY KEY,
        status TEXT NOT NULL,
        config_hash TEXT NOT NULL,
        project_id TEXT NOT NULL,
        input TEXT NOT NULL,
        meta TEXT NOT NULL,
        started_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        last_seq INTEGER NOT NULL,
        state_seq INTEGER NOT NULL,
        current_nodes TEXT NOT NULL,
        interrupts TEXT NOT NULL,
        result TEXT NOT NULL,
        finished_at INTEGER,
        lease_owner TEXT,
        lease_expires_at INTEGER
      )`,
      "CREATE INDEX ae_runs_updated ON ae_runs (updated_at)",
      "CREATE TABLE ae_events (run_id TEXT NOT NULL, seq INTEGER NOT NULL, event TEXT NOT NULL, PRIMARY KEY (run_id, seq)) WITHOUT ROWID",
      `CREATE TABLE ae_state (run_id TEXT NOT NULL, key TEXT NOT NULL ${KEY_CHECK}, value TEXT NOT NULL, PRIMARY KEY (run_id, key)) WITHOUT ROWID`,
      `CREATE TABLE ae_memory (scope TEXT NOT NULL, project_id TEXT NOT NULL, store_id TEXT NOT NULL, key TEXT NOT NULL ${KEY_CHECK}, value TEXT NOT NULL, updated_at INTEGER NOT NULL, run_id TEXT NOT NULL, PRIMARY KEY (scope, project_id, store_id, key)) WITHOUT ROWID`,
    ],
  },
];

/** PostgreSQL migrations, in order. */
export const POSTGRES_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: "runs, journal, run state, kv memory, leases",
    statements: [
      `CREATE TABLE ae_runs (
        id TEXT PRIMARY KEY,
        status TEXT NOT NULL,
        config_hash TEXT NOT NULL,
        project_id TEXT NOT NULL,
        input TEXT NOT NULL,
        meta TEXT NOT NULL,
        started_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        last_seq BIGINT NOT NULL,
        state_seq BIGINT NOT NULL,
        current_nodes TEXT NOT NULL,
        interrupts TEXT NOT NULL,
        result TEXT NOT NULL,
        finished_at BIGINT,
        lease_owner TEXT,
        lease_expires_at BIGINT
      )`,
      "CREATE INDEX ae_runs_updated ON ae_runs (updated_at)",
      "CREATE TABLE ae_events (run_id TEXT NOT NULL, seq BIGINT NOT NULL, event TEXT NOT NULL, PRIMARY KEY (run_id, seq))",
      `CREATE TABLE ae_state (run_id TEXT NOT NULL, key TEXT NOT NULL ${KEY_CHECK}, value TEXT NOT NULL, PRIMARY KEY (run_id, key))`,
      `CREATE TABLE ae_memory (scope TEXT NOT NULL, project_id TEXT NOT NULL, store_id TEXT NOT NULL, key TEXT NOT NULL ${KEY_CHECK}, value TEXT NOT NULL, updated_at BIGINT NOT NULL, run_id TEXT NOT NULL, PRIMARY KEY (scope, project_id, store_id, key))`,
    ],
  },
];

/** The version table's DDL (the same in both dialects). */
export const VERSION_TABLE_DDL = `CREATE TABLE ${VERSION_TABLE} (version INTEGER NOT NULL PRIMARY KEY, description TEXT NOT NULL, applied_at BIGINT NOT NULL)`;
