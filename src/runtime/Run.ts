/**
 * One execution of a workflow: the loop that orders work.
 *
 * Two orders are kept apart:
 * - **Execution is eager.** A stage starts as soon as its own input is known: when the previous
 *   stage of the same task has an outcome, its route is planned at once (a pure function, see
 *   transition.ts) and the next stage starts, whatever unrelated stages are still running.
 * - **Commits are logical.** Outcomes are committed (history, events, routing, merges) in the
 *   order of the wave model of CONTRACT §3: wave by wave, each wave in the order earlier commits
 *   created its stages. A commit waits for its stage's outcome, never for wall-clock order.
 *
 * Results and the event sequence are therefore a function of the manifests, the input and the
 * handler/LLM results only; scheduling changes latency, never content. `scheduling: "waves"`
 * turns running ahead off (each wave runs only when the previous one is committed): the old model,
 * kept to prove the equivalence in tests and to measure it in benchmarks.
 *
 * @module
 */
import type { GraphEdge, GraphNode, WorkflowGraph } from "../dag/types.js";
import { errorMessage } from "../errors.js";
import { freezeShell, type JsonValue } from "../json.js";
import type { EdgeRef, EngineEvent, ErrorInfo, EventPayloads, EventType, Status } from "../telemetry/events.js";
import type { TelemetryBus } from "../telemetry/TelemetryBus.js";
import { edgeRef, ForkJoin, type ForkJoinHost } from "./ForkJoin.js";
import { StageExecutor, type RunServices } from "./StageExecutor.js";
import { recordOutcome, replayOutcome, stageKey, type Answer, type JournalRecord, type RecordedOutcome, type RunCheckpoint, type RunJournal } from "./journal.js";
import { RunMemory, withTaskWrites, type MemoryBackend, type MemoryBatch, type MemoryHost, type MemoryPlan } from "./memory.js";
import { info, NEVER, Stage, type StageOutcome, TaskState, type ForkFrame } from "./task.js";
import { transition, type Plan } from "./transition.js";
import type { HistoryEntry, InterruptInfo, RunResult, ToolCallRecord } from "./types.js";

export type { RunServices } from "./StageExecutor.js";
export { StageScope } from "./task.js";

/** How a run orders execution. */
export type Scheduling = "eager" | "waves";

const EMPTY_CALLS: readonly ToolCallRecord[] = Object.freeze([]);
const noop = (): void => {};
const NO_ANSWERS: readonly JsonValue[] = Object.freeze([]);

/** How one run is set up. */
export interface RunSetup {
  readonly runId: string;
  /** Id of the root task (default: a new one). */
  readonly rootTaskId?: string;
  readonly scheduling?: Scheduling;
  /** Continue from here (resume after a crash or an interrupt). */
  readonly checkpoint?: RunCheckpoint;
  /** Persist each commit point here before its events reach plugins. */
  readonly journal?: RunJournal;
  /** kv memory (workflows whose memory.yaml declares kv stores). */
  readonly memory?: { readonly plan: MemoryPlan; readonly backend: MemoryBackend | undefined; readonly projectId: string };
}

/** A run that cannot go on: its journal failed, or a resume does not fit it. */
export class JournalError extends Error {
  constructor(
    message: string,
    readonly code: "STORE_WRITE_FAILED" | "RESUME_DIVERGED" | "INTERRUPT_UNKNOWN",
  ) {
    super(message);
    this.name = "JournalError";
  }
}

/** What a stage's commit will do beyond its plan: the stages and tasks it creates. */
interface Successors {
  /** The next stage of the same task (not for merge targets: those are decided at commit). */
  readonly next?: Stage;
  /** For forks: the frame and one entry per child. */
  readonly fork?: { readonly frame: ForkFrame; readonly children: readonly { readonly child: TaskState; readonly next?: Stage }[] };
}

/** Min-heap of stages by (wave, order): the earliest logical work gets a free slot first. */
class StageHeap {
  private readonly a: Stage[] = [];
  get size(): number {
    return this.a.length;
  }
  private static less(x: Stage, y: Stage): boolean {
    return x.wave < y.wave || (x.wave === y.wave && x.order < y.order);
  }
  push(s: Stage): void {
    const a = this.a;
    a.push(s);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!StageHeap.less(a[i]!, a[p]!)) break;
      [a[i], a[p]] = [a[p]!, a[i]!];
      i = p;
    }
  }
  pop(): Stage | undefined {
    const a = this.a;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last !== undefined) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && StageHeap.less(a[l]!, a[m]!)) m = l;
        if (r < a.length && StageHeap.less(a[r]!, a[m]!)) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m]!, a[i]!];
        i = m;
      }
    }
    return top;
  }
}

