/**
 * examples/research runs offline: an agent whose tool loop lists and reads files confined to
 * ./library and calls the tools of the MCP server shipped in the example (kb-server.mjs, over
 * stdio), answering with schema-checked JSON; a read outside the root is refused and given back
 * to the model; the server is gone after shutdown, after the CLI exits, and after the CLI is
 * interrupted mid-run.
 *
 * `@modelcontextprotocol/sdk` is an optional peer dependency, installed here as a dev
 * dependency: kb-server.mjs and the engine find it in the repository's node_modules (walking
 * up from examples/research); a copy in a temp dir gets a node_modules symlink.
 */
import assert from "node:assert/strict";
import { cp, mkdtemp, readFile, readdir, readlink, realpath, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { parse, stringify } from "yaml";
import { Engine } from "../../src/runtime/Engine.js";
import type { EventPayloads } from "../../src/telemetry/events.js";
import { silentLogger } from "../../src/telemetry/logger.js";
import { cli, start, until } from "../cli/harness.js";
import { example, repoRoot } from "../helpers.js";

const DIR = example("research");

const ANSWER = {
  answer: "Solar power",
  because:
    "Solar photovoltaic capacity grew faster than any other renewable source in the last decade, as module prices fell by about 90 percent and projects are quick to build; in 2023 solar PV added more capacity than all other renewables combined.",
  evidence: ["f1", "f4"],
  sources: ["solar.md", "wind.md", "hydro.md"],
};

describe("examples/research", () => {
  it("the agent lists and reads the library, is refused outside it, asks the MCP server, and answers with schema-checked JSON", async () => {
    const input: unknown = JSON.parse(await readFile(join(DIR, "input.json"), "utf8"));
    const engine = await Engine.fromConfigDir(DIR, { logger: silentLogger });
    let shutDown = false;
    try {
      const result = await engine.run(input);
      assert.equal(result.status, "success", JSON.stringify(result.error));
      assert.deepEqual(result.output, ANSWER);

      // What the model was offered: the built-ins and the MCP server's tools, with its schemas.
      const requests = engine.getEvents({ type: "agent.request" }).map((e) => e.payload as EventPayloads["agent.request"]);
      assert.equal(requests.length, 4);
      const offered = requests[0]!.tools as { name: string; parameters: unknown }[];
      assert.deepEqual(offered.map((t) => t.name), ["list_library", "read_library", "kb_search", "kb_fact"]);
      assert.deepEqual(offered[2]!.parameters, { type: "object", properties: { query: { type: "string" } }, required: ["query"] });

      // What it did, in the model's call order.
      const tools = engine.getEvents({ type: "tool.*" }).map((e) => {
        const p = e.payload as { tool: string; error?: { code: string } };
        return `${e.type} ${p.tool}${p.error ? ` ${p.error.code}` : ""}`;
      });
      assert.deepEqual(tools, [
        "tool.invoked read_library", "tool.failed read_library TOOL_PERMISSION_DENIED",
        "tool.invoked list_library", "tool.completed list_library",
        "tool.invoked read_library", "tool.completed read_library",
        "tool.invoked read_library", "tool.completed read_library",
        "tool.invoked read_library", "tool.completed read_library",
        "tool.invoked kb.search", "tool.completed kb.search",
      ]);
      const invoked = engine.getEvents({ type: "tool.invoked" }).map((e) => (e.payload as EventPayloads["tool.invoked"]).args);
      assert.deepEqual(invoked, [{ path: "../agents.yaml" }, { path: "." }, { path: "solar.md" }, { path: "wind.md" }, { path: "hydro.md" }, { query: "solar" }]);
      const completed = engine.getEvents({ type: "tool.completed" }).map((e) => e.payload as EventPayloads["tool.completed"]);
      const kb = completed.find((p) => p.tool === "kb.search")!.result as { structuredContent: { facts: { id: string }[] } };
      assert.deepEqual(kb.structuredContent.facts.map((f) => f.id), ["f1", "f4"]);

      // The refusal went back to the model as that call's result; the node went on.
      const turn2 = requests[1]!.messages as { role: string; content: string }[];
      const refusal = JSON.parse(turn2.find((m) => m.role === "tool")!.content) as { error: { code: string; message: string } };
      assert.equal(refusal.error.code, "TOOL_PERMISSION_DENIED");
      assert.match(refusal.error.message, /leaves filesystem_root \.\/library/);
      assert.ok(!JSON.stringify(engine.getEvents()).includes("default_provider"), "nothing of agents.yaml was read");

      const history = result.history.find((h) => h.nodeId === "research")!;
      assert.deepEqual(history.toolCalls.map((c) => [c.tool, c.status]), [
        ["read_library", "failure"], ["list_library", "success"], ["read_library", "success"], ["read_library", "success"], ["read_library", "success"], ["kb.search", "success"],
      ]);

      // The MCP server: one child of this process, gone after shutdown.
      assert.equal((await processesIn(DIR, process.pid)).length, 1);
      await engine.shutdown();
      shutDown = true;
      await until(async () => (await processesIn(DIR, process.pid)).length === 0);
    } finally {
      if (!shutDown) await engine.shutdown();
    }
  });

  it("runs from the CLI in another working directory; no server process outlives it", async () => {
    const dir = await copyExample();
    try {
      const r = await cli(["run", dir, "--input-file", join(dir, "input.json"), "--store", "memory", "--output-only", "--quiet"], { cwd: tmpdir() });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(JSON.parse(r.stdout), ANSWER);
      assert.deepEqual(await processesIn(dir), []);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("a CLI run interrupted while the agent waits on the model (SIGINT) stops the MCP server too", async () => {
    const dir = await copyExample();
    try {
      // The model takes a minute to answer its first turn: the run is inside the agent node,
      // with the MCP server started. (Agent and tool events are emitted when the node commits,
      // so node.started is the last sign of progress before the signal.)
      const script = parse(await readFile(join(dir, "llm-script.yaml"), "utf8")) as { rules: { step?: number; delay_ms?: number }[] };
      script.rules.find((r) => r.step === 1)!.delay_ms = 60_000;
      await writeFile(join(dir, "llm-script.yaml"), stringify(script));
      const run = start(["run", dir, "--input-file", join(dir, "input.json"), "--store", "memory", "--progress", "plain"], { cwd: tmpdir() });
      await until(async () => /research \(linear, agent\) started/.test(run.stderrSoFar()) && (await processesIn(dir)).length === 1);
      run.child.kill("SIGINT");
      const r = await run.done;
      assert.equal(r.code, 130, r.stderr);
      assert.match(r.stderr, /\[ABORTED\]/);
      // The CLI has exited: its MCP server must not be left behind (orphaned to init).
      for (let i = 0; i < 100 && (await processesIn(dir)).length > 0; i++) await sleep(50);
      assert.deepEqual(await processesIn(dir), []);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

/** A copy of the example in a temp dir, with node_modules linked so kb-server.mjs finds the SDK. */
async function copyExample(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "ae-research-"));
  await cp(DIR, dir, { recursive: true, filter: (src) => !src.includes(".agent-engine") });
  await symlink(join(repoRoot, "node_modules"), join(dir, "node_modules"));
  return dir;
}

/**
 * Pids of live (not zombie) processes whose working directory is `dir` (the example's MCP
 * server runs there), only children of `parent` if given (Linux /proc).
 */
async function processesIn(dir: string, parent?: number): Promise<number[]> {
  const out: number[] = [];
  const real = await realpath(dir);
  for (const name of await readdir("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if ((await readlink(`/proc/${name}/cwd`)) !== real) continue;
      const stat = await readFile(`/proc/${name}/stat`, "utf8");
      const [state, ppid] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (state === "Z" || (parent !== undefined && Number(ppid) !== parent)) continue;
      out.push(Number(name));
    } catch {
      // the process ended while we looked, or is not ours
    }
  }
  return out;
}
