/**
 * The engine's run store (`runtime/runStore.ts`) on a durable store: each journal record
 * (commit point) is one {@link RunStore.commit}, so one transaction.
 *
 * Mapping: the record's stage outcomes become state keys `o:<stageKey>`, an answer a state key
 * `a:<position>`, the pre-run value of a memory key the run wrote a state key
 * `m:<["store","key"]>`; its `project`/`global` memory writes (puts and deletes) are the commit's
 * `memoryWrites` (same transaction); its events are journaled in commit order at positions of their own (the
 * engine's event `seq` counts per engine, not per run, and starts again in a new process), each
 * stored as `{ seq: <position>, event }`. Status changes are commits without events; a run's end
 * is {@link RunStore.finish}.
 *
 * @module
 */
import { hostname } from "node:os";
import type { JsonValue } from "../json.js";
import type { Answer, JournalRecord, RecordedOutcome } from "../runtime/journal.js";
import type { KvBase, KvEntry, KvWrite } from "../runtime/memory.js";
import type { LoadedRun as EngineLoadedRun, RunStore as EngineStore, StoredRun as EngineRun, StoredRunStatus } from "../runtime/runStore.js";
import type { InterruptInfo } from "../runtime/types.js";
import type { EngineEvent } from "../telemetry/events.js";
import { openStore, type OpenStoreOptions } from "./openStore.js";
import type { MemoryWrite, RunStore, StoredRun } from "./types.js";

interface Meta {
  readonly rootTaskId: string;
  readonly startNode: string;
  /** Per-file hashes of the run's configuration (the overall hash is the `config_hash` column). */
  readonly configFiles?: Readonly<Record<string, string>>;
}

const TERMINAL = new Set<StoredRunStatus>(["success", "failure", "partial"]);

/** Adapts a durable {@link RunStore} to the engine's run store interface (`EngineOptions.store`). */
export class EngineRunStore implements EngineStore {
  /** True unless the underlying store is `memory`. */
  readonly durable: boolean;
  /** Last journal position per run, as far as this process knows. */
  private readonly last = new Map<string, number>();

  constructor(
    /** The durable store underneath (for listings, export, retention). */
    readonly store: RunStore,
  ) {
    this.durable = store.kind !== "memory";
  }

  private async position(runId: string): Promise<number> {
    let p = this.last.get(runId);
    if (p === undefined) {
      p = (await this.store.getRun(runId))?.lastSeq ?? 0;
      this.last.set(runId, p);
    }
    return p;
  }

  async createRun(run: EngineRun): Promise<void> {
    const meta: Meta = { rootTaskId: run.rootTaskId, startNode: run.startNode, ...(run.config ? { configFiles: run.config.files } : {}) };
    await this.store.createRun({ runId: run.runId, configHash: run.config?.hash ?? "", input: run.input, startedAt: run.startedAt, meta: meta as unknown as JsonValue, ...(run.projectId !== undefined ? { projectId: run.projectId } : {}) });
    this.last.set(run.runId, 0);
    if (run.status !== "running" || run.pending.length > 0) await this.update(run.runId, { status: run.status, pending: run.pending, updatedAt: run.updatedAt });
  }

  async append(runId: string, record: JournalRecord): Promise<void> {
    const from = (await this.position(runId)) + 1;
    let pos = from - 1;
    const events = record.events.map((event) => ({ seq: ++pos, event: event as unknown as JsonValue }));
    const set: Record<string, JsonValue> = {};
    for (const o of record.outcomes) set[`o:${o.key}`] = o.outcome as unknown as JsonValue;
    if (record.answer) set[`a:${String(from).padStart(15, "0")}`] = record.answer as unknown as JsonValue;
    const memory = record.memory;
    if (memory !== undefined) {
      for (const b of memory.bases) set[`m:${JSON.stringify([b.store, b.key])}`] = (b.value === undefined ? { scope: b.scope } : { scope: b.scope, value: b.value }) as JsonValue;
    }
    const memoryWrites = memory?.writes
      .filter((w): w is KvWrite & { scope: "project" | "global" } => w.scope !== "task")
      .map((w): MemoryWrite => (w.deleted === true ? { store: w.store, scope: w.scope, key: w.key, deleted: true } : { store: w.store, scope: w.scope, key: w.key, value: w.value }));
    await this.store.commit(runId, { fromSeq: from, toSeq: pos, events, state: { set }, ...(memoryWrites !== undefined && memoryWrites.length > 0 ? { memoryWrites } : {}) });
    this.last.set(runId, pos);
  }

  async update(runId: string, patch: Partial<Pick<EngineRun, "status" | "pending" | "result" | "updatedAt">>): Promise<void> {
    if (patch.status !== undefined && TERMINAL.has(patch.status)) {
      await this.store.finish(runId, patch.status as "success" | "failure" | "partial", patch.result ?? null);
      return;
    }
    const p = await this.position(runId);
    await this.store.commit(runId, {
      fromSeq: p + 1,
      toSeq: p,
      events: [],
      ...(patch.status !== undefined ? { status: patch.status as "running" | "interrupted" } : {}),
      ...(patch.pending !== undefined ? { interrupts: patch.pending as unknown as JsonValue[], currentNodes: patch.pending.map((i) => i.nodeId) } : {}),
      ...(patch.updatedAt !== undefined ? { at: patch.updatedAt } : {}),
    });
  }

