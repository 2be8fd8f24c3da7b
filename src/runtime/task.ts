/**
 * The run's data model: tasks, fork frames, stages and their outcomes. Plain state, no
 * behaviour beyond small accessors; the loop (Run), the executor (StageExecutor) and the
 * fork-join module (ForkJoin) share it. Internal.
 *
 * @module
 */
import type { GraphNode } from "../dag/types.js";
import { freezeShell, type JsonValue } from "../json.js";
import type { ErrorInfo, EventPayloads, EventType, Status } from "../telemetry/events.js";
import { isoNow } from "../telemetry/clock.js";
import type { KvWrite, StageMemory, TaskMemory } from "./memory.js";
import type { Plan } from "./transition.js";
import type { HistoryEntry, TaskResult, ToolCallRecord } from "./types.js";

/** A branch or split in progress: the parent task waits while its children run. */
export interface ForkFrame {
  readonly parent: TaskState;
  readonly nodeId: string;
  readonly kind: "branch" | "split";
  readonly children: TaskState[];
  ended: number;
  /** Arrivals waiting in unfired merge groups. */
  waiting: number;
  /** A merge of this fork already resumed the parent. */
  resumed: boolean;
  settled: boolean;
}

/** One task (root, clone or subtask) of a run. */
export class TaskState {
  output: JsonValue;
  readonly history: HistoryEntry[] = [];
  partial = false;
  error: ErrorInfo | undefined;
  status: Status | undefined;
  /** Children made by this task's forks (ids `<id>.<n>`). */
  forkChildren = 0;
  /** Clones of this task made by a second merge of one of its forks (ids `<id>.m<n>`). */
  mergeClones = 0;
  /** Task-scope memory after its last committed stage (workflows with task-scope kv stores). */
  taskMem: TaskMemory | undefined = undefined;
  constructor(
    readonly id: string,
    readonly input: JsonValue,
    readonly lineage: readonly string[],
    /** The fork that created this task (undefined for the root). */
    readonly fork: ForkFrame | undefined,
    /** Every enclosing fork, outermost first. */
    readonly forks: readonly ForkFrame[],
    /** Index among its fork's children (item index for a split, edge position for a branch). */
    readonly itemIndex: number,
  ) {
    this.output = input;
  }
  get ended(): boolean {
    return this.status !== undefined;
  }
  /** Id of the node this task executed last, if any. */
  lastNode(): string | undefined {
    return this.history[this.history.length - 1]?.nodeId;
  }
  /** `waiting`: the run is suspended for an answer, so a task that has not ended is `interrupted`. */
  toResult(waiting = false): TaskResult {
    const history = Object.freeze(this.history.slice());
    const status = this.status ?? (waiting ? "interrupted" : "failure");
    const error = this.error;
    const fork = this.fork;
    // One literal per shape (no spreads: this runs once per task).
    const r: TaskResult =
      error === undefined
        ? fork === undefined
          ? { taskId: this.id, status, output: this.output, input: this.input, lineage: this.lineage, history }
          : { taskId: this.id, status, output: this.output, input: this.input, lineage: this.lineage, parentTaskId: fork.parent.id, history }
        : fork === undefined
          ? { taskId: this.id, status, output: this.output, error, input: this.input, lineage: this.lineage, history }
          : { taskId: this.id, status, output: this.output, error, input: this.input, lineage: this.lineage, parentTaskId: fork.parent.id, history };
    return Object.freeze(r);
  }
}

/** Events and tool calls a stage produces while it runs, committed in order later. */
export class StageScope {
  /** `[type, payload, timestamp]`: the time is when it happened, not when it is committed. */
  readonly events: [EventType, unknown, string][] = [];
  readonly toolCalls: ToolCallRecord[] = [];
  private calls = 0;
  constructor(
    readonly taskId: string,
    readonly nodeId: string,
    readonly signal: AbortSignal,
  ) {}
  /** Buffers an event; payload values must be sealed. */
  emit<T extends EventType>(type: T, payload: EventPayloads[T]): void {
    this.events.push([type, payload, isoNow()]);
  }
  /** Next call id for a tool call of this stage. */
  nextCallId(): string {
    return `${this.taskId}/${this.nodeId}/${++this.calls}`;
  }
}

