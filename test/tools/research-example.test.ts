/**
 * examples/research runs offline: file tools under their roots, the shipped MCP server over
 * stdio, a refused write, notes written atomically, and the server gone after shutdown.
 */
import assert from "node:assert/strict";
import { cp, mkdtemp, readFile, readdir, rm, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { Engine } from "../../src/runtime/Engine.js";
import { silentLogger } from "../../src/telemetry/logger.js";
import { example, repoRoot } from "../helpers.js";

describe("examples/research", () => {
  it("answers from the library and the MCP knowledge base, refuses the escape, writes notes, leaves no server running", async () => {
    // A copy, so the notes are written in a temp dir; node_modules linked so kb-server.mjs finds the SDK.
    const dir = await mkdtemp(join(tmpdir(), "ae-research-"));
    try {
      await cp(example("research"), dir, { recursive: true });
      await symlink(join(repoRoot, "node_modules"), join(dir, "node_modules"));
      const input: unknown = JSON.parse(await readFile(join(dir, "input.json"), "utf8"));
      const engine = await Engine.fromConfigDir(dir, { logger: silentLogger });
      const result = await engine.run(input);
      assert.equal(result.status, "success");
      const out = result.output as { answer: string; evidence: string[]; sources: string[]; refused: string };
      assert.match(out.answer, /^Solar power: /);
      assert.deepEqual(out.evidence, ["f1", "f4"]);
      assert.deepEqual(out.sources, ["solar.md", "hydro.md", "wind.md"]);
      assert.equal(out.refused, "TOOL_PERMISSION_DENIED");
      const notes = await readFile(join(dir, "out", "notes.md"), "utf8");
      assert.match(notes, /\[f1\] Solar PV added more capacity/);
      assert.deepEqual((await readdir(join(dir, "library"))).sort(), ["hydro.md", "solar.md", "wind.md"]);
      const tools = engine.getEvents({ type: "tool.*" }).map((e) => `${e.type}:${(e.payload as { tool: string }).tool}`);
      assert.deepEqual(tools, [
        "tool.invoked:shelf", "tool.completed:shelf",
        "tool.invoked:library", "tool.completed:library",
        "tool.invoked:library", "tool.completed:library",
        "tool.invoked:library", "tool.completed:library",
        "tool.invoked:kb.search", "tool.completed:kb.search",
        "tool.invoked:notes", "tool.failed:notes",
        "tool.invoked:notes", "tool.completed:notes",
      ]);
      // The MCP server's pid: the child of this process running kb-server.mjs.
      const pids = await serverPids();
      assert.equal(pids.length, 1);
      await engine.shutdown();
      for (let i = 0; i < 100 && (await serverPids()).length > 0; i++) await sleep(50);
      assert.deepEqual(await serverPids(), []);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

/** Pids of this process's children whose command line runs kb-server.mjs (Linux /proc). */
async function serverPids(): Promise<number[]> {
  const out: number[] = [];
  for (const name of await readdir("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = await readFile(`/proc/${name}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid !== process.pid) continue;
      const cmd = await readFile(`/proc/${name}/cmdline`, "utf8");
      if (cmd.includes("kb-server.mjs") && !stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z")) out.push(Number(name));
    } catch {
      // the process ended while we looked
    }
  }
  return out;
}