/** Executes one run. Create one per `engine.run()` call. Internal. */
export class Run implements ForkJoinHost, MemoryHost {
  readonly graph: WorkflowGraph;
  private readonly bus: TelemetryBus;
  private readonly executor: StageExecutor;
  private readonly forkJoin: ForkJoin;
  private readonly tasks: TaskState[] = [];
  /** The next logical wave, in commit order. */
  private ready: Stage[] = [];
  private wave = 0;
  private order = 0;
  // Execution slots.
  private readonly limit: number;
  private running = 0;
  private readonly heap = new StageHeap();
  private fifo: Stage[] = [];
  private fifoHead = 0;
  private pumping = false;
  private keepAlive: ReturnType<typeof setInterval> | undefined;
  // Journal and interrupts.
  private readonly runId: string;
  private readonly rootTaskId: string | undefined;
  private readonly checkpoint: RunCheckpoint | undefined;
  private readonly journal: RunJournal | undefined;
  /** Answers still to apply (resume), in order. */
  private readonly answers: Answer[];
  /** Events of the checkpoint still to skip (they were emitted before the crash or interrupt). */
  private skip: number;
  private emittedCount = 0;
  /** Committed since the last persist point. */
  private batchOutcomes: { key: string; outcome: StageOutcome }[] = [];
  private batchEvents: EngineEvent[] = [];
  private batchAnswer: Answer | undefined;
  /** Every committed outcome (to suspend in memory without a journal). */
  private readonly committed: Stage[] = [];
  private readonly parked: { readonly info: InterruptInfo; readonly stage: Stage }[] = [];
  // kv memory: undefined unless memory.yaml declares kv stores (nothing below runs otherwise).
  private readonly mem: RunMemory | undefined;
  /** The wave being committed, and how many of its stages are committed (for memory reads). */
  private waveList: readonly Stage[] = [];
  private waveDone = 0;

  constructor(services: RunServices, signal: AbortSignal | undefined, options: RunSetup) {
    this.graph = services.graph;
    this.bus = services.bus;
    this.limit = services.maxConcurrency;
    const m = options.memory;
    this.mem = m === undefined ? undefined : new RunMemory(m.plan, m.backend, this, m.projectId, options.checkpoint?.memoryBases);
    this.executor = new StageExecutor(services, signal ?? NEVER, this.mem);
    this.forkJoin = new ForkJoin(this);
    this.newTaskId = () => services.newTaskId();
    this.scheduling = options.scheduling ?? "eager";
    this.runId = options.runId;
    this.rootTaskId = options.rootTaskId;
    this.checkpoint = options.checkpoint;
    this.journal = options.journal;
    this.answers = options.checkpoint ? options.checkpoint.answers.slice() : [];
    this.skip = options.checkpoint ? options.checkpoint.emitted.length : 0;
  }

  private readonly newTaskId: () => string;
  private readonly scheduling: Scheduling;

  /** Runs to completion (or until it waits for an answer). Never rejects for workflow failures. */
  async execute(input: JsonValue, start: GraphNode): Promise<RunResult> {
    const cp = this.checkpoint;
    const root = new TaskState(cp ? cp.rootTaskId : (this.rootTaskId ?? this.newTaskId()), input, Object.freeze([]), undefined, Object.freeze([]), 0);
    this.tasks.push(root);
    this.beginCommit(); // stored with the first wave's node.started
    this.emit("task.started", root.id, undefined, { input, startNode: start.id, lineage: root.lineage });
    // Waves are numbered as the loop commits them (the root's stage is committed in wave 1), so
    // a stage's `wave` is its logical start: what memory reads resolve against.
    this.ready.push(this.makeStage(root, start, input, 1));

    try {
      await this.loop();
    } catch (err) {
      if (err instanceof JournalError && err.code !== "STORE_WRITE_FAILED") {
        // A resume that does not fit the run: nothing new was recorded (the mismatch is found
        // while replaying), so the caller can leave the run as it was.
        this.releaseAll();
        throw err;
      }
      // A bug in the engine (or a journal that cannot be written) must not surface as an
      // unhandled rejection or a half-finished run: record it as an `error` event and fail every
      // task still open.
      const error = info(err instanceof JournalError ? err.code : "INTERNAL_ERROR", err instanceof JournalError ? err.message : `internal engine error: ${errorMessage(err)}; please report it`);
      this.skip = 0;
      this.releaseAll();
      this.bus.emit("error", root.id, undefined, { source: "runtime", error });
      this.ready = [];
      this.parked.length = 0;
      this.forkJoin.clear();
      for (const t of this.tasks) {
        if (t.ended) continue;
        t.error ??= error;
        t.status = "failure";
        this.bus.emit("task.failed", t.id, undefined, { status: "failure", output: t.output, error });
      }
    } finally {
      if (this.keepAlive !== undefined) clearInterval(this.keepAlive);
      this.mem?.dispose();
    }

    const waiting = this.parked.length > 0 && !root.ended;
    const children = Object.freeze(this.tasks.slice(1).map((t) => t.toResult(waiting)));
    const r = root.toResult();
    if (waiting) {
      const interrupts = Object.freeze(this.parked.map((p) => p.info));
      return Object.freeze({ ...r, runId: this.runId, status: "interrupted" as const, children, interrupt: interrupts[0]!, interrupts });
    }
    return Object.freeze({ ...r, runId: this.runId, children });
  }

