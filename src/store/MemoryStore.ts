/**
 * The in-process store (`"memory"`): the API's default. Same semantics as the durable stores,
 * nothing survives the process. Values are kept as JSON copies, so callers cannot alias them.
 *
 * @module
 */
import type { JsonValue } from "../json.js";
import { StoreError, byKey, checkBatch, checkKeyLength, checkCreate, checkTtl, cutoffMs, iso, msOf, toJsonText } from "./StoreError.js";
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

interface Row {
  id: string;
  status: StoredRunStatus;
  configHash: string;
  projectId: string;
  input: string;
  meta: string;
  startedAt: number;
  updatedAt: number;
  lastSeq: number;
  stateSeq: number;
  currentNodes: string;
  interrupts: string;
  result: string;
  finishedAt: number | null;
  leaseOwner: string | null;
  leaseExpires: number | null;
  events: { seq: number; text: string }[];
  state: Map<string, string>;
}

function memKey(scope: StoredMemoryScope, projectId: string, store: string): string {
  return `${scope}\u0000${scope === "global" ? "" : projectId}\u0000${store}`;
}

/** A {@link RunStore} in this process's memory. */
export class MemoryStore implements RunStore {
  readonly url = "memory";
  readonly kind = "memory" as const;
  private readonly runs = new Map<string, Row>();
  private readonly memory = new Map<string, Map<string, { text: string; updatedAt: number }>>();
  private closed = false;

  private open(): void {
    if (this.closed) throw new StoreError("STORE_CLOSED", "this store was closed", { url: this.url });
  }

  private row(runId: string): Row {
    const r = this.runs.get(runId);
    if (r === undefined) throw new StoreError("STORE_RUN_NOT_FOUND", `no run "${runId}" in this store`, { url: this.url, hint: "list runs with `agent-engine runs <configDir>`" });
    return r;
  }

  private static view(r: Row): StoredRun {
    return {
      id: r.id,
      status: r.status,
      configHash: r.configHash,
      projectId: r.projectId,
      input: JSON.parse(r.input) as JsonValue,
      meta: JSON.parse(r.meta) as JsonValue,
      startedAt: iso(r.startedAt),
      updatedAt: iso(r.updatedAt),
      lastSeq: r.lastSeq,
      currentNodes: JSON.parse(r.currentNodes) as string[],
      interrupts: JSON.parse(r.interrupts) as JsonValue[],
      result: JSON.parse(r.result) as JsonValue,
      finishedAt: r.finishedAt === null ? null : iso(r.finishedAt),
    };
  }

  async createRun(o: CreateRunOptions): Promise<StoredRun> {
    this.open();
    checkCreate(o, this.url);
    if (this.runs.has(o.runId)) throw new StoreError("STORE_RUN_EXISTS", `a run "${o.runId}" already exists`, { url: this.url });
    const at = msOf(o.startedAt);
    const r: Row = {
      id: o.runId,
      status: "running",
      configHash: o.configHash,
      projectId: o.projectId ?? "",
      input: toJsonText(o.input, "run input", this.url),
      meta: toJsonText(o.meta ?? null, "run meta", this.url),
      startedAt: at,
      updatedAt: at,
      lastSeq: 0,
      stateSeq: 0,
      currentNodes: "[]",
      interrupts: "[]",
      result: "null",
      finishedAt: null,
      leaseOwner: null,
      leaseExpires: null,
      events: [],
      state: new Map(),
    };
    this.runs.set(o.runId, r);
    return MemoryStore.view(r);
  }

