/**
 * Resolves `specifier#export` strings from manifests (node handlers, tool handlers) with a real
 * dynamic `import()`. Relative specifiers are resolved against the config directory; bare ones
 * as packages installed where the config directory (or agent-engine) can see them.
 *
 * @module
 */
import { EngineError, errorMessage, type ErrorCode } from "../errors.js";
import { importFailureHint, parseExportRef, refuseResolved, refuseSpecifier, resolveSpecifier, type LoadPolicy } from "../modules.js";

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
  /** What may be loaded besides files of `baseDir` and packages (default: nothing else). */
  readonly allow?: LoadPolicy;
}

/** A reference resolved and allowed by the load policy, not imported yet. */
export interface ResolvedExport {
  /** The specifier as written (before `#`). */
  readonly specifier: string;
  /** Export name (`default` when the reference has no `#`). */
  readonly exportName: string;
  /** Importable URL. */
  readonly url: string;
}

/**
 * Resolves `ref` against `baseDir` and checks it against the load policy, without importing it
 * (a worker imports it: `isolation: worker`).
 *
 * @throws EngineError `CONFIG_MODULE_NOT_ALLOWED`, or `HANDLER_LOAD_FAILED` (or `ctx.code`) for a module that cannot be found.
 */
export function resolveExport(ref: string, baseDir: string, ctx: LoadExportContext): ResolvedExport {
  const { specifier, exportName = "default" } = parseExportRef(ref);
  const where = whereOf(ctx);
  const refuse = (r: { message: string; hint: string }): EngineError => new EngineError({ code: "CONFIG_MODULE_NOT_ALLOWED", ...where, message: `the ${ctx.what}: ${r.message}`, hint: r.hint });
  const early = refuseSpecifier(specifier, ctx.allow);
  if (early) throw refuse(early);
  let url: string;
  try {
    url = resolveSpecifier(specifier, baseDir);
  } catch (err) {
    throw new EngineError(
      {
        code: ctx.code ?? "HANDLER_LOAD_FAILED",
        ...where,
        message: `cannot find module "${specifier}" for the ${ctx.what}: ${errorMessage(err).split("\n")[0]}`,
        hint: "paths are relative to the config directory; packages must be installed where it can see them",
      },
      { cause: err },
    );
  }
  const late = refuseResolved(specifier, url, baseDir, ctx.allow);
  if (late) throw refuse(late);
  return { specifier, exportName, url };
}

/**
 * Imports `ref` and returns the named export. Only files inside `baseDir` (the config directory)
 * and packages it can resolve are loaded, unless `ctx.allow` says otherwise ({@link LoadPolicy}).
 *
 * @throws EngineError `CONFIG_MODULE_NOT_ALLOWED` for a `node:` builtin, a `data:`/`http(s):` URL
 *   or a file outside `baseDir` that the policy does not allow.
 * @throws EngineError `HANDLER_LOAD_FAILED` (or `ctx.code`) naming the file, field, module path and export.
 */
export async function loadExport(ref: string, baseDir: string, ctx: LoadExportContext): Promise<unknown> {
  const { specifier, exportName, url } = resolveExport(ref, baseDir, ctx);
  const where = whereOf(ctx);
  const code = ctx.code ?? "HANDLER_LOAD_FAILED";
  let mod: Record<string, unknown>;
  try {
    mod = (await import(url)) as Record<string, unknown>;
  } catch (err) {
    throw new EngineError({ code, ...where, message: importFailedMessage(specifier, ctx.what, err), hint: importFailureHint(err) }, { cause: err });
  }
  if (!(exportName in mod)) throw new EngineError({ code, ...where, message: missingExportMessage(specifier, exportName, ctx.what, Object.keys(mod)), hint: MISSING_EXPORT_HINT });
  return mod[exportName];
}

/** The message of a module that threw while being imported. */
export function importFailedMessage(specifier: string, what: string, err: unknown): string {
  return `importing "${specifier}" for the ${what} threw: ${errorMessage(err)}`;
}

/** The message of a module without the export a reference names. */
export function missingExportMessage(specifier: string, exportName: string, what: string, exports: readonly string[]): string {
  return `module "${specifier}" has no export "${exportName}" for the ${what} (exports: ${exports.join(", ") || "none"})`;
}

/** The hint of {@link missingExportMessage}. */
export const MISSING_EXPORT_HINT = "write it as module.js#exportName";

function whereOf(ctx: LoadExportContext): { file?: string; path?: string; nodeId?: string } {
  return { ...(ctx.file ? { file: ctx.file } : {}), ...(ctx.path ? { path: ctx.path } : {}), ...(ctx.nodeId ? { nodeId: ctx.nodeId } : {}) };
}
