/**
 * `openStore(url)`: the one way to get a {@link RunStore} from a URL.
 *
 * @module
 */
import { join } from "node:path";
import { MemoryStore } from "./MemoryStore.js";
import { StoreError, redactUrl } from "./StoreError.js";
import type { RunStore } from "./types.js";

/** Options of {@link openStore}. */
export interface OpenStoreOptions {
  /** Relative `sqlite:` paths are resolved against this directory (default: the working directory). */
  readonly baseDir?: string;
}

/**
 * Opens the store a URL names:
 * - `memory`: in this process only;
 * - `sqlite:<path>` (also `sqlite://<path>`; `sqlite::memory:` for a throw-away database),
 *   with an optional `?synchronous=full`;
 * - `postgres://user:password@host:port/database[?schema=NAME]` (also `postgresql://`).
 *
 * The drivers (`better-sqlite3`, `pg`) are optional peer dependencies, loaded only here.
 *
 * @throws {@link StoreError} `STORE_URL_INVALID`, `STORE_DRIVER_MISSING`, `STORE_OPEN_FAILED`, `STORE_CORRUPT`, `STORE_SCHEMA_TOO_NEW`.
 * @example
 * ```ts
 * const store = await openStore("sqlite:.agent-engine/runs.db");
 * const runs = await store.listRuns({ status: "interrupted" });
 * await store.close();
 * ```
 */
export async function openStore(url: string, options: OpenStoreOptions = {}): Promise<RunStore> {
  if (typeof url !== "string" || url.trim() === "") {
    throw new StoreError("STORE_URL_INVALID", "the store URL is empty", { hint: 'use "memory", "sqlite:<path>" or "postgres://..."' });
  }
  const redacted = redactUrl(url);
  if (url === "memory" || url === "memory:") return new MemoryStore();
  if (url.startsWith("sqlite:")) {
    let rest = url.slice("sqlite:".length);
    if (rest.startsWith("//")) rest = rest.slice(2);
    let synchronous: "normal" | "full" | undefined;
    const q = rest.indexOf("?");
    if (q >= 0) {
      const params = new URLSearchParams(rest.slice(q + 1));
      rest = rest.slice(0, q);
      for (const [k, v] of params) {
        if (k === "synchronous" && (v === "normal" || v === "full")) synchronous = v;
        else throw new StoreError("STORE_URL_INVALID", `unknown SQLite store parameter ${k}=${v}`, { url: redacted, hint: "the only parameter is synchronous=normal|full" });
      }
    }
    if (rest === "") throw new StoreError("STORE_URL_INVALID", "a sqlite: URL needs a file path", { url: redacted, hint: "sqlite:.agent-engine/runs.db" });
    const path = rest === ":memory:" || options.baseDir === undefined || rest.startsWith("/") ? rest : join(options.baseDir, rest);
    const { SqliteStore } = await import("./SqliteStore.js");
    return SqliteStore.open(path, redacted, synchronous ? { synchronous } : {});
  }
  if (url.startsWith("postgres://") || url.startsWith("postgresql://")) {
    const { PostgresStore } = await import("./PostgresStore.js");
    return PostgresStore.open(url, redacted);
  }
  throw new StoreError("STORE_URL_INVALID", "unknown kind of store URL", { url: redacted, hint: 'use "memory", "sqlite:<path>" or "postgres://user@host:5432/db"' });
}

/** The CLI's default store URL for a config directory: `sqlite:<configDir>/.agent-engine/runs.db`. */
export function defaultStoreUrl(configDir: string): string {
  return `sqlite:${join(configDir, ".agent-engine", "runs.db")}`;
}