  async commit(runId: string, b: CommitBatch): Promise<number> {
    this.open();
    checkBatch(runId, b, this.url);
    const r = this.row(runId);
    if (TERMINAL_STATUSES.includes(r.status)) throw new StoreError("STORE_RUN_FINISHED", `run "${runId}" already ended (${r.status}); nothing can be committed to it`, { url: this.url });
    if (b.leaseOwner !== undefined && r.leaseOwner !== b.leaseOwner) throw new StoreError("STORE_LEASE_LOST", `commit(${runId}): lease owner "${b.leaseOwner}" does not hold the run's lease (held by ${r.leaseOwner ?? "nobody"})`, { url: this.url });
    if (b.fromSeq !== r.lastSeq + 1) throw new StoreError("STORE_SEQ_CONFLICT", `commit(${runId}): fromSeq ${b.fromSeq} does not follow the last committed seq ${r.lastSeq}; another process may be running this run`, { url: this.url });
    // Serialize everything first: nothing is applied unless all of it is valid.
    // (A delete inserts nothing, so the SQL stores' CHECK constraint does not apply to it.)
    for (const k of [...Object.keys(b.state?.set ?? {}), ...(b.memoryWrites ?? []).filter((w) => w.deleted !== true).map((w) => w.key)]) checkKeyLength(k, runId, this.url);
    const events = b.events.map((e) => ({ seq: e.seq, text: toJsonText(e, `event seq ${e.seq}`, this.url) }));
    const set = b.state?.set ? Object.entries(b.state.set).map(([k, v]) => [k, toJsonText(v, `state key "${k}"`, this.url)] as const) : [];
    const writes = (b.memoryWrites ?? []).map((w) => ({ w, text: w.deleted === true ? undefined : toJsonText(w.value, `memory write ${w.store}/${w.key}`, this.url) }));
    const currentNodes = b.currentNodes ? toJsonText(b.currentNodes, "currentNodes", this.url) : undefined;
    const interrupts = b.interrupts ? toJsonText(b.interrupts, "interrupts", this.url) : undefined;
    const at = msOf(b.at);
    for (const { w, text } of writes) {
      const k = memKey(w.scope, r.projectId, w.store);
      let m = this.memory.get(k);
      if (text === undefined) {
        // A delete: the entry goes (none: nothing to do).
        m?.delete(w.key);
        continue;
      }
      if (m === undefined) this.memory.set(k, (m = new Map()));
      m.set(w.key, { text, updatedAt: at });
    }
    if (b.state !== undefined) {
      if (b.state.replace) r.state.clear();
      for (const k of b.state.delete ?? []) r.state.delete(k);
      for (const [k, v] of set) r.state.set(k, v);
      r.stateSeq = b.toSeq;
    }
    r.events.push(...events);
    r.lastSeq = b.toSeq;
    r.updatedAt = at;
    if (b.status !== undefined) r.status = b.status;
    if (currentNodes !== undefined) r.currentNodes = currentNodes;
    if (interrupts !== undefined) r.interrupts = interrupts;
    return r.lastSeq;
  }

  async load(runId: string): Promise<LoadedRun> {
    this.open();
    const r = this.row(runId);
    const state: Record<string, JsonValue> = {};
    for (const [k, v] of r.state) state[k] = JSON.parse(v) as JsonValue;
    return { run: MemoryStore.view(r), state, stateSeq: r.stateSeq, events: r.events.filter((e) => e.seq > r.stateSeq).map((e) => JSON.parse(e.text) as StoredEvent) };
  }

  async getRun(runId: string): Promise<StoredRun | undefined> {
    this.open();
    const r = this.runs.get(runId);
    return r === undefined ? undefined : MemoryStore.view(r);
  }

