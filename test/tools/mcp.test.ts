/**
 * MCP servers as tool sources: a real server written with the SDK (test/fixtures/mcp/server.mjs)
 * over stdio and over Streamable HTTP, reached from a workflow through the engine.
 */
import assert from "node:assert/strict";
import { cp, mkdir, mkdtemp, readdir, rm, symlink, writeFile } from "node:fs/promises";
import { execFile } from "node:child_process";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { loadProject } from "../../src/dag/buildGraph.js";
import { EngineError } from "../../src/errors.js";
import { Engine } from "../../src/runtime/Engine.js";
import { silentLogger } from "../../src/telemetry/logger.js";
import { fixture, removeDir, repoRoot, writeConfigDir } from "../helpers.js";
import { attempt, makeRegistry, makeScope } from "./harness.js";

const SERVER = fixture("mcp", "server.mjs");

const WF = (tools: string) => `
nodes:
  - { id: begin, kind: deterministic, role: start }
  - { id: work, kind: deterministic, role: linear, tools: ${tools} }
  - { id: done, kind: deterministic, role: exit }
edges:
  - { from: begin, to: work }
  - { from: work, to: done }
`;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function gone(pid: number): Promise<boolean> {
  for (let i = 0; i < 100; i++) {
    if (!alive(pid)) return true;
    await sleep(50);
  }
  return false;
}

const work = async (input: unknown, ctx: { callTool(id: string, args?: unknown): Promise<unknown> }) => {
  const echo = await ctx.callTool("fx.echo", { text: (input as { text: string }).text });
  const sum = await ctx.callTool("fx.add", { a: 2, b: 3 });
  const pid = await ctx.callTool("fx.pid", {});
  let failure: unknown = null;
  try {
    await ctx.callTool("fx.fail", {});
  } catch (err) {
    failure = (err as { code: string }).code;
  }
  return { echo, sum, pid, failure };
};

