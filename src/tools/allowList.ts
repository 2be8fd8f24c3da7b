/**
 * Tool allow-lists: a node's `tools:` and an agent's `tools`. An entry is a tool id, or
 * `<prefix>.*` for every tool whose id starts with `<prefix>.` (`kb.*`: every tool of the MCP
 * server `kb`). One definition for every path that checks or expands a list: the runtime's
 * `ctx.callTool`, the agent runner's tool declarations and {@link ToolRegistry.expand}.
 *
 * @module
 */

/** True for a `<prefix>.*` entry (a non-empty prefix). */
function isWildcard(entry: string): boolean {
  return entry.length > 2 && entry.endsWith(".*");
}

/** True when `entry` is a `<prefix>.*` wildcard matching `toolId`. */
function wildcardMatches(entry: string, toolId: string): boolean {
  return isWildcard(entry) && toolId.length > entry.length - 1 && toolId.startsWith(entry.slice(0, -1));
}

/**
 * True when `toolId` is allowed by `allowList`: listed as is, or matched by a `<prefix>.*`
 * entry (`kb.*` allows `kb.search`, not `kb` nor `kbx.search`).
 *
 * @example
 * ```ts
 * isToolAllowed(["docs", "kb.*"], "kb.search"); // true
 * isToolAllowed(["docs", "kb.*"], "fetch");     // false
 * ```
 */
export function isToolAllowed(allowList: readonly string[], toolId: string): boolean {
  for (const entry of allowList) if (entry === toolId || wildcardMatches(entry, toolId)) return true;
  return false;
}

/**
 * The tool ids an allow-list names, in list order and without duplicates: a plain entry as
 * is (known or not), a `<prefix>.*` entry as every id of `known` it matches (in `known`'s
 * order).
 */
export function expandAllowList(allowList: readonly string[], known: readonly string[]): string[] {
  const out = new Set<string>();
  for (const entry of allowList) {
    if (isWildcard(entry)) {
      for (const id of known) if (wildcardMatches(entry, id)) out.add(id);
    } else out.add(entry);
  }
  return [...out];
}
