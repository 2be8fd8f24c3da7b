/**
 * Loading code and data (issue 7): handlers, tools and plugins are files of the config directory
 * or packages it can resolve; builtins, URLs and files outside the directory are refused unless
 * the host allows them (EngineOptions.allow). Memory `file` stores likewise. Real config dirs,
 * real import().
 */
import assert from "node:assert/strict";
import { symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { pathToFileURL } from "node:url";
import { Engine, EngineError } from "../../src/index.js";
import type { EngineOptions } from "../../src/index.js";
import { isInsideDir } from "../../src/modules.js";
import { removeDir, writeConfigDir } from "../helpers.js";

const workflow = (handler: string): string =>
  [
    "nodes:",
    "  - { id: s, kind: deterministic, role: start }",
    `  - { id: work, kind: deterministic, role: linear, handler: ${JSON.stringify(handler)} }`,
    "  - { id: x, kind: deterministic, role: exit }",
    "edges:",
    "  - { from: s, to: work }",
    "  - { from: work, to: x }",
  ].join("\n");

const HANDLER = "export const h = (input) => ({ seen: input, from: 'module' });\n";

/** A root with the config dir in `cfg/` and a module beside it, outside. */
async function layout(files: Record<string, string>): Promise<{ root: string; cfg: string }> {
  const root = await writeConfigDir({ "outside.mjs": HANDLER, "secret.json": '["the secret"]', ...files });
  return { root, cfg: join(root, "cfg") };
}

async function refused(cfg: string, code: string, path: string, options: EngineOptions = {}): Promise<string> {
  let message = "";
  await assert.rejects(Engine.fromConfigDir(cfg, options), (err: unknown) => {
    assert.ok(err instanceof EngineError, String(err));
    const d = err.details.find((x) => x.code === code);
    assert.ok(d, JSON.stringify(err.details));
    assert.equal(d.path, path);
    assert.ok(d.hint && /EngineOptions\.allow/.test(d.hint), d.hint);
    message = d.message;
    return true;
  });
  return message;
}

describe("handlers: only files of the config dir and packages, unless the host allows more", () => {
  for (const [what, ref, allow] of [
    ["a node: builtin", "node:child_process#execSync", { builtinModules: true }],
    ["a bare builtin name", "fs#readFileSync", { builtinModules: true }],
    ["a data: URL", "data:text/javascript,export const h = (i) => ({ seen: i, from: 'data' });#h", { urlModules: true }],
    ["an http: URL", "http://127.0.0.1:1/h.mjs#h", undefined],
    ["a relative path leading out", "../outside.mjs#h", { outsideConfigDir: true }],
  ] as const) {
    it(`refuses ${what} with CONFIG_MODULE_NOT_ALLOWED${allow ? ", and loads it when allowed" : ""}`, async () => {
      const { root, cfg } = await layout({ "cfg/workflow.yaml": workflow(ref) });
      try {
        const message = await refused(cfg, "CONFIG_MODULE_NOT_ALLOWED", "/nodes/1/handler");
        assert.match(message, /handler of node "work"/);
        if (allow) {
          const engine = await Engine.fromConfigDir(cfg, { allow });
          try {
            if (!/builtin/.test(what)) {
              const result = await engine.run({ n: 1 });
              assert.equal(result.status, "success");
              assert.deepEqual((result.output as { seen: unknown }).seen, { n: 1 });
            }
          } finally {
            await engine.shutdown();
          }
        }
      } finally {
        await removeDir(root);
      }
    });
  }

  it("refuses absolute paths, file: URLs and symlinks leading out of the config dir", async () => {
    const { root, cfg } = await layout({ "cfg/workflow.yaml": "" });
    try {
      const outside = join(root, "outside.mjs");
      for (const ref of [`${outside}#h`, `${pathToFileURL(outside).href}#h`, "./link.mjs#h"]) {
        await writeFile(join(cfg, "workflow.yaml"), workflow(ref));
        if (ref.startsWith("./link")) await symlink(outside, join(cfg, "link.mjs"));
        const message = await refused(cfg, "CONFIG_MODULE_NOT_ALLOWED", "/nodes/1/handler");
        assert.match(message, /outside the config directory/);
      }
      const engine = await Engine.fromConfigDir(cfg, { allow: { outsideConfigDir: true } });
      await engine.shutdown();
    } finally {
      await removeDir(root);
    }
  });

  it("still loads files inside the config dir and packages from node_modules (even above it)", async () => {
    const { root, cfg } = await layout({
      "cfg/workflow.yaml": workflow("./lib/inside.mjs#h"),
      "cfg/lib/inside.mjs": HANDLER,
      "node_modules/shared-steps/package.json": JSON.stringify({ name: "shared-steps", type: "module", exports: "./index.js" }),
      "node_modules/shared-steps/index.js": HANDLER,
    });
    try {
      const engine = await Engine.fromConfigDir(cfg);
      assert.equal((await engine.run({})).status, "success");
      await engine.shutdown();
      await writeFile(join(cfg, "workflow.yaml"), workflow("shared-steps#h"));
      const pkg = await Engine.fromConfigDir(cfg);
      assert.equal((await pkg.run({})).status, "success");
      await pkg.shutdown();
    } finally {
      await removeDir(root);
    }
  });
});

describe("tools and plugins follow the same rule", () => {
  it("a tool handler that is a builtin is refused at /tools/0/handler", async () => {
    const { root, cfg } = await layout({
      "cfg/workflow.yaml": workflow("./h.mjs#h"),
      "cfg/h.mjs": HANDLER,
      "cfg/tools.yaml": "tools:\n  - { id: shell, description: runs things, handler: 'node:child_process#execSync' }\n",
    });
    try {
      await refused(cfg, "CONFIG_MODULE_NOT_ALLOWED", "/tools/0/handler");
    } finally {
      await removeDir(root);
    }
  });

  it("a plugin module that is a builtin or a data: URL is refused", async () => {
    for (const module of ["node:fs#readFileSync", "data:text/javascript,export default {onEvent(){}}"]) {
      const { root, cfg } = await layout({
        "cfg/workflow.yaml": workflow("./h.mjs#h"),
        "cfg/h.mjs": HANDLER,
        "cfg/plugins.yaml": `plugins:\n  - { id: p, module: ${JSON.stringify(module)}, required: true }\n`,
      });
      try {
        await assert.rejects(Engine.fromConfigDir(cfg), (err: unknown) => {
          assert.ok(err instanceof EngineError);
          assert.ok(err.details.some((d) => d.code === "CONFIG_MODULE_NOT_ALLOWED" && d.pluginId === "p"), JSON.stringify(err.details));
          return true;
        });
      } finally {
        await removeDir(root);
      }
    }
  });
});

describe("plugin modules: files of the config dir or packages, unless the host allows more", () => {
  const PLUGIN = "export class P { constructor(id) { this.pluginId = id; } onEvent() {} }\n";
  const pluginsYaml = (module: string, isolation: string): string => `plugins:\n  - { id: p, module: ${JSON.stringify(module)}, required: true, isolation: ${isolation} }\n`;

  for (const isolation of ["inline", "worker"]) {
    it(`refuses ../, absolute paths, file: URLs and symlinks leading out (isolation: ${isolation}); allow.outsideConfigDir loads them`, { timeout: 60_000 }, async () => {
      const { root, cfg } = await layout({ "cfg/workflow.yaml": workflow("./h.mjs#h"), "cfg/h.mjs": HANDLER, "plugin.mjs": PLUGIN, "cfg/inside.mjs": PLUGIN });
      try {
        const outside = join(root, "plugin.mjs");
        await symlink(outside, join(cfg, "link.mjs"));
        for (const module of ["../plugin.mjs#P", `${outside}#P`, `${pathToFileURL(outside).href}#P`, "./link.mjs#P"]) {
          await writeFile(join(cfg, "plugins.yaml"), pluginsYaml(module, isolation));
          await assert.rejects(Engine.fromConfigDir(cfg), (err: unknown) => {
            assert.ok(err instanceof EngineError);
            const d = err.details.find((x) => x.code === "CONFIG_MODULE_NOT_ALLOWED");
            assert.ok(d, `${module}: ${JSON.stringify(err.details)}`);
            assert.equal(d.pluginId, "p");
            assert.equal(d.path, "/plugins/0/module");
            assert.match(d.message, /outside the config directory/);
            assert.match(d.hint ?? "", /EngineOptions\.allow\.outsideConfigDir/);
            return true;
          });
          const engine = await Engine.fromConfigDir(cfg, { allow: { outsideConfigDir: true } });
          try {
            assert.deepEqual(engine.pluginLoadFailures, []);
            assert.equal(engine.getPluginRegistry().get("p")?.pluginId, "p");
          } finally {
            await engine.shutdown();
          }
        }
        // Inside the config dir needs nothing.
        await writeFile(join(cfg, "plugins.yaml"), pluginsYaml("./inside.mjs#P", isolation));
        const engine = await Engine.fromConfigDir(cfg);
        await engine.shutdown();
      } finally {
        await removeDir(root);
      }
    });
  }

  it("a worker plugin refused by the policy is reported without starting its worker, and allowed builtins reach the worker", { timeout: 30_000 }, async () => {
    const { root, cfg } = await layout({ "cfg/workflow.yaml": workflow("./h.mjs#h"), "cfg/h.mjs": HANDLER });
    try {
      const module = "data:text/javascript,export class P { constructor(id) { this.pluginId = id; } onEvent() {} }#P";
      await writeFile(join(cfg, "plugins.yaml"), pluginsYaml(module, "worker"));
      await assert.rejects(Engine.fromConfigDir(cfg), (err: unknown) => err instanceof EngineError && err.details.some((d) => d.code === "CONFIG_MODULE_NOT_ALLOWED" && d.path === "/plugins/0/module"));
      // The host's opt-in is passed to the worker, which imports the module itself.
      const engine = await Engine.fromConfigDir(cfg, { allow: { urlModules: true } });
      try {
        assert.deepEqual(engine.pluginLoadFailures, []);
      } finally {
        await engine.shutdown();
      }
    } finally {
      await removeDir(root);
    }
  });
});

describe("memory file stores outside the config dir need an opt-in", () => {
  const memory = (path: string): string => `stores:\n  - { id: notes, kind: file, path: ${JSON.stringify(path)} }\n`;
  it("refuses ../ and absolute paths with CONFIG_FILE_OUTSIDE_DIR; allow.outsideConfigDir reads them", async () => {
    const { root, cfg } = await layout({ "cfg/workflow.yaml": workflow("./h.mjs#h"), "cfg/h.mjs": HANDLER, "cfg/memory.yaml": memory("../secret.json") });
    try {
      const message = await refused(cfg, "CONFIG_FILE_OUTSIDE_DIR", "/stores/0/path");
      assert.match(message, /memory store "notes".*outside the config directory/);
      await writeFile(join(cfg, "memory.yaml"), memory(join(root, "secret.json")));
      await refused(cfg, "CONFIG_FILE_OUTSIDE_DIR", "/stores/0/path");
      const engine = await Engine.fromConfigDir(cfg, { allow: { outsideConfigDir: true } });
      await engine.shutdown();
      await writeFile(join(cfg, "inside.json"), '["fine"]');
      await writeFile(join(cfg, "memory.yaml"), memory("./inside.json"));
      const inside = await Engine.fromConfigDir(cfg);
      await inside.shutdown();
    } finally {
      await removeDir(root);
    }
  });
});

describe("isInsideDir", () => {
  it("follows symlinks and judges missing paths by their nearest existing ancestor", async () => {
    const { root, cfg } = await layout({ "cfg/a.txt": "x" });
    try {
      assert.equal(isInsideDir(join(cfg, "a.txt"), cfg), true);
      assert.equal(isInsideDir(join(cfg, "missing", "b.txt"), cfg), true);
      assert.equal(isInsideDir(join(cfg, "..", "outside.mjs"), cfg), false);
      assert.equal(isInsideDir(join(cfg, "..cfg-lookalike"), cfg), true, "a name starting with .. is still inside");
      assert.equal(isInsideDir(cfg, cfg), true);
      await symlink(root, join(cfg, "up"));
      assert.equal(isInsideDir(join(cfg, "up", "outside.mjs"), cfg), false);
    } finally {
      await removeDir(root);
    }
  });
});
