/**
 * The store's error class and the checks every store implementation shares.
 *
 * @module
 */
import { EngineError, type ErrorCode, type ErrorDetail } from "../errors.js";
import { isSealed } from "../json.js";
import type { CommitBatch, CreateRunOptions, MemoryWrite, PruneOptions } from "./types.js";

/** Raised by a {@link RunStore}: a `STORE_*` code, the store's URL (password redacted) and what to do. */
export class StoreError extends EngineError {
  /** The store's URL, password redacted. */
  readonly url: string | undefined;
  constructor(code: ErrorCode, message: string, options: { url?: string; hint?: string; cause?: unknown } = {}) {
    const detail: ErrorDetail = { code, message: options.url !== undefined ? `${message} (store ${options.url})` : message, ...(options.hint ? { hint: options.hint } : {}) };
    super(detail, options.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = "StoreError";
    this.url = options.url;
  }
}

/**
 * A store URL with any password replaced by `***`, safe to print.
 *
 * @example redactUrl("postgres://u:secret@db/x") // "postgres://u:***@db/x"
 */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/?#@]*:)([^@/?#]*)@/i, (_m, head: string) => `${head}***@`).replace(/([?&]password=)[^&#]*/i, "$1***");
}

const SAFE_INT = Number.MAX_SAFE_INTEGER;

function isSeq(n: unknown): n is number {
  return typeof n === "number" && Number.isInteger(n) && n >= 0 && n <= SAFE_INT;
}

/** Checks a {@link CreateRunOptions}; throws `STORE_BATCH_INVALID`. */
export function checkCreate(o: CreateRunOptions, url: string): void {
  if (typeof o.runId !== "string" || o.runId === "") throw new StoreError("STORE_BATCH_INVALID", "createRun: runId must be a non-empty string", { url });
  if (typeof o.configHash !== "string") throw new StoreError("STORE_BATCH_INVALID", `createRun(${o.runId}): configHash must be a string`, { url });
  if (typeof o.startedAt !== "string" || Number.isNaN(Date.parse(o.startedAt))) throw new StoreError("STORE_BATCH_INVALID", `createRun(${o.runId}): startedAt must be an ISO-8601 time`, { url });
}

/**
 * Checks a batch's shape before any write: the seq range, event seqs in range and increasing,
 * memory writes to `project`/`global` stores. (Values are serialized inside the transaction; a
 * value that is not JSON fails there and the whole commit is rolled back.)
 */
export function checkBatch(runId: string, b: CommitBatch, url: string): void {
  const bad = (msg: string): never => {
    throw new StoreError("STORE_BATCH_INVALID", `commit(${runId}): ${msg}`, { url });
  };
  if (!isSeq(b.fromSeq) || b.fromSeq < 1) bad(`fromSeq must be an integer >= 1, got ${String(b.fromSeq)}`);
  if (!isSeq(b.toSeq) || b.toSeq < b.fromSeq - 1) bad(`toSeq must be an integer >= fromSeq - 1, got ${String(b.toSeq)}`);
  if (!Array.isArray(b.events)) bad("events must be an array");
  let prev = b.fromSeq - 1;
  for (const e of b.events) {
    const seq = (e as { seq?: unknown } | null)?.seq;
    if (!isSeq(seq) || seq <= prev || seq > b.toSeq) bad(`event seqs must increase within ${b.fromSeq}..${b.toSeq}; got ${String(seq)} after ${prev}`);
    prev = seq as number;
  }
  if (b.status !== undefined && b.status !== "running" && b.status !== "interrupted") bad(`status must be "running" or "interrupted" (end a run with finish()), got ${JSON.stringify(b.status)}`);
  if (b.memoryWrites !== undefined) {
    if (!Array.isArray(b.memoryWrites)) bad("memoryWrites must be an array");
    for (const w of b.memoryWrites) checkMemoryWrite(w, bad);
  }
  if (b.state !== undefined) {
    if (b.state.delete !== undefined && !Array.isArray(b.state.delete)) bad("state.delete must be an array of keys");
  }
  if (b.at !== undefined && Number.isNaN(Date.parse(b.at))) bad("at must be an ISO-8601 time");
}

function checkMemoryWrite(w: MemoryWrite, bad: (msg: string) => never): void {
  if (w === null || typeof w !== "object") bad("a memory write must be an object { store, scope, key, value } (a put) or { store, scope, key, deleted: true } (a delete)");
  if (w.scope !== "project" && w.scope !== "global") bad(`memory write scope must be "project" or "global" (task memory lives in the run state), got ${JSON.stringify(w.scope)}`);
  if (typeof w.store !== "string" || w.store === "") bad("memory write store must be a non-empty string");
  if (typeof w.key !== "string") bad(`memory write key must be a string (store ${w.store})`);
  const deleted = (w as { deleted?: unknown }).deleted;
  if (deleted !== undefined && deleted !== true) bad(`memory write deleted must be true or absent, got ${JSON.stringify(deleted)} (store ${w.store}, key ${JSON.stringify(w.key)})`);
  if (deleted === true && (w as { value?: unknown }).value !== undefined) bad(`a memory delete has no value (store ${w.store}, key ${JSON.stringify(w.key)}): either { value } or { deleted: true }`);
}