  async listRuns(o: ListRunsOptions = {}): Promise<readonly RunListing[]> {
    this.open();
    const rows = [...this.runs.values()].filter((r) => o.status === undefined || r.status === o.status);
    rows.sort((a, b) => b.updatedAt - a.updatedAt || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
    return rows.slice(0, o.limit ?? 100).map((r) => ({
      id: r.id,
      status: r.status,
      startedAt: iso(r.startedAt),
      updatedAt: iso(r.updatedAt),
      currentNodes: JSON.parse(r.currentNodes) as string[],
      interrupts: JSON.parse(r.interrupts) as JsonValue[],
    }));
  }

  async finish(runId: string, status: "success" | "failure" | "partial", result: JsonValue): Promise<void> {
    this.open();
    if (!TERMINAL_STATUSES.includes(status)) throw new StoreError("STORE_BATCH_INVALID", `finish(${runId}): status must be success, failure or partial, got ${JSON.stringify(status)}`, { url: this.url });
    const r = this.row(runId);
    if (TERMINAL_STATUSES.includes(r.status)) throw new StoreError("STORE_RUN_FINISHED", `run "${runId}" already ended (${r.status})`, { url: this.url });
    const text = toJsonText(result, "run result", this.url);
    const now = Date.now();
    Object.assign(r, { status, result: text, finishedAt: now, updatedAt: now, currentNodes: "[]", interrupts: "[]", leaseOwner: null, leaseExpires: null });
  }

  async *events(runId: string, o: { readonly afterSeq?: number } = {}): AsyncIterable<StoredEvent> {
    this.open();
    const r = this.row(runId);
    const after = o.afterSeq ?? 0;
    for (const e of r.events.slice()) if (e.seq > after) yield JSON.parse(e.text) as StoredEvent;
  }

  async prune(o: PruneOptions): Promise<number> {
    this.open();
    const cutoff = cutoffMs(o, this.url);
    let n = 0;
    for (const [id, r] of this.runs) {
      if (r.updatedAt < cutoff && (o.includeUnfinished === true || TERMINAL_STATUSES.includes(r.status))) {
        this.runs.delete(id);
        n++;
      }
    }
    return n;
  }

  async memoryGet(scope: StoredMemoryScope, storeId: string, key: string, projectId = ""): Promise<MemoryEntry | undefined> {
    this.open();
    const e = this.memory.get(memKey(scope, projectId, storeId))?.get(key);
    return e === undefined ? undefined : { key, value: JSON.parse(e.text) as JsonValue, updatedAt: iso(e.updatedAt) };
  }

  async memoryList(scope: StoredMemoryScope, storeId: string, projectId = ""): Promise<readonly MemoryEntry[]> {
    this.open();
    const m = this.memory.get(memKey(scope, projectId, storeId));
    if (m === undefined) return [];
    return [...m.entries()].map(([key, e]) => ({ key, value: JSON.parse(e.text) as JsonValue, updatedAt: iso(e.updatedAt) })).sort(byKey);
  }

  async acquireLease(runId: string, owner: string, ttlMs: number): Promise<LeaseResult> {
    this.open();
    checkTtl(ttlMs, this.url);
    const r = this.row(runId);
    const now = Date.now();
    if (r.leaseOwner === null || r.leaseOwner === owner || (r.leaseExpires ?? 0) < now) {
      r.leaseOwner = owner;
      r.leaseExpires = now + ttlMs;
      return { acquired: true, owner, expiresAt: iso(r.leaseExpires) };
    }
    return { acquired: false, owner: r.leaseOwner, expiresAt: r.leaseExpires === null ? null : iso(r.leaseExpires) };
  }

  async renewLease(runId: string, owner: string, ttlMs: number): Promise<LeaseResult> {
    this.open();
    checkTtl(ttlMs, this.url);
    const r = this.row(runId);
    const now = Date.now();
    if (r.leaseOwner !== owner) {
      throw new StoreError("STORE_LEASE_LOST", `run "${runId}": "${owner}" no longer holds the lease (held by ${r.leaseOwner ?? "nobody"}); stop working on this run`, { url: this.url });
    }
    r.leaseExpires = now + ttlMs;
    return { acquired: true, owner, expiresAt: iso(r.leaseExpires) };
  }

  async releaseLease(runId: string, owner: string): Promise<void> {
    this.open();
    const r = this.row(runId);
    if (r.leaseOwner === owner) {
      r.leaseOwner = null;
      r.leaseExpires = null;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
