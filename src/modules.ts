/**
 * `specifier#export` references from manifests (node handlers, tools, plugins), resolved the way
 * Node resolves an `import` written in a file inside the config directory.
 *
 * @module
 */
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { resolve as resolveImport } from "import-meta-resolve";

/** A parsed `specifier#export`. */
export interface ExportRef {
  readonly specifier: string;
  /** Undefined when the reference has no `#export` (the default export is meant). */
  readonly exportName: string | undefined;
}

/**
 * Splits `./file.js#name` into its parts. The last `#` after the first character separates the
 * export (a leading `#` is a package-internal import specifier, kept whole).
 */
export function parseExportRef(ref: string): ExportRef {
  const hash = ref.lastIndexOf("#");
  if (hash <= 0) return { specifier: ref, exportName: undefined };
  const exportName = ref.slice(hash + 1);
  return { specifier: ref.slice(0, hash), exportName: exportName.length > 0 ? exportName : undefined };
}

/**
 * Resolves `specifier` as an `import` in a module of `baseDir` would: relative paths against
 * it, bare specifiers through `node_modules` and package `exports` (ESM conditions), `node:`
 * builtins as is. Uses `import-meta-resolve`, Node's own algorithm, since Node 20's
 * `import.meta.resolve` cannot take another parent without a flag.
 *
 * @returns an importable URL string.
 * @throws Node's resolution errors (`ERR_MODULE_NOT_FOUND`, `ERR_PACKAGE_PATH_NOT_EXPORTED`, ...).
 */
export function resolveSpecifier(specifier: string, baseDir: string): string {
  const url = resolveImport(specifier, pathToFileURL(join(baseDir, "__agent_engine__.js")).href);
  // Relative and absolute paths resolve without touching the disk; check them here so a missing
  // file is reported as not found, not as a failure inside the import.
  if (url.startsWith("file:")) {
    const path = fileURLToPath(url);
    if (!existsSync(path) || statSync(path).isDirectory()) {
      throw Object.assign(new Error(`no file at ${path}`), { code: "ERR_MODULE_NOT_FOUND" });
    }
  }
  return url;
}

/**
 * A hint for an error thrown while importing a user module, for the common mistakes: ESM syntax
 * in a file Node treats as CommonJS, and a dependency that is not installed.
 */
export function importFailureHint(err: unknown): string {
  const message = err instanceof Error ? err.message : "";
  if (err instanceof SyntaxError && /Unexpected token 'export'|Cannot use import statement outside a module/.test(message)) {
    return 'the file uses ESM syntax but Node loads it as CommonJS: name it .mjs, or add "type": "module" to the nearest package.json';
  }
  const pkg = /Cannot find package '([^']+)'/.exec(message);
  if (pkg) return `install ${pkg[1]} where the config directory can see it (npm install ${pkg[1]})`;
  return "the module itself (or something it imports) threw while loading";
}