/** Milliseconds since the epoch of a prune cutoff. */
export function cutoffMs(o: PruneOptions, url: string): number {
  const ms = o.olderThan instanceof Date ? o.olderThan.getTime() : Date.parse(o.olderThan);
  if (Number.isNaN(ms)) throw new StoreError("STORE_BATCH_INVALID", `prune: olderThan must be a Date or an ISO-8601 time, got ${String(o.olderThan)}`, { url });
  return ms;
}

/** Checks a lease TTL. */
export function checkTtl(ttlMs: number, url: string): void {
  if (typeof ttlMs !== "number" || !Number.isFinite(ttlMs) || ttlMs <= 0) throw new StoreError("STORE_BATCH_INVALID", `lease ttlMs must be a positive number of milliseconds, got ${String(ttlMs)}`, { url });
}

/** JSON text of a value; throws `STORE_BATCH_INVALID` for values that are not JSON. */
export function toJsonText(value: unknown, what: string, url: string): string {
  // Checked first, then stringified without a replacer (V8's fast path: about twice as fast on a
  // commit's events); values the engine sealed are JSON already and are not walked.
  const problem = notJson(value, []);
  let text: string | undefined;
  try {
    if (problem !== undefined) throw new Error(problem);
    text = JSON.stringify(value);
  } catch (err) {
    throw new StoreError("STORE_BATCH_INVALID", `${what} is not JSON data: ${err instanceof Error ? err.message : String(err)}`, { url, cause: err });
  }
  if (text === undefined) throw new StoreError("STORE_BATCH_INVALID", `${what} is not JSON data (undefined)`, { url });
  return text;
}

/** What keeps `v` from being JSON (a non-finite number, a bigint, function or symbol, a cycle), or undefined. */
function notJson(v: unknown, ancestors: object[]): string | undefined {
  switch (typeof v) {
    case "string":
    case "boolean":
    case "undefined":
      return undefined;
    case "number":
      return Number.isFinite(v) ? undefined : `non-finite number ${v}`;
    case "object": {
      if (v === null || isSealed(v)) return undefined;
      if (ancestors.includes(v)) return "a cycle";
      ancestors.push(v);
      if (Array.isArray(v)) {
        for (const x of v as unknown[]) {
          const p = notJson(x, ancestors);
          if (p !== undefined) return p;
        }
      } else if (typeof (v as { toJSON?: unknown }).toJSON !== "function") {
        for (const k in v) {
          if (!Object.hasOwn(v, k)) continue;
          const p = notJson((v as Record<string, unknown>)[k], ancestors);
          if (p !== undefined) return p;
        }
      }
      ancestors.pop();
      return undefined;
    }
    default:
      return `a ${typeof v}`;
  }
}

/** ISO-8601 text of epoch milliseconds. */
export function iso(ms: number | string | bigint): string {
  return new Date(Number(ms)).toISOString();
}

/** Epoch milliseconds of an ISO time, or now. */
export function msOf(at: string | undefined): number {
  return at === undefined ? Date.now() : Date.parse(at);
}

/** Longest state or memory key, in characters; the SQL stores enforce it with a CHECK constraint. */
export const MAX_KEY_LENGTH = 1024;

/**
 * How the SQL stores keep state and memory keys: as JSON string text, so any key (even one with
 * a NUL character, which PostgreSQL `text` cannot hold) round-trips. The length limit applies to
 * this form.
 */
export function encodeKey(key: string): string {
  return JSON.stringify(key);
}

/** Inverse of {@link encodeKey}. */
export function decodeKey(text: string): string {
  return JSON.parse(text) as string;
}

/** Orders memory entries by key (UTF-16 code units), the same in every store. */
export function byKey(a: { key: string }, b: { key: string }): number {
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}

/** The in-memory store's form of the SQL stores' key-length CHECK constraint (on the encoded key). */
export function checkKeyLength(key: string, runId: string, url: string): void {
  if (encodeKey(key).length > MAX_KEY_LENGTH) throw new StoreError("STORE_BATCH_INVALID", `commit(${runId}): key of ${key.length} characters is longer than ${MAX_KEY_LENGTH}: ${key.slice(0, 40)}...`, { url });
}
