/**
 * The durable run store: where a run's journal (its events), its resumable state and the
 * writable `project`/`global` memory live, so a run survives a crash and can be resumed.
 *
 * One runtime commit is one {@link RunStore.commit} call, and one call is one transaction: the
 * events, the state changes, the memory writes and the run's `seq` are written together or not
 * at all. See `docs/durability.md`.
 *
 * @module
 */
import type { JsonValue } from "../json.js";

/** Status of a run as the store records it. */
export type StoredRunStatus = "running" | "interrupted" | "success" | "failure" | "partial";

/** Statuses after which a run can no longer be committed to or resumed. */
export const TERMINAL_STATUSES: readonly StoredRunStatus[] = Object.freeze(["success", "failure", "partial"]);

/** Memory scopes kept in the run store (`task` scope lives in the run's own state). */
export type StoredMemoryScope = "project" | "global";

/** Arguments of {@link RunStore.createRun}. */
export interface CreateRunOptions {
  /** Unique id of the run (the runtime makes it). */
  readonly runId: string;
  /** Hash of the config the run was started with; a resume can refuse a changed config. */
  readonly configHash: string;
  /** The run's input (JSON). */
  readonly input: JsonValue;
  /** ISO-8601 start time. */
  readonly startedAt: string;
  /** Project the run belongs to: its `project`-scope memory writes go to this project. Default `""`. */
  readonly projectId?: string;
  /** Anything else the runtime wants back on resume (start node, options). */
  readonly meta?: JsonValue;
}

/**
 * Changes to the run's resumable state, a map from string keys to JSON values (for example one
 * entry per committed stage outcome, per merge group, per pending interrupt). Only what changed
 * is sent; `replace: true` drops every existing key first (a full snapshot).
 */
export interface StateDelta {
  /** Drop all existing keys before applying `set` (full snapshot). */
  readonly replace?: boolean;
  /** Keys to create or overwrite. */
  readonly set?: { readonly [key: string]: JsonValue };
  /** Keys to remove. */
  readonly delete?: readonly string[];
}

/** A put into a `project` or `global` kv memory store: the key gets `value`. */
export interface MemoryPut {
  /** Id of the memory store (`memory.yaml`). */
  readonly store: string;
  readonly scope: StoredMemoryScope;
  readonly key: string;
  /** The new value (JSON). */
  readonly value: JsonValue;
  readonly deleted?: undefined;
}

/** A delete from a `project` or `global` kv memory store: the key's entry is removed (none: no-op). */
export interface MemoryDelete {
  /** Id of the memory store (`memory.yaml`). */
  readonly store: string;
  readonly scope: StoredMemoryScope;
  readonly key: string;
  readonly deleted: true;
}

/**
 * One write to a `project` or `global` kv memory store: a put (`value`) or a delete
 * (`deleted: true`, no `value`).
 */
export type MemoryWrite = MemoryPut | MemoryDelete;

/** One event of the journal: any JSON object with an integer `seq`. */
export interface StoredEvent {
  readonly seq: number;
  readonly [key: string]: unknown;
}

/**
 * Everything one runtime commit persists, atomically. `fromSeq..toSeq` is the range of `seq`
 * numbers it covers: `fromSeq` must be the run's last committed `seq` + 1 (optimistic
 * concurrency: a second writer of the same run fails with `STORE_SEQ_CONFLICT`), and every event
 * has a `seq` in the range, strictly increasing. A commit may cover seqs with no events.
 */
export interface CommitBatch {
  readonly fromSeq: number;
  readonly toSeq: number;
  /** The events emitted by this commit, in `seq` order. */
  readonly events: readonly StoredEvent[];
  /** Changes to the resumable state; omitted: the state is unchanged (and `stateSeq` stays). */
  readonly state?: StateDelta;
  /** Memory writes (puts and deletes), applied in array order: the last write of a key wins. */
  readonly memoryWrites?: readonly MemoryWrite[];
  /** New status (`running` or `interrupted`; end a run with {@link RunStore.finish}). */
  readonly status?: "running" | "interrupted";
  /** Nodes the run is at now (for listings); omitted: unchanged. */
  readonly currentNodes?: readonly string[];
  /** Interrupts waiting for an answer (JSON, for listings); omitted: unchanged. */
  readonly interrupts?: readonly JsonValue[];
  /** When set, the commit fails with `STORE_LEASE_LOST` unless this owner holds the run's lease. */
  readonly leaseOwner?: string;
  /** ISO-8601 time of the commit (default now). */
  readonly at?: string;
}

/** A run's row. */
export interface StoredRun {
  readonly id: string;
  readonly status: StoredRunStatus;
  readonly configHash: string;
  readonly projectId: string;
  readonly input: JsonValue;
  readonly meta: JsonValue;
  readonly startedAt: string;
  readonly updatedAt: string;
  /** Last committed `seq` (0 before the first commit). */
  readonly lastSeq: number;
  readonly currentNodes: readonly string[];
  readonly interrupts: readonly JsonValue[];
  /** The result given to {@link RunStore.finish}, or null. */
  readonly result: JsonValue;
  readonly finishedAt: string | null;
}