  /** The state to continue from while the run waits for an answer (no journal: kept in memory). */
  suspendedCheckpoint(input: JsonValue, startNode: string): RunCheckpoint {
    const outcomes = new Map<string, RecordedOutcome>(this.checkpoint?.outcomes);
    for (const s of this.committed) outcomes.set(stageKey(s.task.id, s.node.id, s.answers.length), recordOutcome(s.outcome!));
    return {
      runId: this.runId,
      rootTaskId: this.tasks[0]!.id,
      input,
      startNode,
      outcomes,
      // In-process: the count is enough to skip them (the workflow cannot change under this engine).
      emitted: [...(this.checkpoint?.emitted ?? []), ...(Array.from({ length: this.emittedLocal }) as (readonly [string, string, string | undefined])[])],
      answers: [...(this.checkpoint?.answers ?? [])],
      ...(this.mem !== undefined ? { memoryBases: this.mem.knownBases() } : {}),
    };
  }

  /** Events emitted by this run without a journal (counted only: the hot path allocates nothing). */
  private emittedLocal = 0;

  /**
   * Emits an event, or, while continuing a run, skips one that was already emitted before (and
   * checks it is the same: a workflow changed under a suspended run is refused).
   */
  private emit<T extends EventType>(type: T, taskId: string, nodeId: string | undefined, payload: EventPayloads[T], at?: string): void {
    if (this.skip > 0) {
      const was = this.checkpoint!.emitted[this.checkpoint!.emitted.length - this.skip];
      this.skip--;
      if (was !== undefined && (was[0] !== type || was[2] !== nodeId)) {
        throw new JournalError(`run ${this.runId} cannot be continued: the workflow no longer produces the recorded events (expected ${was[0]}${was[2] ? ` at ${was[2]}` : ""}, got ${type}${nodeId ? ` at ${nodeId}` : ""}); was workflow.yaml or a handler changed?`, "RESUME_DIVERGED");
      }
      return;
    }
    const event = this.bus.emit(type, taskId, nodeId, payload, at);
    this.emittedCount++;
    if (this.journal !== undefined) this.batchEvents.push(event);
    else this.emittedLocal++;
  }

  /**
   * Persists what was committed since the last call; events reach plugins after it is stored.
   * A journal record carries the commits' `project`/`global` memory writes (same transaction);
   * without a journal they are applied to the store here.
   */
  private persist(): void | Promise<void> {
    const journal = this.journal;
    const mem = this.mem;
    if (journal === undefined) {
      // No journal: `project`/`global` writes go to the store now (the engine's memory, by default).
      if (mem === undefined || !mem.hasPending) return;
      try {
        const r = mem.flush();
        return r === undefined ? undefined : r.catch(storeFailed);
      } catch (err) {
        storeFailed(err);
      }
    }
    if (mem !== undefined && mem.hasPending) {
      // The keys' values before the run's first write are fetched (and journaled) first.
      let batch: MemoryBatch | Promise<MemoryBatch> | undefined;
      try {
        batch = mem.takeBatch();
      } catch (err) {
        this.release();
        storeFailed(err);
      }
      if (batch instanceof Promise) {
        return batch.then(
          (b) => this.append(journal, b),
          (err: unknown) => {
            this.release();
            storeFailed(err);
          },
        );
      }
      return this.append(journal, batch);
    }
    return this.append(journal, undefined);
  }

