/**
 * Writable memory (CONTRACT §10): `kv` stores of memory.yaml with `task`, `project` or `global`
 * scope, used by handlers through `ctx.memory`, and by context profiles that name them.
 *
 * **The rule.** A stage reads memory as it was when the stage logically started: it sees every
 * write committed by a stage of an earlier logical wave (every `memory.written` event emitted
 * before its `node.started`), none committed later, plus its own earlier puts and deletes. Its
 * writes (puts and deletes) are applied when it is committed (successfully: a failed stage's
 * writes are discarded), in the commit order, which is the same under eager and wave scheduling.
 * So memory keeps the determinism guarantee.
 *
 * **Task scope** travels with the task: each stage gets the memory its task had after the
 * previous stage (computed from that stage's outcome as soon as it is known, so no stage waits
 * for it); clones and subtasks start from a copy of their parent's; a merge continues with the
 * parent's memory as it was at the fork (children's task memory ends with them).
 *
 * **Project and global scope** live in the run store. A read resolves against the run's own
 * committed writes of earlier waves, then the value the store had before this run first touched
 * the key (kept for the whole run, and journaled for keys the run writes, so a resumed run reads
 * the same). Under eager scheduling a stage may start before earlier waves are committed. Its
 * read then answers at once when every write of an earlier wave is already known: committed, or
 * in the outcome of a stage that finished but waits for its turn to commit (a task's previous
 * stage, typically). Otherwise it waits until that is so. Which stages can still write is
 * decided from the graph: the nodes that may write the store (`writers:`, else every node with a
 * handler), the shortest distance from each node to such a writer (a stage in wave w at distance
 * d cannot cause a write before wave w + d), and merges (one may fire at the next wave). A store
 * nothing in the workflow writes, and task scope, never wait.
 *
 * @module
 */
import type { MemoryManifest, MemoryScope } from "../config/types.js";
import type { WorkflowGraph } from "../dag/types.js";
import { StageError, errorMessage } from "../errors.js";
import { NotJsonError, sealJson, type JsonValue } from "../json.js";
import type { Stage } from "./task.js";

export type { MemoryScope } from "../config/types.js";

/** Longest key, in characters of its JSON form (the run stores' limit). */
export const MAX_MEMORY_KEY_LENGTH = 1024;

/** A put of a stage: `key` gets `value` at the commit. */
export interface KvPut {
  readonly store: string;
  readonly scope: MemoryScope;
  readonly key: string;
  readonly value: JsonValue;
  readonly deleted?: undefined;
}

/** A delete of a stage (`ctx.memory.delete`): `key` has no value after the commit. */
export interface KvDelete {
  readonly store: string;
  readonly scope: MemoryScope;
  readonly key: string;
  readonly deleted: true;
}

/**
 * One write of a stage, as committed and journaled: a put (`value`) or a delete
 * (`deleted: true`, no value). Journal records written before deletes existed hold puts only.
 */
export type KvWrite = KvPut | KvDelete;

/**
 * The value a `project`/`global` key had in the run store before this run first wrote it
 * (`value` absent: the key did not exist). Journaled, so a resumed run reads what the first
 * process read.
 */
export interface KvBase {
  readonly store: string;
  readonly scope: "project" | "global";
  readonly key: string;
  readonly value?: JsonValue;
}

/** One entry of a kv store, as `ctx.memory.list()` returns it. */
export interface KvEntry {
  readonly key: string;
  readonly value: JsonValue;
}

/**
 * `ctx.memory`: the handler's view of the kv stores declared in memory.yaml.
 *
 * Reads see the memory as it was when the stage started (plus the stage's own puts and deletes);
 * puts and deletes are applied when the stage is committed, and only if it succeeds. Values are
 * JSON, copied and frozen.
 *
 * @example
 * ```ts
 * const remember: NodeHandler = async (input, ctx) => {
 *   const seen = ((await ctx.memory.get("facts", "seen")) as number | undefined) ?? 0;
 *   ctx.memory.put("facts", "seen", seen + 1);
 *   return { seen };
 * };
 * ```
 */
