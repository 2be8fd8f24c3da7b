/**
 * Forks and merges: the only place merge state changes. Children of a branch or split meet in
 * merge groups; a group fires when nothing in flight can still reach its merge; a fork whose
 * children all ended without meeting settles by the no-merge rules (CONTRACT §3). Decisions
 * depend only on what was committed (the logical order), never on wall-clock completion.
 *
 * Effects (events, new stages, task ends) go through {@link ForkJoinHost}, so the module can be
 * driven without a config directory in unit tests.
 *
 * @module
 */
import type { GraphEdge, GraphNode, WorkflowGraph } from "../dag/types.js";
import { freezeShell, sealJson, type JsonValue } from "../json.js";
import type { EdgeRef, ErrorInfo, Status } from "../telemetry/events.js";
import { info, TaskState, type ForkFrame } from "./task.js";

/** What the fork-join module needs from the run loop. */
export interface ForkJoinHost {
  readonly graph: WorkflowGraph;
  /** Emits a routing/lineage event. */
  emitFork(type: "routing.merge" | "clone.created" | "task.started", taskId: string, nodeId: string | undefined, payload: object): void;
  /** Ends a task with a status (emits its terminal event, counts it on its fork). */
  endTask(task: TaskState, status: Status): void;
  /** Registers a task created here (a clone of a fork's parent). */
  addTask(task: TaskState): void;
  /** Schedules the merge stage. */
  enqueueMerge(task: TaskState, node: GraphNode, input: JsonValue, preFailed: ErrorInfo | undefined): void;
  /** Whether a ready or running stage of a task matching `inScope` can still reach `mergeId`. */
  pendingCanReach(inScope: (t: TaskState) => boolean, mergeId: string): boolean;
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

/** An edge as it appears inside events. */
export function edgeRef(e: GraphEdge): EdgeRef {
  // Frozen, so one object per edge serves every event that names it.
  let r = edgeRefs.get(e);
  if (r === undefined) {
    r = freezeShell(e.label === undefined ? { from: e.from, to: e.to } : { from: e.from, to: e.to, label: e.label });
    edgeRefs.set(e, r);
  }
  return r;
}
const edgeRefs = new WeakMap<GraphEdge, EdgeRef>();

/** Fork-join state of one run. */
export class ForkJoin {
  private readonly groups: MergeGroup[] = [];
  private readonly forksToCheck = new Set<ForkFrame>();

  constructor(private readonly host: ForkJoinHost) {}

  /** True when merge groups are waiting. */
  get hasGroups(): boolean {
    return this.groups.length > 0;
  }

  /** Creates a fork frame for `parent` at `node`; children are added with {@link child}. */
  static frame(parent: TaskState, node: GraphNode, kind: "branch" | "split"): ForkFrame {
    return { parent, nodeId: node.id, kind, children: [], ended: 0, waiting: 0, resumed: false, settled: false };
  }

  /** Creates the next child of a fork (ids `<parent>.<n>` in the parent's fork order). */
  static child(frame: ForkFrame, input: JsonValue, index: number): TaskState {
    const parent = frame.parent;
    const child = new TaskState(`${parent.id}.${++parent.forkChildren}`, input, Object.freeze([...parent.lineage, parent.id]), frame, Object.freeze([...parent.forks, frame]), index);
    frame.children.push(child);
    return child;
  }

  /**
   * A task reached merge `target` by `edge`. A fork's children meet at a merge that closes the
   * fork, and their life ends there (the parent carries on from the merge); any other merge they
   * pass (say, the join of a decision inside one branch arm) they go through alone.
   */
  arrive(task: TaskState, target: GraphNode, edge: GraphEdge): void {
    const fork = task.fork !== undefined && this.closes(target, task.fork) ? task.fork : undefined;
    let group = this.groups.find((g) => g.node === target && g.fork === fork && (fork !== undefined || g.arrivals[0]?.task === task));
    if (!group) {
      group = { node: target, fork, arrivals: [] };
      this.groups.push(group);
    }
    group.arrivals.push({ task, from: edge.from, edgeIndex: edge.index, output: task.output });
    if (fork) {
      fork.waiting++;
      this.host.endTask(task, task.partial ? "partial" : "success");
    }
  }

  /** A child of `fork` ended (any status). */
  childEnded(fork: ForkFrame): void {
    fork.ended++;
    if (fork.ended === fork.children.length) this.forksToCheck.add(fork);
  }

  /**
   * Whether merge `merge` closes `fork`: for a branch, at least two of its outbound edges lead
   * there; for a split (whose items may all travel one edge), any of them does.
   */
  closes(merge: GraphNode, fork: ForkFrame): boolean {
    return this.host.graph.closes(fork.nodeId, merge.id);
  }

  /**
   * After a wave's commits: fires merges nothing pending can still reach, then settles finished
   * forks. With `force` (nothing pending at all), fires until something is ready or no group is
   * left, so a merge never waits forever.
   */
  advance(force: boolean, hasReady: () => boolean): void {
    // Most commits leave nothing to fire or settle.
    if (this.groups.length === 0 && this.forksToCheck.size === 0) return;
    for (;;) {
      // Settle first: a fork whose children all failed fires its own join, which makes its parent
      // pending again; an outer merge that parent is heading to must not fire before it arrives.
      this.settle();
      const fire = this.groups.filter((g) => this.canFire(g));
      if (fire.length === 0) {
        if (!force || this.groups.length === 0 || hasReady()) break;
        // Defensive: with nothing in flight every group is final; fire the topologically first.
        fire.push(this.groups.slice().sort((a, b) => this.topoIndex(a.node) - this.topoIndex(b.node))[0]!);
      }
      fire.sort((a, b) => this.topoIndex(a.node) - this.topoIndex(b.node) || this.groups.indexOf(a) - this.groups.indexOf(b));
      for (const g of fire) {
        this.groups.splice(this.groups.indexOf(g), 1);
        this.fire(g);
      }
      if (!force || hasReady()) break;
    }
    this.settle();
  }