/** What executing a stage produced, before routing. */
export interface StageOutcome {
  readonly ok: boolean;
  readonly output: JsonValue;
  readonly error?: ErrorInfo | undefined;
  readonly startedAt: string;
  readonly endedAt: string;
  readonly durationMs: number;
  readonly scope: StageScope | undefined;
  /** The stage suspended the run instead of finishing (`interrupt: before`, `ctx.interrupt()`). */
  readonly interrupt?: { readonly kind: "before" | "handler"; readonly payload: JsonValue } | undefined;
  /** Its `ctx.memory.put` writes (successful stages only), applied at its commit. */
  readonly writes?: readonly KvWrite[] | undefined;
}

/** A {@link StageOutcome} with one fixed shape (every stage builds one; no spreads). */
export class Outcome implements StageOutcome {
  constructor(
    readonly ok: boolean,
    readonly output: JsonValue,
    readonly error: ErrorInfo | undefined,
    readonly startedAt: string,
    readonly endedAt: string,
    readonly durationMs: number,
    readonly scope: StageScope | undefined,
    readonly interrupt: { readonly kind: "before" | "handler"; readonly payload: JsonValue } | undefined,
  ) {}
  /** Set by the executor for a successful stage that wrote memory. */
  writes: readonly KvWrite[] | undefined = undefined;
}

/** Thrown by `ctx.interrupt()` to suspend the stage; never seen by users unless they catch it. */
export class InterruptSignal extends Error {
  constructor(readonly payload: JsonValue) {
    super("the run is suspended until ctx.interrupt() gets an answer (do not catch this)");
    this.name = "InterruptSignal";
  }
}

/**
 * One unit of work: a task at a node with its input. Created once (by routing, a fork or a
 * merge firing) and then executed at most once, as early as its input is known; its commit
 * happens later, in the logical order. A class so every stage has one shape.
 */
export class Stage {
  /** Execution state. */
  state: "new" | "queued" | "running" | "done" = "new";
  startedAt: string | undefined = undefined;
  outcome: StageOutcome | undefined = undefined;
  /** Called once {@link outcome} is set, when the commit is waiting for it. */
  waiter: (() => void) | undefined = undefined;
  /** Computed once from the outcome (see transition.ts). */
  plan: Plan | undefined = undefined;
  /** The stages and tasks its commit creates (Run's bookkeeping), computed once. */
  successors: unknown = undefined;
  /** Task-scope memory as of the stage's start (workflows with task-scope kv stores). */
  taskMem: TaskMemory | undefined = undefined;
  /** Its `ctx.memory`, once used (also holds whether it gave its execution slot back while waiting). */
  access: StageMemory | undefined = undefined;
  /** Its outcome came from the journal (committed before a crash or interrupt): not journaled again. */
  replayed = false;
  constructor(
    readonly task: TaskState,
    readonly node: GraphNode,
    readonly input: JsonValue,
    /** Logical depth (wave number): earlier waves get execution slots first. */
    readonly wave: number,
    /** Start order among stages of its wave, for fair slot assignment. */
    readonly order: number,
    /** Answers given to this stage's interrupts so far (a re-run after `ctx.interrupt()` or `before`). */
    readonly answers: readonly JsonValue[],
    /** Set for merge stages whose failure policy already decided the outcome. */
    readonly preFailed: ErrorInfo | undefined,
    /** An `interrupt: after` answered: commit the (possibly replaced) outcome without asking again. */
    readonly approved: boolean,
  ) {}
}

/**
 * The signal of a run nobody can cancel. One shared constant: the executor recognises it (and
 * adds no listener to it), so it must be the very object the loop passes.
 */
export const NEVER: AbortSignal = new AbortController().signal;

/** A frozen `{ code, message[, path] }`. */
export function info(code: string, message: string, path?: string): ErrorInfo {
  return freezeShell(path === undefined ? { code, message } : { code, message, path });
}