export interface MemoryAccess {
  /**
   * The value of `key` in kv store `store`, or `undefined` when it has none. Rejects with
   * `MEMORY_UNKNOWN_STORE`, `MEMORY_NOT_KV`, `MEMORY_KEY_INVALID` or `MEMORY_READ_FAILED`.
   */
  get(store: string, key: string): Promise<JsonValue | undefined>;
  /**
   * Writes `value` (JSON) under `key`, applied when the stage is committed. Throws at once with
   * `MEMORY_UNKNOWN_STORE`, `MEMORY_READ_ONLY` (a `static` or `file` store), `MEMORY_NOT_ALLOWED`
   * (the node is not among the store's `writers`, or the stage has ended), `MEMORY_KEY_INVALID`
   * (not a string, empty, or longer than 1024 characters as JSON) or `MEMORY_VALUE_INVALID`.
   * Several puts (and deletes) of one key in one stage are one write: the last one.
   */
  put(store: string, key: string, value: unknown): void;
  /**
   * Removes `key` from kv store `store`, applied when the stage is committed (discarded if the
   * stage fails), like {@link put}: afterwards `get` gives `undefined` and `list` omits the key
   * (for this stage at once, for later stages as of their start). Deleting a key that has no
   * value is no error. Several puts and deletes of one key in one stage are one write: the last
   * one. Throws at once with `MEMORY_UNKNOWN_STORE`, `MEMORY_READ_ONLY` (a `static` or `file`
   * store), `MEMORY_NOT_ALLOWED` (the node is not among the store's `writers`, or the stage has
   * ended) or `MEMORY_KEY_INVALID`. Each applied delete is a `memory.written` event with
   * `deleted: true`.
   */
  delete(store: string, key: string): void;
  /** The store's entries, ordered by key (UTF-16 code units), optionally only keys starting with `prefix`. */
  list(store: string, prefix?: string): Promise<readonly KvEntry[]>;
}

/**
 * Where `project` and `global` kv stores live: the run store. Methods may be synchronous (the
 * in-process store) or asynchronous (SQLite, PostgreSQL). `global` entries ignore `projectId`.
 */
export interface MemoryBackend {
  /** The value of a key (`undefined`: none). */
  memoryGet(scope: "project" | "global", projectId: string, store: string, key: string): JsonValue | undefined | Promise<JsonValue | undefined>;
  /** Every entry of a store (any order). */
  memoryList(scope: "project" | "global", projectId: string, store: string): readonly KvEntry[] | Promise<readonly KvEntry[]>;
  /**
   * Applies writes at once, in order (stores that do not journal runs): a put sets the key, a
   * delete (`deleted: true`) removes it. Durable stores receive the writes in the journal record
   * of the commit instead ({@link JournalRecord.memory}).
   */
  memoryApply?(projectId: string, writes: readonly KvWrite[]): void | Promise<void>;
}

/** Task-scope memory: an immutable map from `store\0key` to a value. */
export type TaskMemory = ReadonlyMap<string, JsonValue>;

/** A kv store as the runtime sees it. */
export interface KvStore {
  readonly id: string;
  readonly scope: MemoryScope;
  /** Nodes that may write it and have a handler (so can actually write). */
  readonly writers: ReadonlySet<string>;
  /** `writers:` as declared, or undefined (every node may write). */
  readonly declared: ReadonlySet<string> | undefined;
}

/** Shortest distances to a store's writers: per node, and the least over merge nodes. */
interface Distances {
  readonly byNode: ReadonlyMap<string, number>;
  readonly merge: number;
}

function tk(store: string, key: string): string {
  return `${store}\u0000${key}`;
}

function isThenable<T>(v: T | Promise<T>): v is Promise<T> {
  return v !== null && typeof v === "object" && typeof (v as { then?: unknown }).then === "function";
}

const ABSENT: unique symbol = Symbol("absent");
type Slot = JsonValue | typeof ABSENT;

/**
 * What a workflow's memory.yaml declares, and what the scheduler knows about who may write
 * what. One per engine; immutable.
 */
export class MemoryPlan {
  readonly kv = new Map<string, KvStore>();
  /** `static` and `file` stores, by id, with their kind. */
  readonly readOnly = new Map<string, string>();
  readonly hasTask: boolean;
  readonly hasShared: boolean;
  /** The same as JSON, for checks in a handler's worker thread. */
  readonly rules: MemoryRules;
  private readonly distances = new Map<string, Distances>();

  private constructor(
    manifest: MemoryManifest,
    private readonly graph: WorkflowGraph,
    handlerNodes: ReadonlySet<string>,
    /** Project of `project`-scope stores. */
    readonly projectId: string,
  ) {
    for (const s of manifest.stores ?? []) {
      if (s.kind !== "kv") {
        this.readOnly.set(s.id, s.kind);
        continue;
      }
      const declared = s.writers === undefined ? undefined : new Set(s.writers);
      const writers = new Set([...handlerNodes].filter((n) => declared === undefined || declared.has(n)));
      this.kv.set(s.id, { id: s.id, scope: s.scope ?? "task", writers, declared });
    }
    const scopes = [...this.kv.values()].map((s) => s.scope);
    this.hasTask = scopes.includes("task");
    this.hasShared = scopes.some((s) => s !== "task");
    this.rules = sealJson({
      kv: Object.fromEntries([...this.kv.values()].map((s) => [s.id, { scope: s.scope, writers: s.declared === undefined ? null : [...s.declared] }])),
      readOnly: Object.fromEntries(this.readOnly),
    }) as unknown as MemoryRules;
  }