describe("MCP servers", () => {
  it("stdio: tools become <id>.<tool>, <id>.* allow-lists them, calls emit tool events, shutdown ends the server process", async () => {
    const dir = await writeConfigDir({
      "workflow.yaml": WF("[fx.*]"),
      "tools.yaml": `tools:\n  - { id: fx, type: mcp, command: [node, ${JSON.stringify(SERVER)}] }\n`,
    });
    try {
      const engine = await Engine.fromConfigDir(dir, { logger: silentLogger, handlers: { work } });
      const result = await engine.run({ text: "hi" });
      assert.equal(result.status, "success");
      const out = result.output as { echo: unknown; sum: unknown; pid: { structuredContent: { pid: number } }; failure: unknown };
      assert.deepEqual(out.echo, { content: [{ type: "text", text: "hi" }], structuredContent: { echoed: "hi" } });
      assert.deepEqual((out.sum as { structuredContent: unknown }).structuredContent, { sum: 5 });
      assert.equal(out.failure, "TOOL_FAILED");
      const tools = engine.getEvents({ type: "tool.*" }).map((e) => `${e.type}:${(e.payload as { tool: string }).tool}`);
      assert.deepEqual(tools, [
        "tool.invoked:fx.echo", "tool.completed:fx.echo",
        "tool.invoked:fx.add", "tool.completed:fx.add",
        "tool.invoked:fx.pid", "tool.completed:fx.pid",
        "tool.invoked:fx.fail", "tool.failed:fx.fail",
      ]);
      const invoked = engine.getEvents({ type: "tool.invoked" })[0]!;
      assert.deepEqual(invoked.payload, { tool: "fx.echo", callId: (invoked.payload as { callId: string }).callId, args: { text: "hi" } });
      const failed = engine.getEvents({ type: "tool.failed" })[0]!.payload as { error: { message: string }; durationMs: number };
      assert.match(failed.error.message, /this tool always fails/);
      assert.equal(typeof failed.durationMs, "number");
      const pid = out.pid.structuredContent.pid;
      assert.ok(alive(pid));
      await engine.shutdown();
      assert.equal(await gone(pid), true, `MCP server ${pid} outlived engine.shutdown()`);
    } finally {
      await removeDir(dir);
    }
  });

  it("a result over max_result_bytes is a TOOL_FAILED naming its size and the limit; smaller ones pass; the key is refused on other tools", async () => {
    const dir = await writeConfigDir({
      "workflow.yaml": WF("[fx.*]"),
      "tools.yaml": `tools:\n  - { id: fx, type: mcp, command: [node, ${JSON.stringify(SERVER)}], max_result_bytes: 400 }\n`,
    });
    const bad = await writeConfigDir({
      "workflow.yaml": WF("[ls]"),
      "tools.yaml": "tools:\n  - { id: ls, type: list_dir, permissions: { filesystem_root: . }, max_result_bytes: 10 }\n",
    });
    const engine = await Engine.fromConfigDir(dir, {
      logger: silentLogger,
      handlers: {
        work: async (_input: unknown, ctx: { callTool(id: string, args?: unknown): Promise<unknown> }) => {
          const small = await ctx.callTool("fx.echo", { text: "short" });
          try {
            await ctx.callTool("fx.echo", { text: "x".repeat(1000) });
            return { small, big: "returned" };
          } catch (err) {
            return { small, big: (err as { code: string }).code };
          }
        },
      },
    });
    try {
      const result = await engine.run({});
      assert.equal(result.status, "success");
      assert.deepEqual(result.output, { small: { content: [{ type: "text", text: "short" }], structuredContent: { echoed: "short" } }, big: "TOOL_FAILED" });
      const failed = engine.getEvents({ type: "tool.failed" }).map((e) => e.payload as { tool: string; error: { code: string; message: string } });
      assert.equal(failed.length, 1);
      assert.equal(failed[0]!.tool, "fx.echo");
      assert.match(failed[0]!.error.message, /the result of echo is \d+ bytes of JSON, over max_result_bytes 400/);
      // The oversized result is kept nowhere: only the small call completed.
      assert.deepEqual(engine.getEvents({ type: "tool.completed" }).map((e) => (e.payload as { result: unknown }).result), [{ content: [{ type: "text", text: "short" }], structuredContent: { echoed: "short" } }]);
      await assert.rejects(Engine.fromConfigDir(bad, { logger: silentLogger }), (err: unknown) => {
        assert.ok(err instanceof EngineError);
        assert.deepEqual(err.details.map((d) => [d.code, d.path]), [["CONFIG_SCHEMA", "/tools/0/max_result_bytes"]]);
        assert.match(err.details[0]!.message, /`max_result_bytes` is only for MCP servers/);
        return true;
      });
    } finally {
      await engine.shutdown();
      await removeDir(dir);
      await removeDir(bad);
    }
  });

  it("<id>.* allows the server's tools on every path: the start node, an agent node, a stage run again after resume; other nodes are refused", async () => {
    const dir = await writeConfigDir({
      "workflow.yaml": `
nodes:
  - { id: begin, kind: deterministic, role: start, tools: [fx.*] }
  - { id: ask, kind: agent, agent: helper, role: linear, tools: [fx.*] }
  - { id: gate, kind: deterministic, role: linear, tools: [fx.*] }
  - { id: other, kind: deterministic, role: linear, tools: [fxx.*] }
  - { id: done, kind: deterministic, role: exit }
edges:
  - { from: begin, to: ask }
  - { from: ask, to: gate }
  - { from: gate, to: other }
  - { from: other, to: done }
`,
      "tools.yaml": `tools:\n  - { id: fx, type: mcp, command: [node, ${JSON.stringify(SERVER)}] }\n  - { id: fxx.local, handler: ./local.mjs#local }\n`,
      "local.mjs": "export const local = () => ({ local: true });\n",
      "agents.yaml": `
providers:
  - id: offline
    type: scripted
    rules:
      - { agent: helper, step: 1, tool_calls: [{ name: fx.add, args: { a: 2, b: 3 } }] }
      - { agent: helper, step: 2, tool_result: '"sum":5', response: added }
agents:
  - { id: helper, model: m }
`,
    });
    const text = (r: unknown) => (r as { structuredContent: { echoed: string } }).structuredContent.echoed;
    const refused = (p: Promise<unknown>) => p.then(() => "allowed", (err: { code: string }) => err.code);
    try {
      const engine = await Engine.fromConfigDir(dir, {
        logger: silentLogger,
        handlers: {
          begin: async (_i, ctx) => text(await ctx.callTool("fx.echo", { text: "from the start node" })),
          gate: async (_i, ctx) => {
            const answer = ctx.interrupt({ ask: "go on?" }) as string;
            return text(await ctx.callTool("fx.echo", { text: `after resume: ${answer}` }));
          },
          other: async (_i, ctx) => ({ fx: await refused(ctx.callTool("fx.echo", { text: "x" })), local: await ctx.callTool("fxx.local", {}) }),
        },
      });
      try {
        const first = await engine.run({});
        assert.equal(first.status, "interrupted", JSON.stringify(first.error));
        assert.equal(first.history[0]!.output, "from the start node");
        assert.equal(first.history[1]!.output, "added");
        assert.deepEqual(first.history[1]!.toolCalls.map((c) => [c.tool, c.status]), [["fx.add", "success"]]);
        const second = await engine.resume(first.runId, { answer: "yes" });
        assert.equal(second.status, "success", JSON.stringify(second.error));
        const byNode = Object.fromEntries(second.history.map((h) => [h.nodeId, h.output]));
        assert.equal(byNode["gate"], "after resume: yes");
        assert.deepEqual(byNode["other"], { fx: "TOOL_NOT_ALLOWED", local: { local: true } });
      } finally {
        await engine.shutdown();
      }
    } finally {
      await removeDir(dir);
    }
  });

  it("describe() gives agents each MCP tool's description and input schema; expand() resolves <id>.*", async () => {
    const dir = await mkdtemp(join(tmpdir(), "ae-mcp-"));
    const reg = await makeRegistry([{ id: "fx", type: "mcp", command: ["node", SERVER] }, { id: "docs", type: "list_dir", permissions: { filesystem_root: "." } }], dir);
    try {
      assert.deepEqual(reg.describe("fx.add"), { id: "fx.add", description: "Add two numbers", schema: { type: "object", properties: { a: { type: "number" }, b: { type: "number" } }, required: ["a", "b"] } });
      assert.equal(reg.describe("docs")?.schema.type, "object");
      assert.equal(reg.describe("nope"), undefined);
      assert.deepEqual(reg.expand(["docs", "fx.*"]), ["docs", "fx.echo", "fx.add", "fx.fail", "fx.pid"]);
      // arguments are checked against the server's schema before the call
      const bad = await attempt(reg, "fx.add", { a: "x" });
      assert.equal(!bad.ok && bad.code, "TOOL_FAILED");
      assert.match(!bad.ok ? bad.message : "", /schema/);
      const pid = reg.serverPid("fx");
      assert.ok(pid !== undefined && alive(pid));
      await reg.close();
      assert.equal(await gone(pid), true);
      const late = await attempt(reg, "fx.add", { a: 1, b: 2 }, makeScope());
      assert.equal(!late.ok && late.code, "ENGINE_SHUT_DOWN");
    } finally {
      await reg.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  describe("Streamable HTTP", () => {
    let http: { url: string; state: { requests: number }; sessions(): number; close(): Promise<void> };
    before(async () => {
      const mod = (await import(pathToFileURL(SERVER).href)) as { startHttp(): Promise<typeof http> };
      http = await mod.startHttp();
    });
    after(() => http.close());

    it("connects to url:, lists and calls the tools, and ends the session at shutdown", async () => {
      const dir = await writeConfigDir({
        "workflow.yaml": WF("[fx.echo, fx.add, fx.pid, fx.fail]"),
        "tools.yaml": `tools:\n  - { id: fx, type: mcp, url: "${http.url}" }\n`,
      });
      try {
        const engine = await Engine.fromConfigDir(dir, { logger: silentLogger, handlers: { work } });
        assert.equal(http.sessions(), 1);
        const result = await engine.run({ text: "over http" });
        assert.equal(result.status, "success");
        const out = result.output as { echo: { structuredContent: unknown }; pid: { structuredContent: { pid: number } }; failure: unknown };
        assert.deepEqual(out.echo.structuredContent, { echoed: "over http" });
        assert.equal(out.pid.structuredContent.pid, process.pid);
        assert.equal(out.failure, "TOOL_FAILED");
        await engine.shutdown();
        assert.equal(http.sessions(), 0); // the client ended its session (DELETE)
        assert.ok(http.state.requests >= 5);
      } finally {
        await removeDir(dir);
      }
    });
  });

  it("a server that cannot start or be reached is a load error naming it (and started ones are closed)", async () => {
    const port = await new Promise<number>((resolve) => {
      const s = createServer();
      s.listen(0, "127.0.0.1", () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    const dir = await writeConfigDir({
      "workflow.yaml": WF("[ok.*, dead.*, down.*]"),
      "tools.yaml": [
        "tools:",
        `  - { id: ok, type: mcp, command: [node, ${JSON.stringify(SERVER)}], env: { MCP_FIXTURE_PID_DIR: . } }`,
        "  - { id: dead, type: mcp, command: [node, -e, \"console.error('boom at startup'); process.exit(1)\"], timeout_ms: 5000 }",
        `  - { id: down, type: mcp, url: "http://127.0.0.1:${port}/mcp", timeout_ms: 5000 }`,
        "",
      ].join("\n"),
    });
    try {
      await assert.rejects(Engine.fromConfigDir(dir, { logger: silentLogger }), (err: unknown) => {
        assert.ok(err instanceof EngineError);
        assert.deepEqual(err.details.map((d) => [d.code, d.path]), [
          ["MCP_SERVER_FAILED", "/tools/1"],
          ["MCP_SERVER_FAILED", "/tools/2"],
        ]);
        assert.match(err.details[0]!.message, /MCP server "dead".*boom at startup/s);
        assert.match(err.details[1]!.message, /MCP server "down"/);
        return true;
      });
      // The server that did start ("ok") was closed again.
      const pids = (await readdir(dir)).filter((n) => n.startsWith("pid-")).map((n) => Number(n.slice(4)));
      assert.equal(pids.length, 1);
      assert.equal(await gone(pids[0]!), true, `MCP server ${pids[0]} outlived the failed start`);
    } finally {
      await removeDir(dir);
    }
  });

  it("shutdown ends a stdio server that ignores the end of its stdin and SIGTERM (SIGKILL)", async () => {
    const dir = await writeConfigDir({
      "workflow.yaml": WF("[fx.*]"),
      "tools.yaml": `tools:\n  - { id: fx, type: mcp, command: [node, ${JSON.stringify(SERVER)}], env: { MCP_FIXTURE_STUBBORN: "1", MCP_FIXTURE_PID_DIR: . } }\n`,
    });
    try {
      const engine = await Engine.fromConfigDir(dir, { logger: silentLogger, handlers: { work: (_i, ctx) => ctx.callTool("fx.pid", {}) } });
      const result = await engine.run({});
      const pid = (result.output as { structuredContent: { pid: number } }).structuredContent.pid;
      assert.deepEqual(await readdir(dir).then((names) => names.filter((n) => n.startsWith("pid-"))), [`pid-${pid}`]);
      await engine.shutdown();
      assert.equal(await gone(pid), true, `stubborn MCP server ${pid} outlived engine.shutdown()`);
    } finally {
      await removeDir(dir);
    }
  });

  it("regression: a server whose tools/list never ends is a load error after a bounded number of pages", { timeout: 60_000 }, async () => {
    // A hand-written stdio JSON-RPC server: every tools/list page names a next cursor.
    const endless = [
      'import { createInterface } from "node:readline";',
      "let n = 0;",
      "const send = (m) => process.stdout.write(JSON.stringify(m) + '\\n');",
      "createInterface({ input: process.stdin }).on('line', (line) => {",
      "  const m = JSON.parse(line);",
      "  if (m.method === 'initialize') send({ jsonrpc: '2.0', id: m.id, result: { protocolVersion: m.params.protocolVersion, capabilities: { tools: {} }, serverInfo: { name: 'endless', version: '1' } } });",
      "  else if (m.method === 'tools/list') { n++; send({ jsonrpc: '2.0', id: m.id, result: { tools: [{ name: 't' + n, inputSchema: { type: 'object' } }], nextCursor: 'c' + n } }); }",
      "});",
      "",
    ].join("\n");
    const dir = await writeConfigDir({
      "workflow.yaml": WF("[endless.*]"),
      "endless.mjs": endless,
      "tools.yaml": `tools:\n  - { id: endless, type: mcp, command: [node, ./endless.mjs], timeout_ms: 5000 }\n`,
    });
    try {
      await assert.rejects(Engine.fromConfigDir(dir, { logger: silentLogger }), (err: unknown) => {
        assert.ok(err instanceof EngineError);
        assert.equal(err.details[0]?.code, "MCP_SERVER_FAILED");
        assert.match(err.details[0]!.message, /MCP server "endless".*listed 100 tools in 100 pages and the list did not end/s);
        return true;
      });
    } finally {
      await removeDir(dir);
    }
  });

  it("an engine start that fails after the MCP servers started closes them: no server process is left", async () => {
    const base = (extra: Record<string, string>, tools = "[fx.*]"): Record<string, string> => ({
      "workflow.yaml": WF(tools),
      "tools.yaml": "tools:\n  - { id: fx, type: mcp, command: [node, SERVER], env: { MCP_FIXTURE_PID_DIR: . } }\n".replace("SERVER", JSON.stringify(SERVER)),
      ...extra,
    });
    const agentWf = `
nodes:
  - { id: begin, kind: deterministic, role: start }
  - { id: work, kind: agent, agent: helper, role: linear, tools: [fx.*] }
  - { id: done, kind: deterministic, role: exit }
edges:
  - { from: begin, to: work }
  - { from: work, to: done }
`;
    const cases: { name: string; files: Record<string, string>; store?: string; code: RegExp }[] = [
      { name: "a tool the server does not offer", files: base({}, "[fx.nope]"), code: /DAG_UNKNOWN_TOOL/ },
      { name: "an unset API key variable", files: base({ "workflow.yaml": agentWf, "agents.yaml": "providers:\n  - { id: p, type: openai, base_url: http://127.0.0.1:9/v1, api_key_env: AGENT_ENGINE_TEST_UNSET_MCP_KEY }\nagents:\n  - { id: helper, model: m }\n" }), code: /AGENT_ENGINE_TEST_UNSET_MCP_KEY/ },
      { name: "a missing memory file", files: base({ "memory.yaml": "stores:\n  - { id: docs, kind: file, path: ./gone.json }\n" }), code: /gone\.json/ },
      { name: "a required plugin that cannot load", files: base({ "plugins.yaml": "plugins:\n  - { id: audit, module: ./gone.mjs, required: true }\n" }), code: /gone\.mjs/ },
      { name: "a run store that cannot be opened", files: base({}), store: "postgres://127.0.0.1:1/test", code: /./ },
    ];
    for (const c of cases) {
      const dir = await writeConfigDir(c.files);
      try {
        await assert.rejects(Engine.fromConfigDir(dir, { logger: silentLogger, ...(c.store ? { store: c.store } : {}) }), (err: unknown) => {
          assert.match(JSON.stringify((err as EngineError).details ?? (err as Error).message), c.code, c.name);
          return true;
        });
        const pids = (await readdir(dir)).filter((n) => n.startsWith("pid-")).map((n) => Number(n.slice(4)));
        assert.equal(pids.length, 1, `${c.name}: the server was started once`);
        assert.equal(await gone(pids[0]!), true, `${c.name}: MCP server ${pids[0]} outlived the failed start`);
      } finally {
        await removeDir(dir);
      }
    }
  });

  it("workflow validation accepts <mcp>.<tool> and <mcp>.*; the engine rejects tools the server does not offer and a bare server id", async () => {
    const dir = await writeConfigDir({
      "workflow.yaml": WF("[fx.echo, fx.nope, fx]"),
      "tools.yaml": `tools:\n  - { id: fx, type: mcp, command: [node, ${JSON.stringify(SERVER)}] }\n`,
    });
    try {
      await loadProject(dir); // static validation passes: fx.* names are known only at start
      await assert.rejects(Engine.fromConfigDir(dir, { logger: silentLogger }), (err: unknown) => {
        assert.ok(err instanceof EngineError);
        assert.deepEqual(err.details.map((d) => [d.code, d.nodeId, d.path]), [
          ["DAG_UNKNOWN_TOOL", "work", "/nodes/1/tools/1"],
          ["DAG_UNKNOWN_TOOL", "work", "/nodes/1/tools/2"],
        ]);
        assert.match(err.details[0]!.message, /offers no tool "nope" \(it offers: echo, add, fail, pid\)/);
        assert.match(err.details[1]!.message, /"fx" is an MCP server; list its tools as "fx\.\*"/);
        return true;
      });
      const other = await writeConfigDir({ "workflow.yaml": WF("[gh.*]"), "tools.yaml": "tools:\n  - { id: fx, type: mcp, command: [node, x.mjs] }\n" });
      await assert.rejects(loadProject(other), (err: unknown) => err instanceof EngineError && err.details.some((d) => d.code === "DAG_UNKNOWN_TOOL"));
      await removeDir(other);
    } finally {
      await removeDir(dir);
    }
  });

  it("without @modelcontextprotocol/sdk installed, an MCP server is a load error naming the package to install", async () => {
    // A copy of the built engine whose node_modules has every package but the MCP SDK.
    const root = await mkdtemp(join(tmpdir(), "ae-nosdk-"));
    try {
      await cp(join(repoRoot, "dist", "src"), join(root, "dist", "src"), { recursive: true });
      await cp(join(repoRoot, "schemas"), join(root, "schemas"), { recursive: true });
      await writeFile(join(root, "package.json"), JSON.stringify({ name: "nosdk", type: "module" }));
      await mkdir(join(root, "node_modules"));
      for (const name of await readdir(join(repoRoot, "node_modules"))) {
        if (name === "@modelcontextprotocol" || name.startsWith(".")) continue;
        await symlink(join(repoRoot, "node_modules", name), join(root, "node_modules", name));
      }
      const cfg = join(root, "cfg");
      await mkdir(cfg);
      await writeFile(join(cfg, "workflow.yaml"), WF("[fx.*]"));
      await writeFile(join(cfg, "tools.yaml"), `tools:\n  - { id: fx, type: mcp, command: [node, ${JSON.stringify(SERVER)}] }\n`);
      const script = `import { Engine } from ${JSON.stringify(pathToFileURL(join(root, "dist", "src", "index.js")).href)};
        try { await Engine.fromConfigDir(${JSON.stringify(cfg)}); console.log("loaded"); }
        catch (e) { console.log(JSON.stringify(e.details ?? e.message)); }`;
      const { stdout } = await promisify(execFile)(process.execPath, ["--input-type=module", "-e", script], { cwd: root });
      const details = JSON.parse(stdout) as { code: string; message: string }[];
      assert.ok(Array.isArray(details), stdout);
      assert.equal(details[0]!.code, "MCP_SDK_MISSING");
      assert.match(details[0]!.message, /npm install @modelcontextprotocol\/sdk/);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
