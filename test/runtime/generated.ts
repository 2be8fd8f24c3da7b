/**
 * Random valid workflows for the runtime property tests: every role, nested forks, merges with
 * every failure policy, decisions (by label, target id or selected_edge), seeded handler failures
 * and random delays.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { Engine } from "../../src/runtime/Engine.js";
import type { JsonValue } from "../../src/json.js";
import type { JournalRecord } from "../../src/runtime/journal.js";
import type { LoadedRun, RunStore, StoredRun } from "../../src/runtime/runStore.js";
import type { HandlerContext, NodeHandler, RunResult } from "../../src/runtime/types.js";
import type { EngineEvent } from "../../src/telemetry/events.js";
import { silentLogger } from "../../src/telemetry/logger.js";
import { normalizeEvents, normalizeResult, TaskNames } from "../normalize.js";
import { assertEventInvariants } from "./harness.js";

type Fail = "never" | "sometimes" | "always";
type Policy = "fail_on_any" | "ignore_failures" | "partial";
interface Linear { t: "linear"; fail: Fail; cof: boolean }
interface ForkStep { t: "fork"; kind: "branch" | "split"; fail: Fail; policy: Policy; arms: Step[][] }
interface DecisionStep { t: "dmerge"; fail: Fail; policy: Policy; labelled: boolean[]; objectChoice: boolean; arms: Step[][] }
type Step = Linear | ForkStep | DecisionStep;
interface Exit { t: "exit"; alwaysFail: boolean }
interface Fanout { t: "fanout"; kind: "decision" | "branch" | "split"; fail: Fail; labelled: boolean[]; arms: Chain[] }
type Terminal = Exit | Fanout;
interface Chain { steps: Step[]; end: Terminal }
export interface Spec { seed: number; chain: Chain }

const failArb = fc.constantFrom<Fail>("never", "never", "never", "sometimes", "always");
const policyArb = fc.constantFrom<Policy>("fail_on_any", "ignore_failures", "partial");
const linearArb: fc.Arbitrary<Step> = fc.record({ t: fc.constant("linear" as const), fail: failArb, cof: fc.boolean() });
const exitArb: fc.Arbitrary<Terminal> = fc.nat(9).map((n) => ({ t: "exit" as const, alwaysFail: n === 0 }));

const stepMemo = new Map<string, fc.Arbitrary<Step>>();
/**
 * Steps; `inFork` is true when the innermost enclosing fork is a split. Decision diamonds
 * (decision + merge) are generated everywhere else, inside branch arms included (a merge closes a
 * branch only when two or more arms lead to it); inside a split any reachable merge gathers its
 * items, so a diamond there would be the split's merge by definition.
 */
function stepArb(depth: number, inFork: boolean): fc.Arbitrary<Step> {
  const key = `${depth}|${inFork}`;
  const hit = stepMemo.get(key);
  if (hit) return hit;
  let arb: fc.Arbitrary<Step>;
  if (depth <= 0) arb = linearArb;
  else {
    const fork = fc.constantFrom<"branch" | "split">("branch", "split").chain((kind) =>
      fc.record({
        t: fc.constant("fork" as const),
        kind: fc.constant(kind),
        fail: failArb,
        policy: policyArb,
        arms: fc.array(fc.array(stepArb(depth - 1, kind === "split"), { minLength: 1, maxLength: 2 }), { minLength: 2, maxLength: 3 }),
      }),
    );
    if (inFork) arb = fc.oneof({ weight: 3, arbitrary: linearArb }, { weight: 2, arbitrary: fork as fc.Arbitrary<Step> });
    else {
      const segment = fc.array(stepArb(depth - 1, false), { minLength: 1, maxLength: 2 });
      const dmerge = fc.record({ t: fc.constant("dmerge" as const), fail: failArb, policy: policyArb, labelled: fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }), objectChoice: fc.boolean(), arms: fc.array(segment, { minLength: 2, maxLength: 3 }) });
      arb = fc.oneof({ weight: 3, arbitrary: linearArb }, { weight: 2, arbitrary: fork as fc.Arbitrary<Step> }, { weight: 1, arbitrary: dmerge as fc.Arbitrary<Step> });
    }
  }
  stepMemo.set(key, arb);
  return arb;
}

