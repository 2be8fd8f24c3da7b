/**
 * Normalization of events and results for comparisons across runs: drops what CONTRACT §3 lets
 * vary between runs (generated ids, timestamps, durations) and renames task ids to stable names
 * given in order of first appearance (`t1`, `t2`, ...).
 */

/** Keys holding a task id, wherever they appear. */
const TASK_ID_KEYS = new Set(["taskId", "childTaskId", "parentTaskId", "task_id"]);

/** Maps generated task ids to stable names, in order of first appearance. Share one across calls to keep names consistent. */
export class TaskNames {
  private readonly names = new Map<string, string>();
  name(id: string): string {
    let n = this.names.get(id);
    if (n === undefined) {
      n = `t${this.names.size + 1}`;
      this.names.set(id, n);
    }
    return n;
  }
  /** The stable name of `id` if it was seen, else `id`. */
  peek(id: string): string {
    return this.names.get(id) ?? id;
  }
}

type Ctx = { readonly names: TaskNames; readonly inHistory: boolean };

function walk(value: unknown, key: string | undefined, ctx: Ctx): unknown {
  if (Array.isArray(value)) {
    if (key === "lineage") return value.map((v) => (typeof v === "string" ? ctx.names.name(v) : walk(v, undefined, ctx)));
    const inner: Ctx = { names: ctx.names, inHistory: key === "history" };
    return value.map((v) => walk(v, undefined, inner));
  }
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      if (k === "durationMs" || k === "runId") continue;
      if (ctx.inHistory && (k === "startedAt" || k === "endedAt")) continue;
      out[k] = walk(v, k, { names: ctx.names, inHistory: false });
    }
    return out;
  }
  if (typeof value === "string" && key !== undefined) {
    if (TASK_ID_KEYS.has(key)) return ctx.names.name(value);
    if (key === "callId" || key === "interruptId") {
      const slash = value.indexOf("/");
      return slash < 0 ? value : ctx.names.name(value.slice(0, slash)) + value.slice(slash);
    }
  }
  return value;
}

/** A normalized event: no `id`, `timestamp` or `durationMs`; task ids renamed. */
export type NormalizedEvent = Record<string, unknown>;

/**
 * Events without `id`, `timestamp` and `durationMs` (anywhere in payloads), with task ids
 * (`taskId`, `childTaskId`, `parentTaskId`, `task_id`, `lineage`, the prefix of `callId`)
 * renamed to stable names by first appearance.
 */
export function normalizeEvents(events: readonly unknown[], names: TaskNames = new TaskNames()): NormalizedEvent[] {
  const ctx: Ctx = { names, inHistory: false };
  return events.map((e) => {
    const { id: _id, timestamp: _ts, ...rest } = e as Record<string, unknown>;
    return walk(rest, undefined, ctx) as NormalizedEvent;
  });
}

/**
 * A result without `durationMs`, history `startedAt`/`endedAt`, with task ids renamed (pass the
 * `names` used for the events to get the same names in both).
 */
export function normalizeResult(result: unknown, names: TaskNames = new TaskNames()): Record<string, unknown> {
  return walk(result, undefined, { names, inHistory: false }) as Record<string, unknown>;
}
