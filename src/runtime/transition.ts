/**
 * What a stage's outcome means for its task: a pure function of the node, the stage input and
 * the outcome. The scheduler calls it as soon as an outcome is known (to start the next stage of
 * the same task early) and the commit applies the very same plan later, in the logical order,
 * so running ahead can never change what is committed. No engine state, no I/O.
 *
 * @module
 */
import type { GraphEdge, GraphNode } from "../dag/types.js";
import type { JsonValue } from "../json.js";
import type { ErrorInfo } from "../telemetry/events.js";
import { selectDecisionEdge, splitEdgeFor } from "./router.js";
import { info } from "./task.js";

/** Where the task goes next. */
export type Route =
  /** The task ends here: `failure`, or success/partial decided by the task's partial flag at commit. */
  | { readonly kind: "end"; readonly failed: boolean; readonly error?: ErrorInfo }
  /** The task moves along one edge. */
  | { readonly kind: "follow"; readonly edge: GraphEdge }
  /** The task forks: one child per route. */
  | { readonly kind: "fork"; readonly fork: "branch" | "split"; readonly routes: readonly { readonly edge: GraphEdge; readonly input: JsonValue }[] };

/** A stage's resolved outcome and route. */
export interface Plan {
  /** Success after routing checks (a decision that names no edge, a split without items fail here). */
  readonly ok: boolean;
  readonly error: ErrorInfo | undefined;
  /** The node's output (events, history); the stage input on failure. */
  readonly output: JsonValue;
  /** The task's current output after this stage. */
  readonly taskOutput: JsonValue;
  /** A failed node whose task carries on (`continue_on_failure`). */
  readonly continued: boolean;
  /** For decisions: the name the output selected and the edge it picked. */
  readonly decision: { readonly selected: string; readonly edge: GraphEdge } | undefined;
  readonly route: Route;
}

/** One shape for every plan (a plan is made per stage). */
class PlanOf implements Plan {
  constructor(
    readonly ok: boolean,
    readonly error: ErrorInfo | undefined,
    readonly output: JsonValue,
    readonly taskOutput: JsonValue,
    readonly continued: boolean,
    readonly decision: Plan["decision"],
    readonly route: Route,
  ) {}
}

const END_OK: Route = Object.freeze({ kind: "end", failed: false });
const END_FAILED: Route = Object.freeze({ kind: "end", failed: true });
/** `follow` routes are the same object for every stage along one edge. */
const follows = new WeakMap<GraphEdge, Route>();
function followRoute(edge: GraphEdge): Route {
  let r = follows.get(edge);
  if (r === undefined) {
    r = Object.freeze({ kind: "follow", edge });
    follows.set(edge, r);
  }
  return r;
}

/**
 * Resolves an outcome into a plan.
 *
 * @param aborted whether the run is cancelled (a cancelled run does not continue past failures)
 */
export function transition(node: GraphNode, input: JsonValue, outcome: { readonly ok: boolean; readonly output: JsonValue; readonly error?: ErrorInfo }, aborted: boolean): Plan {
  let ok = outcome.ok;
  let error = outcome.error;
  let output = outcome.output;
  let decision: Plan["decision"];
  // Routing that can still fail the node is decided before the node's terminal event.
  if (ok && node.role === "decision") {
    const sel = selectDecisionEdge(output, node.outEdges);
    if (sel.ok) decision = { selected: sel.selected, edge: sel.edge };
    else {
      ok = false;
      error = info("ROUTING_NO_MATCH", sel.message);
    }
  }
  if (ok && node.role === "split" && (!Array.isArray(output) || output.length === 0)) {
    ok = false;
    error = info("SPLIT_NOT_ARRAY", `split node "${node.id}" must return a non-empty array (got ${Array.isArray(output) ? "an empty array" : output === null ? "null" : typeof output})`);
  }
  if (!ok) output = input;

  // The task's data before this stage is always the stage's input (a task is at one node at a time).
  let taskOutput: JsonValue = input;
  let continued = false;
  if (!ok) {
    // Decisions and splits cannot route without a valid output; exits end the task anyway.
    continued = node.continueOnFailure && node.role !== "decision" && node.role !== "split" && node.role !== "exit" && !aborted;
    if (!continued) return new PlanOf(ok, error, output, taskOutput, continued, undefined, END_FAILED);
  } else {
    // A bare string from a decision only names the edge; the data flowing on is its input.
    taskOutput = node.role === "decision" && typeof output === "string" ? input : output;
  }

  let route: Route;
  switch (node.role) {
    case "exit":
      route = node.alwaysFail ? { kind: "end", failed: true, error: info("ALWAYS_FAIL", `exit "${node.id}" is marked always_fail`) } : END_OK;
      break;
    case "decision":
      route = followRoute(decision!.edge);
      break;
    case "branch": {
      const edges = node.outEdges;
      const routes: { readonly edge: GraphEdge; readonly input: JsonValue }[] = new Array(edges.length);
      for (let i = 0; i < edges.length; i++) routes[i] = { edge: edges[i]!, input: taskOutput };
      route = { kind: "fork", fork: "branch", routes };
      break;
    }
    case "split": {
      const items = output as readonly JsonValue[];
      const routes: { readonly edge: GraphEdge; readonly input: JsonValue }[] = new Array(items.length);
      for (let i = 0; i < items.length; i++) routes[i] = { edge: splitEdgeFor(i, node.outEdges), input: items[i]! };
      route = { kind: "fork", fork: "split", routes };
      break;
    }
    default: {
      const edge = node.outEdges[0];
      route = edge ? followRoute(edge) : END_OK;
    }
  }
  return new PlanOf(ok, error, output, taskOutput, continued, decision, route);
}