  /** The plan of a workflow, or undefined when memory.yaml declares no kv store. */
  static create(manifest: MemoryManifest | undefined, graph: WorkflowGraph, handlerNodes: ReadonlySet<string>, projectId: string): MemoryPlan | undefined {
    if (manifest?.stores?.some((s) => s.kind === "kv") !== true) return undefined;
    return new MemoryPlan(manifest, graph, handlerNodes, projectId);
  }

  /** The kv store `id`, or a coded error saying why there is none. */
  store(id: unknown, op: MemoryOp): KvStore {
    return this.kv.get(checkStore(this.rules, id, op))!;
  }

  /**
   * Shortest number of edges from each node to a node that may write `store` (0: the node
   * itself may), and the least such distance from a merge node. Computed once per store.
   */
  distancesOf(store: KvStore): Distances {
    let d = this.distances.get(store.id);
    if (d !== undefined) return d;
    const byNode = new Map<string, number>();
    let frontier = [...store.writers];
    for (const w of frontier) byNode.set(w, 0);
    for (let dist = 1; frontier.length > 0; dist++) {
      const next: string[] = [];
      for (const id of frontier) {
        for (const e of this.graph.nodes.get(id)?.inEdges ?? []) {
          if (byNode.has(e.from)) continue;
          byNode.set(e.from, dist);
          next.push(e.from);
        }
      }
      frontier = next;
    }
    let merge = Number.POSITIVE_INFINITY;
    for (const n of this.graph.nodeList) if (n.role === "merge") merge = Math.min(merge, byNode.get(n.id) ?? Number.POSITIVE_INFINITY);
    d = { byNode, merge };
    this.distances.set(store.id, d);
    return d;
  }
}

/** What run-level memory needs from the run loop. */
export interface MemoryHost {
  /** The logical wave the loop is committing (every stage of an earlier wave is committed). */
  readonly loopWave: number;
  /**
   * Calls `fn` for every stage not committed yet whose wave is below `below`: the rest of the
   * current wave, the next one, and the stages already planned ahead of them.
   */
  forEachPending(below: number, fn: (s: Stage) => void): void;
  /** A waiting stage gives its execution slot back (maxConcurrency); idempotent. */
  releaseSlot(s: Stage): void;
  /** A stage that waited wants its slot again; resolves when it has one (undefined: it has one now). */
  acquireSlot(s: Stage): Promise<void> | undefined;
  /** The stage produced its outcome: if it had given its slot back, it holds one again (its settle frees it). */
  restoreSlot(s: Stage): void;
}

interface Waiter {
  readonly store: KvStore;
  readonly wave: number;
  /** The key read, or undefined for a listing. */
  readonly key: string | undefined;
  readonly resolve: () => void;
}

interface Version {
  readonly wave: number;
  /** ABSENT: a delete. */
  readonly value: Slot;
}

/** What a write leaves: its value, or ABSENT for a delete. */
function slotOf(w: KvWrite): Slot {
  return w.deleted === true ? ABSENT : w.value;
}

/** The value a slot reads as (`undefined`: no value). */
function valueOf(v: Slot): JsonValue | undefined {
  return v === ABSENT ? undefined : v;
}

/** Applies a slot to a map of entries: a value is set, ABSENT removes the key. */
function setSlot(m: Map<string, JsonValue>, key: string, v: Slot): void {
  if (v === ABSENT) m.delete(key);
  else m.set(key, v);
}

interface Scan {
  readonly earliest: number;
  readonly known: Map<string, Version[]>;
}

const AMBIGUOUS: unique symbol = Symbol("ambiguous");

/**
 * The write of the latest wave below `wave`, or AMBIGUOUS when two stages of that wave wrote the
 * key (their commit order is not known before they are committed).
 */
function latest(vs: readonly Version[] | undefined, wave: number): Version | typeof AMBIGUOUS | undefined {
  if (vs === undefined) return undefined;
  let best: Version | undefined;
  let twice = false;
  for (const v of vs) {
    if (v.wave >= wave) continue;
    if (best === undefined || v.wave > best.wave) {
      best = v;
      twice = false;
    } else if (v.wave === best.wave) twice = true;
  }
  return twice ? AMBIGUOUS : best;
}

/** A commit's shared writes and the base values to journal with them. */
export interface MemoryBatch {
  readonly writes: readonly KvWrite[];
  readonly bases: readonly KvBase[];
}

/**
 * One run's memory: its committed `project`/`global` writes by wave, the store's values before
 * the run touched them, reads waiting for earlier commits, and writes still to persist.
 */