const chainMemo = new Map<string, fc.Arbitrary<Chain>>();
function chainArb(depth: number, inFork: boolean): fc.Arbitrary<Chain> {
  const key = `${depth}|${inFork}`;
  const hit = chainMemo.get(key);
  if (hit) return hit;
  let end: fc.Arbitrary<Terminal> = exitArb;
  if (depth > 0) {
    const fanout = fc.constantFrom<"decision" | "branch" | "split">("decision", "branch", "split").chain((kind) =>
      fc.record({
        t: fc.constant("fanout" as const),
        kind: fc.constant(kind),
        fail: failArb,
        labelled: fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }),
        arms: fc.array(chainArb(depth - 1, kind === "decision" ? inFork : kind === "split"), { minLength: kind === "split" ? 1 : 2, maxLength: 3 }),
      }),
    );
    end = fc.oneof({ weight: 2, arbitrary: exitArb }, { weight: 1, arbitrary: fanout as fc.Arbitrary<Terminal> });
  }
  const arb = fc.record({ steps: fc.array(stepArb(Math.min(depth, 2), inFork), { maxLength: 3 }), end });
  chainMemo.set(key, arb);
  return arb;
}

export const specArb: fc.Arbitrary<Spec> = fc.record({ seed: fc.nat(), chain: chainArb(2, false) });

function hash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

export interface Behavior {
  readonly role: string;
  readonly fail: Fail;
  /** Decision: names of the outbound edges (label, else target id). */
  readonly names: string[];
  readonly objectChoice: boolean;
}

/** Compiles a spec into workflow.yaml (as JSON, which is YAML) and handler behaviours. */
export function compile(spec: Spec): { yaml: string; behaviors: Map<string, Behavior> } {
  const nodes: Record<string, unknown>[] = [];
  const edges: Record<string, unknown>[] = [];
  const behaviors = new Map<string, Behavior>();
  let n = 0;
  const add = (role: string, extra: Record<string, unknown>, fail: Fail = "never", objectChoice = false): string => {
    const id = `${role}_${++n}`;
    nodes.push({ id, kind: "deterministic", role, ...extra });
    behaviors.set(id, { role, fail, names: [], objectChoice });
    return id;
  };
  const edge = (from: string, to: string, label?: string): void => {
    edges.push(label === undefined ? { from, to } : { from, to, label });
    const b = behaviors.get(from)!;
    if (b.role === "decision") b.names.push(label ?? to);
  };
  interface Entry { from: string; label?: string }
  const link = (entry: Entry, to: string): void => edge(entry.from, to, entry.label);
  const armEntry = (from: string, labelled: boolean[] | undefined, i: number): Entry => (labelled?.[i] ? { from, label: `L${i}` } : { from });

  const steps = (list: Step[], entry: Entry): Entry => {
    let cur = entry;
    for (const s of list) {
      if (s.t === "linear") {
        const id = add("linear", s.cof ? { continue_on_failure: true } : {}, s.fail);
        link(cur, id);
        cur = { from: id };
      } else {
        const isDecision = s.t === "dmerge";
        const f = add(isDecision ? "decision" : s.kind, {}, s.fail, isDecision ? s.objectChoice : false);
        link(cur, f);
        const m = add("merge", { merge: { on_failure: s.policy } });
        s.arms.forEach((arm, i) => {
          const last = steps(arm, armEntry(f, isDecision ? s.labelled : undefined, i));
          link(last, m);
        });
        cur = { from: m };
      }
    }
    return cur;
  };
  const chain = (c: Chain, entry: Entry): void => {
    const last = steps(c.steps, entry);
    if (c.end.t === "exit") {
      const id = add("exit", c.end.alwaysFail ? { always_fail: true } : {});
      link(last, id);
      return;
    }
    const end = c.end;
    const f = add(end.kind, {}, end.fail);
    link(last, f);
    end.arms.forEach((arm, i) => chain(arm, armEntry(f, end.kind === "decision" ? end.labelled : undefined, i)));
  };
  const start = add("start", {});
  chain(spec.chain, { from: start });
  return { yaml: JSON.stringify({ name: "generated", nodes, edges }, null, 1), behaviors };
}

/** How handlers take their time: random small pauses, none at all (synchronous), or uneven per-stage sleeps. */
export type Pacing = "random" | "sync" | "uneven";

const pause = (): Promise<void> => new Promise((r) => (Math.random() < 0.5 ? setImmediate(r) : setTimeout(r, Math.random() * 2)));
/** Some stages take much longer than others (a slow LLM call next to fast ones). */
const unevenPause = (): Promise<void> => new Promise((r) => setTimeout(r, Math.random() < 0.2 ? 5 + Math.random() * 10 : Math.random()));