  private append(journal: RunJournal, memory: MemoryBatch | undefined): void | Promise<void> {
    if (this.batchEvents.length === 0 && this.batchOutcomes.length === 0 && this.batchAnswer === undefined) {
      this.release();
      return;
    }
    const record: JournalRecord = {
      outcomes: this.batchOutcomes.map((c) => ({ key: c.key, outcome: recordOutcome(c.outcome) })),
      events: this.batchEvents,
      ...(this.batchAnswer ? { answer: this.batchAnswer } : {}),
      ...(memory !== undefined ? { memory: { writes: memory.writes, bases: memory.bases } } : {}),
    };
    this.batchOutcomes = [];
    this.batchEvents = [];
    this.batchAnswer = undefined;
    let r: void | Promise<void>;
    try {
      r = journal.append(record);
    } catch (err) {
      this.release();
      throw new JournalError(`the run store could not record a commit: ${errorMessage(err)}`, "STORE_WRITE_FAILED");
    }
    if (r === undefined) {
      this.release();
      return;
    }
    return r.then(
      () => this.release(),
      (err: unknown) => {
        this.release();
        throw new JournalError(`the run store could not record a commit: ${errorMessage(err)}`, "STORE_WRITE_FAILED");
      },
    );
  }

  /** Starts a commit point: events are held until {@link persist} stored them. */
  private beginCommit(): void {
    if (this.journal !== undefined && !this.holding) {
      this.holding = true;
      this.bus.hold();
    }
  }

  /** Events emitted since the last persist are held from plugins. */
  private holding = false;

  private release(): void {
    if (!this.holding) return;
    this.holding = false;
    this.bus.release();
  }

  private releaseAll(): void {
    this.release();
  }

  /** Persists the commits made since the last persist, if any (see the group commit in {@link loop}). */
  private flush(): void | Promise<void> {
    // Without a journal nothing is held, but kv memory writes may wait to be applied to the store.
    return this.holding || (this.mem !== undefined && this.mem.hasPending) ? this.persist() : undefined;
  }

  private async loop(): Promise<void> {
    const hasReady = (): boolean => this.ready.length > 0;
    for (;;) {
      if (this.ready.length > 0) {
        const wave = this.ready;
        this.ready = [];
        this.wave++;
        if (this.mem !== undefined) {
          this.waveList = wave;
          this.waveDone = 0;
          this.mem.recheck();
        }
        this.beginCommit();
        for (const s of wave) {
          // A stage that only asks before running, or an answered `after` whose node already
          // started, has no node.started of its own.
          if (s.approved || (s.node.interrupt === "before" && s.answers.length === 0)) continue;
          this.emit("node.started", s.task.id, s.node.id, { role: s.node.role, kind: s.node.kind, input: s.input }, s.startedAt);
        }
        // Group commit: the commits made since the last persist (the previous wave's last ones,
        // its merges) and these node.started events are one journal record, one transaction,
        // stored before the stages run; likewise before each wait below. Commits that follow each
        // other without a wait share a record, so no event is held longer than it takes to
        // compute them. No await (and no microtask) unless the journal is asynchronous.
        let p = this.flush();
        if (p !== undefined) await p;
        for (const s of wave) this.request(s);
        this.pump();
        for (const s of wave) {
          if (s.outcome === undefined) {
            p = this.flush();
            if (p !== undefined) await p;
          }
          if (s.outcome === undefined) {
            // A run in flight keeps the process alive, so run() always resolves (a handler that
            // never settles ends at its timeout).
            this.keepAlive ??= setInterval(noop, 1 << 30);
            await new Promise<void>((resolve) => {
              s.waiter = resolve;
            });
          }
          this.beginCommit();
          this.commit(s);
          if (this.mem !== undefined) this.committedMemory();
        }
        this.beginCommit();
        this.forkJoin.advance(false, hasReady);
        continue;
      }
      this.beginCommit();
      // Nothing is ready: fire whatever merges remain (they cannot receive more arrivals), unless
      // a task waiting for an answer may still arrive (then they wait with it).
      if (this.forkJoin.hasGroups && this.parked.length === 0) {
        this.forkJoin.advance(true, hasReady);
        continue;
      }
      this.forkJoin.advance(false, hasReady);
      if (this.ready.length === 0 && this.parked.length > 0 && this.answers.length > 0) {
        // An answer is journaled in a record of its own.
        let p = this.flush();
        if (p !== undefined) await p;
        this.beginCommit();
        this.applyAnswer(this.answers.shift()!);
        p = this.flush();
        if (p !== undefined) await p;
      }
      if (this.ready.length === 0) {
        const p = this.flush();
        if (p !== undefined) await p;
        return;
      }
    }
  }

