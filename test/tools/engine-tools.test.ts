/**
 * Built-in tools reached from a workflow through the engine: tools.yaml with `permissions:`,
 * load-time permission errors located in tools.yaml, and capped arguments in tool events.
 */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { EngineError } from "../../src/errors.js";
import { Engine } from "../../src/runtime/Engine.js";
import { silentLogger } from "../../src/telemetry/logger.js";
import { capForEvent } from "../../src/tools/ToolRegistry.js";
import { removeDir, writeConfigDir } from "../helpers.js";

const WF = `
nodes:
  - { id: begin, kind: deterministic, role: start }
  - { id: work, kind: deterministic, role: linear, tools: [docs, notes, ls] }
  - { id: done, kind: deterministic, role: exit }
edges:
  - { from: begin, to: work }
  - { from: work, to: done }
`;

describe("built-in tools in a workflow", () => {
  it("a handler reads, lists and writes under the roots; refusals are TOOL_PERMISSION_DENIED tool.failed events", async () => {
    const dir = await writeConfigDir({
      "workflow.yaml": WF,
      "tools.yaml": `tools:
  - id: docs
    type: read_file
    description: Read the docs
    permissions: { filesystem_root: ./docs }
  - { id: ls, type: list_dir, permissions: { filesystem_root: ./docs } }
  - { id: notes, type: write_file, permissions: { filesystem_root: ./out, max_bytes: 1000000 } }
`,
      "docs/guide.md": "# Guide\n",
      "out/.keep": "",
      "secret.txt": "do not read",
    });
    try {
      const engine = await Engine.fromConfigDir(dir, {
        logger: silentLogger,
        handlers: {
          work: async (_input, ctx) => {
            const listing = await ctx.callTool("ls", { path: "." });
            const guide = (await ctx.callTool("docs", { path: "guide.md" })) as { content: string };
            const written = await ctx.callTool("notes", { path: "summary.md", content: guide.content.toUpperCase() + "x".repeat(5000) });
            const refused = await ctx.callTool("docs", { path: "../secret.txt" }).catch((e: { code: string }) => e.code);
            return { listing, written, refused };
          },
        },
      });
      const result = await engine.run({});
      assert.equal(result.status, "success");
      assert.deepEqual(result.output, { listing: { entries: [{ name: "guide.md", type: "file" }] }, written: { bytes: 5008 }, refused: "TOOL_PERMISSION_DENIED" });
      assert.equal(await readFile(join(dir, "out", "summary.md"), "utf8"), "# GUIDE\n" + "x".repeat(5000));
      const failed = engine.getEvents({ type: "tool.failed" });
      assert.equal(failed.length, 1);
      assert.equal((failed[0]!.payload as { error: { code: string } }).error.code, "TOOL_PERMISSION_DENIED");
      // large arguments are cut in events, kept whole in the history
      const invoked = engine.getEvents({ type: "tool.invoked" }).map((e) => e.payload as { tool: string; args: { content?: string } });
      const write = invoked.find((p) => p.tool === "notes")!;
      assert.ok(write.args.content!.length < 2100);
      assert.match(write.args.content!, /…\[truncated: 5008 chars\]$/);
      const calls = result.history.find((h) => h.nodeId === "work")!.toolCalls;
      assert.equal((calls[2]!.args as { content: string }).content.length, 5008);
      await engine.shutdown();
    } finally {
      await removeDir(dir);
    }
  });

  it("missing permissions are load-time errors located in tools.yaml, all at once", async () => {
    const dir = await writeConfigDir({
      "workflow.yaml": WF.replace("[docs, notes, ls]", "[docs, web, git]"),
      "tools.yaml": `tools:
  - { id: docs, type: read_file }
  - { id: web, type: http_request, permissions: { allowed_hosts: [example.com] } }
  - { id: git, type: run_command, permissions: { allowed_programs: [git] } }
`,
    });
    try {
      await assert.rejects(Engine.fromConfigDir(dir, { logger: silentLogger }), (err: unknown) => {
        assert.ok(err instanceof EngineError);
        assert.deepEqual(err.details.map((d) => [d.code, d.line, d.path]), [
          ["CONFIG_TOOL_PERMISSION", 2, "/tools/0/permissions/filesystem_root"],
          ["CONFIG_TOOL_PERMISSION", 3, "/tools/1/permissions/allow_network"],
          ["CONFIG_TOOL_PERMISSION", 4, "/tools/2/permissions/allow_shell"],
        ]);
        for (const d of err.details) assert.match(d.file ?? "", /tools\.yaml$/);
        return true;
      });
    } finally {
      await removeDir(dir);
    }
  });

  it("an implementation passed in options.tools replaces the built-in (no permissions needed)", async () => {
    const dir = await writeConfigDir({ "workflow.yaml": WF.replace("[docs, notes, ls]", "[docs]"), "tools.yaml": "tools:\n  - { id: docs, type: read_file }\n" });
    try {
      const engine = await Engine.fromConfigDir(dir, {
        logger: silentLogger,
        tools: { read_file: (args) => ({ content: `fake ${(args as { path: string }).path}` }) },
        handlers: { work: (_i, ctx) => ctx.callTool("docs", { path: "x" }) },
      });
      assert.deepEqual((await engine.run({})).output, { content: "fake x" });
      await engine.shutdown();
    } finally {
      await removeDir(dir);
    }
  });

  it("the schema rejects unknown permission keys; MCP fields are checked at engine start", async () => {
    const dir = await writeConfigDir({
      "workflow.yaml": WF.replace("[docs, notes, ls]", "[docs]"),
      "tools.yaml": "tools:\n  - { id: docs, type: read_file, permissions: { filesystem_root: ., allow_everything: true } }\n",
    });
    const dir2 = await writeConfigDir({
      "workflow.yaml": WF.replace("[docs, notes, ls]", "[docs]"),
      "tools.yaml": "tools:\n  - { id: docs, type: read_file, permissions: { filesystem_root: . } }\n  - { id: m, type: mcp }\n  - { id: x, type: list_dir, url: 'http://a', permissions: { filesystem_root: . } }\n  - { id: a.b, type: mcp, url: 'http://a', command: [x] }\n",
    });
    try {
      await assert.rejects(Engine.fromConfigDir(dir, { logger: silentLogger }), (err: unknown) => {
        assert.ok(err instanceof EngineError);
        assert.deepEqual(err.details.map((d) => [d.code, d.path]), [["CONFIG_UNKNOWN_KEY", "/tools/0/permissions/allow_everything"]]);
        return true;
      });
      await assert.rejects(Engine.fromConfigDir(dir2, { logger: silentLogger }), (err: unknown) => {
        assert.ok(err instanceof EngineError);
        assert.deepEqual(err.details.map((d) => [d.code, d.path, d.line]), [
          ["CONFIG_SCHEMA", "/tools/1", 3],
          ["CONFIG_SCHEMA", "/tools/2/url", 4],
          ["CONFIG_SCHEMA", "/tools/3", 5],
          ["CONFIG_SCHEMA", "/tools/3/id", 5],
        ]);
        assert.match(err.details[0]!.message, /MCP server "m" needs exactly one of command/);
        assert.match(err.details[1]!.message, /`url` is only for MCP servers/);
        return true;
      });
    } finally {
      await removeDir(dir);
      await removeDir(dir2);
    }
  });

  it("capForEvent cuts long strings anywhere in the value and leaves small values untouched", () => {
    const small = Object.freeze({ a: "x", b: Object.freeze([1, "y"]) });
    assert.equal(capForEvent(small), small);
    const capped = capForEvent({ a: ["z".repeat(10)], b: 1 }, 4) as { a: string[] };
    assert.deepEqual(capped, { a: ["zzzz…[truncated: 10 chars]"], b: 1 });
    assert.ok(Object.isFrozen(capped));
  });
});
