/**
 * The package as users get it: `npm pack`, installed into a fresh CommonJS project, `require`d,
 * and its binary run. Checks the LICENSE, the export conditions and that every source map points
 * at a shipped source.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, normalize } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { example, repoRoot } from "../helpers.js";

const run = promisify(execFile);
let work = "";
let files: string[] = [];
let tarball = "";

before(async () => {
  work = await mkdtemp(join(tmpdir(), "agent-engine-pack-"));
  // The suite has just built dist/; --ignore-scripts skips prepack's second build.
  const { stdout } = await run("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", work], { cwd: repoRoot, maxBuffer: 64 * 1024 * 1024 });
  const info = (JSON.parse(stdout) as { filename: string; files: { path: string }[] }[])[0]!;
  tarball = join(work, info.filename);
  files = info.files.map((f) => f.path);
});
after(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe("npm package", () => {
  test("ships LICENSE (MIT), the build, the sources its maps point at, and no tests", async () => {
    assert.ok(files.includes("LICENSE"));
    assert.match(await readFile(join(repoRoot, "LICENSE"), "utf8"), /^MIT License/);
    const pkg = JSON.parse(await readFile(join(repoRoot, "package.json"), "utf8")) as { license: string; scripts: Record<string, string> };
    assert.equal(pkg.license, "MIT");
    assert.match(pkg.scripts["prepack"] ?? "", /npm run build/);
    assert.ok(files.includes("dist/src/index.js"));
    assert.ok(files.includes("dist/src/cli/main.js"));
    assert.equal(files.filter((f) => /\.test\./.test(f)).length, 0, "no test files");
    const set = new Set(files);
    const maps = files.filter((f) => f.endsWith(".js.map"));
    assert.ok(maps.length > 10);
    for (const m of maps) {
      const map = JSON.parse(await readFile(join(repoRoot, m), "utf8")) as { sources: string[] };
      for (const s of map.sources) {
        const shipped = normalize(join(dirname(m), s));
        assert.ok(set.has(shipped), `${m} points at ${shipped}, which is not in the package`);
      }
    }
  });

  test("require() works from a CommonJS project (Node >= 20.19), and the binary runs", async () => {
    const proj = join(work, "cjs-project");
    await mkdir(proj);
    await writeFile(join(proj, "package.json"), JSON.stringify({ name: "cjs-project", version: "1.0.0", private: true, type: "commonjs" }));
    await run("npm", ["install", tarball, "--no-audit", "--no-fund", "--omit=dev", "--prefer-offline"], { cwd: proj, maxBuffer: 16 * 1024 * 1024 });
    await writeFile(
      join(proj, "main.cjs"),
      `const { Engine, EngineError } = require("agent-engine");
const { JsonlEventLog } = require("agent-engine/plugins");
(async () => {
  const engine = await Engine.fromConfigDir(process.argv[2]);
  const result = await engine.run({ text: "How do I change my email?" });
  await engine.shutdown();
  console.log(JSON.stringify({ engine: typeof Engine, error: typeof EngineError, log: typeof JsonlEventLog, status: result.status, priority: result.output.priority }));
})();
`,
    );
    const { stdout, stderr } = await run(process.execPath, ["main.cjs", example("support-triage")], { cwd: proj });
    assert.deepEqual(JSON.parse(stdout), { engine: "function", error: "function", log: "function", status: "success", priority: "routine" });
    assert.doesNotMatch(stderr, /ERR_REQUIRE_ESM|ERR_PACKAGE_PATH_NOT_EXPORTED/);
    const bin = await run(join(proj, "node_modules", ".bin", "agent-engine"), ["validate", example("support-triage")], { cwd: proj });
    assert.match(bin.stdout, /is valid/);
  });
});