export class RunMemory {
  /** This run's committed writes, per store and key, in commit order. */
  private readonly versions = new Map<string, Map<string, Version[]>>();
  /** Values before this run first touched a key, per store and key. */
  private readonly bases = new Map<string, Map<string, Slot>>();
  private readonly fetching = new Map<string, Promise<void>>();
  private readonly listed = new Map<string, Promise<void> | true>();
  /** Keys whose base is journaled already. */
  private readonly journaled = new Set<string>();
  private pending: KvWrite[] = [];
  private waiters: Waiter[] = [];
  /** The run is over: nothing waits any more (a handler still running after it reads at once). */
  private disposed = false;

  constructor(
    readonly plan: MemoryPlan,
    private readonly backend: MemoryBackend | undefined,
    readonly host: MemoryHost,
    private readonly projectId: string,
    restored: readonly KvBase[] = [],
  ) {
    for (const b of restored) {
      this.baseMap(b.store).set(b.key, "value" in b && b.value !== undefined ? b.value : ABSENT);
      this.journaled.add(tk(b.store, b.key));
    }
  }

  /** Every base known (to carry over to a run continued in this process). */
  knownBases(): KvBase[] {
    const out: KvBase[] = [];
    for (const [store, m] of this.bases) {
      const scope = this.plan.kv.get(store)?.scope;
      if (scope === undefined || scope === "task") continue;
      for (const [key, v] of m) out.push(v === ABSENT ? { store, scope, key } : { store, scope, key, value: v });
    }
    return out;
  }

  private baseMap(store: string): Map<string, Slot> {
    let m = this.bases.get(store);
    if (m === undefined) this.bases.set(store, (m = new Map()));
    return m;
  }

  private backendOf(): MemoryBackend {
    if (this.backend === undefined) throw new StageError("MEMORY_READ_FAILED", "the run store keeps no project or global memory");
    return this.backend;
  }

  // ---------------------------------------------------------------- reads as of a stage's start

  /**
   * What the stages not committed yet (below wave `below`) say about `store`: the earliest wave
   * at which a write this run cannot know yet may be committed, and the writes it already knows
   * (successful stages whose outcome is in but whose commit waits for its turn), per key.
   */
  private scan(store: KvStore, below: number): Scan {
    const d = this.plan.distancesOf(store);
    // Any merge may fire at the next wave; a writer at distance d from it commits d waves later.
    let earliest = d.merge === Number.POSITIVE_INFINITY ? Number.POSITIVE_INFINITY : this.host.loopWave + 1 + d.merge;
    const known = new Map<string, Version[]>();
    this.host.forEachPending(below, (s) => {
      const o = s.outcome;
      if (o !== undefined && s.successors !== undefined) {
        // Planned: its writes are known, and what its commit creates is visited too.
        if (o.writes !== undefined && s.plan?.ok === true) {
          for (const w of o.writes) {
            if (w.store !== store.id) continue;
            let vs = known.get(w.key);
            if (vs === undefined) known.set(w.key, (vs = []));
            vs.push({ wave: s.wave, value: slotOf(w) });
          }
        }
        return;
      }
      // Not known yet: a writer reachable d edges on cannot commit before wave + d.
      const n = d.byNode.get(s.node.id);
      if (n !== undefined && s.wave + n < earliest) earliest = s.wave + n;
    });
    return { earliest, known };
  }

  /**
   * The value `stage` reads for `key` (as of its start), or undefined when it cannot be known
   * yet: then wait with {@link waitFor} and ask again.
   */
  tryGet(stage: Stage, store: KvStore, key: string): { readonly value: JsonValue | undefined | Promise<JsonValue | undefined> } | undefined {
    const wave = stage.wave;
    if (this.host.loopWave >= wave || store.writers.size === 0 || this.disposed) return { value: this.committedGet(store, key, wave) };
    const sc = this.scan(store, wave);
    if (sc.earliest < wave) return undefined;
    const p = latest(sc.known.get(key), wave);
    if (p === AMBIGUOUS) return undefined;
    if (p === undefined) return { value: this.committedGet(store, key, wave) };
    return { value: valueOf(p.value) };
  }

  /** The entries `stage` reads for `store` (as of its start), or undefined when they cannot be known yet. */
  tryList(stage: Stage, store: KvStore): { readonly entries: Promise<Map<string, JsonValue>> } | undefined {
    const wave = stage.wave;
    if (this.host.loopWave >= wave || store.writers.size === 0 || this.disposed) return { entries: this.committedList(store, wave) };
    const sc = this.scan(store, wave);
    if (sc.earliest < wave) return undefined;
    const picked = new Map<string, Slot>();
    for (const [key, vs] of sc.known) {
      const p = latest(vs, wave);
      if (p === AMBIGUOUS) return undefined;
      if (p !== undefined) picked.set(key, p.value);
    }
    return {
      entries: this.committedList(store, wave).then((m) => {
        for (const [k, v] of picked) setSlot(m, k, v);
        return m;
      }),
    };
  }

