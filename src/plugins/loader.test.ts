import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { pathToFileURL } from "node:url";
import { parse } from "yaml";
import { fixture, removeDir, writeConfigDir } from "../../test/helpers.js";
import type { PluginsManifest } from "../config/types.js";
import { PluginLoadError } from "../errors.js";
import { MemoryLogger } from "../telemetry/logger.js";
import { TelemetryBus } from "../telemetry/TelemetryBus.js";
import { inspectPlugins, loadPlugins, type LoadPluginsResult } from "./loader.js";
import { PluginRegistry } from "./PluginRegistry.js";
import { parseModuleRef } from "./resolveModule.js";

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await removeDir(d);
});

/** The fixtures live outside the temp config dirs: the tests opt in, as a host would (EngineOptions.allow). */
const FIXTURES = { outsideConfigDir: true } as const;
const recorder = fixture("plugins", "recorder.js");

/** Writes plugins.yaml (and extra files) to a temp config dir, parses it, and loads it. */
async function load(
  yamlText: string,
  extra: Record<string, string> = {},
  withRegistry = false,
): Promise<{ result: LoadPluginsResult; dir: string; logger: MemoryLogger; registry: PluginRegistry }> {
  const dir = await writeConfigDir({ "plugins.yaml": yamlText, ...extra });
  dirs.push(dir);
  const manifest = parse(await readFile(join(dir, "plugins.yaml"), "utf8")) as PluginsManifest;
  const logger = new MemoryLogger();
  const registry = new PluginRegistry({ logger });
  const result = await loadPlugins(manifest, {
    configDir: dir,
    allow: FIXTURES,
    file: join(dir, "plugins.yaml"),
    logger,
    ...(withRegistry ? { registry } : {}),
    locate: (p) => ({ line: Number(/\/plugins\/(\d+)/.exec(p)?.[1] ?? 0) + 2, column: 5 }),
  });
  return { result, dir, logger, registry };
}

function one(result: LoadPluginsResult): LoadPluginsResult["failures"][number] {
  assert.equal(result.failures.length, 1, JSON.stringify(result.failures.map((f) => f.detail)));
  return result.failures[0]!;
}

describe("parseModuleRef", () => {
  it("splits specifier and export", () => {
    assert.deepEqual(parseModuleRef("./a.js#Foo"), { specifier: "./a.js", exportName: "Foo" });
    assert.deepEqual(parseModuleRef("./a.js"), { specifier: "./a.js", exportName: undefined });
    assert.deepEqual(parseModuleRef("@scope/pkg/sub#X"), { specifier: "@scope/pkg/sub", exportName: "X" });
    assert.deepEqual(parseModuleRef("#internal"), { specifier: "#internal", exportName: undefined });
    assert.deepEqual(parseModuleRef("./a.js#"), { specifier: "./a.js", exportName: undefined });
  });
});

