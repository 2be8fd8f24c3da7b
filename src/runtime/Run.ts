/**
 * One execution of a workflow: the root task, its clones and subtasks, scheduled in waves.
 *
 * Determinism: every stage that is ready runs concurrently with the others of its wave; when the
 * whole wave has settled, outcomes are committed, events emitted and routes taken in the wave's
 * fixed order (the order in which earlier commits created the stages). Wall-clock completion
 * order therefore never shows in results or in the event sequence. The cost is that a wave
 * advances at the pace of its slowest stage (see docs/ARCHITECTURE.md).
 *
 * @module
 */
import type { GraphEdge, GraphNode, WorkflowGraph } from "../dag/types.js";
import { errorMessage } from "../errors.js";
import { freezeShell, NotJsonError, sealJson, type JsonValue } from "../json.js";
import type { EdgeRef, ErrorInfo, EventPayloads, EventType, Status } from "../telemetry/events.js";
import { isoNow } from "../telemetry/clock.js";
import type { TelemetryBus } from "../telemetry/TelemetryBus.js";
import { compareArrivals, selectDecisionEdge, splitEdgeFor } from "./router.js";
import type { HandlerContext, HistoryEntry, NodeHandler, RunResult, TaskResult, ToolCallRecord } from "./types.js";

/** Services a run needs from the engine. Internal. */
export interface RunServices {
  readonly graph: WorkflowGraph;
  readonly bus: TelemetryBus;
  readonly handlers: ReadonlyMap<string, NodeHandler>;
  /** Runs an agent node; emits agent events through `scope`. */
  callAgent(node: GraphNode, input: JsonValue, context: JsonValue, scope: StageScope): Promise<JsonValue>;
  /** Invokes a tool for a node (allow-list already checked); emits tool events through `scope`. */
  callTool(node: GraphNode, toolId: string, args: unknown, scope: StageScope): Promise<JsonValue>;
  /** Assembles the node's context, or returns null for `none`. Throws with an ErrorInfo-like error. */
  assembleContext(node: GraphNode, input: JsonValue): JsonValue;
  /** New root task id. */
  newTaskId(): string;
  /** At most this many stages of a wave execute at once (Infinity: all). */
  readonly maxConcurrency: number;
}

/** Events and tool calls a stage produces while it runs, committed in order later. */
export class StageScope {
  readonly events: [EventType, unknown][] = [];
  readonly toolCalls: ToolCallRecord[] = [];
  private calls = 0;
  constructor(
    readonly taskId: string,
    readonly nodeId: string,
    readonly signal: AbortSignal,
  ) {}
  /** Buffers an event; payload values must be sealed. */
  emit<T extends EventType>(type: T, payload: EventPayloads[T]): void {
    this.events.push([type, payload]);
  }
  /** Next call id for a tool call of this stage. */
  nextCallId(): string {
    return `${this.taskId}/${this.nodeId}/${++this.calls}`;
  }
}