  /** Resolves once {@link tryGet} (`key`) or {@link tryList} (no key) may answer for `stage`. */
  waitFor(stage: Stage, store: KvStore, key: string | undefined): Promise<void> {
    return new Promise<void>((resolve) => this.waiters.push({ store, wave: stage.wave, key, resolve }));
  }

  /** Lets waiting reads go once what they read is known (after a settle, a commit, a new wave). */
  recheck(): void {
    if (this.waiters.length === 0) return;
    const loop = this.host.loopWave;
    const below = new Map<KvStore, number>();
    for (const w of this.waiters) if (loop < w.wave) below.set(w.store, Math.max(below.get(w.store) ?? 0, w.wave));
    const scans = new Map<KvStore, Scan>();
    for (const [store, b] of below) scans.set(store, this.scan(store, b));
    const still: Waiter[] = [];
    const go: Waiter[] = [];
    for (const w of this.waiters) {
      const sc = scans.get(w.store);
      let ready = sc === undefined || this.disposed;
      if (!ready && sc!.earliest >= w.wave) {
        ready = w.key !== undefined ? latest(sc!.known.get(w.key), w.wave) !== AMBIGUOUS : [...sc!.known.values()].every((vs) => latest(vs, w.wave) !== AMBIGUOUS);
      }
      (ready ? go : still).push(w);
    }
    this.waiters = still;
    for (const w of go) w.resolve();
  }

  /** Releases every waiting read (the run is over). */
  dispose(): void {
    this.disposed = true;
    const all = this.waiters;
    this.waiters = [];
    for (const w of all) w.resolve();
  }

  /** A shared key as of wave `wave` from what is committed: this run's writes of earlier waves, else the base. */
  private committedGet(store: KvStore, key: string, wave: number): JsonValue | undefined | Promise<JsonValue | undefined> {
    const vs = this.versions.get(store.id)?.get(key);
    if (vs !== undefined) {
      for (let i = vs.length - 1; i >= 0; i--) if (vs[i]!.wave < wave) return valueOf(vs[i]!.value);
    }
    const r = this.base(store, key);
    return isThenable(r) ? r.then(valueOf) : valueOf(r);
  }

  /** A shared store's entries as of wave `wave` from what is committed. */
  private async committedList(store: KvStore, wave: number): Promise<Map<string, JsonValue>> {
    await this.listBase(store);
    const out = new Map<string, JsonValue>();
    for (const [k, v] of this.bases.get(store.id) ?? []) if (v !== ABSENT) out.set(k, v);
    for (const [k, vs] of this.versions.get(store.id) ?? []) {
      for (let i = vs.length - 1; i >= 0; i--) {
        if (vs[i]!.wave < wave) {
          setSlot(out, k, vs[i]!.value);
          break;
        }
      }
    }
    return out;
  }

  /** The store's value of a key before this run touched it (fetched once, then kept). */
  private base(store: KvStore, key: string): Slot | Promise<Slot> {
    const m = this.baseMap(store.id);
    const hit = m.get(key);
    if (hit !== undefined) return hit;
    const ck = tk(store.id, key);
    const inflight = this.fetching.get(ck);
    if (inflight !== undefined) return inflight.then(() => m.get(key) ?? ABSENT);
    let r: JsonValue | undefined | Promise<JsonValue | undefined>;
    try {
      r = this.backendOf().memoryGet(store.scope as "project" | "global", this.projectId, store.id, key);
    } catch (err) {
      throw readFailed(store, key, err);
    }
    if (!isThenable(r)) {
      const v = r === undefined ? ABSENT : sealJson(r);
      m.set(key, v);
      return v;
    }
    const p = r.then(
      (v) => {
        this.fetching.delete(ck);
        if (!m.has(key)) m.set(key, v === undefined ? ABSENT : sealJson(v));
      },
      (err: unknown) => {
        this.fetching.delete(ck);
        throw readFailed(store, key, err);
      },
    );
    this.fetching.set(ck, p);
    return p.then(() => m.get(key) ?? ABSENT);
  }

  private listBase(store: KvStore): Promise<void> | undefined {
    const done = this.listed.get(store.id);
    if (done === true) return undefined;
    if (done !== undefined) return done;
    const fill = (entries: readonly KvEntry[]): void => {
      const m = this.baseMap(store.id);
      // Keys this run already holds a base for keep it (the store may hold this run's own writes).
      for (const e of entries) if (!m.has(e.key) && !this.fetching.has(tk(store.id, e.key))) m.set(e.key, sealJson(e.value));
      this.listed.set(store.id, true);
    };
    let r: readonly KvEntry[] | Promise<readonly KvEntry[]>;
    try {
      r = this.backendOf().memoryList(store.scope as "project" | "global", this.projectId, store.id);
    } catch (err) {
      return Promise.reject(readFailed(store, undefined, err));
    }
    if (!isThenable(r)) {
      fill(r);
      return undefined;
    }
    const p = r.then(fill, (err: unknown) => {
      this.listed.delete(store.id);
      throw readFailed(store, undefined, err);
    });
    this.listed.set(store.id, p);
    return p;
  }

