/**
 * What the engine needs from a run store (CONTRACT §11): a row per run and its journal of commit
 * points. `memory` keeps run rows in the process (a suspended run can be resumed by the same
 * engine); durable stores (SQLite, PostgreSQL) also journal every commit point, so a run can be
 * continued by another process after a crash.
 *
 * @module
 */
import type { JsonValue } from "../json.js";
import type { ConfigFingerprint } from "./configHash.js";
import type { Answer, JournalRecord, RecordedOutcome, RunCheckpoint } from "./journal.js";
import type { MemoryBackend, KvBase, KvEntry, KvWrite } from "./memory.js";
import type { InterruptInfo } from "./types.js";

/** The status of a run in a store. */
export type StoredRunStatus = "running" | "interrupted" | "success" | "failure" | "partial";

/** A run's row. */
export interface StoredRun {
  readonly runId: string;
  readonly rootTaskId: string;
  readonly input: JsonValue;
  readonly startNode: string;
  readonly startedAt: string;
  readonly updatedAt: string;
  readonly status: StoredRunStatus;
  /** Interrupts waiting for an answer (interrupted runs). */
  readonly pending: readonly InterruptInfo[];
  /** The final result (ended runs), as JSON. */
  readonly result?: JsonValue;
  /** The configuration the run started with (checked on resume); absent for runs recorded without one. */
  readonly config?: ConfigFingerprint;
  /** Project whose `project`-scope memory the run reads and writes (memory.yaml `project_id`). */
  readonly projectId?: string | undefined;
}

/** A run with its journal, as loaded to continue it. */
export interface LoadedRun {
  readonly run: StoredRun;
  readonly records: readonly JournalRecord[];
}

/**
 * A run store. Methods may be synchronous (memory, SQLite) or asynchronous (PostgreSQL).
 * `durable` stores journal every commit point (`append`), atomically, before its events reach
 * plugins; a record's `memory` writes go in the same transaction.
 *
 * The memory methods ({@link MemoryBackend}) keep `project` and `global` kv stores; a store
 * without them can run workflows whose kv stores are all `task`-scoped. Stores that are not
 * `durable` apply writes with `memoryApply` at each commit.
 */
export interface RunStore extends Partial<MemoryBackend> {
  /** True when runs survive the process (journaling on). */
  readonly durable: boolean;
  createRun(run: StoredRun): void | Promise<void>;
  /** Appends one commit point of a run atomically (durable stores). */
  append(runId: string, record: JournalRecord): void | Promise<void>;
  /** Updates a run's row (status, pending interrupts, result). */
  update(runId: string, patch: Partial<Pick<StoredRun, "status" | "pending" | "result" | "updatedAt">>): void | Promise<void>;
  load(runId: string): LoadedRun | undefined | Promise<LoadedRun | undefined>;
  list(filter: { readonly status?: StoredRunStatus; readonly limit?: number }): readonly StoredRun[] | Promise<readonly StoredRun[]>;
  /**
   * Takes the lease on a run for `owner` (atomic compare-and-set), so two processes never
   * continue one run at once; an expired lease may be taken over. False when someone else holds it.
   */
  acquire(runId: string, owner: string, ttlMs: number): boolean | Promise<boolean>;
  release(runId: string, owner: string): void | Promise<void>;
  close(): void | Promise<void>;
}

/** Builds the checkpoint to continue a run from its journal and the answers to give it. */
export function checkpointOf(loaded: LoadedRun, answers: readonly Answer[]): RunCheckpoint {
  const outcomes = new Map<string, RecordedOutcome>();
  const emitted: [string, string, string | undefined][] = [];
  const given: Answer[] = [];
  const bases: KvBase[] = [];
  for (const r of loaded.records) {
    for (const o of r.outcomes) outcomes.set(o.key, o.outcome);
    for (const e of r.events) emitted.push([e.type, e.taskId, e.nodeId]);
    if (r.answer) given.push(r.answer);
    if (r.memory) bases.push(...r.memory.bases);
  }
  return { runId: loaded.run.runId, rootTaskId: loaded.run.rootTaskId, input: loaded.run.input, startNode: loaded.run.startNode, outcomes, emitted, answers: [...given, ...answers], memoryBases: bases };
}

/**
 * The in-process store: run rows (a suspended run keeps its checkpoint in memory) and the
 * `project`/`global` kv memory of this engine instance (gone with the process).
 */
export class MemoryRunStore implements RunStore {
  readonly durable = false;
  private readonly runs = new Map<string, StoredRun>();
  /** kv memory by `scope\0project\0store`, then key. Values are sealed JSON. */
  private readonly memory = new Map<string, Map<string, JsonValue>>();
  private readonly finished: string[] = [];
  private readonly leases = new Map<string, string>();

  constructor(private readonly maxFinished = 1000) {}

  createRun(run: StoredRun): void {
    this.runs.set(run.runId, run);
  }
  append(): void {}
  update(runId: string, patch: Partial<Pick<StoredRun, "status" | "pending" | "result" | "updatedAt">>): void {
    const r = this.runs.get(runId);
    if (r === undefined) return;
    const next = { ...r, ...patch };
    this.runs.set(runId, next);
    if (next.status !== "running" && next.status !== "interrupted") {
      this.finished.push(runId);
      // Finished runs are remembered for listRuns(), boundedly.
      while (this.finished.length > this.maxFinished) this.runs.delete(this.finished.shift()!);
    }
  }
  load(runId: string): LoadedRun | undefined {
    const run = this.runs.get(runId);
    return run === undefined ? undefined : { run, records: [] };
  }
  list(filter: { readonly status?: StoredRunStatus; readonly limit?: number }): readonly StoredRun[] {
    const out = [...this.runs.values()].filter((r) => filter.status === undefined || r.status === filter.status).reverse();
    return filter.limit === undefined ? out : out.slice(0, filter.limit);
  }
  acquire(runId: string, owner: string): boolean {
    const held = this.leases.get(runId);
    if (held !== undefined && held !== owner) return false;
    this.leases.set(runId, owner);
    return true;
  }
  release(runId: string, owner: string): void {
    if (this.leases.get(runId) === owner) this.leases.delete(runId);
  }
  memoryGet(scope: "project" | "global", projectId: string, store: string, key: string): JsonValue | undefined {
    return this.memory.get(memoryKey(scope, projectId, store))?.get(key);
  }
  memoryList(scope: "project" | "global", projectId: string, store: string): readonly KvEntry[] {
    return [...(this.memory.get(memoryKey(scope, projectId, store)) ?? [])].map(([key, value]) => ({ key, value }));
  }
  memoryApply(projectId: string, writes: readonly KvWrite[]): void {
    for (const w of writes) {
      if (w.scope === "task") continue;
      const k = memoryKey(w.scope, projectId, w.store);
      let m = this.memory.get(k);
      if (w.deleted === true) {
        m?.delete(w.key);
        continue;
      }
      if (m === undefined) this.memory.set(k, (m = new Map()));
      m.set(w.key, w.value);
    }
  }
  close(): void {}
}

function memoryKey(scope: "project" | "global", projectId: string, store: string): string {
  return `${scope}\u0000${scope === "global" ? "" : projectId}\u0000${store}`;
}