interface ForkFrame {
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

class TaskState {
  output: JsonValue;
  readonly history: HistoryEntry[] = [];
  partial = false;
  error: ErrorInfo | undefined;
  status: Status | undefined;
  childCount = 0;
  constructor(
    readonly id: string,
    readonly input: JsonValue,
    readonly lineage: readonly string[],
    /** The fork that created this task (undefined for the root). */
    readonly fork: ForkFrame | undefined,
    /** Every enclosing fork, outermost first. */
    readonly forks: readonly ForkFrame[],
    /** Index among its fork's children. */
    readonly itemIndex: number,
  ) {
    this.output = input;
  }
  get ended(): boolean {
    return this.status !== undefined;
  }
  toResult(): TaskResult {
    const r: TaskResult = {
      taskId: this.id,
      status: this.status ?? "failure",
      output: this.output,
      ...(this.error ? { error: this.error } : {}),
      input: this.input,
      lineage: this.lineage,
      ...(this.fork ? { parentTaskId: this.fork.parent.id } : {}),
      history: Object.freeze(this.history.slice()),
    };
    return Object.freeze(r);
  }
}

interface Stage {
  readonly task: TaskState;
  readonly node: GraphNode;
  readonly input: JsonValue;
  /** Set for merge stages whose failure policy already decided the outcome. */
  readonly preFailed?: ErrorInfo;
}

interface StageOutcome {
  readonly ok: boolean;
  readonly output: JsonValue;
  readonly error?: ErrorInfo;
  readonly startedAt: string;
  readonly endedAt: string;
  readonly durationMs: number;
  readonly scope: StageScope | undefined;
}

interface Arrival {
  readonly task: TaskState;
  readonly from: string;
  readonly edgeIndex: number;
  readonly output: JsonValue;
}

interface MergeGroup {
  readonly node: GraphNode;
  /** The fork whose children meet here, or undefined when a lone task arrives. */
  readonly fork: ForkFrame | undefined;
  readonly arrivals: Arrival[];
}

const NEVER: AbortSignal = new AbortController().signal;
const noop = (): void => {};
const EMPTY_CALLS: readonly ToolCallRecord[] = Object.freeze([]);

function info(code: string, message: string, path?: string): ErrorInfo {
  return freezeShell(path === undefined ? { code, message } : { code, message, path });
}

function toErrorInfo(err: unknown, fallbackCode: string): ErrorInfo {
  if (err !== null && typeof err === "object" && typeof (err as { code?: unknown }).code === "string" && (err as { code: string }).code.length > 0) {
    const code = (err as { code: string }).code;
    // Only our own upper-case codes are passed through; Node's (ENOENT...) get wrapped.
    if (/^[A-Z][A-Z0-9_]+$/.test(code) && !/^E[A-Z]+$/.test(code)) return info(code, errorMessage(err));
  }
  return info(fallbackCode, errorMessage(err));
}

function isPromiseLike(v: unknown): v is PromiseLike<unknown> {
  return v !== null && (typeof v === "object" || typeof v === "function") && typeof (v as { then?: unknown }).then === "function";
}

function edgeRef(e: GraphEdge): EdgeRef {
  return freezeShell(e.label === undefined ? { from: e.from, to: e.to } : { from: e.from, to: e.to, label: e.label });
}

/** Executes one run. Create one per `engine.run()` call. Internal. */
export class Run {
  private readonly graph: WorkflowGraph;
  private readonly bus: TelemetryBus;
  private readonly tasks: TaskState[] = [];
  private ready: Stage[] = [];
  private readonly groups: MergeGroup[] = [];
  private readonly forksToCheck = new Set<ForkFrame>();
  private readonly closeCache = new Map<string, boolean>();
  private readonly signal: AbortSignal;

  constructor(
    private readonly services: RunServices,
    signal: AbortSignal | undefined,
  ) {
    this.graph = services.graph;
    this.bus = services.bus;
    this.signal = signal ?? NEVER;
  }

  /** Runs to completion. Never rejects for workflow failures; they are in the result. */
  async execute(input: JsonValue, start: GraphNode): Promise<RunResult> {
    const root = new TaskState(this.services.newTaskId(), input, Object.freeze([]), undefined, Object.freeze([]), 0);
    this.tasks.push(root);
    this.bus.emit("task.started", root.id, undefined, { input, startNode: start.id, lineage: root.lineage });
    this.ready.push({ task: root, node: start, input });

    try {
      await this.loop();
    } catch (err) {
      // A bug in the engine must not surface as an unhandled rejection or a half-finished run:
      // record it as an `error` event and fail every task still open.
      const error = info("INTERNAL_ERROR", `internal engine error: ${errorMessage(err)}; please report it`);
      this.bus.emit("error", root.id, undefined, { source: "runtime", error });
      this.ready = [];
      this.groups.length = 0;
      for (const t of this.tasks) {
        if (t.ended) continue;
        t.error ??= error;
        t.status = "failure";
        this.bus.emit("task.failed", t.id, undefined, { status: "failure", output: t.output, error });
      }
    }

    const children = this.tasks.slice(1).map((t) => t.toResult());
    const r = root.toResult();
    return Object.freeze({ ...r, children: Object.freeze(children) });
  }

