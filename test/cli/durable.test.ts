/**
 * Durable runs from the command line (CONTRACT §11): `kill -9` the CLI at many points of a run
 * with a branch, a split and merges, then `agent-engine resume`: the result equals an
 * uninterrupted run's, no committed stage runs again (a side-effect log written by every handler
 * execution proves it), and the journal holds every event exactly once. Also: interrupt for
 * approval, `runs`, `resume --answer`, exit 3, and the coded errors.
 */
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { removeDir, writeConfigDir } from "../helpers.js";
import { dropSchemas, freshSchema, pgAvailable, pgUrl } from "../store/pgHelper.js";
import { KILL_PLUGIN, cli, start, until } from "./harness.js";

const WORKFLOW = `
nodes:
  - { id: begin, kind: deterministic, role: start, handler: ./h.mjs#step }
  - { id: fan, kind: deterministic, role: branch, handler: ./h.mjs#step }
  - { id: left, kind: deterministic, role: linear, handler: ./h.mjs#step }
  - { id: sp, kind: deterministic, role: split, handler: ./h.mjs#items }
  - { id: work, kind: deterministic, role: linear, handler: ./h.mjs#step }
  - { id: gather, kind: deterministic, role: merge, handler: ./h.mjs#step }
  - { id: join, kind: deterministic, role: merge, handler: ./h.mjs#step }
  - { id: done, kind: deterministic, role: exit }
edges:
  - { from: begin, to: fan }
  - { from: fan, to: left }
  - { from: fan, to: sp }
  - { from: sp, to: work }
  - { from: work, to: gather }
  - { from: left, to: join }
  - { from: gather, to: join }
  - { from: join, to: done }
`;

// Every execution appends "<taskId> <nodeId>" to the side-effect log, then takes a little time.
const HANDLERS = `
import { appendFileSync } from "node:fs";
const log = (ctx) => appendFileSync(new URL("./effects.log", import.meta.url), ctx.taskId + " " + ctx.nodeId + "\\n");
const pause = (ms) => new Promise((r) => setTimeout(r, ms));
export async function step(input, ctx) { log(ctx); await pause(15); return { at: ctx.nodeId, n: Array.isArray(input) ? input.length : 1, input: Array.isArray(input) ? input.map((a) => a.output) : input }; }
export async function items(input, ctx) { log(ctx); await pause(15); return [1, 2, 3, 4, 5, 6]; }
`;

interface Journal {
  readonly seq: number;
  readonly type: string;
  readonly taskId: string;
  readonly nodeId?: string;
}

async function journalOf(dir: string, store: string, runId: string): Promise<Journal[]> {
  const out = await cli(["runs", dir, "--store", store, "--export", runId]);
  assert.equal(out.code, 0, out.stderr);
  return out.stdout.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l) as Journal);
}

async function effects(dir: string): Promise<string[]> {
  try {
    return (await readFile(join(dir, "effects.log"), "utf8")).trim().split("\n").filter(Boolean);
  } catch {
    return [];
  }
}

