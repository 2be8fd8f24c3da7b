/**
 * plugins.yaml -> plugin instances (and, given a registry, registered and started plugins).
 *
 * @module
 */
import { join } from "node:path";
import type { PluginManifest, PluginsManifest } from "../config/types.js";
import { errorMessage, PluginLoadError, type ErrorDetail } from "../errors.js";
import { silentLogger, type Logger } from "../telemetry/logger.js";
import { isInstance } from "../guard.js";
import type { Plugin, PluginContext } from "./PluginBase.js";
import type { PluginRegistry, RegisterOptions } from "./PluginRegistry.js";
import type { LoadPolicy } from "../modules.js";
import { importPluginExport, instantiatePlugin, parseModuleRef, PluginProblemError, resolveModuleUrl, type ModuleRef } from "./resolveModule.js";
import { DEFAULT_QUEUE_SIZE, WorkerPlugin } from "./WorkerPlugin.js";

/** Options of {@link loadPlugins} and {@link inspectPlugins}. */
export interface LoadPluginsOptions {
  /** Absolute path of the config directory; relative `module` paths and built-in `config.path`s resolve against it. */
  readonly configDir: string;
  /** Path of plugins.yaml, for error messages. Default `<configDir>/plugins.yaml`. */
  readonly file?: string;
  /** Where non-required failures are reported (`warn`). Default silent. */
  readonly logger?: Logger;
  /**
   * When given, each loaded plugin is registered (its `onStartup` runs) in manifest order, with
   * the manifest's `events` and `max_failures`; startup failures become load failures.
   */
  readonly registry?: PluginRegistry;
  /** Source position of a JSON pointer inside plugins.yaml (e.g. `config.locate("plugins", p)` from the config loader). */
  readonly locate?: (path: string) => { readonly line: number; readonly column: number } | undefined;
  /**
   * What plugin modules may be besides files of the config directory and installed packages
   * (`EngineOptions.allow`): `node:` builtins, URLs, files outside the directory. Default none
   * (`CONFIG_MODULE_NOT_ALLOWED`).
   */
  readonly allow?: LoadPolicy;
}

/** A plugin the loader constructed (and registered, when a registry was given). */
export interface LoadedPlugin {
  readonly manifest: PluginManifest;
  readonly plugin: Plugin;
  /** Options to pass to `registry.register(plugin, options)` (already used when a registry was given). */
  readonly registerOptions: RegisterOptions;
}

/** One plugin that could not be loaded or started. */
export interface PluginLoadFailure {
  readonly pluginId: string;
  /** Index in `plugins.yaml#/plugins`. */
  readonly index: number;
  /** From the manifest: when true the engine must refuse to start. */
  readonly required: boolean;
  /** Structured, located description (file, line, path, pluginId, code, hint). */
  readonly detail: ErrorDetail;
  /** The underlying error, if any. */
  readonly cause?: unknown;
}

/** Result of {@link loadPlugins}. */
export interface LoadPluginsResult {
  /** Plugins constructed (and started, with a registry), in manifest order. */
  readonly loaded: readonly LoadedPlugin[];
  /** Every plugin that failed, required or not, in manifest order. */
  readonly failures: readonly PluginLoadFailure[];
  /** Plugins with `enabled: false` (never imported). */
  readonly disabled: readonly PluginManifest[];
  /**
   * Set when at least one `required: true` plugin failed: one error listing all of them. The
   * engine should shut the registry down and throw it.
   */
  readonly error: PluginLoadError | undefined;
}

/** Status of one plugin as shown by `agent-engine plugins`. */
export interface PluginStatus {
  readonly id: string;
  readonly module: string;
  readonly enabled: boolean;
  readonly required: boolean;
  readonly isolation: "inline" | "worker";
  readonly events: readonly string[] | undefined;
  /** `loaded`: imported and constructed fine; `disabled`: `enabled: false`, not imported; `failed`: see `error`. */
  readonly status: "loaded" | "disabled" | "failed";
  readonly error?: ErrorDetail;
}

/**
 * Loads the plugins declared in plugins.yaml: real dynamic `import()` of each enabled plugin's
 * module (relative to the config dir, or a package resolved from it), construction with
 * `new Export(id, config, { configDir })`, and, when `options.registry` is given, registration
 * (which runs `onStartup`). `isolation: worker` plugins are not imported here: a
 * {@link WorkerPlugin} proxy is created and the worker imports the module at startup.
 *
 * Never throws for a plugin problem: failures are returned (non-required ones are also logged as
 * warnings) and required ones are gathered in `result.error`.
 *
 * @example
 * ```ts
 * const registry = new PluginRegistry({ logger });
 * const result = await loadPlugins(config.plugins, { configDir: config.dir, file: config.files.plugins, logger, registry,
 *   locate: (p) => config.locate("plugins", p) });
 * if (result.error) { await registry.shutdown(); throw result.error; }
 * ```
 */
