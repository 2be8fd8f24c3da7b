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
  readonly error?: ErrorInfo;
  /** The node's output (events, history); the stage input on failure. */
  readonly output: JsonValue;
  /** The task's current output after this stage. */
  readonly taskOutput: JsonValue;
  /** A failed node whose task carries on (`continue_on_failure`). */
  readonly continued: boolean;
  /** For decisions: the name the output selected and the edge it picked. */
  readonly decision?: { readonly selected: string; readonly edge: GraphEdge };
  readonly route: Route;
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
    if (!continued) return { ok, ...(error ? { error } : {}), output, taskOutput, continued, route: { kind: "end", failed: true } };
  } else {
    // A bare string from a decision only names the edge; the data flowing on is its input.
    taskOutput = node.role === "decision" && typeof output === "string" ? input : output;
  }

  const base = { ok, ...(error ? { error } : {}), output, taskOutput, continued };
  switch (node.role) {
    case "exit":
      return node.alwaysFail
        ? { ...base, route: { kind: "end", failed: true, error: info("ALWAYS_FAIL", `exit "${node.id}" is marked always_fail`) } }
        : { ...base, route: { kind: "end", failed: false } };
    case "decision":
      return { ...base, decision: decision!, route: { kind: "follow", edge: decision!.edge } };
    case "branch":
      return { ...base, route: { kind: "fork", fork: "branch", routes: node.outEdges.map((edge) => ({ edge, input: taskOutput })) } };
    case "split": {
      const items = output as readonly JsonValue[];
      return { ...base, route: { kind: "fork", fork: "split", routes: items.map((item, i) => ({ edge: splitEdgeFor(i, node.outEdges), input: item })) } };
    }
    default: {
      const edge = node.outEdges[0];
      return { ...base, route: edge ? { kind: "follow", edge } : { kind: "end", failed: false } };
    }
  }
}
