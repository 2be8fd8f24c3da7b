/**
 * Event-type patterns: an exact type (`node.completed`), a namespace glob (`node.*`), or `*`.
 *
 * @module
 */

/** A compiled predicate over event types. */
export type TypeMatcher = (type: string) => boolean;

const matchAll: TypeMatcher = () => true;

/** A glob split at its `*`s: `head*mid1*mid2*tail`. */
interface Glob {
  readonly head: string;
  readonly middles: readonly string[];
  readonly tail: string;
  /** Length of head + middles + tail: the shortest string that can match. */
  readonly minLength: number;
}

function compileGlob(pattern: string): Glob {
  const parts = pattern.split("*");
  const head = parts[0] ?? "";
  const tail = parts.length > 1 ? (parts[parts.length - 1] ?? "") : "";
  const middles = parts.slice(1, -1).filter((p) => p.length > 0);
  return { head, middles, tail, minLength: head.length + tail.length + middles.reduce((n, m) => n + m.length, 0) };
}

/**
 * True when `s` matches the glob. Each literal piece is found once, leftmost first, never
 * revisited: leftmost placement of a piece leaves the most room for the rest, so no backtracking
 * is needed and the work is linear in `s` for a given pattern (a regular expression built from
 * `*.*.*.*.x` backtracks polynomially, with the degree set by the number of stars).
 */
function globMatches(g: Glob, s: string): boolean {
  if (s.length < g.minLength || !s.startsWith(g.head) || !s.endsWith(g.tail)) return false;
  let at = g.head.length;
  const end = s.length - g.tail.length;
  for (const m of g.middles) {
    const found = s.indexOf(m, at);
    if (found < 0 || found + m.length > end) return false;
    at = found + m.length;
  }
  return true;
}

/**
 * Compiles event-type patterns into one predicate. `*` matches any run of characters, so
 * `node.*` matches `node.started` and `*.failed` matches every failure. An empty or missing
 * list matches everything. Matching takes time linear in the event type's length (no regular
 * expressions, no backtracking), whatever the pattern.
 */
export function compileTypeMatcher(patterns: readonly string[] | undefined): TypeMatcher {
  if (!patterns || patterns.length === 0 || patterns.includes("*")) return matchAll;
  const exact = new Set<string>();
  const globs: Glob[] = [];
  for (const p of patterns) {
    if (p.includes("*")) globs.push(compileGlob(p));
    else exact.add(p);
  }
  if (globs.length === 0) return (type) => exact.has(type);
  return (type) => exact.has(type) || globs.some((g) => globMatches(g, type));
}