describe("kill -9 and resume", () => {
  it("at many points of a run: same result, nothing committed re-executed, every event once", async () => {
    const ref = await writeConfigDir({ "workflow.yaml": WORKFLOW, "h.mjs": HANDLERS });
    let expected: unknown;
    try {
      const out = await cli(["run", ref, "--store", "memory", "--quiet", "--output-only", "--input", '{"doc":1}']);
      assert.equal(out.code, 0, out.stderr);
      expected = JSON.parse(out.stdout);
    } finally {
      await removeDir(ref);
    }

    // Kill after the k-th side effect, for k spread over the run (it has ~16 stage executions).
    for (const k of [1, 2, 3, 5, 7, 9, 11, 13, 15]) {
      const dir = await writeConfigDir({ "workflow.yaml": WORKFLOW, "h.mjs": HANDLERS });
      const store = `sqlite:${join(dir, "runs.db")}`;
      try {
        const run = start(["run", dir, "--store", store, "--quiet", "--output-only", "--input", '{"doc":1}']);
        await until(async () => (await effects(dir)).length >= k || run.child.exitCode !== null);
        run.child.kill("SIGKILL");
        await run.done;
        const atKill = await effects(dir);

        const listed = await cli(["runs", dir, "--store", store, "--json"]);
        assert.equal(listed.code, 0, listed.stderr);
        const runs = JSON.parse(listed.stdout) as { id: string; status: string }[];
        assert.equal(runs.length, 1);
        const runId = runs[0]!.id;
        if (runs[0]!.status !== "running") continue; // finished before the kill landed
        const before = await journalOf(dir, store, runId);
        const committed = new Set(before.filter((e) => e.type === "node.completed" || e.type === "node.failed").map((e) => `${e.taskId} ${e.nodeId}`));

        const resumed = await cli(["resume", dir, runId, "--store", store, "--quiet", "--output-only"]);
        assert.equal(resumed.code, 0, `k=${k}: ${resumed.stderr}`);
        assert.deepEqual(JSON.parse(resumed.stdout), expected, `k=${k}: resumed result differs`);

        const after = await effects(dir);
        for (const line of after.slice(atKill.length)) assert.ok(!committed.has(line), `k=${k}: committed stage ${line} ran again`);
        const journal = await journalOf(dir, store, runId);
        assert.deepEqual(journal.map((e) => e.seq), journal.map((_, i) => i + 1), `k=${k}: journal seqs`);
        const nodeEvents = journal.filter((e) => e.type.startsWith("node.")).map((e) => `${e.type} ${e.taskId} ${e.nodeId}`);
        assert.equal(new Set(nodeEvents).size, nodeEvents.length, `k=${k}: an event was emitted twice`);
        assert.equal(journal.filter((e) => e.type === "task.started").length, journal.filter((e) => e.type === "task.completed" || e.type === "task.failed").length);
        const again = await cli(["resume", dir, runId, "--store", store]);
        assert.equal(again.code, 2);
        assert.match(again.stderr, /RUN_FINISHED/);
      } finally {
        await removeDir(dir);
      }
    }
  });
});

describe("interrupt for approval from the CLI", () => {
  it("run exits 3 with { runId, interrupt }; runs lists it; resume --answer finishes it", async () => {
    const dir = await writeConfigDir({
      "workflow.yaml": WORKFLOW.replace("role: linear, handler: ./h.mjs#step }\n  - { id: sp", "role: linear, handler: ./h.mjs#step, interrupt: after }\n  - { id: sp"),
      "h.mjs": HANDLERS,
    });
    const store = `sqlite:${join(dir, "runs.db")}`;
    try {
      const first = await cli(["run", dir, "--store", store, "--quiet", "--output-only", "--input", '{"doc":1}']);
      assert.equal(first.code, 3, first.stderr);
      const { runId, interrupt } = JSON.parse(first.stdout) as { runId: string; interrupt: { nodeId: string; kind: string } };
      assert.equal(interrupt.nodeId, "left");
      assert.equal(interrupt.kind, "after");
      const listed = JSON.parse((await cli(["runs", dir, "--store", store, "--json"])).stdout) as { id: string; status: string; currentNodes: string[] }[];
      assert.deepEqual(listed.map((r) => [r.id, r.status, r.currentNodes]), [[runId, "interrupted", ["left"]]]);
      const noAnswer = await cli(["resume", dir, runId, "--store", store]);
      assert.equal(noAnswer.code, 2);
      assert.match(noAnswer.stderr, /ANSWER_REQUIRED/);
      const bad = await cli(["resume", dir, runId, "--store", store, "--answer", "{not json"]);
      assert.equal(bad.code, 2);
      const done = await cli(["resume", dir, runId, "--store", store, "--quiet", "--answer", '{"approve":true}']);
      assert.equal(done.code, 0, done.stderr);
      assert.equal((JSON.parse(done.stdout) as { status: string }).status, "success");
      const unknown = await cli(["resume", dir, "run-nope", "--store", store]);
      assert.equal(unknown.code, 2);
      assert.match(unknown.stderr, /RUN_NOT_FOUND/);
    } finally {
      await removeDir(dir);
    }
  });

  it("a store that cannot be opened is a coded error, not a stack trace", async () => {
    const dir = await writeConfigDir({ "workflow.yaml": WORKFLOW, "h.mjs": HANDLERS });
    try {
      const out = await cli(["run", dir, "--store", "postgres://nobody@127.0.0.1:1/none", "--quiet"]);
      assert.equal(out.code, 2);
      assert.match(out.stderr, /STORE_OPEN_FAILED/);
      assert.doesNotMatch(out.stderr, /^\s+at /m);
      const weird = await cli(["run", dir, "--store", "ftp://x", "--quiet"]);
      assert.equal(weird.code, 2);
      assert.match(weird.stderr, /STORE_URL_INVALID/);
    } finally {
      await removeDir(dir);
    }
  });
});