describe("loadPlugins: valid modules", () => {
  it("loads a named class export with its config and context", async () => {
    const { result, dir } = await load(`plugins:\n  - id: rec\n    module: ${recorder}#Recorder\n    config: { path: ./x.jsonl }\n`);
    assert.deepEqual(result.failures, []);
    assert.equal(result.loaded.length, 1);
    const p = result.loaded[0]!.plugin as unknown as { pluginId: string; config: unknown; context: unknown; constructor: { name: string } };
    assert.equal(p.pluginId, "rec");
    assert.equal(p.constructor.name, "Recorder");
    assert.deepEqual(p.config, { path: "./x.jsonl" });
    assert.deepEqual(p.context, { configDir: dir, isolation: "inline" });
  });

  it("uses the default export when there is no #", async () => {
    const { result } = await load(`plugins:\n  - id: rec\n    module: ${recorder}\n`);
    assert.equal(result.loaded[0]?.plugin.constructor.name, "DefaultRecorder");
  });

  it("accepts definePlugin results, plain onEvent objects and duck-typed classes", async () => {
    const { result } = await load(
      `plugins:\n  - { id: a, module: "${recorder}#defined" }\n  - { id: b, module: "${recorder}#plainObject" }\n  - { id: c, module: "${recorder}#DuckPlugin" }\n`,
    );
    assert.deepEqual(result.failures, []);
    assert.deepEqual(
      result.loaded.map((l) => l.plugin.pluginId),
      ["a", "b", "c"],
    );
    assert.equal(result.loaded[0]?.plugin.constructor.name, "DefinedRecorder");
  });

  it("resolves ./relative modules against the config dir and file: URLs", async () => {
    const mod = "export default class P { constructor(id) { this.pluginId = id; } onEvent() {} }\n";
    const { result } = await load(`plugins:\n  - { id: rel, module: ./plugins/p.js }\n  - { id: url, module: "${pathToFileURL(recorder).href}#Recorder" }\n`, { "plugins/p.js": mod });
    assert.deepEqual(result.failures, []);
    assert.equal(result.loaded.length, 2);
  });

  it("resolves bare package specifiers from the config dir, including import-only exports maps", async () => {
    const { result } = await load(`plugins:\n  - { id: pkg, module: "my-plugin#Mine" }\n  - { id: sub, module: "my-plugin/extra" }\n`, {
      "node_modules/my-plugin/package.json": JSON.stringify({ name: "my-plugin", type: "module", exports: { ".": { import: "./index.js" }, "./extra": { import: "./extra.js" } } }),
      "node_modules/my-plugin/index.js": "export class Mine { constructor(id) { this.pluginId = id; } onEvent() {} }\n",
      "node_modules/my-plugin/extra.js": "export default { onEvent() {} };\n",
    });
    assert.deepEqual(
      result.failures.map((f) => f.detail),
      [],
    );
    assert.deepEqual(
      result.loaded.map((l) => l.plugin.pluginId),
      ["pkg", "sub"],
    );
  });

  it("registers loaded plugins with events and max_failures when given a registry", async () => {
    const { result, registry } = await load(`plugins:\n  - id: rec\n    module: ${recorder}#Recorder\n    events: ["node.*"]\n    max_failures: 2\n`, {}, true);
    assert.equal(result.error, undefined);
    assert.deepEqual(registry.list(), ["rec"]);
    assert.deepEqual(result.loaded[0]?.registerOptions, { events: ["node.*"], maxFailures: 2 });
    const plugin = registry.get("rec") as unknown as { started: number; events: unknown[] };
    assert.equal(plugin.started, 1);
    const bus = new TelemetryBus();
    bus.setSink((e) => registry.dispatch(e));
    bus.emit("task.started", "t", undefined, { input: null, startNode: "s", lineage: [] });
    bus.emit("node.started", "t", "s", { role: "start", kind: "deterministic", input: null });
    assert.equal(plugin.events.length, 1);
    await registry.shutdown();
  });

  it("an undefined manifest loads nothing", async () => {
    const result = await loadPlugins(undefined, { configDir: "/nonexistent" });
    assert.deepEqual(result, { loaded: [], failures: [], disabled: [], error: undefined });
  });
});