/**
 * memory.yaml for the memory properties: `t` (task scope), `p` (project scope, every handler may
 * write) and `w` (project scope, a few declared writers), plus the writers of `w`. Handlers put
 * and delete keys of all three (see {@link handlersFor}).
 */
export function memoryFor(spec: Spec, behaviors: Map<string, Behavior>): { yaml: string; writers: Set<string> } {
  const writers = new Set([...behaviors.keys()].filter((id) => behaviors.get(id)!.role !== "exit" && hash(`${spec.seed}|w|${id}`) % 4 === 0));
  const yaml = JSON.stringify({
    stores: [
      { id: "t", kind: "kv", scope: "task" },
      { id: "p", kind: "kv", scope: "project" },
      { id: "w", kind: "kv", scope: "project", writers: [...writers] },
    ],
  });
  return { yaml, writers };
}

const KEYS = ["a", "b", "c"];

export function handlersFor(seed: number, behaviors: Map<string, Behavior>, pacing: Pacing = "random", memoryWriters?: ReadonlySet<string>): Record<string, NodeHandler> {
  const out: Record<string, NodeHandler> = {};
  for (const [id, b] of behaviors) {
    if (b.role === "exit" || (b.role === "merge" && memoryWriters === undefined)) continue;
    const body = (input: unknown, reads = ""): unknown => {
      // Merge inputs carry generated task ids; hash without them so behaviour is reproducible.
      const h = hash(`${seed}|${id}|${JSON.stringify(input, (k, v: unknown) => (k === "task_id" ? undefined : v))}|${reads}`);
      if (b.fail === "always" || (b.fail === "sometimes" && h % 3 === 0)) throw new Error(`${id} failed (h=${h})`);
      switch (b.role) {
        case "decision": {
          const name = b.names[h % b.names.length]!;
          return b.objectChoice ? { selected_edge: name, h: h % 100 } : name;
        }
        case "split":
          return Array.from({ length: 1 + (h % 4) }, (_, i) => ({ i, h: (h >>> 4) % 100 }));
        case "branch":
        case "start":
          return input;
        case "merge":
          return { merged: Array.isArray(input) ? input.length : -1, h: h % 1000, reads };
        default:
          return { n: id, h: h % 1000, ...(reads ? { reads } : {}) };
      }
    };
    if (memoryWriters !== undefined) {
      // Reads (which decide the output, the decision taken, the split's size, failures) and
      // writes of every scope, with pauses between them so eager stages read while earlier
      // waves are still committing.
      const wait = (): Promise<void> => (pacing === "sync" ? Promise.resolve() : pacing === "uneven" ? unevenPause() : pause());
      out[id] = async (input: unknown, ctx: HandlerContext) => {
        const h0 = hash(`${seed}|${id}|${JSON.stringify(input, (k, v: unknown) => (k === "task_id" ? undefined : v))}`);
        await wait();
        const p = await ctx.memory.get("p", KEYS[h0 % 3]!);
        const t = await ctx.memory.get("t", KEYS[(h0 >>> 2) % 3]!);
        await wait();
        const w = await ctx.memory.get("w", KEYS[(h0 >>> 4) % 3]!);
        const listed = (h0 >>> 6) % 3 === 0 ? (await ctx.memory.list("p")).map((e) => `${e.key}=${JSON.stringify(e.value)}`).join(",") : "";
        const reads = JSON.stringify([p ?? null, t ?? null, w ?? null, listed]);
        // Deletes too: after a put (of maybe the same key: the delete wins), before one (the put
        // wins), and on their own.
        if ((h0 >>> 21) % 4 === 0) ctx.memory.delete("t", KEYS[(h0 >>> 23) % 3]!);
        if ((h0 >>> 8) % 2 === 0) ctx.memory.put("p", KEYS[(h0 >>> 9) % 3]!, { by: id, h: h0 % 100, saw: p ?? null });
        if ((h0 >>> 11) % 2 === 0) ctx.memory.put("t", KEYS[(h0 >>> 12) % 3]!, { by: id, saw: t ?? null });
        if (memoryWriters.has(id) && (h0 >>> 14) % 2 === 0) ctx.memory.put("w", KEYS[(h0 >>> 15) % 3]!, { by: id, h: h0 % 10 });
        if ((h0 >>> 17) % 3 === 0) ctx.memory.delete("p", KEYS[(h0 >>> 19) % 3]!);
        if (memoryWriters.has(id) && (h0 >>> 25) % 4 === 0) ctx.memory.delete("w", KEYS[(h0 >>> 26) % 3]!);
        // Sometimes read again after writing: the stage's own puts and deletes are visible to it.
        const own = (h0 >>> 28) % 2 === 0 ? JSON.stringify([(await ctx.memory.get("p", KEYS[(h0 >>> 19) % 3]!)) ?? null, (await ctx.memory.list("t")).map((e) => e.key)]) : "";
        await wait();
        return body(input, own === "" ? reads : `${reads}|${own}`);
      };
      continue;
    }
    out[id] =
      pacing === "sync"
        ? (input: unknown, _ctx: HandlerContext) => body(input)
        : async (input: unknown, _ctx: HandlerContext) => {
            await (pacing === "uneven" ? unevenPause() : pause());
            return body(input);
          };
  }
  return out;
}