  // ---------------------------------------------------------------- commits

  /** Applies a committed stage's shared write (a put or a delete) to the run's view; `persist` false for a replayed commit. */
  commitShared(w: KvWrite, wave: number, persist: boolean): void {
    let m = this.versions.get(w.store);
    if (m === undefined) this.versions.set(w.store, (m = new Map()));
    let vs = m.get(w.key);
    if (vs === undefined) m.set(w.key, (vs = []));
    vs.push({ wave, value: slotOf(w) });
    if (persist) this.pending.push(w);
  }

  /** True when committed writes wait to be persisted. */
  get hasPending(): boolean {
    return this.pending.length > 0;
  }

  /**
   * The shared writes committed since the last call, with the bases of keys written (or
   * deleted) for the first time (fetched first: the store's value is overwritten or removed by
   * the commit).
   */
  takeBatch(): MemoryBatch | Promise<MemoryBatch> | undefined {
    if (this.pending.length === 0) return undefined;
    const writes = this.pending;
    this.pending = [];
    const waits: Promise<unknown>[] = [];
    for (const w of writes) {
      const r = this.base(this.plan.kv.get(w.store)!, w.key);
      if (isThenable(r)) waits.push(r);
    }
    const finish = (): MemoryBatch => {
      const bases: KvBase[] = [];
      for (const w of writes) {
        const ck = tk(w.store, w.key);
        if (this.journaled.has(ck)) continue;
        this.journaled.add(ck);
        const v = this.bases.get(w.store)?.get(w.key);
        const scope = w.scope as "project" | "global";
        bases.push(v === undefined || v === ABSENT ? { store: w.store, scope, key: w.key } : { store: w.store, scope, key: w.key, value: v });
      }
      return { writes, bases };
    };
    return waits.length === 0 ? finish() : Promise.all(waits).then(finish);
  }

  /** Applies the pending writes to a store that does not journal (bases captured first). */
  flush(): void | Promise<void> {
    const b = this.takeBatch();
    if (b === undefined) return undefined;
    const apply = (batch: MemoryBatch): void | Promise<void> => {
      const backend = this.backendOf();
      if (backend.memoryApply === undefined) throw new Error("the run store cannot apply memory writes (no memoryApply)");
      return backend.memoryApply(this.projectId, batch.writes);
    };
    return isThenable(b) ? b.then(apply) : apply(b);
  }
}

/**
 * Adds a stage's task-scope writes to its task memory: a new map when they change it (the task's
 * clones and subtasks share the map they started from, so it is never changed in place), else the
 * same map.
 */
export function withTaskWrites(pre: TaskMemory | undefined, writes: readonly KvWrite[] | undefined): TaskMemory | undefined {
  if (writes === undefined) return pre;
  let m: Map<string, JsonValue> | undefined;
  for (const w of writes) {
    if (w.scope !== "task") continue;
    const k = tk(w.store, w.key);
    if (w.deleted === true) {
      if (!(m ?? pre)?.has(k)) continue;
      m ??= new Map(pre);
      m.delete(k);
    } else {
      m ??= new Map(pre);
      m.set(k, w.value);
    }
  }
  return m ?? pre;
}

function readFailed(store: KvStore, key: string | undefined, err: unknown): StageError {
  if (err instanceof StageError) return err;
  return new StageError("MEMORY_READ_FAILED", `ctx.memory: reading ${store.scope} store "${store.id}"${key === undefined ? "" : ` key ${JSON.stringify(key)}`} failed: ${errorMessage(err)}`, { cause: err });
}

/**
 * The checks of `ctx.memory` calls, as JSON data: the kv stores (scope, declared writers) and
 * the read-only stores. A handler running in a worker thread checks its calls with it, so its
 * `put` and `delete` throw the same coded errors, synchronously.
 */
export interface MemoryRules {
  readonly kv: { readonly [id: string]: { readonly scope: MemoryScope; readonly writers: readonly string[] | null } };
  readonly readOnly: { readonly [id: string]: string };
}

/** A `ctx.memory` operation. */
export type MemoryOp = "get" | "put" | "list" | "delete";