describe("loadPlugins: errors name file, plugin, field, module and export", () => {
  it("module not found", async () => {
    const { result, dir } = await load(`plugins:\n  - { id: audit, module: ./plugins/audit.js#AuditPlugin }\n`);
    const f = one(result);
    assert.equal(f.detail.code, "PLUGIN_MODULE_NOT_FOUND");
    assert.equal(f.detail.file, join(dir, "plugins.yaml"));
    assert.equal(f.detail.path, "/plugins/0/module");
    assert.equal(f.detail.line, 2);
    assert.equal(f.detail.pluginId, "audit");
    assert.match(f.detail.message, /cannot find module "\.\/plugins\/audit\.js"/);
    assert.ok(f.detail.message.includes(join(dir, "plugins", "audit.js")));
  });

  it("module not found suggests the .js extension", async () => {
    const { result } = await load(`plugins:\n  - { id: p, module: ./p }\n`, { "p.js": "export default {onEvent(){}}" });
    assert.match(one(result).detail.hint ?? "", /did you mean "\.\/p\.js"/);
  });

  it("unknown package", async () => {
    const { result } = await load(`plugins:\n  - { id: p, module: "no-such-package-xyz#X" }\n`);
    const f = one(result);
    assert.equal(f.detail.code, "PLUGIN_MODULE_NOT_FOUND");
    assert.match(f.detail.message, /cannot find package "no-such-package-xyz"/);
    assert.match(f.detail.hint ?? "", /npm install no-such-package-xyz/);
  });

  it("import throws", async () => {
    const { result } = await load(`plugins:\n  - { id: p, module: "${fixture("plugins", "throws-at-import.js")}" }\n`);
    const f = one(result);
    assert.equal(f.detail.code, "PLUGIN_IMPORT_FAILED");
    assert.match(f.detail.message, /throws-at-import\.js was imported/);
  });

  it("export missing lists available exports and suggests close names", async () => {
    const { result } = await load(`plugins:\n  - { id: p, module: "${recorder}#recorder" }\n`);
    const f = one(result);
    assert.equal(f.detail.code, "PLUGIN_EXPORT_MISSING");
    assert.match(f.detail.message, /has no export "recorder"; available exports: .*Recorder/);
    assert.match(f.detail.message, /DuckPlugin/);
    assert.equal(f.detail.hint, 'did you mean "#Recorder"?');
    assert.equal(f.detail.path, "/plugins/0/module");
  });

  it("missing default export", async () => {
    const { result } = await load(`plugins:\n  - { id: p, module: ./p.js }\n`, { "p.js": "export class A { onEvent() {} }\n" });
    const f = one(result);
    assert.equal(f.detail.code, "PLUGIN_EXPORT_MISSING");
    assert.match(f.detail.message, /has no default export; available exports: A/);
    assert.match(f.detail.hint ?? "", /#A/);
  });

  it("not a plugin says what the export is", async () => {
    const cases: [string, RegExp][] = [
      ["notAPlugin", /export "notAPlugin" of ".*recorder\.js" is not a plugin: found a number \(42\)/],
      ["NoOnEvent", /found a class NoOnEvent without an onEvent method/],
      ["helper", /found a function helper \(not a class/],
    ];
    for (const [name, re] of cases) {
      const { result } = await load(`plugins:\n  - { id: p, module: "${recorder}#${name}" }\n`);
      const f = one(result);
      assert.equal(f.detail.code, "PLUGIN_NOT_A_PLUGIN");
      assert.match(f.detail.message, re);
    }
  });

  it("constructor throws points at config", async () => {
    const { result } = await load(`plugins:\n  - { id: p, module: "${fixture("plugins", "ctor-throws.js")}#NeedsPath" }\n`);
    const f = one(result);
    assert.equal(f.detail.code, "PLUGIN_CONSTRUCTOR_FAILED");
    assert.equal(f.detail.path, "/plugins/0/config");
    assert.match(f.detail.message, /new NeedsPath\("p", config\).*threw: config\.path is required/);
  });

  it("onStartup throws (with a registry)", async () => {
    const { result, registry } = await load(`plugins:\n  - { id: p, module: "${fixture("plugins", "startup-throws.js")}#StartupFails" }\n`, {}, true);
    const f = one(result);
    assert.equal(f.detail.code, "PLUGIN_STARTUP_FAILED");
    assert.equal(f.detail.path, "/plugins/0");
    assert.match(f.detail.message, /cannot open database/);
    assert.deepEqual(registry.list(), []);
  });

  it("duplicate ids are reported", async () => {
    const { result } = await load(`plugins:\n  - { id: p, module: "${recorder}" }\n  - { id: p, module: "${recorder}" }\n`);
    const f = one(result);
    assert.equal(f.detail.code, "PLUGIN_CONFIG");
    assert.equal(f.index, 1);
    assert.equal(result.loaded.length, 1);
  });
});

describe("loadPlugins: enabled and required", () => {
  it("never imports a disabled plugin", async () => {
    const { result } = await load(`plugins:\n  - { id: off, module: "${fixture("plugins", "throws-at-import.js")}", enabled: false }\n`);
    assert.deepEqual(result.failures, []);
    assert.deepEqual(result.loaded, []);
    assert.deepEqual(
      result.disabled.map((m) => m.id),
      ["off"],
    );
  });

  it("a non-required failure is logged and skipped; the rest load", async () => {
    const { result, logger } = await load(`plugins:\n  - { id: bad, module: ./missing.js }\n  - { id: good, module: "${recorder}" }\n`);
    assert.equal(result.error, undefined);
    assert.equal(one(result).required, false);
    assert.deepEqual(
      result.loaded.map((l) => l.plugin.pluginId),
      ["good"],
    );
    const warn = logger.lines.find((l) => l.level === "warn");
    assert.ok(warn);
    assert.match(warn.message, /plugin "bad" skipped \(required: false\): cannot find module/);
    assert.equal(warn.fields?.["code"], "PLUGIN_MODULE_NOT_FOUND");
  });

  it("required failures are gathered into one PluginLoadError, not logged", async () => {
    const { result, logger } = await load(
      `plugins:\n  - { id: a, module: ./missing.js, required: true }\n  - { id: b, module: "${recorder}#nope", required: true }\n  - { id: c, module: ./also-missing.js }\n`,
    );
    assert.ok(result.error instanceof PluginLoadError);
    assert.equal(result.error.details.length, 2);
    assert.deepEqual(
      result.error.details.map((d) => [d.pluginId, d.code]),
      [
        ["a", "PLUGIN_MODULE_NOT_FOUND"],
        ["b", "PLUGIN_EXPORT_MISSING"],
      ],
    );
    assert.match(result.error.message, /plugins\.yaml:2:5 \/plugins\/0\/module: \[PLUGIN_MODULE_NOT_FOUND\].*"\.\/missing\.js"/);
    assert.equal(result.failures.length, 3);
    assert.equal(logger.lines.filter((l) => l.level === "warn").length, 1);
  });
});

describe("inspectPlugins", () => {
  it("lists enabled/disabled/loaded/failed without starting anything", async () => {
    const dir = await writeConfigDir({});
    dirs.push(dir);
    const manifest: PluginsManifest = {
      plugins: [
        { id: "ok", module: `${fixture("plugins", "startup-throws.js")}#StartupFails` },
        { id: "off", module: fixture("plugins", "throws-at-import.js"), enabled: false },
        { id: "broken", module: "./nope.js", required: true },
        { id: "w", module: `${recorder}#Recorder`, isolation: "worker", events: ["node.*"] },
      ],
    };
    const list = await inspectPlugins(manifest, { configDir: dir, allow: FIXTURES });
    assert.deepEqual(
      list.map((s) => [s.id, s.status, s.enabled, s.required, s.isolation]),
      [
        ["ok", "loaded", true, false, "inline"],
        ["off", "disabled", false, false, "inline"],
        ["broken", "failed", true, true, "inline"],
        ["w", "loaded", true, false, "worker"],
      ],
    );
    assert.equal(list[2]?.error?.code, "PLUGIN_MODULE_NOT_FOUND");
    assert.deepEqual(list[3]?.events, ["node.*"]);
  });

  it("imports isolation: worker plugins in a worker, never in this thread, and reports their load errors", { timeout: 30_000 }, async () => {
    const dir = await writeConfigDir({
      "marker.mjs": `import { isMainThread } from "node:worker_threads";
        globalThis.__aeInspectedInMain = (globalThis.__aeInspectedInMain ?? 0) + (isMainThread ? 1 : 0);
        export class P { constructor(id) { this.pluginId = id; } onEvent() {} onStartup() { throw new Error("must not run"); } }`,
      "bad.mjs": `export const x = 1;`,
    });
    dirs.push(dir);
    const list = await inspectPlugins(
      {
        plugins: [
          { id: "w", module: "./marker.mjs#P", isolation: "worker" },
          { id: "missing_export", module: "./bad.mjs#P", isolation: "worker" },
        ],
      },
      { configDir: dir },
    );
    assert.deepEqual(
      list.map((s) => [s.id, s.status]),
      [
        ["w", "loaded"],
        ["missing_export", "failed"],
      ],
    );
    assert.equal(list[1]?.error?.code, "PLUGIN_EXPORT_MISSING");
    assert.equal(list[1]?.error?.path, "/plugins/1/module");
    assert.equal((globalThis as { __aeInspectedInMain?: number }).__aeInspectedInMain, undefined);
  });
});