  private topoIndex(node: GraphNode): number {
    return this.host.graph.topoIndex.get(node.id) ?? 0;
  }

  private canFire(group: MergeGroup): boolean {
    const m = group.node.id;
    const graph = this.host.graph;
    const fork = group.fork;
    const inScope = (t: TaskState): boolean => (fork === undefined ? t === group.arrivals[0]?.task : t.forks.includes(fork));
    if (this.host.pendingCanReach(inScope, m)) return false;
    for (const other of this.groups) {
      if (other === group || other.node.id === m) continue;
      if (!graph.canReach(other.node.id, m)) continue;
      if (other.arrivals.some((a) => inScope(a.task))) return false;
    }
    return true;
  }

  private fire(group: MergeGroup): void {
    const { node, fork } = group;
    const host = this.host;
    // A split's arrivals in item order (document order survives, §14); a branch's in edge order.
    const arrivals = group.arrivals.slice().sort((a, b) =>
      fork?.kind === "split"
        ? a.task.itemIndex - b.task.itemIndex || a.edgeIndex - b.edgeIndex
        : a.edgeIndex - b.edgeIndex || a.task.itemIndex - b.task.itemIndex, // compareArrivals, without allocating keys
    );
    const failed = fork
      ? fork.children.filter((c) => c.status === "failure" && this.failedBefore(c, node.id)).map((c) => freezeShell({ node_id: c.lastNode() ?? fork.nodeId, task_id: c.id, ...(c.error ? { error: c.error } : {}) }))
      : [];
    // `index` (§14): the item index of a split's subtask, the outbound-edge position of a
    // branch's clone; for a lone task, the declaration index of the edge it came by.
    const inputs = arrivals.map((a) =>
      freezeShell({ node_id: a.from, output: a.output, status: (a.task.partial ? "partial" : "success") as Status, task_id: a.task.id, index: fork ? a.task.itemIndex : a.edgeIndex }),
    );
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
        task = new TaskState(`${p.id}.m${++p.mergeClones}`, p.output, Object.freeze([...p.lineage, p.id]), p.fork, p.forks, p.fork ? p.itemIndex : 0);
        task.taskMem = p.taskMem;
        if (p.fork) p.fork.children.push(task);
        host.addTask(task);
        const edge = node.inEdges[0]!;
        host.emitFork("clone.created", p.id, node.id, { parentTaskId: p.id, childTaskId: task.id, edge: edgeRef(edge) });
        host.emitFork("task.started", task.id, undefined, { input: task.input, startNode: node.id, parentTaskId: p.id, lineage: task.lineage });
      }
      if (fork.ended === fork.children.length) this.forksToCheck.add(fork);
    }
    if (status === "partial") task.partial = true;
    const mergeInput = sealJson(inputs);
    host.emitFork("routing.merge", task.id, node.id, {
      inputs: freezeShell(inputs.map((i) => freezeShell({ node_id: i.node_id, status: i.status, task_id: i.task_id, index: i.index }))),
      failed: freezeShell(failed),
      onFailure: policy,
      status,
    });
    task.output = mergeInput;
    host.enqueueMerge(task, node, mergeInput, preFailed);
  }

  /** The first merge (topological order) closing `fork` that a failed child was heading to. */
  private joinMissedByFailures(fork: ForkFrame): GraphNode | undefined {
    const failed = fork.children.filter((c) => c.status === "failure");
    if (failed.length === 0) return undefined;
    const graph = this.host.graph;
    for (const id of graph.closingMerges(fork.nodeId)) {
      if (failed.some((c) => this.failedBefore(c, id))) return graph.nodes.get(id)!;
    }
    return undefined;
  }

  /** True when a failed child stopped at a node from which `mergeId` was reachable. */
  private failedBefore(child: TaskState, mergeId: string): boolean {
    const at = child.lastNode();
    return at === undefined || this.host.graph.canReach(at, mergeId);
  }

  /** Completes parents of forks whose children all ended without any merge resuming them. */
  private settle(): void {
    const host = this.host;
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
          this.fire({ node: join, fork, arrivals: [] });
          continue;
        }
        if (fork.kind === "branch") {
          const winner = kids.find((c) => c.status === "success") ?? kids.find((c) => c.status === "partial");
          if (winner) {
            parent.output = winner.output;
            if (winner.status === "partial") parent.partial = true;
            host.endTask(parent, parent.partial ? "partial" : "success");
          } else {
            parent.error ??= info("UPSTREAM_FAILED", `every clone of branch "${fork.nodeId}" failed`);
            host.endTask(parent, "failure");
          }
        } else {
          parent.output = sealJson(kids.map((c) => c.output));
          const ok = kids.filter((c) => c.status !== "failure").length;
          if (ok === 0) {
            parent.error ??= info("UPSTREAM_FAILED", `every subtask of split "${fork.nodeId}" failed`);
            host.endTask(parent, "failure");
          } else host.endTask(parent, !parent.partial && kids.every((c) => c.status === "success") ? "success" : "partial");
        }
      }
    }
  }

  /** Drops every group (the run is being torn down after an internal error). */
  clear(): void {
    this.groups.length = 0;
  }
}