/** The id of kv store `id`, or a coded error saying why it is none. */
export function checkStore(rules: MemoryRules, id: unknown, op: MemoryOp): string {
  if (typeof id !== "string") throw new StageError("MEMORY_UNKNOWN_STORE", `ctx.memory.${op}: the store must be a string (a kv store id from memory.yaml), got ${typeof id}`);
  if (Object.hasOwn(rules.kv, id)) return id;
  const kind = Object.hasOwn(rules.readOnly, id) ? rules.readOnly[id] : undefined;
  if (kind !== undefined) {
    if (op === "put" || op === "delete") throw new StageError("MEMORY_READ_ONLY", `ctx.memory.${op}: store "${id}" is a ${kind} store, which is read-only; declare a writable store with kind: kv in memory.yaml`);
    throw new StageError("MEMORY_NOT_KV", `ctx.memory.${op}: store "${id}" is a ${kind} store, not a kv store; its items reach a node through a context profile (ctx.context)`);
  }
  const known = Object.keys(rules.kv);
  throw new StageError("MEMORY_UNKNOWN_STORE", `ctx.memory.${op}: no kv store "${id}" in memory.yaml${known.length > 0 ? ` (kv stores: ${known.join(", ")})` : ""}`);
}

/** The store and key of a put or delete by node `nodeId`, checked (store, key, writers); or a coded error. */
function checkWrite(rules: MemoryRules, nodeId: string, store: unknown, key: unknown, op: "put" | "delete"): { readonly id: string; readonly k: string; readonly scope: MemoryScope } {
  const id = checkStore(rules, store, op);
  const k = checkKey(key, op);
  const def = rules.kv[id]!;
  if (def.writers !== null && !def.writers.includes(nodeId)) {
    throw new StageError("MEMORY_NOT_ALLOWED", `ctx.memory.${op}: node "${nodeId}" may not write kv store "${id}"; add it to the store's writers: in memory.yaml (writers: ${def.writers.join(", ") || "none"})`);
  }
  return { id, k, scope: def.scope };
}

/** A put by node `nodeId`, checked (store, writers, key) and its value sealed; or a coded error. */
export function checkPut(rules: MemoryRules, nodeId: string, store: unknown, key: unknown, value: unknown): KvPut {
  const { id, k, scope } = checkWrite(rules, nodeId, store, key, "put");
  let sealed: JsonValue;
  try {
    sealed = sealJson(value);
  } catch (err) {
    throw new StageError("MEMORY_VALUE_INVALID", `ctx.memory.put("${id}", ${JSON.stringify(k.slice(0, 60))}): the value must be JSON data: ${err instanceof NotJsonError ? err.message : errorMessage(err)}`);
  }
  return Object.freeze({ store: id, scope, key: k, value: sealed });
}

/** A delete by node `nodeId`, checked like a put (store, writers, key); or a coded error. */
export function checkDelete(rules: MemoryRules, nodeId: string, store: unknown, key: unknown): KvDelete {
  const { id, k, scope } = checkWrite(rules, nodeId, store, key, "delete");
  return Object.freeze({ store: id, scope, key: k, deleted: true as const });
}

/** A key, checked: a non-empty string of at most {@link MAX_MEMORY_KEY_LENGTH} characters as JSON. */
export function checkKey(key: unknown, op: string): string {
  if (typeof key !== "string") throw new StageError("MEMORY_KEY_INVALID", `ctx.memory.${op}: the key must be a string, got ${key === null ? "null" : typeof key}`);
  if (key.length === 0) throw new StageError("MEMORY_KEY_INVALID", `ctx.memory.${op}: the key must not be empty`);
  if (JSON.stringify(key).length > MAX_MEMORY_KEY_LENGTH) {
    throw new StageError("MEMORY_KEY_INVALID", `ctx.memory.${op}: key ${JSON.stringify(key.slice(0, 40))}... is too long (${key.length} characters; at most ${MAX_MEMORY_KEY_LENGTH} as JSON text)`);
  }
  return key;
}

/**
 * The key under which a handler's `ctx` (in the engine's thread) gives its {@link MemoryRules}
 * to the worker pool of an `isolation: worker` node. Not part of the public API.
 *
 * @internal
 */
export const MEMORY_RULES: unique symbol = Symbol("agent-engine.memoryRules");

/** `ctx.memory` when memory.yaml declares no kv store: every call says so. */
export const NO_MEMORY: MemoryAccess = Object.freeze({
  get: (store: string) => Promise.reject(noStore(store, "get")),
  put: (store: string) => {
    throw noStore(store, "put");
  },
  list: (store: string) => Promise.reject(noStore(store, "list")),
  delete: (store: string) => {
    throw noStore(store, "delete");
  },
});

function noStore(store: unknown, op: string): StageError {
  return new StageError("MEMORY_UNKNOWN_STORE", `ctx.memory.${op}: no kv store ${JSON.stringify(String(store))}: memory.yaml declares no kv store (add one: { id, kind: kv, scope: task | project | global })`);
}

/**
 * One stage's `ctx.memory`: created on first use. Holds the stage's own puts and deletes (one
 * write per key, the last one, in first-write order) and manages waiting for earlier commits.
 */
