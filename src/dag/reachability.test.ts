import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { ANSWER_CACHE_LIMIT, buildReachability } from "./reachability.js";

/** Kahn order of a DAG given as successor lists. */
function topo(succ: readonly (readonly number[])[]): number[] {
  const indeg = succ.map(() => 0);
  for (const l of succ) for (const w of l) indeg[w]! += 1;
  const ready = indeg.flatMap((d, v) => (d === 0 ? [v] : []));
  const out: number[] = [];
  while (ready.length > 0) {
    const v = ready.shift()!;
    out.push(v);
    for (const w of succ[v] ?? []) if (--indeg[w]! === 0) ready.push(w);
  }
  return out;
}

function bfs(succ: readonly (readonly number[])[], from: number): Set<number> {
  const seen = new Set([from]);
  const queue = [from];
  for (let h = 0; h < queue.length; h++) {
    for (const w of succ[queue[h]!] ?? []) {
      if (seen.has(w)) continue;
      seen.add(w);
      queue.push(w);
    }
  }
  return seen;
}

/** Random DAGs: edges only from lower to higher numbers, relabelled by a permutation. */
const dagArb = fc.integer({ min: 1, max: 40 }).chain((n) =>
  fc.record({
    n: fc.constant(n),
    edges: fc.array(fc.tuple(fc.nat(n - 1), fc.nat(n - 1)), { maxLength: n * 3 }),
    perm: fc.shuffledSubarray([...Array(n).keys()], { minLength: n, maxLength: n }),
  }),
);

test("property: canReach agrees with a breadth-first search on random DAGs", () => {
  fc.assert(
    fc.property(dagArb, ({ n, edges, perm }) => {
      const succ: number[][] = Array.from({ length: n }, () => []);
      for (const [a, b] of edges) if (a < b && !succ[perm[a]!]!.includes(perm[b]!)) succ[perm[a]!]!.push(perm[b]!);
      const index = buildReachability(succ, topo(succ));
      for (let a = 0; a < n; a++) {
        const reach = bfs(succ, a);
        for (let b = 0; b < n; b++) assert.equal(index.canReach(a, b), reach.has(b), `${a} -> ${b}`);
      }
      // asked again (answers now cached): same answers
      for (let a = 0; a < n; a++) for (let b = 0; b < n; b++) assert.equal(index.canReach(a, b), bfs(succ, a).has(b));
    }),
    { numRuns: 300 },
  );
});

test("regression: the index grows linearly, not as nodes² (200k-node chain of diamonds)", () => {
  // s -> (a_i | b_i) -> m_i -> ... : 3 nodes per diamond; the old bit table needed n²/8 bytes (5 GB here).
  const diamonds = 66_667;
  const n = 1 + diamonds * 3;
  const succ: number[][] = Array.from({ length: n }, () => []);
  let prev = 0;
  for (let i = 0; i < diamonds; i++) {
    const a = 1 + i * 3;
    const b = a + 1;
    const m = a + 2;
    succ[prev]!.push(a, b);
    succ[a]!.push(m);
    succ[b]!.push(m);
    prev = m;
  }
  const order = [...Array(n).keys()];
  const index = buildReachability(succ, order);
  assert.equal(index.nodeCount, n);
  assert.equal(index.edgeCount, diamonds * 4);
  assert.ok(index.byteLength <= 64 * (index.nodeCount + index.edgeCount) + ANSWER_CACHE_LIMIT * 64, `index holds ${index.byteLength} bytes`);
  assert.ok(index.byteLength < (n * n) / 8 / 100, "at least 100x smaller than a full table");
  // exact answers across the whole chain, both ways, and between the arms of one diamond
  assert.equal(index.canReach(0, n - 1), true);
  assert.equal(index.canReach(2, n - 1), true);
  assert.equal(index.canReach(n - 1, 0), false);
  assert.equal(index.canReach(1, 2), false);
  assert.equal(index.canReach(2, 1), false);
  assert.equal(index.canReach(n - 3, n - 1), true);
  assert.equal(index.canReach(n - 2, n - 3), false);
});

test("many distinct questions: the answer cache stays bounded and answers stay right", () => {
  const n = 600;
  const succ: number[][] = Array.from({ length: n }, (_, v) => (v + 1 < n ? [v + 1] : []));
  // a second path skipping every other node makes answers need a search past the tree cut
  for (let v = 0; v + 2 < n; v += 2) succ[v]!.push(v + 2);
  const index = buildReachability(succ, [...Array(n).keys()]);
  let asked = 0;
  for (let a = 0; a < n; a += 1) {
    for (let b = 0; b < n; b += 3) {
      asked++;
      assert.equal(index.canReach(a, b), a <= b);
    }
  }
  assert.ok(asked > ANSWER_CACHE_LIMIT / 2);
});