export interface Outcome {
  result: RunResult;
  events: readonly EngineEvent[];
}

export interface RunSpecOptions {
  readonly pacing?: Pacing;
  readonly scheduling?: "eager" | "waves";
  readonly maxConcurrency?: number;
  readonly store?: RunStore;
  /** Handlers use kv memory (the config dir has {@link memoryFor}'s memory.yaml). */
  readonly memoryWriters?: ReadonlySet<string>;
}

export async function runSpec(dir: string, spec: Spec, behaviors: Map<string, Behavior>, options: RunSpecOptions = {}): Promise<Outcome> {
  const engine = await Engine.fromConfigDir(dir, {
    logger: silentLogger,
    handlers: handlersFor(spec.seed, behaviors, options.pacing, options.memoryWriters),
    ...(options.scheduling ? { scheduling: options.scheduling } : {}),
    ...(options.maxConcurrency ? { maxConcurrency: options.maxConcurrency } : {}),
    ...(options.store ? { store: options.store } : {}),
  });
  try {
    const result = await engine.run({ seed: spec.seed % 1000 });
    return { result, events: engine.getEvents() };
  } finally {
    await engine.shutdown();
  }
}

export function checkOutcome({ result, events }: Outcome): void {
  assert.ok(["success", "failure", "partial"].includes(result.status), `status ${result.status}`);
  assertEventInvariants(events);
  const started = events.filter((e) => e.type === "task.started");
  assert.equal(started.length, 1 + result.children.length, "one task.started per task");
  for (const t of [result, ...result.children]) {
    assert.ok(["success", "failure", "partial"].includes(t.status));
    const ends = events.filter((e) => e.taskId === t.taskId && (e.type === "task.completed" || e.type === "task.failed"));
    assert.equal(ends.length, 1, `task ${t.taskId} has ${ends.length} terminal events`);
    assert.equal((ends[0]!.payload as { status: string }).status, t.status);
  }
  assert.equal(events.at(-1)!.taskId, result.taskId, "the root task ends last");
}

export function normalized(o: Outcome): unknown {
  const names = new TaskNames();
  const events = normalizeEvents(o.events, names);
  return { events, result: normalizeResult(o.result, names) };
}


/** Resumes `runId` on a fresh engine over `store`; `onExecute` sees every handler execution. */
export async function resumeSpec(dir: string, spec: Spec, behaviors: Map<string, Behavior>, store: RunStore, runId: string, onExecute: (taskId: string, nodeId: string) => void, memoryWriters?: ReadonlySet<string>): Promise<Outcome> {
  const base = handlersFor(spec.seed, behaviors, "uneven", memoryWriters);
  const handlers: Record<string, NodeHandler> = {};
  for (const [id, h] of Object.entries(base)) {
    handlers[id] = (input: JsonValue, ctx: HandlerContext) => {
      onExecute(ctx.taskId, ctx.nodeId);
      return h(input, ctx);
    };
  }
  const engine = await Engine.fromConfigDir(dir, { logger: silentLogger, handlers, store });
  try {
    const result = await engine.resume(runId);
    return { result, events: engine.getEvents() };
  } finally {
    await engine.shutdown();
  }
}

/**
 * Runs `spec` on a {@link CrashingStore} that dies at commit point `cut % n`, `n` being the number
 * of journal records a whole run wrote. That number depends on timing (group commit: commits with
 * no wait between them share a record), so a run may end before the chosen point; it is then run
 * again with the point taken modulo the records that run wrote. Each retry has strictly fewer
 * records to choose from, so this ends with a run cut short.
 */
