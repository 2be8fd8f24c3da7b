/**
 * Event-type patterns: an exact type (`node.completed`), a namespace glob (`node.*`), or `*`.
 *
 * @module
 */

/** A compiled predicate over event types. */
export type TypeMatcher = (type: string) => boolean;

const matchAll: TypeMatcher = () => true;

/**
 * Compiles event-type patterns into one predicate. `*` matches any run of characters, so
 * `node.*` matches `node.started` and `*.failed` matches every failure. An empty or missing
 * list matches everything.
 */
export function compileTypeMatcher(patterns: readonly string[] | undefined): TypeMatcher {
  if (!patterns || patterns.length === 0 || patterns.includes("*")) return matchAll;
  const exact = new Set<string>();
  const globs: RegExp[] = [];
  for (const p of patterns) {
    if (p.includes("*")) globs.push(new RegExp(`^${p.split("*").map(escapeRegExp).join(".*")}$`));
    else exact.add(p);
  }
  if (globs.length === 0) return (type) => exact.has(type);
  return (type) => exact.has(type) || globs.some((g) => g.test(type));
}

function escapeRegExp(s: string): string {
  return s.replace(/[.+?^${}()|[\]\\]/g, "\\$&");
}