/** What {@link RunStore.load} returns: all a resume needs. */
export interface LoadedRun {
  readonly run: StoredRun;
  /** The state map as of `stateSeq`. */
  readonly state: { readonly [key: string]: JsonValue };
  /** `toSeq` of the last commit that carried a state delta (0: none). */
  readonly stateSeq: number;
  /** Events with `seq > stateSeq`, in order (to replay on top of `state`). */
  readonly events: readonly StoredEvent[];
}

/** One run in {@link RunStore.listRuns}. */
export interface RunListing {
  readonly id: string;
  readonly status: StoredRunStatus;
  readonly startedAt: string;
  readonly updatedAt: string;
  readonly currentNodes: readonly string[];
  readonly interrupts: readonly JsonValue[];
}

/** Filter of {@link RunStore.listRuns}. */
export interface ListRunsOptions {
  readonly status?: StoredRunStatus;
  /** At most this many (newest first); default 100. */
  readonly limit?: number;
}

/** Filter of {@link RunStore.prune}. */
export interface PruneOptions {
  /** Runs whose last update is before this time (a Date or ISO-8601 string). */
  readonly olderThan: Date | string;
  /** Also prune unfinished (`running`, `interrupted`) runs; default false. */
  readonly includeUnfinished?: boolean;
}

/** A lease on a run, as {@link RunStore.acquireLease} reports it. */
export interface LeaseResult {
  /** True when `owner` now holds the lease. */
  readonly acquired: boolean;
  /** Who holds it now (null: nobody). */
  readonly owner: string | null;
  /** When the current lease expires (ISO-8601), or null. */
  readonly expiresAt: string | null;
}

/** One entry of a kv memory store. */
export interface MemoryEntry {
  readonly key: string;
  readonly value: JsonValue;
  readonly updatedAt: string;
}

/**
 * A durable run store. Every method is asynchronous; a store is safe to use from many runs at
 * once; `postgres` stores are also safe across processes (`sqlite` ones across processes on one
 * machine). Errors are {@link StoreError}s with a `STORE_*` code.
 */
export interface RunStore {
  /** The store's URL, password redacted. */
  readonly url: string;
  /** `memory`, `sqlite` or `postgres`. */
  readonly kind: "memory" | "sqlite" | "postgres";
  /** Records a new run (status `running`, `lastSeq` 0). `STORE_RUN_EXISTS` if the id is taken. */
  createRun(options: CreateRunOptions): Promise<StoredRun>;
  /** Persists one commit atomically (see {@link CommitBatch}); returns the run's new `lastSeq`. */
  commit(runId: string, batch: CommitBatch): Promise<number>;
  /** The run with its state and the events after the state: `STORE_RUN_NOT_FOUND` if unknown. */
  load(runId: string): Promise<LoadedRun>;
  /** The run's row, or undefined. */
  getRun(runId: string): Promise<StoredRun | undefined>;
  /** Runs, most recently updated first. */
  listRuns(options?: ListRunsOptions): Promise<readonly RunListing[]>;
  /** Ends a run with a terminal status and its result; releases its lease. */
  finish(runId: string, status: "success" | "failure" | "partial", result: JsonValue): Promise<void>;
  /** The run's journal, in `seq` order, streamed (for JSONL export); `afterSeq` skips earlier ones. */
  events(runId: string, options?: { readonly afterSeq?: number }): AsyncIterable<StoredEvent>;
  /** Deletes old runs with their events and state; returns how many runs were deleted. */
  prune(options: PruneOptions): Promise<number>;
  /** One value of a kv memory store (undefined: no such key). `projectId` is ignored for `global`. */
  memoryGet(scope: StoredMemoryScope, storeId: string, key: string, projectId?: string): Promise<MemoryEntry | undefined>;
  /** Every entry of a kv memory store, by key. */
  memoryList(scope: StoredMemoryScope, storeId: string, projectId?: string): Promise<readonly MemoryEntry[]>;
  /**
   * Takes the run's lease for `ttlMs` when nobody holds it, `owner` already holds it, or the
   * holder's lease expired (an atomic compare-and-set). `STORE_RUN_NOT_FOUND` if unknown.
   */
  acquireLease(runId: string, owner: string, ttlMs: number): Promise<LeaseResult>;
  /** Extends `owner`'s lease; `STORE_LEASE_LOST` when it no longer holds it. */
  renewLease(runId: string, owner: string, ttlMs: number): Promise<LeaseResult>;
  /** Gives up `owner`'s lease (no-op when it does not hold it). */
  releaseLease(runId: string, owner: string): Promise<void>;
  /** Closes connections; later calls fail with `STORE_CLOSED`. Idempotent. */
  close(): Promise<void>;
}