export async function loadPlugins(manifest: PluginsManifest | undefined, options: LoadPluginsOptions): Promise<LoadPluginsResult> {
  const logger = options.logger ?? silentLogger;
  const loaded: LoadedPlugin[] = [];
  const failures: PluginLoadFailure[] = [];
  const disabled: PluginManifest[] = [];
  const seen = new Set<string>();
  const entries = manifest?.plugins ?? [];
  for (let index = 0; index < entries.length; index++) {
    const m = entries[index]!;
    const required = m.required === true;
    const failed = (f: Omit<PluginLoadFailure, "pluginId" | "index" | "required">): void => {
      const failure: PluginLoadFailure = { pluginId: m.id, index, required, ...f };
      failures.push(failure);
      if (!required) {
        logger.warn(`plugin "${m.id}" skipped (required: false): ${f.detail.message}`, {
          pluginId: m.id,
          code: f.detail.code,
          file: f.detail.file,
          line: f.detail.line,
          path: f.detail.path,
          hint: f.detail.hint,
        });
      }
    };
    if (m.enabled === false) {
      disabled.push(m);
      continue;
    }
    if (seen.has(m.id)) {
      failed({ detail: locateDetail(options, index, "id", { code: "PLUGIN_CONFIG", pluginId: m.id, message: `duplicate plugin id "${m.id}"`, hint: "plugin ids must be unique" }) });
      continue;
    }
    seen.add(m.id);
    const built = await buildPlugin(m, index, options);
    if ("detail" in built) {
      failed(built);
      continue;
    }
    const registerOptions: RegisterOptions = {
      ...(m.events === undefined ? {} : { events: m.events }),
      ...(m.max_failures === undefined ? {} : { maxFailures: m.max_failures }),
      ...(required ? { required: true } : {}),
    };
    if (options.registry !== undefined) {
      try {
        await options.registry.register(built, registerOptions);
      } catch (err) {
        const d = isInstance(err, PluginLoadError) ? (err as PluginLoadError).details[0] : undefined;
        const field = d === undefined ? undefined : fieldOf(d.code);
        failed({
          detail: locateDetail(options, index, field, {
            code: d?.code ?? "PLUGIN_STARTUP_FAILED",
            pluginId: m.id,
            message: d?.message ?? `onStartup() failed: ${errorMessage(err)}`,
            ...(d?.hint === undefined ? {} : { hint: d.hint }),
          }),
          cause: err,
        });
        continue;
      }
    }
    loaded.push({ manifest: m, plugin: built, registerOptions });
  }
  const fatal = failures.filter((f) => f.required);
  const error = fatal.length === 0 ? undefined : new PluginLoadError(fatal.map((f) => f.detail), { cause: fatal[0]?.cause });
  return { loaded, failures, disabled, error };
}

/**
 * Checks every plugin of plugins.yaml without starting it, for `agent-engine plugins`: enabled
 * inline plugins are imported and constructed in this thread, `isolation: worker` plugins in a
 * throwaway worker (so their module never runs here); `onStartup` is not called. Never throws
 * for a plugin problem.
 */
export async function inspectPlugins(manifest: PluginsManifest | undefined, options: Omit<LoadPluginsOptions, "registry">): Promise<readonly PluginStatus[]> {
  const out: PluginStatus[] = [];
  const entries = manifest?.plugins ?? [];
  for (let index = 0; index < entries.length; index++) {
    const m = entries[index]!;
    const base = {
      id: m.id,
      module: m.module,
      enabled: m.enabled !== false,
      required: m.required === true,
      isolation: m.isolation ?? "inline",
      events: m.events,
    } as const;
    if (m.enabled === false) {
      out.push({ ...base, status: "disabled" });
      continue;
    }
    // A worker plugin's module is imported in a worker (its env allow-list, output on stderr),
    // never in this thread: checking it must not bypass its isolation.
    const built = await buildPlugin(m, index, options);
    if (!("detail" in built) && built instanceof WorkerPlugin) {
      try {
        await built.inspect();
      } catch (err) {
        const d = isInstance(err, PluginLoadError) ? (err as PluginLoadError).details[0] : undefined;
        const detail = locateDetail(options, index, d === undefined ? "module" : fieldOf(d.code), {
          code: d?.code ?? "PLUGIN_IMPORT_FAILED",
          pluginId: m.id,
          message: d?.message ?? errorMessage(err),
          ...(d?.hint === undefined ? {} : { hint: d.hint }),
        });
        out.push({ ...base, status: "failed", error: detail });
        continue;
      }
    }
    out.push("detail" in built ? { ...base, status: "failed", error: built.detail } : { ...base, status: "loaded" });
  }
  return out;
}

