/**
 * Reachability queries over an acyclic graph in memory linear in its size.
 *
 * A full table (one bit per pair of nodes) answers in O(1) but grows as nodes²: 262k nodes took
 * 8 GiB. This index keeps, per node, its topological position and two interval labels from
 * depth-first traversals (GRAIL, Yildirim et al., VLDB 2010), plus the tree intervals of the
 * first traversal:
 *
 * - `pos[a] > pos[b]`: `a` comes after `b` in a topological order, so it cannot reach it;
 * - `b`'s label interval not inside `a`'s: `a` cannot reach `b` (exact negative cut);
 * - `b` inside `a`'s depth-first subtree: `a` reaches `b` (exact positive cut);
 * - otherwise a depth-first search from `a`, pruned by the same tests, decides.
 *
 * Answers are exact. Recent answers are kept in a bounded cache, so the runtime's repeated
 * questions (does this stage still lead to that merge?) cost a map lookup.
 *
 * @module
 */

/** A reachability index over nodes `0..nodeCount-1`. */
export interface ReachabilityIndex {
  readonly nodeCount: number;
  readonly edgeCount: number;
  /**
   * Bytes held by the index (typed arrays, plus the answer cache at its cap): linear in nodes
   * and edges, never nodes².
   */
  readonly byteLength: number;
  /** True when a directed path leads from `a` to `b` (a node reaches itself). */
  canReach(a: number, b: number): boolean;
}

/** Answers kept before the cache is emptied (bounds its memory at a few MiB). */
export const ANSWER_CACHE_LIMIT = 1 << 16;
/** Estimated bytes per cached answer (a Map entry with a number key). */
const BYTES_PER_CACHED_ANSWER = 40;

/**
 * Builds the index. `succ[v]` lists the successors of `v`; `topo` is a topological order of
 * every node (the graph must be acyclic).
 */
export function buildReachability(succ: readonly (readonly number[])[], topo: readonly number[]): ReachabilityIndex {
  const n = succ.length;
  let edgeCount = 0;
  for (const list of succ) edgeCount += list.length;
  // Successors in compressed rows: offsets[v]..offsets[v+1] index into targets.
  const offsets = new Int32Array(n + 1);
  const targets = new Int32Array(edgeCount);
  const indeg = new Int32Array(n);
  for (let v = 0, k = 0; v < n; v++) {
    offsets[v] = k;
    for (const w of succ[v] ?? []) {
      targets[k++] = w;
      indeg[w]! += 1;
    }
    offsets[v + 1] = k;
  }
  const pos = new Int32Array(n);
  topo.forEach((v, i) => {
    pos[v] = i;
  });

  const pre = new Int32Array(n);
  const post1 = new Int32Array(n);
  const low1 = new Int32Array(n);
  const post2 = new Int32Array(n);
  const low2 = new Int32Array(n);
  const stack = new Int32Array(n);
  const cursor = new Int32Array(n);
  const stamp = new Int32Array(n);
  label(false, post1, low1, pre);
  label(true, post2, low2, undefined);

  /** One depth-first traversal from every root; children forward or in reverse order. */
  function label(reverse: boolean, post: Int32Array, low: Int32Array, preOut: Int32Array | undefined): void {
    const seen = new Uint8Array(n);
    let preCounter = 0;
    let postCounter = 0;
    const visit = (root: number): void => {
      let top = 0;
      stack[0] = root;
      cursor[root] = 0;
      seen[root] = 1;
      if (preOut) preOut[root] = preCounter++;
      while (top >= 0) {
        const v = stack[top]!;
        const start = offsets[v]!;
        const degree = offsets[v + 1]! - start;
        const i = cursor[v]!;
        if (i < degree) {
          cursor[v] = i + 1;
          const w = targets[start + (reverse ? degree - 1 - i : i)]!;
          if (!seen[w]) {
            seen[w] = 1;
            if (preOut) preOut[w] = preCounter++;
            cursor[w] = 0;
            stack[++top] = w;
          }
        } else {
          // Every successor is finished (no back edges in a DAG): low covers all descendants.
          let lo = postCounter;
          for (let k = start; k < start + degree; k++) lo = Math.min(lo, low[targets[k]!]!);
          post[v] = postCounter++;
          low[v] = lo;
          top--;
        }
      }
    };
    const roots: number[] = [];
    for (let v = 0; v < n; v++) if (indeg[v] === 0) roots.push(v);
    if (reverse) roots.reverse();
    for (const r of roots) visit(r);
    for (let v = 0; v < n; v++) if (!seen[v]) visit(v); // unreachable only if the graph had a cycle
  }

  const maybe = (a: number, b: number): boolean =>
    pos[a]! <= pos[b]! && low1[a]! <= low1[b]! && post1[b]! <= post1[a]! && low2[a]! <= low2[b]! && post2[b]! <= post2[a]!;

  let generation = 0;
  const search = (a: number, b: number): boolean => {
    generation++;
    if (generation === 0x7fffffff) {
      stamp.fill(0);
      generation = 1;
    }
    let top = 0;
    stack[0] = a;
    stamp[a] = generation;
    while (top >= 0) {
      const v = stack[top--]!;
      for (let k = offsets[v]!; k < offsets[v + 1]!; k++) {
        const w = targets[k]!;
        if (w === b) return true;
        if (stamp[w] === generation || !maybe(w, b)) continue;
        stamp[w] = generation;
        stack[++top] = w;
      }
    }
    return false;
  };

  const cache = new Map<number, boolean>();
  const byteLength =
    offsets.byteLength + targets.byteLength + indeg.byteLength + pos.byteLength + pre.byteLength + post1.byteLength + low1.byteLength + post2.byteLength + low2.byteLength + stack.byteLength + cursor.byteLength + stamp.byteLength + ANSWER_CACHE_LIMIT * BYTES_PER_CACHED_ANSWER;

  return Object.freeze({
    nodeCount: n,
    edgeCount,
    byteLength,
    canReach(a: number, b: number): boolean {
      if (a === b) return true;
      if (!maybe(a, b)) return false;
      // Tree descendant in the first traversal: reachable.
      if (pre[a]! <= pre[b]! && post1[b]! <= post1[a]!) return true;
      const key = a * n + b;
      const hit = cache.get(key);
      if (hit !== undefined) return hit;
      const answer = search(a, b);
      if (cache.size >= ANSWER_CACHE_LIMIT) cache.clear();
      cache.set(key, answer);
      return answer;
    },
  });
}