export class StageMemory implements MemoryAccess {
  /** The run loop's bookkeeping: the stage gave its execution slot back while waiting. */
  slotless = false;
  /** The run loop's bookkeeping: set while the stage queues for a slot again. */
  resumeSlot: (() => void) | undefined = undefined;
  private readonly own = new Map<string, KvWrite>();
  private ended = false;
  private waiting = 0;
  private waitStart = 0;
  private waited = 0;

  constructor(
    private readonly run: RunMemory,
    private readonly stage: Stage,
  ) {}

  /** Milliseconds this stage spent waiting for earlier commits (a node's timeout does not count them). */
  waitedMs(): number {
    return this.waited + (this.waiting > 0 ? performance.now() - this.waitStart : 0);
  }

  /** The stage's writes, and no more puts or deletes (the stage produced its outcome). */
  takeWrites(): readonly KvWrite[] | undefined {
    this.ended = true;
    return this.own.size === 0 ? undefined : Object.freeze([...this.own.values()]);
  }

  /** The stage ended: no more puts or deletes; a slot given back while waiting is counted again (its settle frees it). */
  end(): void {
    this.ended = true;
    this.run.host.restoreSlot(this.stage);
  }

  get(store: string, key: string): Promise<JsonValue | undefined> {
    let s: KvStore;
    let k: string;
    try {
      s = this.run.plan.store(store, "get");
      k = checkKey(key, "get");
    } catch (err) {
      return Promise.reject(err);
    }
    const mine = this.own.get(tk(s.id, k));
    if (mine !== undefined) return Promise.resolve(valueOf(slotOf(mine)));
    if (s.scope === "task") return Promise.resolve(this.stage.taskMem?.get(tk(s.id, k)));
    return this.shared(s, k);
  }

  private async shared(s: KvStore, k: string): Promise<JsonValue | undefined> {
    for (;;) {
      const r = this.run.tryGet(this.stage, s, k);
      if (r !== undefined) return r.value;
      await this.wait(this.run.waitFor(this.stage, s, k));
    }
  }

  put(store: string, key: string, value: unknown): void {
    this.record(checkPut(this.run.plan.rules, this.stage.node.id, store, key, value), "put");
  }

  delete(store: string, key: string): void {
    this.record(checkDelete(this.run.plan.rules, this.stage.node.id, store, key), "delete");
  }

  private record(w: KvWrite, op: "put" | "delete"): void {
    if (this.ended) throw new StageError("MEMORY_NOT_ALLOWED", `ctx.memory.${op}: the stage of node "${this.stage.node.id}" has ended; ${op} before the handler returns`);
    // Re-setting keeps the key's first position: one write per key (the last put or delete), in first-write order.
    this.own.set(tk(w.store, w.key), w);
  }

  async list(store: string, prefix?: string): Promise<readonly KvEntry[]> {
    const s = this.run.plan.store(store, "list");
    if (prefix !== undefined && typeof prefix !== "string") throw new StageError("MEMORY_KEY_INVALID", `ctx.memory.list: the prefix must be a string, got ${typeof prefix}`);
    return this.entries(s, prefix ?? "");
  }

  /** Entries of `s` as this stage sees them (for `list` and context profiles). */
  async entries(s: KvStore, prefix: string): Promise<readonly KvEntry[]> {
    let map: Map<string, JsonValue>;
    if (s.scope === "task") {
      map = new Map();
      const head = `${s.id}\u0000`;
      for (const [ck, v] of this.stage.taskMem ?? []) if (ck.startsWith(head)) map.set(ck.slice(head.length), v);
    } else {
      for (;;) {
        const r = this.run.tryList(this.stage, s);
        if (r !== undefined) {
          map = await r.entries;
          break;
        }
        await this.wait(this.run.waitFor(this.stage, s, undefined));
      }
    }
    for (const w of this.own.values()) if (w.store === s.id) setSlot(map, w.key, slotOf(w));
    const keys = [...map.keys()].filter((k) => k.startsWith(prefix)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    return Object.freeze(keys.map((key) => Object.freeze({ key, value: map.get(key)! })));
  }

  /**
   * Waits for `w`, giving the execution slot back meanwhile (so stages it waits for can run) and
   * taking one again after; neither wait counts toward the node's timeout.
   */
  private async wait(w: Promise<void>): Promise<void> {
    if (this.waiting++ === 0) this.waitStart = performance.now();
    const host = this.run.host;
    if (!this.ended) host.releaseSlot(this.stage);
    try {
      await w;
      if (this.waiting === 1 && !this.ended) {
        const a = host.acquireSlot(this.stage);
        if (a !== undefined) await a;
      }
    } finally {
      if (--this.waiting === 0) this.waited += performance.now() - this.waitStart;
    }
  }
}
