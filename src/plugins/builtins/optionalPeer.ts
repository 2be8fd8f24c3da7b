/**
 * Loading of the optional peer dependencies of the built-in observability plugins
 * (OpenTelemetry, prom-client): imported only when such a plugin starts, and a clear
 * `PLUGIN_DEPENDENCY_MISSING` error naming what to install when they are absent.
 *
 * @module
 */
import { errorMessage, PluginLoadError } from "../../errors.js";

/**
 * Imports each package in `packages` (to learn which ones are missing), then runs `load` (the
 * typed imports). Throws a {@link PluginLoadError} with code `PLUGIN_DEPENDENCY_MISSING`, the
 * plugin id, the missing packages and an `npm install` hint when any cannot be imported.
 *
 * @param pluginId - id of the plugin instance (from plugins.yaml).
 * @param pluginName - class name shown in the message, e.g. `OtelTracer`.
 * @param packages - every package `load` imports.
 * @param load - the typed `import()` calls, with literal specifiers.
 */
export async function importOptionalPeers<T>(pluginId: string, pluginName: string, packages: readonly string[], load: () => Promise<T>): Promise<T> {
  const missing: string[] = [];
  const other: string[] = [];
  for (const name of packages) {
    try {
      await import(name);
    } catch (err) {
      if ((err as { code?: unknown } | null)?.code === "ERR_MODULE_NOT_FOUND" && errorMessage(err).includes(name)) missing.push(name);
      else other.push(`${name}: ${errorMessage(err)}`);
    }
  }
  if (missing.length > 0) {
    throw new PluginLoadError({
      code: "PLUGIN_DEPENDENCY_MISSING",
      pluginId,
      message: `${pluginName} needs the optional package${missing.length > 1 ? "s" : ""} ${missing.join(", ")}, not installed`,
      hint: `npm install ${packages.join(" ")}`,
    });
  }
  if (other.length > 0) {
    throw new PluginLoadError({
      code: "PLUGIN_DEPENDENCY_MISSING",
      pluginId,
      message: `${pluginName} could not import its optional dependencies: ${other.join("; ")}`,
      hint: `reinstall them: npm install ${packages.join(" ")}`,
    });
  }
  return load();
}
