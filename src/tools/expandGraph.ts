/**
 * `<server>.*` in nodes' `tools:` lists, expanded into the MCP server's tool ids once the server
 * has listed them, so the runtime's allow-list check (exact ids) accepts them.
 *
 * @module
 */
import type { GraphNode, WorkflowGraph } from "../dag/types.js";

/**
 * Returns `graph` itself when no node lists a wildcard; otherwise a copy whose nodes with a
 * `<server>.*` entry also list every concrete tool it stands for (the wildcard is kept).
 * Edges, reachability and every other node are shared with `graph`.
 */
export function expandGraphTools(graph: WorkflowGraph, expand: (allowList: readonly string[]) => string[]): WorkflowGraph {
  if (!graph.nodeList.some((n) => n.tools.some((t) => t.endsWith(".*")))) return graph;
  const nodeList: GraphNode[] = graph.nodeList.map((n) => {
    if (!n.tools.some((t) => t.endsWith(".*"))) return n;
    const tools = [...n.tools];
    for (const id of expand(n.tools)) if (!tools.includes(id)) tools.push(id);
    return Object.freeze({ ...n, tools: Object.freeze(tools) });
  });
  const nodes: ReadonlyMap<string, GraphNode> = new Map(nodeList.map((n) => [n.id, n] as const));
  return Object.freeze({ ...graph, nodes, nodeList: Object.freeze(nodeList) });
}
