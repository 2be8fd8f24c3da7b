/**
 * Resolves `specifier#export` strings from manifests (node handlers, tool handlers) with a real
 * dynamic `import()`. Relative specifiers are resolved against the config directory; bare ones
 * as packages installed where the config directory (or agent-engine) can see them.
 *
 * @module
 */
import { createRequire } from "node:module";
import { isAbsolute, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { EngineError, errorMessage, type ErrorCode } from "../errors.js";

/** A parsed `specifier#export`. */
export interface ExportRef {
  readonly specifier: string;
  /** `default` when the string has no `#`. */
  readonly exportName: string;
}

/** Splits `./file.js#name` into its parts. */
export function parseExportRef(ref: string): ExportRef {
  const hash = ref.lastIndexOf("#");
  if (hash < 0) return { specifier: ref, exportName: "default" };
  return { specifier: ref.slice(0, hash), exportName: ref.slice(hash + 1) || "default" };
}

/** Resolves a specifier to a URL or package name that `import()` accepts. */
export function resolveSpecifier(specifier: string, baseDir: string): string {
  if (specifier.startsWith("./") || specifier.startsWith("../") || isAbsolute(specifier)) {
    return pathToFileURL(resolve(baseDir, specifier)).href;
  }
  if (specifier.startsWith("file:") || specifier.startsWith("node:")) return specifier;
  try {
    return pathToFileURL(createRequire(join(baseDir, "noop.js")).resolve(specifier)).href;
  } catch {
    return specifier; // ESM-only packages: let import() resolve it from agent-engine's location.
  }
}

/** Context for error messages. */
export interface LoadExportContext {
  /** Manifest file the reference came from. */
  readonly file?: string;
  /** JSON pointer of the field, e.g. `/nodes/2/handler`. */
  readonly path?: string;
  readonly nodeId?: string;
  /** What the export is for, e.g. "handler of node \"normalize\"". */
  readonly what: string;
  readonly code?: ErrorCode;
}

/**
 * Imports `ref` and returns the named export.
 *
 * @throws EngineError `HANDLER_LOAD_FAILED` naming the file, field, module path and export.
 */
export async function loadExport(ref: string, baseDir: string, ctx: LoadExportContext): Promise<unknown> {
  const { specifier, exportName } = parseExportRef(ref);
  const url = resolveSpecifier(specifier, baseDir);
  const where = { ...(ctx.file ? { file: ctx.file } : {}), ...(ctx.path ? { path: ctx.path } : {}), ...(ctx.nodeId ? { nodeId: ctx.nodeId } : {}) };
  const code = ctx.code ?? "HANDLER_LOAD_FAILED";
  let mod: Record<string, unknown>;
  try {
    mod = (await import(url)) as Record<string, unknown>;
  } catch (err) {
    const notFound = (err as { code?: string }).code === "ERR_MODULE_NOT_FOUND" || (err as { code?: string }).code === "ERR_UNSUPPORTED_DIR_IMPORT";
    throw new EngineError(
      {
        code,
        ...where,
        message: notFound
          ? `cannot find module "${specifier}" for the ${ctx.what} (looked for ${url}); check the path, which is relative to the config directory`
          : `importing "${specifier}" for the ${ctx.what} threw: ${errorMessage(err)}`,
      },
      { cause: err },
    );
  }
  if (!(exportName in mod)) {
    const available = Object.keys(mod).join(", ") || "none";
    throw new EngineError({ code, ...where, message: `module "${specifier}" has no export "${exportName}" for the ${ctx.what} (exports: ${available})`, hint: "write it as module.js#exportName" });
  }
  return mod[exportName];
}
