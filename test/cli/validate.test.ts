/**
 * `agent-engine validate` rejects everything `run` rejects: one test per case that used to be
 * reported valid, each checked against `run` too; all problems at once; --static; --json.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { example, removeDir, writeConfigDir } from "../helpers.js";
import { cli, hasStackTrace } from "./harness.js";

const dirs: string[] = [];
after(async () => {
  await Promise.all(dirs.map(removeDir));
});
async function configDir(files: Record<string, string>): Promise<string> {
  const d = await writeConfigDir(files);
  dirs.push(d);
  return d;
}

const wf = (handler: string, extra = "") => `
nodes:
  - { id: a, kind: deterministic, role: start, default: true${handler} }
  - { id: z, kind: deterministic, role: exit${extra} }
edges:
  - { from: a, to: z }
`;
const agentWf = `
nodes:
  - { id: a, kind: deterministic, role: start, default: true }
  - { id: ask, kind: agent, role: linear, agent: helper }
  - { id: z, kind: deterministic, role: exit }
edges:
  - { from: a, to: ask }
  - { from: ask, to: z }
`;

interface Case {
  name: string;
  files: Record<string, string>;
  code: string;
  message: RegExp;
  /** Also found by --static (no import needed). */
  static?: boolean;
}

const cases: Case[] = [
  { name: "handler module missing", files: { "workflow.yaml": wf(", handler: ./nope.mjs#go") }, code: "HANDLER_LOAD_FAILED", message: /nope\.mjs/ },
  { name: "handler export missing", files: { "workflow.yaml": wf(", handler: ./h.mjs#go"), "h.mjs": "export const other = () => 1;\n" }, code: "HANDLER_LOAD_FAILED", message: /no export "go".*exports: other/ },
  { name: "handler export not a function", files: { "workflow.yaml": wf(", handler: ./h.mjs#go"), "h.mjs": "export const go = 42;\n" }, code: "HANDLER_LOAD_FAILED", message: /is number, not a function/ },
  { name: "handler module throws on import", files: { "workflow.yaml": wf(", handler: ./h.mjs#go"), "h.mjs": "throw new Error('top-level boom');\n" }, code: "HANDLER_LOAD_FAILED", message: /top-level boom/ },
  { name: "worker handler export missing (checked in a worker)", files: { "workflow.yaml": wf(", handler: ./h.mjs#go, isolation: worker"), "h.mjs": "export const other = () => 1;\n" }, code: "HANDLER_LOAD_FAILED", message: /no export "go".*exports: other/ },
  { name: "worker handler module throws on import (in its worker)", files: { "workflow.yaml": wf(", handler: ./h.mjs#go, isolation: worker"), "h.mjs": "throw new Error('top-level boom');\n" }, code: "HANDLER_LOAD_FAILED", message: /top-level boom/ },
  { name: "tool without implementation", files: { "workflow.yaml": wf(", tools: [t]"), "tools.yaml": "tools:\n  - { id: t, description: no handler }\n" }, code: "TOOL_NOT_FOUND", message: /tool "t" has no implementation/ },
  { name: "tool handler export missing", files: { "workflow.yaml": wf(""), "tools.yaml": "tools:\n  - { id: t, handler: ./t.mjs#run }\n", "t.mjs": "export const walk = () => 1;\n" }, code: "TOOL_NOT_FOUND", message: /no export "run"/ },
  {
    name: "provider API key variable unset",
    files: { "workflow.yaml": agentWf, "agents.yaml": "providers:\n  - { id: remote, type: openai, base_url: http://127.0.0.1:9/v1, api_key_env: AGENT_ENGINE_TEST_UNSET_KEY }\nagents:\n  - { id: helper, model: m, provider: remote }\n" },
    code: "(?:CONFIG_SCHEMA|CONFIG_PROVIDER_KEY_MISSING)",
    message: /AGENT_ENGINE_TEST_UNSET_KEY, which is not set/,
    static: true,
  },
  {
    name: "scripted script_file missing",
    files: { "workflow.yaml": agentWf, "agents.yaml": "providers:\n  - { id: offline, type: scripted, script_file: ./gone.yaml }\nagents:\n  - { id: helper, model: m }\n" },
    code: "CONFIG_FILE_UNREADABLE",
    message: /gone\.yaml/,
    static: true,
  },
  { name: "file tool without filesystem_root", files: { "workflow.yaml": wf(", tools: [docs]"), "tools.yaml": "tools:\n  - { id: docs, type: read_file }\n" }, code: "CONFIG_TOOL_PERMISSION", message: /filesystem_root/, static: true },
  { name: "file tool whose filesystem_root does not exist", files: { "workflow.yaml": wf(", tools: [docs]"), "tools.yaml": "tools:\n  - { id: docs, type: list_dir, permissions: { filesystem_root: ./gone } }\n" }, code: "CONFIG_TOOL_PERMISSION", message: /tool "docs".*filesystem_root \.\/gone .*does not exist/, static: true },
  { name: "file tool whose filesystem_root is a file", files: { "workflow.yaml": wf(", tools: [docs]"), "tools.yaml": "tools:\n  - { id: docs, type: read_file, permissions: { filesystem_root: ./f.txt } }\n", "f.txt": "x" }, code: "CONFIG_TOOL_PERMISSION", message: /tool "docs".*is not a directory/, static: true },
  { name: "http_request without allow_network: true", files: { "workflow.yaml": wf(", tools: [fetch]"), "tools.yaml": "tools:\n  - { id: fetch, type: http_request, permissions: { allowed_hosts: [api.example.com] } }\n" }, code: "CONFIG_TOOL_PERMISSION", message: /tool "fetch" \(type http_request\) needs permissions\.allow_network: true/, static: true },
  { name: "run_command without allow_shell: true", files: { "workflow.yaml": wf(", tools: [git]"), "tools.yaml": "tools:\n  - { id: git, type: run_command, permissions: { allowed_programs: [git] } }\n" }, code: "CONFIG_TOOL_PERMISSION", message: /tool "git" \(type run_command\) needs permissions\.allow_shell: true/, static: true },
  { name: "run_command whose working directory does not exist", files: { "workflow.yaml": wf(", tools: [git]"), "tools.yaml": "tools:\n  - { id: git, type: run_command, permissions: { allow_shell: true, allowed_programs: [git], filesystem_root: ./gone } }\n" }, code: "CONFIG_TOOL_PERMISSION", message: /tool "git".*does not exist/, static: true },
  { name: "MCP server that cannot be reached", files: { "workflow.yaml": wf(", tools: [docs]"), "tools.yaml": 'tools:\n  - { id: docs, type: mcp, url: "http://127.0.0.1:9/mcp" }\n' }, code: "MCP_SERVER_FAILED", message: /MCP server "docs".*could not connect/ },
  { name: "memory file missing", files: { "workflow.yaml": wf(""), "memory.yaml": "stores:\n  - { id: docs, kind: file, path: ./docs.json }\n" }, code: "CONFIG_FILE_UNREADABLE", message: /memory store "docs"/, static: true },
  { name: "required plugin module missing", files: { "workflow.yaml": wf(""), "plugins.yaml": "plugins:\n  - { id: audit, module: ./gone.mjs, required: true }\n" }, code: "PLUGIN_MODULE_NOT_FOUND", message: /gone\.mjs/ },
  {
    name: "required plugin constructor throws",
    files: { "workflow.yaml": wf(""), "plugins.yaml": "plugins:\n  - { id: audit, module: ./p.mjs#P, required: true }\n", "p.mjs": "export class P { constructor() { throw new Error('needs a path'); } onEvent() {} }\n" },
    code: "PLUGIN_CONSTRUCTOR_FAILED",
    message: /needs a path/,
  },
];