  private row(r: StoredRun): EngineRun {
    const meta = (r.meta ?? {}) as unknown as Partial<Meta>;
    return {
      runId: r.id,
      rootTaskId: meta.rootTaskId ?? "",
      input: r.input,
      startNode: meta.startNode ?? "",
      startedAt: r.startedAt,
      updatedAt: r.updatedAt,
      status: r.status,
      pending: r.interrupts as unknown as InterruptInfo[],
      ...(r.result !== null ? { result: r.result } : {}),
      ...(r.configHash !== "" ? { config: { hash: r.configHash, files: meta.configFiles ?? {} } } : {}),
      projectId: r.projectId,
    };
  }

  async load(runId: string): Promise<EngineLoadedRun | undefined> {
    const run = await this.store.getRun(runId);
    if (run === undefined) return undefined;
    const loaded = await this.store.load(runId);
    const events: EngineEvent[] = [];
    for await (const e of this.store.events(runId)) events.push(e["event"] as EngineEvent);
    const outcomes: { key: string; outcome: RecordedOutcome }[] = [];
    const answers: [string, Answer][] = [];
    const bases: KvBase[] = [];
    for (const [k, v] of Object.entries(loaded.state)) {
      if (k.startsWith("o:")) outcomes.push({ key: k.slice(2), outcome: v as unknown as RecordedOutcome });
      else if (k.startsWith("a:")) answers.push([k, v as unknown as Answer]);
      else if (k.startsWith("m:")) {
        const [store, key] = JSON.parse(k.slice(2)) as [string, string];
        const b = v as { scope: "project" | "global"; value?: JsonValue };
        bases.push(b.value === undefined ? { store, scope: b.scope, key } : { store, scope: b.scope, key, value: b.value });
      }
    }
    answers.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    this.last.set(runId, loaded.run.lastSeq);
    const records: JournalRecord[] = [{ outcomes, events, ...(bases.length > 0 ? { memory: { writes: [], bases } } : {}) }, ...answers.map(([, answer]) => ({ outcomes: [], events: [], answer }))];
    return { run: this.row(loaded.run), records };
  }

  async list(filter: { readonly status?: StoredRunStatus; readonly limit?: number }): Promise<readonly EngineRun[]> {
    const listing = await this.store.listRuns({ ...(filter.status !== undefined ? { status: filter.status } : {}), ...(filter.limit !== undefined ? { limit: filter.limit } : {}) });
    const out: EngineRun[] = [];
    for (const l of listing) {
      const r = await this.store.getRun(l.id);
      if (r !== undefined) out.push(this.row(r));
    }
    return out;
  }

  async acquire(runId: string, owner: string, ttlMs: number): Promise<boolean> {
    const lease = await this.store.acquireLease(runId, owner, ttlMs);
    if (lease.acquired) return true;
    // A holder that was a process on this machine which no longer exists (kill -9, a crash)
    // cannot finish its run: its lease is released at once instead of waiting for it to expire.
    if (lease.owner !== null && holderIsGone(lease.owner)) {
      await this.store.releaseLease(runId, lease.owner);
      return (await this.store.acquireLease(runId, owner, ttlMs)).acquired;
    }
    return false;
  }

  async release(runId: string, owner: string): Promise<void> {
    await this.store.releaseLease(runId, owner);
  }

  /** A `project`/`global` kv value (memory of every run in this store). */
  async memoryGet(scope: "project" | "global", projectId: string, store: string, key: string): Promise<JsonValue | undefined> {
    return (await this.store.memoryGet(scope, store, key, projectId))?.value;
  }

  /** Every entry of a `project`/`global` kv store. */
  async memoryList(scope: "project" | "global", projectId: string, store: string): Promise<readonly KvEntry[]> {
    return (await this.store.memoryList(scope, store, projectId)).map((e) => ({ key: e.key, value: e.value }));
  }


  /** A run's events in commit order, as the engine emitted them (the JSONL export), `seq` renumbered 1, 2, ... */
  async *journal(runId: string): AsyncIterable<EngineEvent> {
    // `seq` is the run's own journal position: one increasing sequence across every process
    // that worked on the run (each engine numbers its own events from 1).
    for await (const e of this.store.events(runId)) yield { ...(e["event"] as EngineEvent), seq: e.seq } as EngineEvent;
  }

  async close(): Promise<void> {
    await this.store.close();
  }
}

/**
 * Opens a store URL (`memory`, `sqlite:<path>`, `postgres://...`) as the engine's run store.
 *
 * @example
 * ```ts
 * const engine = await Engine.fromConfigDir(dir, { store: await openEngineStore(`sqlite:${dir}/.agent-engine/runs.db`) });
 * ```
 */
export async function openEngineStore(url: string, options: OpenStoreOptions = {}): Promise<EngineRunStore> {
  return new EngineRunStore(await openStore(url, options));
}

/** True when `owner` (`<host>:<pid>:<nonce>`, as the engine makes them) names a dead process of this host. */
function holderIsGone(owner: string): boolean {
  const m = /^(.*):(\d+):[0-9a-f]+$/.exec(owner);
  if (!m || m[1] !== hostname()) return false;
  const pid = Number(m[2]);
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as { code?: unknown }).code === "ESRCH";
  }
}