describe("resume: configuration and answers", () => {
  it("a workflow changed since the run started is RESUME_CONFIG_CHANGED (exit 2, the run still waits); --allow-config-change continues", async () => {
    const wf = WORKFLOW.replace("role: linear, handler: ./h.mjs#step }\n  - { id: sp", "role: linear, handler: ./h.mjs#step, interrupt: after }\n  - { id: sp");
    const dir = await writeConfigDir({ "workflow.yaml": wf, "h.mjs": HANDLERS });
    const store = `sqlite:${join(dir, "runs.db")}`;
    try {
      const first = await cli(["run", dir, "--store", store, "--quiet", "--output-only", "--input", '{"doc":1}']);
      assert.equal(first.code, 3, first.stderr);
      const { runId } = JSON.parse(first.stdout) as { runId: string };
      await writeFile(join(dir, "workflow.yaml"), wf.replace("{ id: done, kind: deterministic, role: exit }", "{ id: done, kind: deterministic, role: exit, timeout_ms: 9000 }"));
      const refused = await cli(["resume", dir, runId, "--store", store, "--quiet", "--answer", '{"approve":true}']);
      assert.equal(refused.code, 2);
      assert.match(refused.stderr, /\[RESUME_CONFIG_CHANGED\] run "run-[^"]+" started on another configuration than .* has now \(workflow\.yaml changed\)/);
      assert.match(refused.stderr, /--allow-config-change/);
      const listed = JSON.parse((await cli(["runs", dir, "--store", store, "--json"])).stdout) as { status: string }[];
      assert.equal(listed[0]!.status, "interrupted");
      const done = await cli(["resume", dir, runId, "--store", store, "--quiet", "--allow-config-change", "--answer", '{"approve":true}']);
      assert.equal(done.code, 0, done.stderr);
    } finally {
      await removeDir(dir);
    }
  });

  it("an answer given before a crash is applied once when the run is resumed and interrupted again", async () => {
    const wf = `
nodes:
  - { id: begin, kind: deterministic, role: start }
  - { id: a, kind: deterministic, role: linear, interrupt: before, handler: ./h.mjs#answer }
  - { id: slow, kind: deterministic, role: linear, handler: ./h.mjs#step }
  - { id: b, kind: deterministic, role: linear, interrupt: before, handler: ./h.mjs#answer }
  - { id: done, kind: deterministic, role: exit }
edges:
  - { from: begin, to: a }
  - { from: a, to: slow }
  - { from: slow, to: b }
  - { from: b, to: done }
`;
    const handlers = `${HANDLERS}\nexport function answer(input, ctx) { log(ctx); return { ...input, [ctx.nodeId]: ctx.resumeValue }; }\n`;
    const dir = await writeConfigDir({ "workflow.yaml": wf, "h.mjs": handlers, ...KILL_PLUGIN });
    const store = `sqlite:${join(dir, "runs.db")}`;
    try {
      const first = await cli(["run", dir, "--store", store, "--quiet", "--output-only", "--input", "{}"]);
      assert.equal(first.code, 3, first.stderr);
      const { runId } = JSON.parse(first.stdout) as { runId: string };
      // Answered, then killed once the answered stage is committed (slow is running).
      const killed = await cli(["resume", dir, runId, "--store", store, "--quiet", "--answer", '"A"'], { env: { AE_KILL_AT: "node.completed:a" } });
      assert.equal(killed.signal, "SIGKILL");
      const again = await cli(["resume", dir, runId, "--store", store, "--quiet", "--output-only"]);
      assert.equal(again.code, 3, again.stderr);
      assert.equal((JSON.parse(again.stdout) as { interrupt: { nodeId: string } }).interrupt.nodeId, "b");
      const done = await cli(["resume", dir, runId, "--store", store, "--quiet", "--output-only", "--answer", '"B"']);
      assert.equal(done.code, 0, done.stderr);
      assert.deepEqual(JSON.parse(done.stdout), { at: "slow", n: 1, input: { a: "A" }, b: "B" });
      assert.deepEqual((await effects(dir)).map((l) => l.split(" ")[1]), ["a", "slow", "slow", "b"], "a ran once; slow, in flight at the kill, twice");
    } finally {
      await removeDir(dir);
    }
  });
});