describe("validate rejects what run rejects", () => {
  for (const c of cases) {
    test(c.name, async () => {
      const dir = await configDir(c.files);
      const run = await cli(["run", dir, "--quiet"], { env: { AGENT_ENGINE_TEST_UNSET_KEY: undefined } });
      assert.equal(run.code, 2, `run must reject it:\n${run.stderr}`);
      assert.match(run.stderr, new RegExp(c.code));
      const v = await cli(["validate", dir], { env: { AGENT_ENGINE_TEST_UNSET_KEY: undefined } });
      assert.equal(v.code, 2, `validate must reject it:\n${v.stdout}${v.stderr}`);
      assert.equal(v.stdout, "");
      assert.match(v.stderr, /is invalid \(1 problem\)/);
      assert.match(v.stderr, new RegExp(`\\[${c.code}\\]`));
      assert.match(v.stderr, c.message);
      assert.equal(hasStackTrace(v.stderr), false);
      const s = await cli(["validate", dir, "--static"], { env: { AGENT_ENGINE_TEST_UNSET_KEY: undefined } });
      assert.equal(s.code, c.static ? 2 : 0, `--static ${c.static ? "finds" : "skips"} it:\n${s.stdout}${s.stderr}`);
      if (!c.static) assert.match(s.stdout, /valid \(static check: modules not imported\)/);
    });
  }

  test("every problem at once, across handlers, tools, providers and plugins, with --json", async () => {
    const dir = await configDir({
      "workflow.yaml": `
nodes:
  - { id: a, kind: deterministic, role: start, default: true, handler: ./nope.mjs#go }
  - { id: ask, kind: agent, role: linear, agent: helper, tools: [t] }
  - { id: z, kind: deterministic, role: exit, handler: ./h.mjs#missing }
edges:
  - { from: a, to: ask }
  - { from: ask, to: z }
`,
      "h.mjs": "export const present = () => 1;\n",
      "tools.yaml": "tools:\n  - { id: t }\n",
      "agents.yaml": "providers:\n  - { id: remote, type: openai, base_url: http://127.0.0.1:9/v1, api_key_env: AGENT_ENGINE_TEST_UNSET_KEY }\nagents:\n  - { id: helper, model: m }\n",
      "plugins.yaml": "plugins:\n  - { id: audit, module: ./gone.mjs, required: true }\n  - { id: extra, module: ./gone-too.mjs }\n",
    });
    const r = await cli(["validate", dir, "--json"], { env: { AGENT_ENGINE_TEST_UNSET_KEY: undefined } });
    assert.equal(r.code, 2, r.stderr);
    const report = JSON.parse(r.stdout) as { valid: boolean; static: boolean; problems: { code: string; file?: string; nodeId?: string; pluginId?: string }[]; warnings: { code: string; pluginId?: string }[] };
    assert.equal(report.valid, false);
    assert.equal(report.static, false);
    assert.deepEqual(report.problems.map((p) => (p.code === "CONFIG_PROVIDER_KEY_MISSING" ? "CONFIG_SCHEMA" : p.code)).sort(), ["CONFIG_SCHEMA", "HANDLER_LOAD_FAILED", "HANDLER_LOAD_FAILED", "PLUGIN_MODULE_NOT_FOUND", "TOOL_NOT_FOUND"]);
    assert.deepEqual(report.problems.filter((p) => p.code === "HANDLER_LOAD_FAILED").map((p) => p.nodeId).sort(), ["a", "z"]);
    assert.ok(report.problems.every((p) => typeof p.file === "string"), "every problem names its file");
    assert.deepEqual(report.warnings.map((w) => [w.code, w.pluginId]), [["PLUGIN_MODULE_NOT_FOUND", "extra"]]);
  });

  test("a plugin with required: false that fails is a warning, not an error (run starts without it)", async () => {
    const dir = await configDir({ "workflow.yaml": wf(""), "plugins.yaml": "plugins:\n  - { id: extra, module: ./gone.mjs }\n" });
    const v = await cli(["validate", dir]);
    assert.equal(v.code, 0, v.stderr);
    assert.match(v.stdout, /is valid/);
    assert.match(v.stderr, /warning: .*PLUGIN_MODULE_NOT_FOUND.*required: false/);
    const run = await cli(["run", dir, "--quiet"]);
    assert.equal(run.code, 0, run.stderr);
  });

  test("plugins are constructed but never started; modules' stdout output does not reach stdout", async () => {
    const dir = await configDir({
      "workflow.yaml": wf(", handler: ./h.mjs#go"),
      "h.mjs": "console.log('imported handler');\nexport const go = (i) => i;\n",
      "plugins.yaml": "plugins:\n  - { id: p, module: ./p.mjs#P, required: true }\n",
      "p.mjs": "export class P { constructor(id) { this.pluginId = id; console.log('constructed'); } onStartup() { console.log('STARTED'); } onEvent() {} }\n",
    });
    const v = await cli(["validate", dir, "--json"]);
    assert.equal(v.code, 0, v.stderr);
    assert.equal((JSON.parse(v.stdout) as { valid: boolean }).valid, true);
    assert.match(v.stderr, /imported handler/);
    assert.match(v.stderr, /constructed/);
    assert.doesNotMatch(v.stderr + v.stdout, /STARTED/);
  });

  test("every example is valid, with and without --static", async () => {
    const names = (await readdir(example(), { withFileTypes: true })).filter((d) => d.isDirectory() && existsSync(example(d.name, "workflow.yaml"))).map((d) => d.name);
    assert.ok(names.includes("agent-tools") && names.includes("research"), names.join(", "));
    for (const name of names) {
      for (const args of [[], ["--static"]]) {
        const v = await cli(["validate", example(name), ...args]);
        assert.equal(v.code, 0, `${name} ${args.join(" ")}: ${v.stderr}`);
      }
    }
  });

  test("--static starts no MCP server (a plain validate does, and closes it)", async () => {
    const dir = await configDir({
      "workflow.yaml": wf(""),
      "tools.yaml": 'tools:\n  - { id: kb, type: mcp, command: [node, -e, "require(\'node:fs\').writeFileSync(\'started\', \'yes\')"], timeout_ms: 5000 }\n',
    });
    const s = await cli(["validate", dir, "--static"]);
    assert.equal(s.code, 0, s.stderr);
    assert.equal(existsSync(join(dir, "started")), false);
    const v = await cli(["validate", dir]);
    assert.equal(v.code, 2);
    assert.match(v.stderr, /\[MCP_SERVER_FAILED\] MCP server "kb"/);
    assert.equal(existsSync(join(dir, "started")), true);
  });
});