async function buildPlugin(m: PluginManifest, index: number, options: LoadPluginsOptions): Promise<Plugin | Omit<PluginLoadFailure, "pluginId" | "index" | "required">> {
  if (typeof m.module !== "string" || m.module.trim() === "") {
    return { detail: locateDetail(options, index, "module", { code: "PLUGIN_CONFIG", pluginId: m.id, message: "module must be a non-empty string such as ./plugins/audit.js#AuditPlugin" }) };
  }
  const ref: ModuleRef = parseModuleRef(m.module);
  const config = (m.config ?? {}) as Record<string, unknown>;
  const problemDetail = (err: unknown): Omit<PluginLoadFailure, "pluginId" | "index" | "required"> => {
    if (err instanceof PluginProblemError) {
      const p = err.problem;
      return {
        detail: locateDetail(options, index, p.field, { code: p.code, pluginId: m.id, message: p.message, ...(p.hint === undefined ? {} : { hint: p.hint }) }),
        cause: p.cause ?? err,
      };
    }
    return { detail: locateDetail(options, index, "module", { code: "PLUGIN_IMPORT_FAILED", pluginId: m.id, message: errorMessage(err) }), cause: err };
  };
  if (m.isolation === "worker") {
    // Resolved and checked against the load policy here, before a worker starts (the worker
    // checks again when it imports).
    try {
      resolveModuleUrl(ref.specifier, options.configDir, options.allow);
    } catch (err) {
      return problemDetail(err);
    }
    try {
      const limits = m.resource_limits;
      return new WorkerPlugin(m.id, config, {
        module: m.module,
        configDir: options.configDir,
        ...(options.allow === undefined ? {} : { allow: options.allow }),
        queueSize: m.queue_size ?? DEFAULT_QUEUE_SIZE,
        ...(m.env === undefined ? {} : { env: m.env }),
        ...(limits === undefined
          ? {}
          : {
              resourceLimits: {
                ...(limits.max_old_generation_mb === undefined ? {} : { maxOldGenerationSizeMb: limits.max_old_generation_mb }),
                ...(limits.max_young_generation_mb === undefined ? {} : { maxYoungGenerationSizeMb: limits.max_young_generation_mb }),
                ...(limits.code_range_mb === undefined ? {} : { codeRangeSizeMb: limits.code_range_mb }),
                ...(limits.stack_mb === undefined ? {} : { stackSizeMb: limits.stack_mb }),
              },
            }),
      });
    } catch (err) {
      const message = errorMessage(err);
      const field = message.startsWith("env") ? "env" : message.startsWith("resource_limits") ? "resource_limits" : "queue_size";
      return { detail: locateDetail(options, index, field, { code: "PLUGIN_CONFIG", pluginId: m.id, message }), cause: err };
    }
  }
  const context: PluginContext = { configDir: options.configDir, isolation: "inline" };
  try {
    const value = await importPluginExport(ref, options.configDir, options.allow);
    return instantiatePlugin(value, ref, m.id, config, context);
  } catch (err) {
    return problemDetail(err);
  }
}

function locateDetail(options: LoadPluginsOptions, index: number, field: string | undefined, detail: Omit<ErrorDetail, "file" | "path" | "line" | "column">): ErrorDetail {
  const path = field === undefined ? `/plugins/${index}` : `/plugins/${index}/${field}`;
  let pos: { readonly line: number; readonly column: number } | undefined;
  try {
    pos = options.locate?.(path);
  } catch {
    pos = undefined;
  }
  return {
    ...detail,
    file: options.file ?? join(options.configDir, "plugins.yaml"),
    path,
    ...(pos === undefined ? {} : { line: pos.line, column: pos.column }),
  };
}

/** Which manifest field a load error code points at (for errors reported from a worker). */
function fieldOf(code: ErrorDetail["code"]): string | undefined {
  switch (code) {
    case "PLUGIN_MODULE_NOT_FOUND":
    case "PLUGIN_IMPORT_FAILED":
    case "PLUGIN_EXPORT_MISSING":
    case "PLUGIN_NOT_A_PLUGIN":
    case "CONFIG_MODULE_NOT_ALLOWED":
      return "module";
    case "PLUGIN_CONSTRUCTOR_FAILED":
      return "config";
    default:
      return undefined;
  }
}