  /** Continues a parked stage with an answer, at a point where nothing else was ready. */
  private applyAnswer(a: Answer): void {
    const i = this.parked.findIndex((p) => p.info.id === a.interruptId);
    if (i < 0) throw new JournalError(`run ${this.runId}: no interrupt ${a.interruptId} is waiting (waiting: ${this.parked.map((p) => p.info.id).join(", ") || "none"})`, "INTERRUPT_UNKNOWN");
    const [{ info: it, stage: s }] = this.parked.splice(i, 1) as [{ info: InterruptInfo; stage: Stage }];
    // An answer given before is replayed with its run.resumed event still to skip (both were
    // journaled in one record); journaling it again would make a later resume apply it twice.
    const given = this.skip > 0;
    this.emit("run.resumed", s.task.id, s.node.id, { interruptId: it.id, answer: a.answer });
    if (this.journal !== undefined && !given) this.batchAnswer = a;
    if (it.kind !== "after") {
      // before / ctx.interrupt(): the node runs (again) and sees the answer.
      const again = this.makeStage(s.task, s.node, s.input, this.wave + 1, undefined, [...s.answers, a.answer]);
      if (s.taskMem !== undefined) again.taskMem = s.taskMem;
      this.ready.push(again);
      return;
    }
    // after: keep, replace or reject the output the node produced.
    const o = s.outcome!;
    const answer = a.answer;
    const obj = answer !== null && typeof answer === "object" && !Array.isArray(answer) ? (answer as Readonly<Record<string, JsonValue>>) : undefined;
    let outcome: StageOutcome = o;
    if (obj !== undefined && "output" in obj) {
      const output = obj["output"]!;
      const problems = s.node.schemaOut ? s.node.schemaOut.validate(output) : [];
      outcome = problems.length > 0 ? { ...o, ok: false, output: s.input, error: info("SCHEMA_OUT_FAILED", `the replacement output does not match schema_out "${s.node.schemaOut!.name}": ${problems.join("; ")}`) } : { ...o, output };
    } else if (obj !== undefined && obj["approve"] === false) {
      const reason = typeof obj["reason"] === "string" ? `: ${obj["reason"]}` : "";
      outcome = { ...o, ok: false, output: s.input, error: info("INTERRUPT_REJECTED", `the output of node "${s.node.id}" was rejected${reason}`) };
    } else if (!(obj !== undefined && obj["approve"] === true)) {
      outcome = { ...o, ok: false, output: s.input, error: info("INTERRUPT_REJECTED", `the answer to interrupt ${it.id} must be { approve: true }, { approve: false, reason } or { output }`) };
    }
    // A rejected output's memory writes are discarded with it (commitMemory: only successes write).
    const next = new Stage(s.task, s.node, s.input, this.wave + 1, ++this.order, s.answers, undefined, true);
    next.state = "done";
    next.outcome = outcome;
    next.taskMem = s.taskMem;
    this.ready.push(next);
  }

  // ---------------------------------------------------------------- execution slots

  private makeStage(task: TaskState, node: GraphNode, input: JsonValue, wave: number, preFailed?: ErrorInfo, answers: readonly JsonValue[] = NO_ANSWERS): Stage {
    return new Stage(task, node, input, wave, ++this.order, answers, preFailed, false);
  }

  /** Asks for a stage to be executed as soon as a slot is free. */
  private request(s: Stage): void {
    if (s.state !== "new") return;
    s.state = "queued";
    if (this.limit === Number.POSITIVE_INFINITY) this.fifo.push(s);
    else this.heap.push(s);
  }

