/**
 * examples/approval through the real CLI: `run` stops for a person's approval (exit 3, the
 * question on stdout, how to answer on stderr) while the other branch finishes; `resume --answer`
 * completes it without running anything committed again; an unreadable answer is asked again;
 * a run killed with SIGKILL mid-way is resumed to the same end, with the same token totals.
 */
import assert from "node:assert/strict";
import { cp, mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { example, removeDir } from "../helpers.js";
import { KILL_PLUGIN, cli } from "./harness.js";

interface Ev {
  readonly seq: number;
  readonly type: string;
  readonly taskId: string;
  readonly nodeId?: string;
  readonly payload: Record<string, unknown>;
}

interface Interrupted {
  readonly runId: string;
  readonly interrupt: { readonly id: string; readonly nodeId: string; readonly kind: string; readonly payload: { question: string; problem?: string; post: { title: string; body: string } } };
}

interface Usage {
  readonly llmCalls: number;
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly costUsd: number;
}

const dirs: string[] = [];
after(async () => {
  await Promise.all(dirs.map(removeDir));
});

async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), "agent-engine-approval-"));
  dirs.push(d);
  return d;
}

const EXAMPLE = example("approval");
const INPUT = example("approval", "input.json");

async function events(file: string): Promise<Ev[]> {
  return (await readFile(file, "utf8")).trim().split("\n").filter(Boolean).map((l) => JSON.parse(l) as Ev);
}

const started = (evs: readonly Ev[]): string[] => evs.filter((e) => e.type === "node.started").map((e) => e.nodeId!);
const llmAgents = (evs: readonly Ev[]): string[] => evs.filter((e) => e.type === "agent.request").map((e) => e.nodeId!);

/** Every node completed once per task in the run's journal, and seqs 1..n. */
async function checkJournal(dir: string, store: string, runId: string): Promise<Ev[]> {
  const out = await cli(["runs", dir, "--store", store, "--export", runId]);
  assert.equal(out.code, 0, out.stderr);
  const journal = out.stdout.trim().split("\n").map((l) => JSON.parse(l) as Ev);
  assert.deepEqual(journal.map((e) => e.seq), journal.map((_, i) => i + 1));
  const done = journal.filter((e) => e.type === "node.completed" || e.type === "node.failed").map((e) => `${e.taskId} ${e.nodeId}`);
  assert.equal(new Set(done).size, done.length, `a stage was committed twice: ${done.join(", ")}`);
  return journal;
}

