/**
 * The validated, immutable workflow graph the runtime executes.
 *
 * @module
 */
import type { MergeOnFailure } from "../config/types.js";
import type { NodeKind, NodeRole } from "../telemetry/events.js";

/** A compiled JSON Schema. */
export interface CompiledSchema {
  /** Stem of the schema file, or `inline`. */
  readonly name: string;
  /** The schema itself (for docs and error messages). */
  readonly schema: unknown;
  /** Returns an empty array when `value` is valid, else one message per problem (`/path: message`). */
  validate(value: unknown): readonly string[];
}

/** An edge, with its declaration index in workflow.yaml. */
export interface GraphEdge {
  readonly from: string;
  readonly to: string;
  readonly label?: string;
  /** Position in `workflow.yaml#/edges`. */
  readonly index: number;
}

/** A node with defaults applied and edges attached (outbound edges in declaration order). */
export interface GraphNode {
  readonly id: string;
  readonly kind: NodeKind;
  readonly role: NodeRole;
  /** Position in `workflow.yaml#/nodes`. */
  readonly index: number;
  readonly description?: string;
  readonly isDefaultStart: boolean;
  readonly handler?: string;
  readonly agent?: string;
  readonly schemaIn?: CompiledSchema;
  readonly schemaOut?: CompiledSchema;
  /** Profile id, `global`, or `none`. */
  readonly context: string;
  readonly tools: readonly string[];
  readonly continueOnFailure: boolean;
  /** Merge nodes only (default `fail_on_any`). */
  readonly mergeOnFailure: MergeOnFailure;
  readonly alwaysFail: boolean;
  /**
   * Timeout of the handler or agent call, in milliseconds: the node's own `timeout_ms`, else the
   * workflow's `defaults.timeout_ms`, else {@link DEFAULT_NODE_TIMEOUT_MS}. Always set, so no
   * node can wait forever.
   */
  readonly timeoutMs: number;
  /** Where {@link GraphNode.timeoutMs} came from. */
  readonly timeoutFrom: "node" | "workflow" | "engine";
  /** Suspend the run for an answer before the node runs or after it produced its output. */
  readonly interrupt?: "before" | "after";
  /**
   * `worker`: the handler runs in a worker thread of a bounded pool, terminated at the timeout or
   * on cancellation (see docs/config-and-dag.md, "Handlers in worker threads"). Absent: inline.
   */
  readonly isolation?: "worker";
  /** Settings of `isolation: worker` (always set with it, defaults applied). */
  readonly worker?: HandlerWorkerSettings;
  readonly outEdges: readonly GraphEdge[];
  readonly inEdges: readonly GraphEdge[];
}

/** How the worker threads of an `isolation: worker` node are started. Frozen. */
export interface HandlerWorkerSettings {
  /** Environment variables the worker may read (the others are not in its `process.env`). */
  readonly env: readonly string[];
  /** V8 limits given to each worker, over the defaults (old generation 256 MB, stack 4 MB). */
  readonly resourceLimits: {
    readonly maxOldGenerationSizeMb?: number;
    readonly maxYoungGenerationSizeMb?: number;
    readonly codeRangeSizeMb?: number;
    readonly stackSizeMb?: number;
  };
  /** Workers of the module running at once; undefined: the number of CPUs. */
  readonly maxWorkers?: number;
  /**
   * A worker without a call for this long is terminated and leaves the pool (the next call
   * starts a fresh one). Default {@link DEFAULT_HANDLER_IDLE_TIMEOUT_MS}.
   */
  readonly idleTimeoutMs: number;
}

/** `worker.idle_timeout_ms` of an `isolation: worker` node when it gives none: one minute. */
export const DEFAULT_HANDLER_IDLE_TIMEOUT_MS = 60_000;

/**
 * Node timeout when neither the node nor the workflow's `defaults` gives one: 5 minutes, for
 * handlers and agent calls alike. Long enough for a slow agent step (several LLM requests and
 * tool calls), short enough that a handler that never settles ends its run as `NODE_TIMEOUT`
 * in bounded time instead of hanging it. One value for both kinds keeps the rule simple to
 * state; set `defaults.timeout_ms` (or a node's `timeout_ms`) to change it.
 */
export const DEFAULT_NODE_TIMEOUT_MS = 300_000;

/** Workflow-wide defaults (`defaults:` in workflow.yaml). */
export interface WorkflowDefaults {
  /** `defaults.timeout_ms`, if given (already applied to every node without its own). */
  readonly timeoutMs?: number;
  /** `defaults.max_concurrency`: the cap on stages in flight per run, if given. */
  readonly maxConcurrency?: number;
}

/** A validated workflow DAG. Deeply frozen. */
export interface WorkflowGraph {
  readonly name?: string;
  /** Nodes by id. */
  readonly nodes: ReadonlyMap<string, GraphNode>;
  /** Nodes in declaration order. */
  readonly nodeList: readonly GraphNode[];
  /** Edges in declaration order. */
  readonly edges: readonly GraphEdge[];
  /** Id of the default start node. */
  readonly defaultStart: string;
  /** Ids of all start nodes, in declaration order. */
  readonly starts: readonly string[];
  /** All node ids in a topological order (ties broken by declaration order). */
  readonly topoOrder: readonly string[];
  /** Position of each node id in {@link WorkflowGraph.topoOrder}. */
  readonly topoIndex: ReadonlyMap<string, number>;
  /** Workflow-wide defaults from workflow.yaml. */
  readonly defaults: WorkflowDefaults;
  /**
   * True when a directed path leads from `from` to `to` (a node reaches itself). Exact; memory
   * linear in the graph (see `reachability.ts`); false for unknown ids.
   */
  canReach(from: string, to: string): boolean;
  /**
   * True when merge `mergeId` closes fork `forkNodeId`: for a `branch`, at least two of the
   * fork's outbound edges lead to the merge (its clones meet there); for a `split`, at least one
   * does (all items may travel one edge). False when `forkNodeId` is not a branch or split, or
   * `mergeId` is not a merge. Answered from the graph's reachability index and remembered.
   */
  closes(forkNodeId: string, mergeId: string): boolean;
  /**
   * Every merge closing `forkNodeId` (see {@link WorkflowGraph.closes}), in topological order;
   * empty for non-forks. Computed on first use per fork and kept (frozen).
   */
  closingMerges(forkNodeId: string): readonly string[];
}
