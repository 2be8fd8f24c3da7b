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
  readonly timeoutMs?: number;
  /** Suspend the run for an answer before the node runs or after it produced its output. */
  readonly interrupt?: "before" | "after";
  readonly outEdges: readonly GraphEdge[];
  readonly inEdges: readonly GraphEdge[];
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
  /** True when a directed path leads from `from` to `to` (a node reaches itself). */
  canReach(from: string, to: string): boolean;
}