  private async loop(): Promise<void> {
    for (;;) {
      if (this.ready.length > 0) {
        await this.runWave();
        this.afterWave();
        continue;
      }
      // Nothing is ready: fire whatever merges remain (they cannot receive more arrivals).
      if (this.groups.length > 0) {
        this.afterWave(true);
        continue;
      }
      this.settleForks();
      if (this.ready.length === 0) return;
    }
  }

  private async runWave(): Promise<void> {
    const wave = this.ready;
    this.ready = [];
    for (const stage of wave) {
      this.bus.emit("node.started", stage.task.id, stage.node.id, { role: stage.node.role, kind: stage.node.kind, input: stage.input });
    }
    let outcomes: StageOutcome[];
    if (wave.length <= this.services.maxConcurrency) {
      const pending = wave.map((s) => this.executeStage(s));
      if (pending.some(isPromiseLike)) outcomes = await Promise.all(pending);
      else outcomes = pending as StageOutcome[];
    } else {
      outcomes = await this.executeLimited(wave, this.services.maxConcurrency);
    }
    for (let i = 0; i < wave.length; i++) this.commit(wave[i]!, outcomes[i]!);
  }

  /**
   * Executes a wave with at most `limit` stages in flight, starting them in wave order. Commit
   * order is the wave order whatever finishes first, so results and events do not change.
   */
  private async executeLimited(wave: readonly Stage[], limit: number): Promise<StageOutcome[]> {
    const outcomes = new Array<StageOutcome>(wave.length);
    let next = 0;
    const lane = async (): Promise<void> => {
      while (next < wave.length) {
        const i = next++;
        outcomes[i] = await this.executeStage(wave[i]!);
      }
    };
    await Promise.all(Array.from({ length: limit }, lane));
    return outcomes;
  }

  // ---------------------------------------------------------------- stage execution