describe("examples/approval", () => {
  test("run waits for approval (exit 3) while the fact check finishes; resume --answer with notes revises and completes it", async () => {
    const tmp = await tempDir();
    const store = `sqlite:${join(tmp, "runs.db")}`;
    const first = await cli(["run", EXAMPLE, "--input-file", INPUT, "--store", store, "--progress", "plain", "--output-only", "--events", join(tmp, "run.jsonl")]);
    assert.equal(first.code, 3, first.stderr);
    const { runId, interrupt } = JSON.parse(first.stdout) as Interrupted;
    assert.equal(interrupt.nodeId, "review");
    assert.equal(interrupt.kind, "handler");
    assert.match(interrupt.payload.question, /Publish this announcement\?/);
    assert.equal(interrupt.payload.post.title, "Checkout is working normally again");
    assert.match(first.stderr, /⏸ review waits for an answer \(interrupt .*\/review\/0\)/);
    assert.ok(first.stderr.includes(`answer with: agent-engine resume ${EXAMPLE} ${runId} --store ${store} --answer '<JSON>'`), first.stderr);

    const ran = await events(join(tmp, "run.jsonl"));
    assert.deepEqual(started(ran).sort(), ["brief", "check_facts", "draft", "fan", "review"]);
    const factsDone = ran.find((e) => e.type === "task.completed" && e.taskId !== ran[0]!.taskId);
    assert.ok(factsDone, "the fact-check branch completed while the review waited");
    assert.ok(!ran.some((e) => e.type === "routing.merge"), "the merge waits for the review");
    const listed = JSON.parse((await cli(["runs", EXAMPLE, "--store", store, "--json"])).stdout) as { id: string; status: string; currentNodes: string[] }[];
    assert.deepEqual(listed.map((r) => [r.id, r.status, r.currentNodes]), [[runId, "interrupted", ["review"]]]);

    const done = await cli(["resume", EXAMPLE, runId, "--store", store, "--progress", "plain", "--answer", '{"approve": false, "notes": "Open with an apology."}', "--events", join(tmp, "resume.jsonl")]);
    assert.equal(done.code, 0, done.stderr);
    const result = JSON.parse(done.stdout) as { status: string; output: { post: { body: string }; revised: boolean; facts_confirmed: string; unconfirmed: string[] }; usage: Usage };
    assert.equal(result.status, "success");
    assert.equal(result.output.revised, true);
    assert.match(result.output.post.body, /^We are sorry: after Monday's release 2\.3/);
    assert.equal(result.output.facts_confirmed, "3 of 3");
    assert.match(done.stderr, /▶ review answered: \{"approve":false,"notes":"Open with an apology\."\}/);
    // Token totals count the draft made before the interrupt too.
    assert.deepEqual([result.usage.llmCalls, result.usage.inputTokens, result.usage.outputTokens], [2, 412 + 230, 96 + 104]);

    const resumed = await events(join(tmp, "resume.jsonl"));
    assert.equal(resumed[0]!.type, "run.resumed");
    assert.deepEqual(started(resumed), ["review", "revise", "assemble", "done"], "nothing committed before ran again");
    assert.deepEqual(llmAgents(resumed), ["revise"], "the draft was not written again");
    const journal = await checkJournal(EXAMPLE, store, runId);
    assert.equal(journal.length, ran.length + resumed.length, "every event journaled once");
  });

  test("an answer that cannot be read is asked again; approving publishes the draft as it is", async () => {
    const tmp = await tempDir();
    const store = `sqlite:${join(tmp, "runs.db")}`;
    const first = JSON.parse((await cli(["run", EXAMPLE, "--input-file", INPUT, "--store", store, "--quiet", "--output-only"])).stdout) as Interrupted;
    const again = await cli(["resume", EXAMPLE, first.runId, "--store", store, "--quiet", "--output-only", "--answer", '"yes please"']);
    assert.equal(again.code, 3, again.stderr);
    const second = JSON.parse(again.stdout) as Interrupted;
    assert.equal(second.runId, first.runId);
    assert.notEqual(second.interrupt.id, first.interrupt.id);
    assert.match(second.interrupt.payload.problem ?? "", /could not read the answer "yes please"/);
    const wrong = await cli(["resume", EXAMPLE, first.runId, "--store", store, "--quiet", "--interrupt", first.interrupt.id, "--answer", '{"approve": true}']);
    assert.equal(wrong.code, 2);
    assert.match(wrong.stderr, /INTERRUPT_UNKNOWN/);
    const done = await cli(["resume", EXAMPLE, first.runId, "--store", store, "--quiet", "--output-only", "--answer", '{"approve": true}']);
    assert.equal(done.code, 0, done.stderr);
    const out = JSON.parse(done.stdout) as { post: { title: string; body: string }; revised: boolean };
    assert.equal(out.revised, false);
    assert.deepEqual(out.post, first.interrupt.payload.post);
  });

  test("kill -9 while the fact check runs: resume re-runs only what was not committed, then waits for approval as before; same end, same usage", async () => {
    // Reference: the same answers without a crash.
    const ref = await tempDir();
    const refStore = `sqlite:${join(ref, "runs.db")}`;
    const r1 = JSON.parse((await cli(["run", EXAMPLE, "--input-file", INPUT, "--store", refStore, "--quiet", "--output-only"])).stdout) as Interrupted;
    const r2 = await cli(["resume", EXAMPLE, r1.runId, "--store", refStore, "--quiet", "--answer", '{"approve": true}']);
    assert.equal(r2.code, 0, r2.stderr);
    const expected = JSON.parse(r2.stdout) as { output: unknown; usage: Usage };

    const dir = await tempDir();
    await cp(EXAMPLE, dir, { recursive: true, filter: (src) => !src.includes(".agent-engine") });
    for (const [name, text] of Object.entries(KILL_PLUGIN)) await writeFile(join(dir, name), text);
    const store = `sqlite:${join(dir, "runs.db")}`;
    // SIGKILL right after the draft's commit is stored: check_facts (1 s) is still running.
    const killed = await cli(["run", dir, "--input-file", INPUT, "--store", store, "--quiet", "--events", join(dir, "killed.jsonl")], { env: { AE_KILL_AT: "node.completed:draft" } });
    assert.equal(killed.signal, "SIGKILL");
    const listed = JSON.parse((await cli(["runs", dir, "--store", store, "--json"])).stdout) as { id: string; status: string }[];
    assert.equal(listed.length, 1);
    assert.equal(listed[0]!.status, "running");
    const runId = listed[0]!.id;
    const before = await checkJournal(dir, store, runId);
    assert.ok(before.some((e) => e.type === "node.completed" && e.nodeId === "draft"));
    assert.ok(!before.some((e) => e.type === "node.completed" && e.nodeId === "check_facts"));

    const resumed = await cli(["resume", dir, runId, "--store", store, "--quiet", "--output-only", "--events", join(dir, "resumed.jsonl")]);
    assert.equal(resumed.code, 3, resumed.stderr);
    assert.equal((JSON.parse(resumed.stdout) as Interrupted).interrupt.nodeId, "review");
    const evs = await events(join(dir, "resumed.jsonl"));
    // check_facts had started (its node.started is in the journal, not emitted twice) and ran
    // again; review had not started; draft is not run again.
    assert.deepEqual(evs.filter((e) => e.type === "node.completed").map((e) => e.nodeId), ["check_facts"], "only the stage in flight at the kill ran again");
    assert.deepEqual(started(evs), ["review"]);
    assert.deepEqual(llmAgents(evs), [], "the committed draft was not written again");

    const done = await cli(["resume", dir, runId, "--store", store, "--quiet", "--answer", '{"approve": true}']);
    assert.equal(done.code, 0, done.stderr);
    const result = JSON.parse(done.stdout) as { output: unknown; usage: Usage };
    assert.deepEqual(result.output, expected.output);
    assert.deepEqual(result.usage, expected.usage, "token and cost totals equal an uninterrupted run's");
    assert.deepEqual([result.usage.llmCalls, result.usage.inputTokens, result.usage.outputTokens], [1, 412, 96], "the draft's call, made before the kill, is counted");
    await checkJournal(dir, store, runId);
  });
});
