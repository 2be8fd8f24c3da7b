/**
 * kv memory survives `kill -9` (CONTRACT §10–11): the CLI is killed at several points of a run
 * whose stages read and write `project` memory (a branch, so reads race with other arms' writes);
 * after `agent-engine resume`, the store holds exactly what an uninterrupted run leaves, and a
 * write committed before the kill is not applied again (its `updatedAt` is unchanged).
 */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { openStore } from "../../src/store/openStore.js";
import { removeDir, writeConfigDir } from "../helpers.js";
import { cli, start, until } from "./harness.js";

const WORKFLOW = `
nodes:
  - { id: begin, kind: deterministic, role: start, handler: ./h.mjs#step }
  - { id: fan, kind: deterministic, role: branch, handler: ./h.mjs#step }
  - { id: a1, kind: deterministic, role: linear, handler: ./h.mjs#step }
  - { id: a2, kind: deterministic, role: linear, handler: ./h.mjs#step }
  - { id: a3, kind: deterministic, role: linear, handler: ./h.mjs#step }
  - { id: b1, kind: deterministic, role: linear, handler: ./h.mjs#step }
  - { id: b2, kind: deterministic, role: linear, handler: ./h.mjs#step }
  - { id: join, kind: deterministic, role: merge, handler: ./h.mjs#step }
  - { id: done, kind: deterministic, role: exit }
edges:
  - { from: begin, to: fan }
  - { from: fan, to: a1 }
  - { from: a1, to: a2 }
  - { from: a2, to: a3 }
  - { from: a3, to: join }
  - { from: fan, to: b1 }
  - { from: b1, to: b2 }
  - { from: b2, to: join }
  - { from: join, to: done }
`;

const MEMORY = `
project_id: crash-test
stores:
  - { id: facts, kind: kv, scope: project }
  - { id: trail, kind: kv, scope: task }
`;

// Each execution logs itself, reads the shared counter and trail as of its start, and writes
// them back extended; arm b is slower, so the arms' reads and writes interleave.
const HANDLERS = `
import { appendFileSync } from "node:fs";
const log = (ctx) => appendFileSync(new URL("./effects.log", import.meta.url), ctx.taskId + " " + ctx.nodeId + "\\n");
const pause = (ms) => new Promise((r) => setTimeout(r, ms));
export async function step(input, ctx) {
  log(ctx);
  const n = (await ctx.memory.get("facts", "count")) ?? 0;
  const path = (await ctx.memory.get("facts", "path")) ?? [];
  const trail = (await ctx.memory.get("trail", "t")) ?? [];
  await pause(ctx.nodeId.startsWith("b") ? 25 : 10);
  ctx.memory.put("facts", "count", n + 1);
  ctx.memory.put("facts", "path", [...path, ctx.nodeId]);
  ctx.memory.put("facts", "at:" + ctx.nodeId, n);
  ctx.memory.put("trail", "t", [...trail, ctx.nodeId]);
  return { at: ctx.nodeId, n, trail };
}
`;

async function effects(dir: string): Promise<string[]> {
  try {
    return (await readFile(join(dir, "effects.log"), "utf8")).trim().split("\n").filter(Boolean);
  } catch {
    return [];
  }
}

async function memoryOf(url: string): Promise<Map<string, { value: unknown; updatedAt: string }>> {
  const store = await openStore(url);
  try {
    return new Map((await store.memoryList("project", "facts", "crash-test")).map((e) => [e.key, { value: e.value, updatedAt: e.updatedAt }]));
  } finally {
    await store.close();
  }
}

describe("kv memory and kill -9", () => {
  it("resumed runs leave the same memory and result as an uninterrupted run; nothing committed is written again", async () => {
    const ref = await writeConfigDir({ "workflow.yaml": WORKFLOW, "memory.yaml": MEMORY, "h.mjs": HANDLERS });
    let expected: unknown;
    let expectedMemory: [string, unknown][];
    try {
      const url = `sqlite:${join(ref, "runs.db")}`;
      const out = await cli(["run", ref, "--store", url, "--quiet", "--output-only", "--input", "{}"]);
      assert.equal(out.code, 0, out.stderr);
      expected = JSON.parse(out.stdout);
      expectedMemory = [...(await memoryOf(url))].map(([k, v]) => [k, v.value]);
      assert.ok(expectedMemory.length >= 8, JSON.stringify(expectedMemory));
    } finally {
      await removeDir(ref);
    }

    for (const k of [1, 3, 5, 7]) {
      const dir = await writeConfigDir({ "workflow.yaml": WORKFLOW, "memory.yaml": MEMORY, "h.mjs": HANDLERS });
      const url = `sqlite:${join(dir, "runs.db")}`;
      try {
        const run = start(["run", dir, "--store", url, "--quiet", "--output-only", "--input", "{}"]);
        await until(async () => (await effects(dir)).length >= k || run.child.exitCode !== null);
        run.child.kill("SIGKILL");
        await run.done;
        const listed = await cli(["runs", dir, "--store", url, "--json"]);
        assert.equal(listed.code, 0, listed.stderr);
        const runs = JSON.parse(listed.stdout) as { id: string; status: string }[];
        if (runs[0]?.status !== "running") continue; // finished before the kill landed
        const before = await memoryOf(url);

        const resumed = await cli(["resume", dir, runs[0].id, "--store", url, "--quiet", "--output-only"]);
        assert.equal(resumed.code, 0, `k=${k}: ${resumed.stderr}`);
        assert.deepEqual(JSON.parse(resumed.stdout), expected, `k=${k}: resumed result differs`);
        const afterResume = await memoryOf(url);
        assert.deepEqual([...afterResume].map(([key, v]) => [key, v.value]), expectedMemory, `k=${k}: memory differs`);
        // Keys only a committed stage wrote keep the time of that write: not applied again.
        for (const [key, v] of before) {
          if (key.startsWith("at:")) assert.equal(afterResume.get(key)?.updatedAt, v.updatedAt, `k=${k}: ${key} was written again`);
        }
      } finally {
        await removeDir(dir);
      }
    }
  });
});
