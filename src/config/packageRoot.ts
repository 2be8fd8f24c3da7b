/**
 * Finds files shipped in the agent-engine package (the JSON Schemas in `schemas/`).
 *
 * @module
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

let cachedRoot: string | undefined;

/**
 * Absolute path of the agent-engine package root: the nearest ancestor of this compiled file
 * holding a `package.json` whose `name` is `agent-engine`. Works from `src/` (ts runners) and from
 * `dist/src/` alike.
 */
export function packageRoot(): string {
  if (cachedRoot !== undefined) return cachedRoot;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, "package.json");
    if (existsSync(pkg)) {
      try {
        const parsed = JSON.parse(readFileSync(pkg, "utf8")) as { name?: unknown };
        if (parsed.name === "agent-engine") {
          cachedRoot = dir;
          return dir;
        }
      } catch {
        // not ours; keep walking up
      }
    }
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  // Fallback: the layout of the compiled package (dist/src/config -> root).
  cachedRoot = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
  return cachedRoot;
}

/** Absolute path of the directory holding the shipped manifest JSON Schemas. */
export function schemasDir(): string {
  return join(packageRoot(), "schemas");
}
