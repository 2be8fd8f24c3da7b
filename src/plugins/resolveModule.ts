/**
 * Finding, importing and instantiating a plugin named by `module: specifier[#export]`. Shared by
 * the plugins.yaml loader (main thread) and the worker entry point (`isolation: worker`).
 *
 * @module
 */
import { existsSync, statSync } from "node:fs";
import { extname, isAbsolute, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { ErrorCode } from "../errors.js";
import { errorMessage } from "../errors.js";
import { importFailureHint, parseExportRef, refuseResolved, refuseSpecifier, resolveSpecifier, type LoadPolicy } from "../modules.js";
import { definePlugin, describeValue, isPlugin, isPluginClass, isPluginDefinition, type Plugin, type PluginContext } from "./PluginBase.js";

/** Specifier of the built-in plugins; always served by this copy of agent-engine. */
export const BUILTIN_PLUGINS_SPECIFIER = "agent-engine/plugins";

/** A parsed `module` value. */
export interface ModuleRef {
  /** `./plugins/audit.js`, `my-package/sub`, `agent-engine/plugins`. */
  readonly specifier: string;
  /** Export name after `#`; `undefined` means the default export. */
  readonly exportName: string | undefined;
}

/** A problem found while resolving, importing or instantiating a plugin. */
export interface PluginProblem {
  readonly code: ErrorCode;
  readonly message: string;
  readonly hint?: string;
  /** Which manifest field is at fault: `module` or `config`. */
  readonly field: "module" | "config";
  readonly cause?: unknown;
}

/** Thrown by the functions of this module; carries a {@link PluginProblem}. */
export class PluginProblemError extends Error {
  constructor(readonly problem: PluginProblem) {
    super(problem.message, problem.cause === undefined ? undefined : { cause: problem.cause });
    this.name = "PluginProblemError";
  }
}

function problem(p: PluginProblem): PluginProblemError {
  return new PluginProblemError(p);
}

/**
 * Splits `specifier#export`. The last `#` after the first character separates the export (a
 * leading `#` is a package-internal import specifier, kept whole).
 */
export function parseModuleRef(ref: string): ModuleRef {
  return parseExportRef(ref);
}

/** True for `./x`, `../x`, absolute paths and `file:` URLs: resolved against the config dir. */
export function isPathSpecifier(specifier: string): boolean {
  return specifier.startsWith("./") || specifier.startsWith("../") || specifier === "." || specifier === ".." || isAbsolute(specifier) || specifier.startsWith("file:");
}

/**
 * Resolves a specifier to an importable URL: paths relative to `configDir`; bare package
 * specifiers as Node would from a module inside `configDir` (`node_modules` lookup, `exports`
 * maps with `import`/`node`/`default` conditions); `agent-engine/plugins` to the built-ins.
 * `node:` builtins, `data:`/`http(s):` URLs and paths leading out of `configDir` (`../x.js`,
 * absolute paths, `file:` URLs, symlinks pointing out) are refused unless `policy` allows them
 * (a YAML edit must not be able to load code that is not a file of the config directory or an
 * installed package), the same rule as for handlers and tools.
 *
 * @throws {@link PluginProblemError} `PLUGIN_MODULE_NOT_FOUND`, `CONFIG_MODULE_NOT_ALLOWED`.
 */
export function resolveModuleUrl(specifier: string, configDir: string, policy: LoadPolicy = {}): string {
  if (specifier === BUILTIN_PLUGINS_SPECIFIER) return new URL("./builtins/index.js", import.meta.url).href;
  const refused = refuseSpecifier(specifier, policy);
  if (refused) throw problem({ code: "CONFIG_MODULE_NOT_ALLOWED", field: "module", message: `plugin module ${refused.message}`, hint: refused.hint });
  if (/^(node|data|https?):/i.test(specifier)) return specifier;
  if (isPathSpecifier(specifier)) {
    let path: string;
    try {
      path = specifier.startsWith("file:") ? fileURLToPath(specifier) : resolve(configDir, specifier);
    } catch (err) {
      throw problem({ code: "PLUGIN_MODULE_NOT_FOUND", field: "module", message: `"${specifier}" is not a valid file URL: ${errorMessage(err)}`, hint: "use a path relative to the config directory, such as ./plugins/audit.js" });
    }
    if (!existsSync(path) || statSync(path).isDirectory()) throw notFoundPath(specifier, path);
    const outside = refuseResolved(specifier, pathToFileURL(path).href, configDir, policy);
    if (outside) throw problem({ code: "CONFIG_MODULE_NOT_ALLOWED", field: "module", message: `plugin module ${outside.message}`, hint: outside.hint });
    return pathToFileURL(path).href;
  }
  let url: string;
  try {
    url = resolveSpecifier(specifier, configDir);
  } catch (err) {
    throw problem({
      code: "PLUGIN_MODULE_NOT_FOUND",
      field: "module",
      message: `cannot find package "${specifier}" from ${configDir} (${firstLine(errorMessage(err))})`,
      hint: `install it (npm install ${packageName(specifier)}) in or above the config dir, or use a path starting with ./ relative to the config dir`,
      cause: err,
    });
  }
  // A bare builtin name (`fs`) resolves to `node:fs`.
  const builtin = refuseSpecifier(url, policy);
  if (builtin) throw problem({ code: "CONFIG_MODULE_NOT_ALLOWED", field: "module", message: `plugin module ${builtin.message}`, hint: builtin.hint });
  return url;
}

function notFoundPath(specifier: string, path: string): PluginProblemError {
  let hint = "paths are relative to the config directory (the folder holding plugins.yaml)";
  const ext = extname(path);
  if (ext === "" && existsSync(`${path}.js`)) hint = `did you mean "${specifier}.js"? ESM imports need the file extension`;
  else if (ext === ".ts") hint = "plugins are imported by Node: point at the compiled .js file";
  else if (ext === ".js" && existsSync(path.replace(/\.js$/, ".ts"))) hint = "only the .ts source exists: compile it to .js first";
  return problem({ code: "PLUGIN_MODULE_NOT_FOUND", field: "module", message: `cannot find module "${specifier}" (looked for ${path})`, hint });
}

function firstLine(s: string): string {
  const i = s.indexOf("\n");
  return i < 0 ? s : s.slice(0, i);
}

function packageName(specifier: string): string {
  const parts = specifier.split("/");
  return specifier.startsWith("@") ? parts.slice(0, 2).join("/") : (parts[0] ?? specifier);
}

/**
 * Imports the module named by `ref` and returns the named export (or the default export).
 *
 * @throws {@link PluginProblemError} `PLUGIN_MODULE_NOT_FOUND`, `CONFIG_MODULE_NOT_ALLOWED`, `PLUGIN_IMPORT_FAILED`, `PLUGIN_EXPORT_MISSING`.
 */
export async function importPluginExport(ref: ModuleRef, configDir: string, policy: LoadPolicy = {}): Promise<unknown> {
  const url = resolveModuleUrl(ref.specifier, configDir, policy);
  let mod: Record<string, unknown>;
  try {
    mod = (await import(url)) as Record<string, unknown>;
  } catch (err) {
    throw problem({
      code: "PLUGIN_IMPORT_FAILED",
      field: "module",
      message: `importing "${ref.specifier}" failed: ${errorMessage(err)}`,
      hint: importFailureHint(err),
      cause: err,
    });
  }
  const name = ref.exportName ?? "default";
  if (!Object.hasOwn(mod, name) || mod[name] === undefined) {
    const available = Object.keys(mod).filter((k) => mod[k] !== undefined);
    const similar = available.find((k) => k.toLowerCase() === name.toLowerCase());
    const pluginLike = available.filter((k) => isPluginClass(mod[k]) || isPluginDefinition(mod[k]));
    let hint: string;
    if (similar !== undefined) hint = `did you mean "#${similar}"?`;
    else if (pluginLike.length > 0) hint = `plugin-like exports: ${pluginLike.map((k) => (k === "default" ? "default (no #)" : `#${k}`)).join(", ")}`;
    else hint = ref.exportName === undefined ? "add `#ExportName` to module, or give the module a default export" : "check the export name after #";
    throw problem({
      code: "PLUGIN_EXPORT_MISSING",
      field: "module",
      message: `module "${ref.specifier}" has no ${ref.exportName === undefined ? "default export" : `export "${name}"`}; available exports: ${available.length > 0 ? available.join(", ") : "none"}`,
      hint,
    });
  }
  return mod[name];
}

/**
 * Turns an export into a plugin instance: a class (PluginBase subclass, `definePlugin` result or
 * any class with `onEvent`) is constructed as `new X(pluginId, config, context)`; a plain object
 * with an `onEvent` method is wrapped with `definePlugin` first.
 *
 * @throws {@link PluginProblemError} `PLUGIN_NOT_A_PLUGIN`, `PLUGIN_CONSTRUCTOR_FAILED`.
 */
export function instantiatePlugin(value: unknown, ref: ModuleRef, pluginId: string, config: Record<string, unknown>, context: PluginContext): Plugin {
  const exportLabel = ref.exportName === undefined ? `the default export of "${ref.specifier}"` : `export "${ref.exportName}" of "${ref.specifier}"`;
  let ctor: new (id: string, config: Record<string, unknown>, context: PluginContext) => unknown;
  if (isPluginClass(value)) ctor = value;
  else if (isPluginDefinition(value)) ctor = definePlugin(value);
  else {
    const instanceHint = isPlugin(value) ? "it is already a plugin instance; export its class (or a definePlugin() result) so the engine can construct it with this id and config" : undefined;
    throw problem({
      code: "PLUGIN_NOT_A_PLUGIN",
      field: "module",
      message: `${exportLabel} is not a plugin: found ${isPlugin(value) ? `a plugin instance (pluginId "${value.pluginId}")` : describeValue(value)}`,
      hint: instanceHint ?? "export a class extending PluginBase, a definePlugin({ onEvent }) result, or an object with an onEvent method",
    });
  }
  let instance: unknown;
  try {
    instance = new ctor(pluginId, config, context);
  } catch (err) {
    throw problem({
      code: "PLUGIN_CONSTRUCTOR_FAILED",
      field: "config",
      message: `new ${ctor.name || "plugin"}("${pluginId}", config) from ${exportLabel} threw: ${errorMessage(err)}`,
      hint: "check this plugin's config",
      cause: err,
    });
  }
  if (!isPlugin(instance)) {
    throw problem({
      code: "PLUGIN_NOT_A_PLUGIN",
      field: "module",
      message: `constructing ${exportLabel} did not give a plugin: found ${describeValue(instance)}`,
      hint: "the constructor must pass the plugin id to super(pluginId, config) (or set a string pluginId) and have an onEvent method",
    });
  }
  if (instance.pluginId !== pluginId) {
    throw problem({
      code: "PLUGIN_NOT_A_PLUGIN",
      field: "module",
      message: `constructing ${exportLabel} gave a plugin with pluginId "${instance.pluginId}", expected "${pluginId}"`,
      hint: "pass the first constructor argument to super(pluginId, config)",
    });
  }
  return instance;
}