  private executeStage(stage: Stage): StageOutcome | Promise<StageOutcome> {
    const startedMs = performance.now();
    const startedAt = isoNow();
    const { node, task } = stage;
    const fail = (error: ErrorInfo, scope: StageScope | undefined): StageOutcome => this.outcome(false, stage.input, error, startedAt, startedMs, scope);

    if (stage.preFailed) return fail(stage.preFailed, undefined);
    if (this.signal.aborted) return fail(info("ABORTED", "the run was cancelled before this node started"), undefined);
    if (node.schemaIn) {
      const problems = node.schemaIn.validate(stage.input);
      if (problems.length > 0) {
        return fail(info("SCHEMA_IN_FAILED", `input does not match schema_in "${node.schemaIn.name}": ${problems.join("; ")}`), undefined);
      }
    }

    const needsScope = node.kind === "agent" || node.tools.length > 0 || node.context !== "none" || node.timeoutMs !== undefined || this.signal !== NEVER;
    let scope: StageScope | undefined;
    let signal = this.signal;
    // Undone on every exit path: a stage must not leave a listener on the run's signal (Node
    // warns past 10, and a long run has thousands of stages) or a timer behind.
    let cleanup = noop;
    if (needsScope) {
      if (node.timeoutMs !== undefined || this.signal !== NEVER) {
        const c = new AbortController();
        const runSignal = this.signal;
        let forward: (() => void) | undefined;
        if (runSignal !== NEVER) {
          if (runSignal.aborted) c.abort(runSignal.reason);
          else {
            forward = () => c.abort(runSignal.reason);
            runSignal.addEventListener("abort", forward, { once: true });
          }
        }
        const timer = node.timeoutMs === undefined ? undefined : setTimeout(() => c.abort(info("NODE_TIMEOUT", `node "${node.id}" exceeded timeout_ms ${node.timeoutMs}`)), node.timeoutMs);
        cleanup = () => {
          if (timer !== undefined) clearTimeout(timer);
          if (forward !== undefined) runSignal.removeEventListener("abort", forward);
        };
        signal = c.signal;
      }
      scope = new StageScope(task.id, node.id, signal);
    }

    let context: JsonValue = null;
    if (node.context !== "none") {
      try {
        context = this.services.assembleContext(node, stage.input);
        scope!.emit("context.assembled", {
          profile: node.context,
          items: Array.isArray((context as { items?: unknown } | null)?.items) ? ((context as { items: unknown[] }).items.length) : 0,
          context,
        });
      } catch (err) {
        const e = toErrorInfo(err, "CONTEXT_FAILED");
        scope!.emit("context.failed", { profile: node.context, error: e });
        cleanup();
        return fail(info("CONTEXT_FAILED", e.message), scope);
      }
    }

    let raw: unknown;
    try {
      raw = this.invoke(stage, context, scope, signal);
    } catch (err) {
      cleanup();
      return fail(toErrorInfo(err, node.kind === "agent" ? "AGENT_FAILED" : "HANDLER_FAILED"), scope);
    }
    if (!isPromiseLike(raw)) {
      cleanup();
      return this.finish(stage, raw, startedAt, startedMs, scope);
    }
    // Async: race the handler against cancellation/timeout so a handler that ignores its signal
    // cannot hold the run hostage.
    const settle = new Promise<StageOutcome>((resolve) => {
      let done = false;
      const onAbort = (): void => {
        if (done) return;
        done = true;
        const reason: unknown = signal.reason;
        const e = reason !== null && typeof reason === "object" && (reason as ErrorInfo).code === "NODE_TIMEOUT" ? (reason as ErrorInfo) : info("ABORTED", "the run was cancelled while this node was running");
        resolve(fail(e, scope));
      };
      if (signal !== NEVER) {
        if (signal.aborted) onAbort();
        else signal.addEventListener("abort", onAbort, { once: true });
      }
      (raw as PromiseLike<unknown>).then(
        (value) => {
          if (done) return;
          done = true;
          signal.removeEventListener("abort", onAbort);
          resolve(this.finish(stage, value, startedAt, startedMs, scope));
        },
        (err: unknown) => {
          if (done) return;
          done = true;
          signal.removeEventListener("abort", onAbort);
          resolve(fail(toErrorInfo(err, node.kind === "agent" ? "AGENT_FAILED" : "HANDLER_FAILED"), scope));
        },
      );
    });
    return cleanup === noop ? settle : settle.finally(cleanup);
  }

  private invoke(stage: Stage, context: JsonValue, scope: StageScope | undefined, signal: AbortSignal): unknown {
    const { node, task, input } = stage;
    if (node.kind === "agent") return this.services.callAgent(node, input, context, scope!);
    const handler = this.services.handlers.get(node.id);
    if (handler === undefined) return input;
    const services = this.services;
    const ctx: HandlerContext = {
      taskId: task.id,
      nodeId: node.id,
      signal,
      context,
      callTool(toolId: string, args?: unknown): Promise<JsonValue> {
        if (scope === undefined || !node.tools.includes(toolId)) {
          const allowed = node.tools.length > 0 ? node.tools.join(", ") : "none";
          return Promise.reject(
            Object.assign(new Error(`node "${node.id}" may not call tool "${toolId}"; add it to the node's tools: list in workflow.yaml (allowed: ${allowed})`), { code: "TOOL_NOT_ALLOWED" }),
          );
        }
        return services.callTool(node, toolId, args, scope);
      },
    };
    return handler(input, ctx);
  }