export async function runCutShort(dir: string, spec: Spec, behaviors: Map<string, Behavior>, cut: number, n: number, options: RunSpecOptions = {}): Promise<{ first: Outcome; store: CrashingStore; at: number; of: number }> {
  for (let of = n; ; ) {
    assert.ok(of > 0, "a run writes at least one journal record");
    const at = cut % of;
    const store = new CrashingStore(at);
    const first = await runSpec(dir, spec, behaviors, { ...options, store });
    if (store.killed) return { first, store, at, of };
    assert.ok(store.records.length < of, `a run that wrote all ${store.records.length} records did not reach commit point ${at}`);
    of = store.records.length;
  }
}

/**
 * A durable run store kept in memory that "crashes" when asked to write commit point `dieAt`:
 * that append throws and nothing is written afterwards, as if the process had been killed there.
 * `survivor()` is what a new process would find.
 */
export class CrashingStore implements RunStore {
  readonly durable = true;
  readonly records: JournalRecord[] = [];
  private readonly rows = new Map<string, StoredRun>();
  private readonly journal = new Map<string, JournalRecord[]>();
  /** kv memory, `scope|project|store|key` -> JSON text, as a database holds it. */
  readonly memory = new Map<string, string>();
  /** Every memory write applied, in order (to find a write lost or applied twice). */
  readonly applied: string[] = [];
  private dead = false;
  constructor(private readonly dieAt: number) {}
  /** The store "crashed" (a run tried to write commit point `dieAt`). */
  get killed(): boolean {
    return this.dead;
  }
  memoryGet(scope: "project" | "global", projectId: string, store: string, key: string): JsonValue | undefined {
    const v = this.memory.get(`${scope}|${scope === "global" ? "" : projectId}|${store}|${key}`);
    return v === undefined ? undefined : (JSON.parse(v) as JsonValue);
  }
  async memoryList(scope: "project" | "global", projectId: string, store: string): Promise<readonly { key: string; value: JsonValue }[]> {
    const head = `${scope}|${scope === "global" ? "" : projectId}|${store}|`;
    return [...this.memory].filter(([k]) => k.startsWith(head)).map(([k, v]) => ({ key: k.slice(head.length), value: JSON.parse(v) as JsonValue }));
  }
  createRun(run: StoredRun): void {
    if (this.dead) return;
    this.rows.set(run.runId, run);
    this.journal.set(run.runId, []);
  }
  append(runId: string, record: JournalRecord): void {
    if (this.dead) throw new Error("process is gone");
    if (this.records.length === this.dieAt) {
      this.dead = true;
      throw new Error("killed");
    }
    // Stored as JSON, as a database would; memory writes in the same "transaction".
    const copy = JSON.parse(JSON.stringify(record)) as JournalRecord;
    this.records.push(copy);
    this.journal.get(runId)!.push(copy);
    const project = this.rows.get(runId)?.projectId ?? "";
    for (const w of copy.memory?.writes ?? []) {
      if (w.scope === "task") continue;
      const k = `${w.scope}|${w.scope === "global" ? "" : project}|${w.store}|${w.key}`;
      if (w.deleted === true) {
        this.memory.delete(k);
        this.applied.push(`${w.store}/${w.key} deleted`);
        continue;
      }
      this.memory.set(k, JSON.stringify(w.value));
      this.applied.push(`${w.store}/${w.key}=${JSON.stringify(w.value)}`);
    }
  }
  update(runId: string, patch: Partial<StoredRun>): void {
    if (this.dead) return;
    const r = this.rows.get(runId);
    if (r) this.rows.set(runId, { ...r, ...patch });
  }
  load(runId: string): LoadedRun | undefined {
    const run = this.rows.get(runId);
    return run === undefined ? undefined : { run, records: this.journal.get(runId) ?? [] };
  }
  list(): readonly StoredRun[] {
    return [...this.rows.values()];
  }
  acquire(): boolean {
    return true;
  }
  release(): void {}
  close(): void {}
  /** What survives the crash, as a store a new process opens. */
  survivor(): CrashingStore & { outcomeKeys(runId: string): string[]; events(runId: string): readonly EngineEvent[] } {
    const s = new CrashingStore(Number.POSITIVE_INFINITY);
    for (const row of this.rows.values()) s.createRun(row);
    for (const [id, recs] of this.journal) for (const r of recs) s.journal.get(id)!.push(r);
    for (const [k, v] of this.memory) s.memory.set(k, v);
    s.applied.push(...this.applied);
    return Object.assign(s, {
      outcomeKeys: (runId: string) => (s.journal.get(runId) ?? []).flatMap((r) => r.outcomes.map((o) => o.key)),
      events: (runId: string) => (s.journal.get(runId) ?? []).flatMap((r) => r.events),
    });
  }
}
