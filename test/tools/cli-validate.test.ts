/**
 * `agent-engine validate` on projects with built-in tools and an MCP server: roots resolve
 * against the config dir (not the cwd), unknown MCP tools are reported, and the servers it
 * starts to list their tools are closed (the command exits).
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, it } from "node:test";
import { example, fixture, removeDir, repoRoot, writeConfigDir } from "../helpers.js";

const run = promisify(execFile);
const MAIN = join(repoRoot, "dist", "src", "cli", "main.js");

async function validate(dir: string): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [MAIN, "validate", dir], { cwd: tmpdir(), timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe("validate with tools", () => {
  it("examples/research is valid from another working directory, and the command exits", async () => {
    const r = await validate(example("research"));
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /is valid/);
  });

  it("reports a tool the MCP server does not offer and a missing permission", async () => {
    const dir = await writeConfigDir({
      "workflow.yaml": `
nodes:
  - { id: begin, kind: deterministic, role: start, tools: [fx.nope, docs] }
  - { id: done, kind: deterministic, role: exit }
edges:
  - { from: begin, to: done }
`,
      "tools.yaml": `tools:\n  - { id: fx, type: mcp, command: [node, ${JSON.stringify(fixture("mcp", "server.mjs"))}] }\n  - { id: docs, type: read_file }\n`,
    });
    try {
      const r = await validate(dir);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /CONFIG_TOOL_PERMISSION.*"docs".*filesystem_root/);
      const again = await writeConfigDir({
        "workflow.yaml": `
nodes:
  - { id: begin, kind: deterministic, role: start, tools: [fx.nope] }
  - { id: done, kind: deterministic, role: exit }
edges:
  - { from: begin, to: done }
`,
        "tools.yaml": `tools:\n  - { id: fx, type: mcp, command: [node, ${JSON.stringify(fixture("mcp", "server.mjs"))}] }\n`,
      });
      const r2 = await validate(again);
      await removeDir(again);
      assert.equal(r2.code, 2);
      assert.match(r2.stderr, /DAG_UNKNOWN_TOOL.*offers no tool "nope"/);
    } finally {
      await removeDir(dir);
    }
  });
});