  private finish(stage: Stage, value: unknown, startedAt: string, startedMs: number, scope: StageScope | undefined): StageOutcome {
    const { node } = stage;
    let output: JsonValue;
    try {
      output = sealJson(value);
    } catch (err) {
      const msg = err instanceof NotJsonError ? err.message : errorMessage(err);
      return this.outcome(false, stage.input, info("OUTPUT_NOT_JSON", `node "${node.id}" returned a non-JSON value: ${msg}`), startedAt, startedMs, scope);
    }
    if (node.schemaOut) {
      const problems = node.schemaOut.validate(output);
      if (problems.length > 0) {
        return this.outcome(false, stage.input, info("SCHEMA_OUT_FAILED", `output does not match schema_out "${node.schemaOut.name}": ${problems.join("; ")}`), startedAt, startedMs, scope);
      }
    }
    return this.outcome(true, output, undefined, startedAt, startedMs, scope);
  }

  private outcome(ok: boolean, output: JsonValue, error: ErrorInfo | undefined, startedAt: string, startedMs: number, scope: StageScope | undefined): StageOutcome {
    const durationMs = performance.now() - startedMs;
    return { ok, output, ...(error ? { error } : {}), startedAt, endedAt: isoNow(), durationMs, scope };
  }

  // ---------------------------------------------------------------- commit and route

  private commit(stage: Stage, o: StageOutcome): void {
    const { task, node } = stage;
    const bus = this.bus;
    if (o.scope) for (const [type, payload] of o.scope.events) bus.emit(type, task.id, node.id, payload as never);

    // Routing that can still fail the node is decided before the node's terminal event.
    let ok = o.ok;
    let error = o.error;
    let output = o.output;
    let decisionEdge: GraphEdge | undefined;
    let decisionName = "";
    if (ok && node.role === "decision") {
      const sel = selectDecisionEdge(output, node.outEdges);
      if (sel.ok) {
        decisionEdge = sel.edge;
        decisionName = sel.selected;
      } else {
        ok = false;
        error = info("ROUTING_NO_MATCH", sel.message);
      }
    }
    if (ok && node.role === "split" && (!Array.isArray(output) || output.length === 0)) {
      ok = false;
      error = info("SPLIT_NOT_ARRAY", `split node "${node.id}" must return a non-empty array (got ${Array.isArray(output) ? "an empty array" : output === null ? "null" : typeof output})`);
    }
    if (!ok) output = stage.input;

    const entry: HistoryEntry = {
      nodeId: node.id,
      role: node.role,
      kind: node.kind,
      input: stage.input,
      output: ok ? output : null,
      status: ok ? "success" : "failure",
      ...(error ? { error } : {}),
      toolCalls: o.scope && o.scope.toolCalls.length > 0 ? Object.freeze(o.scope.toolCalls.slice()) : EMPTY_CALLS,
      startedAt: o.startedAt,
      endedAt: o.endedAt,
    };
    task.history.push(Object.freeze(entry));

    if (!ok) {
      // Decisions and splits cannot route without a valid output; exits end the task anyway.
      const canContinue = node.continueOnFailure && node.role !== "decision" && node.role !== "split" && node.role !== "exit" && !this.signal.aborted;
      bus.emit("node.failed", task.id, node.id, { role: node.role, kind: node.kind, error: error!, continued: canContinue, durationMs: o.durationMs });
      task.error ??= error;
      if (!canContinue) {
        this.endTask(task, "failure");
        return;
      }
      task.partial = true;
    } else {
      bus.emit("node.completed", task.id, node.id, { role: node.role, kind: node.kind, output, durationMs: o.durationMs });
      // A bare string from a decision only names the edge; the data flowing on is its input.
      task.output = node.role === "decision" && typeof output === "string" ? stage.input : output;
    }

    switch (node.role) {
      case "exit": {
        if (node.alwaysFail) {
          task.error ??= info("ALWAYS_FAIL", `exit "${node.id}" is marked always_fail`);
          this.endTask(task, "failure");
        } else this.endTask(task, task.partial ? "partial" : "success");
        return;
      }
      case "decision": {
        const edge = decisionEdge!;
        bus.emit("routing.decision", task.id, node.id, { selected: decisionName, edge: edgeRef(edge) });
        this.follow(task, edge);
        return;
      }
      case "branch":
        this.fork(task, node, "branch", node.outEdges.map((edge) => ({ edge, input: task.output })));
        return;
      case "split": {
        const items = output as readonly JsonValue[];
        this.fork(task, node, "split", items.map((item, i) => ({ edge: splitEdgeFor(i, node.outEdges), input: item })));
        return;
      }
      default: {
        const edge = node.outEdges[0];
        if (edge) this.follow(task, edge);
        else this.endTask(task, task.partial ? "partial" : "success");
      }
    }
  }

