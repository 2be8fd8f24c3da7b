/**
 * Pure routing rules (CONTRACT §3): which edge a decision takes, how split items are assigned,
 * and in which order merge arrivals are presented. No I/O, no engine state: property-tested.
 *
 * @module
 */
import type { GraphEdge } from "../dag/types.js";
import type { JsonValue } from "../json.js";

/** Outcome of {@link selectDecisionEdge}. */
export type DecisionSelection =
  | { readonly ok: true; readonly selected: string; readonly edge: GraphEdge }
  | { readonly ok: false; readonly selected: string | undefined; readonly message: string };

/**
 * The name a decision output selects: `output.selected_edge` when the output is an object with a
 * string `selected_edge`, or the output itself when it is a string.
 */
export function selectedName(output: JsonValue): string | undefined {
  if (typeof output === "string") return output;
  if (output !== null && typeof output === "object" && !Array.isArray(output)) {
    const v = (output as { readonly [k: string]: JsonValue })["selected_edge"];
    if (typeof v === "string") return v;
  }
  return undefined;
}

/**
 * The lenient form of a decision answer: trimmed, surrounding quotes/backticks stripped, final
 * punctuation (`.`, `!`, `?`, `,`, `;`, `:`) stripped, case-folded. `"Review."` and `review`
 * both normalize to `review`.
 */
export function normalizeLabel(name: string): string {
  let s = name.trim();
  for (;;) {
    const before = s;
    s = s.replace(/[.!?,;:]+$/u, "").trim();
    const q = /^(["'`“‘*])([\s\S]*)(["'`”’*])$/u.exec(s);
    if (q && s.length >= 2) s = q[2]!.trim();
    if (s === before) break;
  }
  return s.toLowerCase();
}

/**
 * Picks the outbound edge a decision output names: first by edge `label`, else by target node
 * id (edges in declaration order); failing both, leniently (see {@link normalizeLabel}) by label,
 * then by target. `selected` is the label (or target) of the edge taken.
 */
export function selectDecisionEdge(output: JsonValue, outEdges: readonly GraphEdge[]): DecisionSelection {
  const name = selectedName(output);
  const choices = outEdges.map((e) => (e.label === undefined ? e.to : `${e.label} (-> ${e.to})`)).join(", ");
  if (name === undefined) {
    return { ok: false, selected: undefined, message: `decision output must be a string or an object with a string "selected_edge" naming one of: ${choices}` };
  }
  const byLabel = outEdges.find((e) => e.label === name);
  if (byLabel) return { ok: true, selected: name, edge: byLabel };
  const byTarget = outEdges.find((e) => e.to === name);
  if (byTarget) return { ok: true, selected: name, edge: byTarget };
  const norm = normalizeLabel(name);
  const lenientLabel = outEdges.find((e) => e.label !== undefined && normalizeLabel(e.label) === norm);
  if (lenientLabel) return { ok: true, selected: lenientLabel.label!, edge: lenientLabel };
  const lenientTarget = outEdges.find((e) => normalizeLabel(e.to) === norm);
  if (lenientTarget) return { ok: true, selected: lenientTarget.to, edge: lenientTarget };
  return { ok: false, selected: name, message: `decision selected ${JSON.stringify(name.length > 200 ? `${name.slice(0, 200)}...` : name)}, which names no outbound edge; choose one of: ${choices}` };
}

/** The answers a decision node accepts: each outbound edge's label, else its target id. */
export function decisionLabels(outEdges: readonly GraphEdge[]): string[] {
  return outEdges.map((e) => e.label ?? e.to);
}

/** Edge of split item `index`: round-robin over the outbound edges in declaration order. */
export function splitEdgeFor<E>(index: number, outEdges: readonly E[]): E {
  const edge = outEdges[index % outEdges.length];
  if (edge === undefined) throw new RangeError("split node has no outbound edges");
  return edge;
}

/** Sort key of a merge arrival: the in-edge it came by, then its item (clone/subtask) index. */
export interface ArrivalKey {
  readonly edgeIndex: number;
  readonly itemIndex: number;
}

/** Compares merge arrivals: (edge, then item) order. */
export function compareArrivals(a: ArrivalKey, b: ArrivalKey): number {
  return a.edgeIndex - b.edgeIndex || a.itemIndex - b.itemIndex;
}