  /** Starts queued stages while slots are free. Re-entrant calls return at once (a trampoline). */
  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    try {
      for (;;) {
        if (this.running >= this.limit) return;
        let s: Stage | undefined;
        if (this.fifoHead < this.fifo.length) {
          s = this.fifo[this.fifoHead++];
          if (this.fifoHead === this.fifo.length) {
            this.fifo = [];
            this.fifoHead = 0;
          }
        } else s = this.heap.pop();
        if (s === undefined) return;
        if (s.state !== "queued") {
          // A stage that waited for memory gets its slot back (unless it no longer queues).
          const a = s.access;
          const resume = a?.resumeSlot;
          if (resume !== undefined) {
            a!.resumeSlot = undefined;
            a!.slotless = false;
            this.running++;
            resume();
          }
          continue;
        }
        this.start(s);
      }
    } finally {
      this.pumping = false;
    }
  }

  private start(s: Stage): void {
    s.state = "running";
    this.running++;
    const recorded = this.checkpoint?.outcomes.get(stageKey(s.task.id, s.node.id, s.answers.length));
    if (recorded !== undefined) {
      // Committed before the crash or interrupt: never executed again (nor journaled again).
      s.replayed = true;
      this.settle(s, replayOutcome(recorded, s.task.id, s.node.id));
      return;
    }
    const r = this.executor.execute(s);
    if (r instanceof Promise) {
      void r.then((o) => {
        this.settle(s, o);
        this.pump();
      });
    } else this.settle(s, r);
  }

  private settle(s: Stage, o: StageOutcome): void {
    s.outcome = o;
    s.state = "done";
    if (s.access !== undefined) s.access.end();
    this.running--;
    if (s.waiter !== undefined) s.waiter();
    if (this.scheduling === "eager" && o.interrupt === undefined && !(s.node.interrupt === "after" && !s.approved)) {
      const succ = this.successorsOf(s);
      if (succ.next) this.request(succ.next);
      if (succ.fork) for (const c of succ.fork.children) if (c.next) this.request(c.next);
    }
    // Its writes are known and its successors planned: reads waiting for it may go.
    if (this.mem !== undefined) this.mem.recheck();
  }

  /** The stage's plan and the stages/tasks its commit will create; computed once. */
  private successorsOf(s: Stage): Successors {
    // A plain field, not a WeakMap: ephemerons make every GC pay per stage.
    let succ = s.successors as Successors | undefined;
    if (succ !== undefined) return succ;
    const plan = this.planOf(s);
    const route = plan.route;
    const nodes = this.graph.nodes;
    succ = {};
    if (route.kind === "follow") {
      const target = nodes.get(route.edge.to)!;
      if (target.role !== "merge") succ = { next: this.makeStage(s.task, target, plan.taskOutput, s.wave + 1) };
    } else if (route.kind === "fork") {
      const frame = ForkJoin.frame(s.task, s.node, route.fork);
      const children = route.routes.map((r, i) => {
        const child = ForkJoin.child(frame, r.input, i);
        const target = nodes.get(r.edge.to)!;
        return target.role === "merge" ? { child } : { child, next: this.makeStage(child, target, r.input, s.wave + 1) };
      });
      succ = { fork: { frame, children } };
    }
    if (this.mem !== undefined && this.mem.plan.hasTask) {
      // Task memory travels with the task: the next stage (and a fork's children, as a copy)
      // starts from what this one leaves, known as soon as its outcome is.
      const after = withTaskWrites(s.taskMem, plan.ok ? s.outcome!.writes : undefined);
      if (succ.next) succ.next.taskMem = after;
      if (succ.fork) {
        for (const c of succ.fork.children) {
          c.child.taskMem = after;
          if (c.next) c.next.taskMem = after;
        }
      }
    }
    s.successors = succ;
    return succ;
  }

  private planOf(s: Stage): Plan {
    return (s.plan ??= transition(s.node, s.input, s.outcome!, this.executor.aborted));
  }

  // ---------------------------------------------------------------- commit (logical order)

  /** After a commit, with kv memory: reads waiting for it may go. */
  private committedMemory(): void {
    this.waveDone++;
    this.mem!.recheck();
  }

  private commit(s: Stage): void {
    const { task, node } = s;
    const o = s.outcome!;
    if (!s.approved) {
      if (this.journal === undefined) this.committed.push(s);
      else if (!s.replayed) this.batchOutcomes.push({ key: stageKey(task.id, node.id, s.answers.length), outcome: o });
    }
    if (o.scope && !s.approved) for (const [type, payload, at] of o.scope.events) this.emit(type, task.id, node.id, payload as never, at);
    if (o.interrupt !== undefined || (node.interrupt === "after" && !s.approved && o.ok)) {
      this.park(s, o.interrupt?.kind ?? "after", o.interrupt ? o.interrupt.payload : o.output);
      return;
    }
    const plan = this.planOf(s);
    const succ = this.successorsOf(s);
    const error = plan.error;

    const toolCalls = o.scope !== undefined && o.scope.toolCalls.length > 0 ? Object.freeze(o.scope.toolCalls.slice()) : EMPTY_CALLS;
    // One literal per shape (no spread): a history entry is made for every stage.
    const entry: HistoryEntry =
      error === undefined
        ? { nodeId: node.id, role: node.role, kind: node.kind, input: s.input, output: plan.ok ? plan.output : null, status: plan.ok ? "success" : "failure", toolCalls, startedAt: o.startedAt, endedAt: o.endedAt }
        : { nodeId: node.id, role: node.role, kind: node.kind, input: s.input, output: plan.ok ? plan.output : null, status: plan.ok ? "success" : "failure", error, toolCalls, startedAt: o.startedAt, endedAt: o.endedAt };
    task.history.push(Object.freeze(entry));

    const route = plan.route;
    if (!plan.ok) {
      // The user's stack stays in the history entry; events carry code and message.
      const evError = error!.stack === undefined ? error! : withoutStack(error!);
      this.emit("node.failed", task.id, node.id, { role: node.role, kind: node.kind, error: evError, continued: plan.continued, durationMs: o.durationMs }, o.endedAt);
      task.error ??= evError;
      if (!plan.continued) {
        this.endTask(task, "failure");
        return;
      }
      task.partial = true;
    } else {
      this.emit("node.completed", task.id, node.id, { role: node.role, kind: node.kind, output: plan.output, durationMs: o.durationMs }, o.endedAt);
      task.output = plan.taskOutput;
    }
    if (this.mem !== undefined) this.commitMemory(s, plan.ok);

    switch (route.kind) {
      case "end":
        if (route.error) task.error ??= route.error;
        this.endTask(task, route.failed ? "failure" : task.partial ? "partial" : "success");
        return;
      case "follow":
        if (plan.decision) this.emit("routing.decision", task.id, node.id, { selected: plan.decision.selected, edge: edgeRef(plan.decision.edge) });
        this.follow(task, route.edge, succ.next);
        return;
      case "fork":
        this.commitFork(task, node, route.fork, route.routes.map((r) => r.edge), succ.fork!);
        return;
    }
  }

  /** Applies a committed stage's memory writes, puts and deletes (a failed stage's are discarded), in their order. */
  private commitMemory(s: Stage, ok: boolean): void {
    const mem = this.mem!;
    const writes = ok ? s.outcome!.writes : undefined;
    if (mem.plan.hasTask) s.task.taskMem = withTaskWrites(s.taskMem, writes);
    if (writes === undefined) return;
    for (const w of writes) {
      // A commit whose events were emitted before (continuing a run) was persisted with them,
      // writes included (one transaction): its writes rebuild the run's view, never the store.
      const persist = this.skip === 0;
      // A put's payload stays { store, scope, key }; a delete adds `deleted: true`.
      this.emit("memory.written", s.task.id, s.node.id, w.deleted === true ? { store: w.store, scope: w.scope, key: w.key, deleted: true } : { store: w.store, scope: w.scope, key: w.key });
      if (w.scope !== "task") mem.commitShared(w, s.wave, persist);
    }
  }

  /** Suspends a stage until its interrupt is answered; the rest of the run goes on. */
  private park(s: Stage, kind: InterruptInfo["kind"], payload: JsonValue): void {
    const id = `${s.task.id}/${s.node.id}/${s.answers.length + (s.approved ? 1 : 0)}`;
    const it: InterruptInfo = Object.freeze({ id, nodeId: s.node.id, taskId: s.task.id, kind, payload });
    this.parked.push({ info: it, stage: s });
    this.emit("run.interrupted", s.task.id, s.node.id, { interruptId: id, nodeId: s.node.id, kind, payload });
  }

  /** Moves a task along an edge: schedules its next stage, or parks the task at a merge. */
  private follow(task: TaskState, edge: GraphEdge, next: Stage | undefined): void {
    if (next !== undefined) this.ready.push(next);
    else this.forkJoin.arrive(task, this.graph.nodes.get(edge.to)!, edge);
  }

  private commitFork(parent: TaskState, node: GraphNode, kind: "branch" | "split", edges: readonly GraphEdge[], fork: NonNullable<Successors["fork"]>): void {
    const children = fork.children;
    const n = children.length;
    const listed: { readonly taskId: string; readonly edge: EdgeRef; readonly index?: number }[] = new Array(n);
    for (let i = 0; i < n; i++) {
      const child = children[i]!.child;
      this.tasks.push(child);
      listed[i] = kind === "branch" ? freezeShell({ taskId: child.id, edge: edgeRef(edges[i]!) }) : freezeShell({ taskId: child.id, edge: edgeRef(edges[i]!), index: i });
    }
    if (kind === "branch") this.emit("routing.branch", parent.id, node.id, { clones: freezeShell(listed) });
    else this.emit("routing.split", parent.id, node.id, { count: n, subtasks: freezeShell(listed as { taskId: string; edge: EdgeRef; index: number }[]) });
    for (let i = 0; i < n; i++) {
      const child = children[i]!.child;
      const ref = edgeRef(edges[i]!);
      if (kind === "branch") this.emit("clone.created", parent.id, node.id, { parentTaskId: parent.id, childTaskId: child.id, edge: ref });
      else this.emit("subtask.created", parent.id, node.id, { parentTaskId: parent.id, childTaskId: child.id, edge: ref, index: i });
      this.emit("task.started", child.id, undefined, { input: child.input, startNode: edges[i]!.to, parentTaskId: parent.id, lineage: child.lineage });
    }
    for (let i = 0; i < n; i++) this.follow(children[i]!.child, edges[i]!, children[i]!.next);
  }

  // ---------------------------------------------------------------- ForkJoinHost

  /** @internal */
  endTask(task: TaskState, status: Status): void {
    task.status = status;
    if (status === "failure") this.emit("task.failed", task.id, undefined, { status, output: task.output, ...(task.error ? { error: task.error } : {}) });
    else this.emit("task.completed", task.id, undefined, { status, output: task.output });
    if (task.fork) this.forkJoin.childEnded(task.fork);
  }

  /** @internal */
  emitFork(type: "routing.merge" | "clone.created" | "task.started", taskId: string, nodeId: string | undefined, payload: object): void {
    this.emit(type, taskId, nodeId, payload as never);
  }

  /** @internal */
  addTask(task: TaskState): void {
    this.tasks.push(task);
  }

  /** @internal */
  enqueueMerge(task: TaskState, node: GraphNode, input: JsonValue, preFailed: ErrorInfo | undefined): void {
    const s = this.makeStage(task, node, input, this.wave + 1, preFailed);
    // A merge continues the parent's task memory as it was at the fork.
    if (task.taskMem !== undefined) s.taskMem = task.taskMem;
    this.ready.push(s);
  }

  /** @internal */
  pendingCanReach(inScope: (t: TaskState) => boolean, mergeId: string): boolean {
    for (const s of this.ready) if (inScope(s.task) && this.graph.canReach(s.node.id, mergeId)) return true;
    // A task waiting for an answer will go on from its node.
    for (const p of this.parked) if (inScope(p.stage.task) && this.graph.canReach(p.stage.node.id, mergeId)) return true;
    return false;
  }

  // ---------------------------------------------------------------- MemoryHost

  /** @internal */
  get loopWave(): number {
    return this.wave;
  }

  /** @internal */
  forEachPending(below: number, fn: (s: Stage) => void): void {
    const stack: Stage[] = [];
    for (let i = this.waveDone; i < this.waveList.length; i++) stack.push(this.waveList[i]!);
    for (const s of this.ready) stack.push(s);
    for (let s = stack.pop(); s !== undefined; s = stack.pop()) {
      if (s.wave >= below) continue;
      fn(s);
      const succ = s.successors as Successors | undefined;
      if (succ === undefined) continue;
      if (succ.next) stack.push(succ.next);
      if (succ.fork) for (const c of succ.fork.children) if (c.next) stack.push(c.next);
    }
  }

  /** @internal */
  releaseSlot(s: Stage): void {
    const a = s.access;
    if (this.limit === Number.POSITIVE_INFINITY || a === undefined) return;
    const resume = a.resumeSlot;
    if (resume !== undefined) {
      // Queued for a slot again: it waits once more instead (its heap entry is skipped).
      a.resumeSlot = undefined;
      resume();
      return;
    }
    if (a.slotless) return;
    a.slotless = true;
    this.running--;
    this.pump();
  }

  /** @internal */
  acquireSlot(s: Stage): Promise<void> | undefined {
    const a = s.access;
    if (a === undefined || !a.slotless) return undefined;
    if (this.running < this.limit) {
      a.slotless = false;
      this.running++;
      return undefined;
    }
    return new Promise<void>((resolve) => {
      a.resumeSlot = resolve;
      this.heap.push(s);
    });
  }

  /** @internal */
  restoreSlot(s: Stage): void {
    const a = s.access;
    if (a === undefined || !a.slotless) return;
    a.slotless = false;
    this.running++;
    const resume = a.resumeSlot;
    if (resume !== undefined) {
      a.resumeSlot = undefined;
      resume();
    }
  }
}

function storeFailed(err: unknown): never {
  if (err instanceof JournalError) throw err;
  throw new JournalError(`the run store could not record a commit: ${errorMessage(err)}`, "STORE_WRITE_FAILED");
}

function withoutStack(e: ErrorInfo): ErrorInfo {
  const { stack: _stack, ...rest } = e;
  return Object.freeze(rest);
}
