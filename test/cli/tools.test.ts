/**
 * `graph`, `inspect`, `init` and the examples, through the real CLI.
 */
import assert from "node:assert/strict";
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { example, removeDir, writeConfigDir } from "../helpers.js";
import { cli } from "./harness.js";

const dirs: string[] = [];
after(async () => {
  await Promise.all(dirs.map(removeDir));
});
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), "agent-engine-cli-"));
  dirs.push(d);
  return d;
}

const failing = {
  "workflow.yaml": `
name: checks
nodes:
  - { id: start, kind: deterministic, role: start, default: true }
  - { id: route, kind: deterministic, role: decision, handler: ./h.mjs#route }
  - { id: fast, kind: deterministic, role: linear }
  - { id: slow, kind: deterministic, role: linear, handler: ./h.mjs#explode }
  - { id: end, kind: deterministic, role: exit }
edges:
  - { from: start, to: route }
  - { from: route, to: fast, label: "fast \\"lane\\"" }
  - { from: route, to: slow, label: slow }
  - { from: fast, to: end }
  - { from: slow, to: end }
`,
  "h.mjs": "export const route = (i) => i.lane;\nexport function explode(input) { throw new Error(`cannot handle ${input.item}`); }\n",
};

describe("graph", () => {
  test("mermaid: exactly the declared nodes and edges, with labels", async () => {
    const r = await cli(["graph", example("support-triage")]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split("\n");
    assert.equal(lines[0], "flowchart TD");
    assert.equal(lines.filter((l) => /^ {2}n\d+[[({]/.test(l)).length, 12);
    const edges = lines.filter((l) => /-->/.test(l));
    assert.equal(edges.length, 14);
    assert.ok(edges.includes('  n1 -->|"urgent"| n3'), edges.join("\n"));
    assert.ok(edges.includes('  n1 -->|"routine"| n2'));
    assert.match(r.stdout, /n1\{"triage \(agent: triager\)"\}/);
  });

  test("dot: the same nodes and edges; quotes in labels escaped", async () => {
    const dir = await writeConfigDir(failing);
    dirs.push(dir);
    const r = await cli(["graph", dir, "--format", "dot"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^digraph "checks" \{/);
    assert.equal((r.stdout.match(/ -> /g) ?? []).length, 5);
    assert.match(r.stdout, /"route" -> "fast" \[label="fast \\"lane\\""\];/);
    assert.match(r.stdout, /"route" \[label="route\\n\(decision\)", shape=diamond\];/);
  });

  test("with a recorded run: the path taken highlighted, nodes marked by status, skipped ones greyed", async () => {
    const dir = await writeConfigDir(failing);
    dirs.push(dir);
    const events = join(dir, "run.jsonl");
    const run = await cli(["run", dir, "--input", '{"lane":"slow","item":"x1"}', "--events", events, "--quiet"]);
    assert.equal(run.code, 1);
    const m = await cli(["graph", dir, "--events", events]);
    assert.equal(m.code, 0, m.stderr);
    assert.match(m.stdout, /n3\["slow · failure"\]/);
    assert.match(m.stdout, /n1\{"route · success"\}/);
    assert.match(m.stdout, /class n3 failure/);
    assert.match(m.stdout, /class n2 skipped/);
    assert.match(m.stdout, /class n4 skipped/);
    assert.match(m.stdout, /n0 ==> n1/);
    assert.match(m.stdout, /n1 ==>\|"slow"\| n3/);
    assert.match(m.stdout, /n1 -->\|"fast #quot;lane#quot;"\| n2/);
    assert.match(m.stdout, /n3 --> n4/, "the failed node's outbound edge was not taken");
    assert.deepEqual(m.stdout.match(/linkStyle \d+/g), ["linkStyle 0", "linkStyle 2"]);
    const d = await cli(["graph", dir, "--events", events, "--format", "dot"]);
    assert.match(d.stdout, /"slow" \[label="slow\\n\(linear\)\\nfailure".*fillcolor="#ffd6d6"/);
    assert.match(d.stdout, /"route" -> "slow" \[label="slow", color="#1f4fb3", penwidth=3\]/);
    assert.match(d.stdout, /"fast" -> "end" \[color="#aaaaaa", style=dashed\]/);
  });

  test("clones and subtasks: every edge the run followed, through branch, split and merges", async () => {
    const events = join(await tempDir(), "run.jsonl");
    const run = await cli(["run", example("support-triage"), "--input-file", example("support-triage", "input.json"), "--events", events, "--quiet"]);
    assert.equal(run.code, 0, run.stderr);
    const m = await cli(["graph", example("support-triage"), "--events", events]);
    const taken = (m.stdout.match(/n\d+ ==>(?:\|"[^"]*"\|)? n\d+/g) ?? []).length;
    assert.equal(taken, 12, m.stdout);
    assert.match(m.stdout, /class n2 skipped/);
  });

  test("events of another workflow are refused (exit 2)", async () => {
    const events = join(await tempDir(), "run.jsonl");
    await cli(["run", example("voting-triage"), "--input-file", example("voting-triage", "input.json"), "--events", events, "--quiet"]);
    const r = await cli(["graph", example("support-triage"), "--events", events]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /CLI_INPUT.*does not declare: .*vote_strict/);
  });

  test("an events file without events is refused (exit 2), not drawn as a run that skipped everything", async () => {
    const events = join(await tempDir(), "garbage.jsonl");
    await writeFile(events, "garbage\n");
    const r = await cli(["graph", example("support-triage"), "--events", events]);
    assert.equal(r.code, 2);
    assert.equal(r.stdout, "");
    assert.match(r.stderr, /CLI_INPUT.*holds no agent-engine events/);
  });
});

describe("inspect", () => {
  test("a failed run: tasks and paths, node status and duration, the failed node with its error and input", async () => {
    const dir = await writeConfigDir(failing);
    dirs.push(dir);
    const events = join(dir, "run.jsonl");
    await cli(["run", dir, "--input", '{"lane":"slow","item":"x1"}', "--events", events, "--quiet"]);
    const r = await cli(["inspect", events]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^run \S+: failure \(\d+ events in /);
    assert.match(r.stdout, /\S+ failure: start -> route -> slow\n/);
    assert.match(r.stdout, /✓ route +success +\d+ ms/);
    assert.match(r.stdout, /✗ slow +failure +\d+ ms/);
    assert.match(r.stdout, /failures \(1\):\n {2}node "slow" \(task \S+\): \[HANDLER_FAILED\] .*cannot handle x1\n {4}input: \{"lane":"slow","item":"x1"\}/);
    const j = await cli(["inspect", events, "--json"]);
    const s = JSON.parse(j.stdout) as { status: string; tasks: { path: string[] }[]; failures: { nodeId: string; input: unknown; error: { code: string } }[] };
    assert.equal(s.status, "failure");
    assert.deepEqual(s.tasks[0]!.path, ["start", "route", "slow"]);
    assert.deepEqual(s.failures.map((f) => [f.nodeId, f.error.code, f.input]), [["slow", "HANDLER_FAILED", { lane: "slow", item: "x1" }]]);
  });

  test("agents' tokens, tool calls, clones and subtasks; a cut last line (kill -9) is skipped with a warning", async () => {
    const events = join(await tempDir(), "run.jsonl");
    await cli(["run", example("support-triage"), "--input-file", example("support-triage", "input.json"), "--events", events, "--quiet"]);
    const recorded = await readFile(events, "utf8");
    const j = await cli(["inspect", events, "--json"]);
    assert.equal(j.code, 0, j.stderr);
    const s = JSON.parse(j.stdout) as { status: string; tasks: { taskId: string; parentTaskId?: string; status: string }[]; agents: Record<string, { calls: number; inputTokens: number; outputTokens: number }>; toolCalls: { tool: string; nodeId: string; status: string; args: unknown }[] };
    assert.equal(s.status, "success");
    assert.equal(s.tasks.length, 5);
    assert.equal(s.tasks.filter((t) => t.parentTaskId).length, 4);
    assert.deepEqual(Object.keys(s.agents).sort(), ["answerer", "triager", "writer"]);
    assert.equal(s.agents["answerer"]!.calls, 2);
    assert.ok(s.agents["triager"]!.inputTokens > 0 && s.agents["triager"]!.outputTokens > 0);
    assert.deepEqual(s.toolCalls.map((c) => [c.tool, c.nodeId, c.status]), [["pager", "page_oncall", "success"]]);
    const text = await cli(["inspect", events]);
    assert.match(text.stdout, /agents:\n {2}triager: 1 call, tokens \d+ in \/ \d+ out/);
    assert.match(text.stdout, /tool calls \(1\):\n {2}pager from page_oncall/);
    await writeFile(events, recorded.slice(0, recorded.length - 40));
    const cut = await cli(["inspect", events, "--json"]);
    assert.equal(cut.code, 0, cut.stderr);
    assert.match(cut.stderr, /warning: .* line \d+: .*\(skipped\)/);
    assert.equal((JSON.parse(cut.stdout) as { status: string }).status, "running");
  });

  test("a missing or empty file exits 2 with a coded message", async () => {
    const missing = await cli(["inspect", "/nonexistent/run.jsonl"]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /CLI_INPUT.*cannot read/);
    const empty = join(await tempDir(), "empty.jsonl");
    await writeFile(empty, "");
    const e = await cli(["inspect", empty]);
    assert.equal(e.code, 2);
    assert.match(e.stderr, /holds no agent-engine events/);
  });
});

describe("init", () => {
  test("creates a starter project that validates and runs as created (both decision edges, branch + merge, tool, plugin)", async () => {
    const dir = join(await tempDir(), "demo");
    const created = await cli(["init", dir]);
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stdout, /created .*demo\/ \(\d+ files\)/);
    const v = await cli(["validate", dir]);
    assert.equal(v.code, 0, v.stderr);
    assert.match(v.stdout, /1 decision.*1 branch, 1 merge/);
    assert.match(v.stdout, /agents: 3, tools: 1, schemas: 1, plugins: 1/);
    assert.match(created.stdout, /next:\n {2}npx agent-engine run \S*demo\n/, "the first command it suggests is a bare run");
    // No input given: the project's own input.json (said on stderr).
    const incident = await cli(["run", dir, "--events", join(dir, "run.jsonl")]);
    assert.equal(incident.code, 0, incident.stderr);
    assert.match(incident.stderr, /input: \S*demo\/input\.json \(no --input or --input-file given\)/);
    const out = (JSON.parse(incident.stdout) as { output: { kind: string; runbook: string; status_note: string } }).output;
    assert.equal(out.kind, "incident");
    assert.match(out.runbook, /RB-7/);
    assert.match(out.status_note, /working on it/);
    assert.match(incident.stderr, /\[timing\] slowest node/, "the starter plugin ran");
    const question = await cli(["run", dir, "--input-file", join(dir, "question.json"), "--output-only", "--quiet"]);
    assert.equal(question.code, 0, question.stderr);
    assert.equal((JSON.parse(question.stdout) as { kind: string }).kind, "question");
    const readme = await readFile(join(dir, "README.md"), "utf8");
    assert.match(readme, /agent-engine run \. +# an incident \(input\.json, the default input\)/);
    assert.match(readme, /agent-engine run \. --input-file question\.json/);
    // Without an input.json the input is {} (here it fails the starter's schema_in, as it should).
    await rm(join(dir, "input.json"));
    const bare = await cli(["run", dir, "--quiet"]);
    assert.equal(bare.code, 1);
    assert.doesNotMatch(bare.stderr, /input: /);
    assert.match(bare.stderr, /SCHEMA_IN_FAILED.*must have required property 'text'/);
    const i = await cli(["inspect", join(dir, "run.jsonl")]);
    assert.equal(i.code, 0, i.stderr);
    assert.match(i.stdout, /runbooks from lookup/);
  });

  test("refuses a non-empty directory (exit 2), writing nothing", async () => {
    const dir = await tempDir();
    await writeFile(join(dir, "keep.txt"), "mine");
    const r = await cli(["init", dir]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /CLI_INPUT.*is not empty \(keep\.txt\)/);
  });
});

describe("examples (offline, scripted provider)", () => {
  test("summarizer: split -> one worker -> merge, summaries in document order", async () => {
    const g = await cli(["graph", example("summarizer")]);
    assert.equal(g.code, 0, g.stderr);
    assert.equal(g.stdout.match(/\(agent: summarizer\)/g)?.length, 1, "one worker node, not one per lane");
    assert.match(g.stdout, /n1 --> n2\n {2}n2 --> n3\n/, "split -> summarize -> combine");
    const r = await cli(["run", example("summarizer"), "--input-file", example("summarizer", "input.json"), "--output-only", "--quiet", "--store", "memory"]);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { sections: number; summary: string };
    assert.equal(out.sections, 4);
    const lines = out.summary.split("\n");
    assert.match(lines[0]!, /^1\. Checkout failures rose to 4%/);
    assert.match(lines[1]!, /^2\. A retry loop/);
    assert.match(lines[2]!, /^3\. Version 2\.3\.1/);
    assert.match(lines[3]!, /^4\. Load tests/);
  });

  test("summarizer: a section whose summary fails is left out, the others keep their place (on_failure: partial)", async () => {
    const dir = await tempDir();
    await cp(example("summarizer"), dir, { recursive: true, filter: (src) => !src.includes(".agent-engine") });
    const script = await readFile(join(dir, "llm-script.yaml"), "utf8");
    await writeFile(join(dir, "llm-script.yaml"), script.replace(/match: "Findings"\n {4}response: .*\n/, 'match: "Findings"\n    error: { message: "model overloaded", status: 400 }\n'));
    const r = await cli(["run", dir, "--input-file", join(dir, "input.json"), "--output-only", "--quiet", "--store", "memory"]);
    assert.equal(r.code, 1, "partial exits 1");
    const out = JSON.parse(r.stdout) as { sections: number; summary: string };
    assert.equal(out.sections, 3);
    assert.deepEqual(out.summary.split("\n").map((l) => l.slice(0, 3)), ["1. ", "3. ", "4. "]);
    assert.match(r.stderr, /node "summarize".*LLM_FAILED.*model overloaded/);
  });

  test("voting-triage: three voters, majority merge (2-1 urgent; unanimous routine)", async () => {
    const r = await cli(["run", example("voting-triage"), "--input-file", example("voting-triage", "input.json"), "--output-only", "--quiet"]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { priority: "urgent", votes: { strict: "urgent", lenient: "routine", balanced: "urgent" }, tally: { urgent: 2, routine: 1 }, unanimous: false });
    const routine = await cli(["run", example("voting-triage"), "--input", '{"text":"How do I change my avatar?"}', "--output-only", "--quiet"]);
    assert.equal((JSON.parse(routine.stdout) as { priority: string; unanimous: boolean }).priority, "routine");
  });
});
