/**
 * The run journal: what a run persists at each commit point so it can be continued after a
 * crash or an interrupt. A run is a deterministic function of its input, its stage outcomes and
 * the answers to its interrupts, in the logical commit order; so the journal records exactly
 * those (plus the events, for export and for checking), and continuing a run means running the
 * loop again with the recorded outcomes standing in for the executions: no committed stage runs
 * twice, no event is emitted twice. Internal.
 *
 * @module
 */
import { sealJson, type JsonValue } from "../json.js";
import type { EngineEvent, ErrorInfo, EventType } from "../telemetry/events.js";
import type { KvBase, KvWrite } from "./memory.js";
import type { StageOutcome } from "./task.js";
import { StageScope } from "./task.js";
import type { ToolCallRecord } from "./types.js";

/** A stage outcome as journaled (plain JSON). */
export interface RecordedOutcome {
  readonly ok: boolean;
  readonly output: JsonValue;
  readonly error?: ErrorInfo;
  readonly startedAt: string;
  readonly endedAt: string;
  readonly durationMs: number;
  /** The stage's own buffered events `[type, payload, timestamp]`. */
  readonly events: readonly (readonly [EventType, JsonValue, string])[];
  readonly toolCalls: readonly ToolCallRecord[];
  readonly interrupt?: { readonly kind: "before" | "handler"; readonly payload: JsonValue };
  /**
   * Its memory writes (every scope), applied at its commit: puts `{ store, scope, key, value }`
   * and deletes `{ store, scope, key, deleted: true }` (records made before deletes existed hold
   * puts only, and read the same).
   */
  readonly writes?: readonly KvWrite[];
}

/** An answer to an interrupt, in the order answers were given. */
export interface Answer {
  readonly interruptId: string;
  readonly answer: JsonValue;
}

/** One commit point: persisted atomically before its events reach plugins. */
export interface JournalRecord {
  /** Stage outcomes committed here, keyed by {@link stageKey}. */
  readonly outcomes: readonly { readonly key: string; readonly outcome: RecordedOutcome }[];
  /** The events emitted here, in `seq` order. */
  readonly events: readonly EngineEvent[];
  /** An answer applied here (`run.resumed`). */
  readonly answer?: Answer;
  /**
   * `project`/`global` memory writes (puts and deletes) committed here, in commit order, and the
   * values those keys had before the run first wrote them: written in the same transaction as the
   * rest.
   */
  readonly memory?: { readonly writes: readonly KvWrite[]; readonly bases: readonly KvBase[] };
}

/** Where a run's commit points go. `append` may be asynchronous (a database); the run waits. */
export interface RunJournal {
  append(record: JournalRecord): void | Promise<void>;
}

/** What continuing a run needs. */
export interface RunCheckpoint {
  readonly runId: string;
  readonly rootTaskId: string;
  readonly input: JsonValue;
  readonly startNode: string;
  /** Outcomes of every committed stage. */
  readonly outcomes: ReadonlyMap<string, RecordedOutcome>;
  /** `[type, taskId, nodeId]` of every event already emitted, in order (to skip and check them). */
  readonly emitted: readonly (readonly [string, string, string | undefined])[];
  /** Answers given so far, in order, including the new one. */
  readonly answers: readonly Answer[];
  /** Values `project`/`global` memory keys had before the run wrote them. */
  readonly memoryBases?: readonly KvBase[];
}

/** The journal key of a stage: task, node and how many answers it was run with. */
export function stageKey(taskId: string, nodeId: string, attempt: number): string {
  return `${taskId}\u0000${nodeId}\u0000${attempt}`;
}

/** The journal form of an outcome. */
export function recordOutcome(o: StageOutcome): RecordedOutcome {
  return {
    ok: o.ok,
    output: o.output,
    ...(o.error ? { error: o.error } : {}),
    startedAt: o.startedAt,
    endedAt: o.endedAt,
    durationMs: o.durationMs,
    events: o.scope ? (o.scope.events as unknown as RecordedOutcome["events"]) : [],
    toolCalls: o.scope ? o.scope.toolCalls : [],
    ...(o.interrupt ? { interrupt: o.interrupt } : {}),
    ...(o.writes ? { writes: o.writes } : {}),
  };
}

/** An outcome back from the journal, as if the stage had just run. */
export function replayOutcome(r: RecordedOutcome, taskId: string, nodeId: string): StageOutcome {
  let scope: StageScope | undefined;
  if (r.events.length > 0 || r.toolCalls.length > 0) {
    scope = new StageScope(taskId, nodeId, new AbortController().signal);
    for (const e of r.events) scope.events.push([e[0], e[1], e[2]]);
    for (const c of r.toolCalls) scope.toolCalls.push(c);
  }
  return {
    ok: r.ok,
    output: r.output,
    ...(r.error ? { error: r.error } : {}),
    startedAt: r.startedAt,
    endedAt: r.endedAt,
    durationMs: r.durationMs,
    scope,
    ...(r.interrupt ? { interrupt: r.interrupt } : {}),
    // From a database the values are plain JSON: sealed once, as handlers get them frozen.
    ...(r.writes && r.writes.length > 0 ? { writes: sealJson(r.writes) as unknown as readonly KvWrite[] } : {}),
  };
}