  /** Moves a task along an edge: schedules the target, or parks the task at a merge. */
  private follow(task: TaskState, edge: GraphEdge): void {
    const target = this.graph.nodes.get(edge.to)!;
    if (target.role !== "merge") {
      this.ready.push({ task, node: target, input: task.output });
      return;
    }
    // A fork's children meet at a merge that closes the fork; any other merge they pass (say, the
    // join of a decision inside one branch arm) they go through alone, like any task.
    const fork = task.fork !== undefined && this.closes(target, task.fork) ? task.fork : undefined;
    let group = this.groups.find((g) => g.node === target && g.fork === fork && (fork !== undefined || g.arrivals[0]?.task === task));
    if (!group) {
      group = { node: target, fork, arrivals: [] };
      this.groups.push(group);
    }
    group.arrivals.push({ task, from: edge.from, edgeIndex: edge.index, output: task.output });
    if (fork) {
      // A child's life ends where it meets its siblings; its parent carries on from the merge.
      fork.waiting++;
      this.endTask(task, task.partial ? "partial" : "success");
    }
  }

  /**
   * Whether merge `merge` closes `fork`: for a branch, at least two of its outbound edges lead
   * there; for a split (whose items may all travel one edge), any of them does.
   */
  private closes(merge: GraphNode, fork: ForkFrame): boolean {
    const key = `${fork.nodeId}\u0000${merge.id}`;
    let hit = this.closeCache.get(key);
    if (hit === undefined) {
      const node = this.graph.nodes.get(fork.nodeId)!;
      const reaching = node.outEdges.filter((e) => this.graph.canReach(e.to, merge.id)).length;
      hit = fork.kind === "split" ? reaching >= 1 : reaching >= 2;
      this.closeCache.set(key, hit);
    }
    return hit;
  }

  private fork(parent: TaskState, node: GraphNode, kind: "branch" | "split", routes: { edge: GraphEdge; input: JsonValue }[]): void {
    const frame: ForkFrame = { parent, nodeId: node.id, kind, children: [], ended: 0, waiting: 0, resumed: false, settled: false };
    const forks = Object.freeze([...parent.forks, frame]);
    const lineage = Object.freeze([...parent.lineage, parent.id]);
    const made = routes.map((r, i) => {
      const child = new TaskState(`${parent.id}.${++parent.childCount}`, r.input, lineage, frame, forks, i);
      frame.children.push(child);
      this.tasks.push(child);
      return { child, edge: r.edge, ref: edgeRef(r.edge) };
    });
    const bus = this.bus;
    if (kind === "branch") {
      bus.emit("routing.branch", parent.id, node.id, { clones: freezeShell(made.map((m) => freezeShell({ taskId: m.child.id, edge: m.ref }))) });
    } else {
      bus.emit("routing.split", parent.id, node.id, { count: made.length, subtasks: freezeShell(made.map((m, i) => freezeShell({ taskId: m.child.id, edge: m.ref, index: i }))) });
    }
    for (const [i, m] of made.entries()) {
      if (kind === "branch") bus.emit("clone.created", parent.id, node.id, { parentTaskId: parent.id, childTaskId: m.child.id, edge: m.ref });
      else bus.emit("subtask.created", parent.id, node.id, { parentTaskId: parent.id, childTaskId: m.child.id, edge: m.ref, index: i });
      bus.emit("task.started", m.child.id, undefined, { input: m.child.input, startNode: m.edge.to, parentTaskId: parent.id, lineage: m.child.lineage });
    }
    for (const m of made) this.follow(m.child, m.edge);
  }

