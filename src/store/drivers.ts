/**
 * Loads a database driver (an optional peer dependency) only when a store needs it.
 *
 * @module
 */
import { StoreError } from "./StoreError.js";

/**
 * `import()`s `pkg`; a missing package is `STORE_DRIVER_MISSING` naming what to install.
 * The specifier is a variable so TypeScript does not resolve it for users without the package.
 */
export async function loadDriver<T>(pkg: "better-sqlite3" | "pg", range: string, url: string): Promise<T> {
  const specifier: string = pkg;
  try {
    const mod = (await import(specifier)) as { default?: T };
    return (mod.default ?? mod) as T;
  } catch (err) {
    const code = (err as { code?: unknown } | null)?.code;
    if (code === "ERR_MODULE_NOT_FOUND" || code === "MODULE_NOT_FOUND") {
      throw new StoreError("STORE_DRIVER_MISSING", `the ${pkg === "pg" ? "PostgreSQL" : "SQLite"} store needs the package "${pkg}", which is not installed`, { url, hint: `npm install ${pkg}@${range}`, cause: err });
    }
    throw new StoreError("STORE_OPEN_FAILED", `the package "${pkg}" failed to load: ${err instanceof Error ? err.message : String(err)}`, {
      url,
      hint: pkg === "better-sqlite3" ? "a native addon built for another Node.js version: run `npm rebuild better-sqlite3`" : `reinstall it: npm install ${pkg}@${range}`,
      cause: err,
    });
  }
}
