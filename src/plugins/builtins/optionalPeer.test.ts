/**
 * The observability plugins' optional peers: when they are not installed, startup fails with
 * PLUGIN_DEPENDENCY_MISSING naming the packages. Shown with a copy of the built package in a
 * temp dir that has no node_modules, run in a real child process.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { cp, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { after, before, describe, it } from "node:test";
import { removeDir, repoRoot, writeConfigDir } from "../../../test/helpers.js";

const run = promisify(execFile);
let dir = "";

before(async () => {
  dir = await writeConfigDir({ "package.json": '{ "type": "module" }\n' });
  await cp(join(repoRoot, "dist", "src", "plugins"), join(dir, "src", "plugins"), { recursive: true });
  await cp(join(repoRoot, "dist", "src", "errors.js"), join(dir, "src", "errors.js"));
  await cp(join(repoRoot, "dist", "src", "telemetry"), join(dir, "src", "telemetry"), { recursive: true });
});
after(async () => {
  await removeDir(dir);
});

async function startupError(file: string, className: string): Promise<{ name: string; code: string; details: { code: string; pluginId: string; message: string; hint: string }[] }> {
  const script = join(dir, `probe-${className}.mjs`);
  await writeFile(
    script,
    `import { ${className} } from ${JSON.stringify(join(dir, "src", "plugins", "builtins", file))};
try { await new ${className}("obs", {}).onStartup(); console.log(JSON.stringify({ ok: true })); }
catch (err) { console.log(JSON.stringify({ name: err.name, code: err.code, details: err.details })); }
`,
  );
  const { stdout } = await run(process.execPath, [script], { cwd: dir });
  return JSON.parse(stdout) as never;
}

describe("optional peer dependencies", () => {
  it("OtelTracer without OpenTelemetry installed: PLUGIN_DEPENDENCY_MISSING naming every package", async () => {
    const err = await startupError("OtelTracer.js", "OtelTracer");
    assert.equal(err.name, "PluginLoadError");
    assert.equal(err.code, "PLUGIN_DEPENDENCY_MISSING");
    const d = err.details[0]!;
    assert.equal(d.pluginId, "obs");
    for (const pkg of ["@opentelemetry/api", "@opentelemetry/sdk-trace-base", "@opentelemetry/resources", "@opentelemetry/exporter-trace-otlp-http"]) {
      assert.ok(d.message.includes(pkg), `${pkg} named in: ${d.message}`);
      assert.ok(d.hint.includes(pkg));
    }
    assert.match(d.hint, /^npm install /);
  });

  it("PrometheusMetrics without prom-client installed: PLUGIN_DEPENDENCY_MISSING naming it", async () => {
    const err = await startupError("PrometheusMetrics.js", "PrometheusMetrics");
    assert.equal(err.code, "PLUGIN_DEPENDENCY_MISSING");
    assert.match(err.details[0]!.message, /PrometheusMetrics needs the optional package prom-client, not installed/);
    assert.equal(err.details[0]!.hint, "npm install prom-client");
  });
});