  private endTask(task: TaskState, status: Status): void {
    task.status = status;
    if (status === "failure") this.bus.emit("task.failed", task.id, undefined, { status, output: task.output, ...(task.error ? { error: task.error } : {}) });
    else this.bus.emit("task.completed", task.id, undefined, { status, output: task.output });
    const fork = task.fork;
    if (fork) {
      fork.ended++;
      if (fork.ended === fork.children.length) this.forksToCheck.add(fork);
    }
  }

  // ---------------------------------------------------------------- merges and forks

  /** After each wave: fire merges nothing in flight can still reach, then settle finished forks. */
  private afterWave(force = false): void {
    for (;;) {
      const fire = this.groups.filter((g) => this.canFire(g));
      if (fire.length === 0) {
        if (!force || this.groups.length === 0 || this.ready.length > 0) break;
        // Defensive: with nothing in flight every group is final; fire the topologically first.
        const order = this.graph.topoOrder;
        fire.push(this.groups.slice().sort((a, b) => order.indexOf(a.node.id) - order.indexOf(b.node.id))[0]!);
      }
      const order = this.graph.topoOrder;
      fire.sort((a, b) => order.indexOf(a.node.id) - order.indexOf(b.node.id) || this.groups.indexOf(a) - this.groups.indexOf(b));
      for (const g of fire) {
        this.groups.splice(this.groups.indexOf(g), 1);
        this.fireMerge(g);
      }
      if (!force) break;
      if (this.ready.length > 0) break;
    }
    this.settleForks();
  }

  private canFire(group: MergeGroup): boolean {
    const m = group.node.id;
    const graph = this.graph;
    const fork = group.fork;
    const inScope = (t: TaskState): boolean => (fork === undefined ? t === group.arrivals[0]?.task : t.forks.includes(fork));
    for (const s of this.ready) if (inScope(s.task) && graph.canReach(s.node.id, m)) return false;
    for (const other of this.groups) {
      if (other === group || other.node.id === m) continue;
      if (!graph.canReach(other.node.id, m)) continue;
      if (other.arrivals.some((a) => inScope(a.task))) return false;
    }
    return true;
  }

  private fireMerge(group: MergeGroup): void {
    const { node, fork } = group;
    const arrivals = group.arrivals.slice().sort((a, b) =>
      compareArrivals({ edgeIndex: a.edgeIndex, itemIndex: a.task.itemIndex }, { edgeIndex: b.edgeIndex, itemIndex: b.task.itemIndex }),
    );
    const failed = fork
      ? fork.children.filter((c) => c.status === "failure" && this.failedBefore(c, node.id)).map((c) => freezeShell({ node_id: lastNode(c) ?? fork.nodeId, task_id: c.id, ...(c.error ? { error: c.error } : {}) }))
      : [];
    const inputs = arrivals.map((a) => freezeShell({ node_id: a.from, output: a.output, status: (a.task.partial ? "partial" : "success") as Status, task_id: a.task.id }));
    const policy = node.mergeOnFailure;
    let preFailed: ErrorInfo | undefined;
    let status: Status = "success";
    if (inputs.length === 0) preFailed = info("MERGE_FAILED", `merge "${node.id}" received no successful arrivals (${failed.length} failed)`);
    else if (failed.length > 0 && policy === "fail_on_any") {
      preFailed = info("MERGE_FAILED", `merge "${node.id}": ${failed.length} of ${failed.length + inputs.length} arrivals failed (on_failure: fail_on_any; use ignore_failures or partial to continue)`);
    } else if (failed.length > 0 && policy === "partial") status = "partial";
    if (preFailed) status = "failure";
    if (inputs.some((i) => i.status === "partial") && status === "success") status = "partial";

    // Who carries on: the fork's parent (or a clone of it if another merge already resumed it).
    let task: TaskState;
    if (!fork) task = arrivals[0]!.task;
    else {
      fork.waiting -= arrivals.length;
      if (!fork.resumed) {
        fork.resumed = true;
        task = fork.parent;
      } else {
        const p = fork.parent;
        task = new TaskState(`${p.id}.${++p.childCount}`, p.output, Object.freeze([...p.lineage, p.id]), p.fork, p.forks, p.fork ? p.itemIndex : 0);
        if (p.fork) p.fork.children.push(task);
        this.tasks.push(task);
        const edge = node.inEdges[0]!;
        this.bus.emit("clone.created", p.id, node.id, { parentTaskId: p.id, childTaskId: task.id, edge: edgeRef(edge) });
        this.bus.emit("task.started", task.id, undefined, { input: task.input, startNode: node.id, parentTaskId: p.id, lineage: task.lineage });
      }
      if (fork.ended === fork.children.length) this.forksToCheck.add(fork);
    }
    if (status === "partial") task.partial = true;
    const mergeInput = sealJson(inputs);
    this.bus.emit("routing.merge", task.id, node.id, {
      inputs: freezeShell(inputs.map((i) => freezeShell({ node_id: i.node_id, status: i.status, task_id: i.task_id }))),
      failed: freezeShell(failed),
      onFailure: policy,
      status,
    });
    task.output = mergeInput;
    this.ready.push(preFailed ? { task, node, input: mergeInput, preFailed } : { task, node, input: mergeInput });
  }