const pgUp = await pgAvailable();
const schemas: string[] = [];
after(() => dropSchemas(schemas));

describe("two processes and one run (PostgreSQL)", { skip: pgUp ? false : "PostgreSQL unreachable (see the message above)" }, () => {
  it("while one process continues a crashed run, a second resume is RUN_IN_PROGRESS and runs nothing; the first completes it", async () => {
    const wf = `
nodes:
  - { id: begin, kind: deterministic, role: start, handler: ./h.mjs#step }
  - { id: gate, kind: deterministic, role: linear, handler: ./h.mjs#gate }
  - { id: done, kind: deterministic, role: exit }
edges:
  - { from: begin, to: gate }
  - { from: gate, to: done }
`;
    // gate holds its run until the test creates the file "go".
    const handlers = `${HANDLERS}\nimport { existsSync } from "node:fs";\nexport async function gate(input, ctx) { log(ctx); while (!existsSync(new URL("./go", import.meta.url))) await pause(20); return { gated: true }; }\n`;
    const dir = await writeConfigDir({ "workflow.yaml": wf, "h.mjs": handlers, ...KILL_PLUGIN });
    const schema = freshSchema("cli_lease");
    schemas.push(schema);
    const store = pgUrl(schema);
    try {
      const killed = await cli(["run", dir, "--store", store, "--quiet", "--input", "{}"], { env: { AE_KILL_AT: "node.completed:begin" } });
      assert.equal(killed.signal, "SIGKILL");
      const runId = (JSON.parse((await cli(["runs", dir, "--store", store, "--json"])).stdout) as { id: string }[])[0]!.id;
      const atKill = (await effects(dir)).length;

      const first = start(["resume", dir, runId, "--store", store, "--quiet", "--output-only"]);
      await until(async () => (await effects(dir)).slice(atKill).some((l) => l.endsWith(" gate")) || first.child.exitCode !== null);
      const second = await cli(["resume", dir, runId, "--store", store, "--quiet"]);
      assert.equal(second.code, 2, second.stderr);
      assert.match(second.stderr, /\[RUN_IN_PROGRESS\] run "run-[^"]+" is being continued by another process/);
      await writeFile(join(dir, "go"), "");
      const done = await first.done;
      assert.equal(done.code, 0, done.stderr);
      assert.deepEqual(JSON.parse(done.stdout), { gated: true });
      assert.deepEqual((await effects(dir)).slice(atKill).map((l) => l.split(" ")[1]), ["gate"], "the second process ran nothing");
    } finally {
      await removeDir(dir);
    }
  });
});