  /** The first merge (topological order) closing `fork` that a failed child was heading to. */
  private joinMissedByFailures(fork: ForkFrame): GraphNode | undefined {
    const failed = fork.children.filter((c) => c.status === "failure");
    if (failed.length === 0) return undefined;
    for (const id of this.graph.topoOrder) {
      const node = this.graph.nodes.get(id)!;
      if (node.role !== "merge" || !this.closes(node, fork)) continue;
      if (failed.some((c) => this.failedBefore(c, id))) return node;
    }
    return undefined;
  }

  /** True when a failed child stopped at a node from which `mergeId` was reachable. */
  private failedBefore(child: TaskState, mergeId: string): boolean {
    const at = lastNode(child);
    return at === undefined || this.graph.canReach(at, mergeId);
  }

  /** Completes parents of forks whose children all ended without any merge resuming them. */
  private settleForks(): void {
    while (this.forksToCheck.size > 0) {
      const forks = [...this.forksToCheck];
      this.forksToCheck.clear();
      for (const fork of forks) {
        if (fork.settled || fork.ended < fork.children.length || fork.waiting > 0) continue;
        fork.settled = true;
        if (fork.resumed) continue;
        const parent = fork.parent;
        const kids = fork.children;
        // Children failed on their way to the fork's merge and none arrived: the merge still
        // decides (its on_failure policy sees zero successful arrivals).
        const join = this.joinMissedByFailures(fork);
        if (join) {
          this.fireMerge({ node: join, fork, arrivals: [] });
          continue;
        }
        if (fork.kind === "branch") {
          const winner = kids.find((c) => c.status === "success") ?? kids.find((c) => c.status === "partial");
          if (winner) {
            parent.output = winner.output;
            if (winner.status === "partial") parent.partial = true;
            this.endTask(parent, parent.partial ? "partial" : "success");
          } else {
            parent.error ??= info("UPSTREAM_FAILED", `every clone of branch "${fork.nodeId}" failed`);
            this.endTask(parent, "failure");
          }
        } else {
          parent.output = sealJson(kids.map((c) => c.output));
          const ok = kids.filter((c) => c.status !== "failure").length;
          if (ok === 0) {
            parent.error ??= info("UPSTREAM_FAILED", `every subtask of split "${fork.nodeId}" failed`);
            this.endTask(parent, "failure");
          } else this.endTask(parent, !parent.partial && kids.every((c) => c.status === "success") ? "success" : "partial");
        }
      }
    }
  }
}

function lastNode(task: TaskState): string | undefined {
  return task.history[task.history.length - 1]?.nodeId;
}
