/**
 * `agent-engine run` as a user runs it (real child processes): stdout carries exactly the result,
 * progress on stderr, stdin input, cancellation by signal, incremental --events that survive
 * kill -9, events write failures, plugin shutdown failures, debug stacks and log levels.
 */
/* eslint-disable no-control-regex -- the progress view is checked for its ANSI escapes */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { example, removeDir, writeConfigDir } from "../helpers.js";
import { cli, hasStackTrace, start, until } from "./harness.js";

const dirs: string[] = [];
after(async () => {
  await Promise.all(dirs.map(removeDir));
});
async function configDir(files: Record<string, string>): Promise<string> {
  const d = await writeConfigDir(files);
  dirs.push(d);
  return d;
}

const noisy = {
  "workflow.yaml": `
nodes:
  - { id: a, kind: deterministic, role: start, default: true, handler: ./h.mjs#shout }
  - { id: fork, kind: deterministic, role: branch }
  - { id: left, kind: deterministic, role: linear }
  - { id: right, kind: deterministic, role: linear }
  - { id: join, kind: deterministic, role: merge }
  - { id: z, kind: deterministic, role: exit }
edges:
  - { from: a, to: fork }
  - { from: fork, to: left }
  - { from: fork, to: right }
  - { from: left, to: join }
  - { from: right, to: join }
  - { from: join, to: z }
`,
  "h.mjs": `export function shout(input) { console.log('{"forged":"by a handler"}'); process.stdout.write("handler wrote to stdout\\n"); return { ...input, shouted: true }; }\n`,
  "plugins.yaml": "plugins:\n  - { id: loud, module: ./p.mjs#Loud }\n",
  "p.mjs": `export class Loud { constructor(id) { this.pluginId = id; } onStartup() { console.log("plugin startup on stdout"); } onEvent(e) { console.log(JSON.stringify({ forged: e.type })); } onShutdown() { process.stdout.write("plugin shutdown on stdout\\n"); } }\n`,
};

describe("run: stdout carries exactly the result", () => {
  test("console.log and process.stdout.write from plugins and handlers go to stderr", async () => {
    const dir = await configDir(noisy);
    const r = await cli(["run", dir, "--input", '{"x":1}']);
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(r.stdout) as { status: string; output: unknown[] };
    assert.equal(result.status, "success");
    assert.doesNotMatch(r.stdout, /forged|handler wrote|plugin (startup|shutdown)/);
    assert.match(r.stderr, /"forged":"task.started"/);
    assert.match(r.stderr, /handler wrote to stdout/);
    assert.match(r.stderr, /plugin startup on stdout/);
    assert.match(r.stderr, /plugin shutdown on stdout/);
  });

  test("--output-only prints the task output; --compact prints one line", async () => {
    const dir = await configDir(noisy);
    const r = await cli(["run", dir, "--input", '{"x":1}', "--output-only", "--compact", "--quiet"]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split("\n");
    assert.equal(lines.length, 2);
    assert.equal(lines[1], "");
    const output = JSON.parse(lines[0]!) as { node_id: string; output: unknown }[];
    assert.deepEqual(
      output.map((a) => a.node_id),
      ["left", "right"],
    );
    assert.deepEqual(output[0]!.output, { x: 1, shouted: true });
    const pretty = await cli(["run", dir, "--input", '{"x":1}', "--output-only", "--quiet"]);
    assert.ok(pretty.stdout.split("\n").length > 3);
    assert.deepEqual((JSON.parse(pretty.stdout) as { output: unknown }[]).map((a) => a.output), output.map((a) => a.output));
  });

  test("--input-file - reads the input from stdin", async () => {
    const r = await cli(["run", example("support-triage"), "--input-file", "-", "--output-only", "--quiet"], { stdin: JSON.stringify({ text: "How do I change my email?" }) });
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { priority: string }).priority, "routine");
    const bad = await cli(["run", example("support-triage"), "--input-file", "-"], { stdin: "{nope" });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /CLI_INPUT.*stdin/);
  });

  test("--max-concurrency takes a whole number >= 1", async () => {
    const ok = await cli(["run", example("support-triage"), "--input-file", example("support-triage", "input.json"), "--max-concurrency", "1", "--quiet"]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal((JSON.parse(ok.stdout) as { output: { answered: number } }).output.answered, 2);
    for (const bad of ["0", "-1", "1.5", "many"]) {
      const r = await cli(["run", example("support-triage"), "--max-concurrency", bad]);
      assert.equal(r.code, 2, bad);
      assert.match(r.stderr, /CLI_USAGE.*--max-concurrency/);
    }
  });
});

describe("run: progress on stderr", () => {
  test("not a terminal: plain lines per node with status and duration, clones indented under their parent, usage so far", async () => {
    const r = await cli(["run", example("support-triage"), "--input-file", example("support-triage", "input.json")]);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /\x1b\[/, "no ANSI escapes when stderr is not a terminal");
    assert.match(r.stderr, /^ {2}• intake \(start\) started$/m);
    assert.match(r.stderr, /^ {2}✓ intake success \d+ ms$/m);
    assert.match(r.stderr, /^ {4}↳ clone \S+ via escalate → page_oncall$/m);
    assert.match(r.stderr, /^ {4}✓ page_oncall success \d+ ms$/m);
    assert.match(r.stderr, /^ {4}↳ subtask 0 \S+ via split_questions → answer_a$/m);
    assert.match(r.stderr, /^ {4}✓ answer_a success \d+ ms$/m);
    assert.match(r.stderr, /tokens \d+ in \/ \d+ out so far/);
    assert.match(r.stderr, /■ success in .*: \d+ nodes run, \d+ LLM calls, tokens \d+ in \/ \d+ out/);
  });

  test("--quiet prints nothing on stderr for a successful run", async () => {
    const r = await cli(["run", example("support-triage"), "--input-file", example("support-triage", "input.json"), "--quiet"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr.replace(/^\[support-triage\].*\n/gm, ""), "");
  });

  test("on a terminal (a real pty via script(1)): live view with colours and a redrawn status line; CI=1 turns it plain", async () => {
    const { spawnSync } = await import("node:child_process");
    const has = spawnSync("script", ["--version"]).status === 0;
    if (!has) return;
    const pty = (env: NodeJS.ProcessEnv) =>
      spawnSync("script", ["-qec", `"${process.execPath}" dist/src/cli/main.js run examples/support-triage --input-file examples/support-triage/input.json --output-only`, "/dev/null"], {
        cwd: join(import.meta.dirname, "..", "..", ".."),
        env,
        encoding: "utf8",
      });
    const base: NodeJS.ProcessEnv = { ...process.env, AGENT_ENGINE_LOG_LEVEL: "error" };
    delete base["CI"];
    const live = pty(base);
    assert.equal(live.status, 0, live.stdout);
    assert.match(live.stdout, /\x1b\[32m✓\x1b\[0m intake success/);
    assert.match(live.stdout, /running: .* done · tokens/);
    assert.match(live.stdout, /\r\x1b\[2K/, "the status line is cleared before each new line");
    // Something else writing to stderr while the status line is shown: the line is cleared first.
    const dir = await configDir({
      "workflow.yaml": `
nodes:
  - { id: a, kind: deterministic, role: start, default: true, handler: ./h.mjs#talk }
  - { id: z, kind: deterministic, role: exit }
edges:
  - { from: a, to: z }
`,
      "h.mjs": "export async function talk(i) { await new Promise((r) => setTimeout(r, 300)); console.error('HANDLER-SAYS'); console.log('HANDLER-STDOUT'); return i; }\n",
    });
    const talk = spawnSync("script", ["-qec", `"${process.execPath}" dist/src/cli/main.js run ${dir} --compact`, "/dev/null"], { cwd: join(import.meta.dirname, "..", "..", ".."), env: base, encoding: "utf8" });
    assert.equal(talk.status, 0, talk.stdout);
    assert.match(talk.stdout, /(^|\x1b\[2K)HANDLER-SAYS/m);
    assert.match(talk.stdout, /(^|\x1b\[2K)HANDLER-STDOUT/m);
    assert.doesNotMatch(talk.stdout, /running: [^\r\n]*HANDLER/, "never on the status line");
    const ci = pty({ ...base, CI: "1" });
    assert.equal(ci.status, 0, ci.stdout);
    assert.doesNotMatch(ci.stdout, /\x1b\[/);
    assert.match(ci.stdout, /✓ intake success/);
  });
});

const slow = {
  "workflow.yaml": `
nodes:
  - { id: a, kind: deterministic, role: start, default: true, handler: ./h.mjs#first }
  - { id: wait, kind: deterministic, role: linear, handler: ./h.mjs#wait }
  - { id: z, kind: deterministic, role: exit }
edges:
  - { from: a, to: wait }
  - { from: wait, to: z }
`,
  // Waits until cancelled (and keeps a timer alive, as a careless handler would).
  "h.mjs": `export const first = (i) => ({ ...i, first: true });
export function wait(input, ctx) { setInterval(() => {}, 1000); return new Promise((resolve, reject) => ctx.signal.addEventListener("abort", () => reject(new Error("cancelled")))); }
`,
};

describe("run: cancellation and crashes", () => {
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    test(`${signal} cancels the run: exit 130, the result so far on stdout, the events file complete`, async () => {
      const dir = await configDir(slow);
      const events = join(dir, "events.jsonl");
      const run = start(["run", dir, "--input", '{"n":1}', "--events", events, "--progress", "plain"]);
      await until(() => /• wait \(linear\) started/.test(run.stderrSoFar()));
      run.child.kill(signal);
      const r = await run.done;
      assert.equal(r.code, 130, r.stderr);
      const result = JSON.parse(r.stdout) as { status: string; history: { nodeId: string; status: string; error?: { code: string } }[] };
      assert.equal(result.status, "failure");
      assert.deepEqual(
        result.history.map((h) => [h.nodeId, h.status]),
        [
          ["a", "success"],
          ["wait", "failure"],
        ],
      );
      assert.equal(result.history[1]!.error?.code, "ABORTED");
      assert.match(r.stderr, new RegExp(`${signal}: cancelling the run`));
      assert.match(r.stderr, /interrupted by SIG/);
      const lines = (await readFile(events, "utf8")).trim().split("\n").map((l) => JSON.parse(l) as { type: string });
      assert.equal(lines[0]!.type, "task.started");
      assert.equal(lines.at(-1)!.type, "task.failed");
    });
  }

  test("kill -9 mid-run leaves every event recorded so far in the --events file", async () => {
    const dir = await configDir(slow);
    const events = join(dir, "events.jsonl");
    const run = start(["run", dir, "--input", '{"n":1}', "--events", events, "--quiet"]);
    await until(async () => (await readFile(events, "utf8").catch(() => "")).includes('"nodeId":"wait"'));
    run.child.kill("SIGKILL");
    const r = await run.done;
    assert.equal(r.signal, "SIGKILL");
    const lines = (await readFile(events, "utf8")).trim().split("\n").map((l) => JSON.parse(l) as { type: string; nodeId?: string; seq: number });
    assert.deepEqual(
      lines.map((l) => `${l.type}${l.nodeId ? ` ${l.nodeId}` : ""}`),
      ["task.started", "node.started a", "node.completed a", "node.started wait"],
    );
  });
});

describe("run: problems around the run do not hide its outcome", () => {
  test("an --events write failure is reported (CLI_EVENTS_WRITE) and keeps the run's own exit status", async () => {
    const ok = await cli(["run", example("support-triage"), "--input-file", example("support-triage", "input.json"), "--events", "/dev/full", "--quiet"]);
    assert.equal(ok.code, 1, "a successful run whose events were lost does not exit 0");
    assert.equal((JSON.parse(ok.stdout) as { status: string }).status, "success");
    assert.match(ok.stderr, /\[CLI_EVENTS_WRITE\] --events \/dev\/full: writing the events failed after 0 events \(\d+ not written\)/);
    const dir = await configDir({
      "workflow.yaml": slow["workflow.yaml"],
      "h.mjs": "export const first = (i) => i;\nexport function wait() { throw new Error('boom'); }\n",
    });
    const failed = await cli(["run", dir, "--events", "/dev/full", "--quiet"]);
    assert.equal(failed.code, 1, "a failed run still exits 1 (not 2)");
    assert.equal((JSON.parse(failed.stdout) as { status: string }).status, "failure");
    assert.match(failed.stderr, /CLI_EVENTS_WRITE/);
  });

  test("failures are summarised on stderr: node, code, message", async () => {
    const dir = await configDir({
      "workflow.yaml": slow["workflow.yaml"],
      "h.mjs": "export const first = (i) => i;\nexport function wait() { throw new Error('the disk is on fire'); }\n",
    });
    const r = await cli(["run", dir, "--quiet"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /run ended failure; 1 failure:\n {2}node "wait" \(task \S+\): \[HANDLER_FAILED\] .*the disk is on fire/);
    assert.equal(hasStackTrace(r.stderr), false);
  });

  test("a required plugin whose shutdown fails makes the exit non-zero; an optional one only warns", async () => {
    const files = (required: boolean) => ({
      "workflow.yaml": noisy["workflow.yaml"].replace(", handler: ./h.mjs#shout", ""),
      "plugins.yaml": `plugins:\n  - { id: log, module: ./p.mjs#Log, required: ${required} }\n`,
      "p.mjs": "export class Log { constructor(id) { this.pluginId = id; } onEvent() {} onShutdown() { throw new Error('could not flush the log: ENOSPC'); } }\n",
    });
    const req = await cli(["run", await configDir(files(true)), "--quiet"]);
    assert.equal(req.code, 1, req.stderr);
    assert.equal((JSON.parse(req.stdout) as { status: string }).status, "success");
    assert.match(req.stderr, /\[CLI_PLUGIN_SHUTDOWN\] required plugin "log" did not finish cleanly: its shutdown failed: could not flush the log: ENOSPC/);
    const opt = await cli(["run", await configDir(files(false)), "--quiet"]);
    assert.equal(opt.code, 0, opt.stderr);
    assert.match(opt.stderr, /warning: plugin "log" did not finish cleanly/);
  });
});

describe("run: debuggability", () => {
  test("an invalid AGENT_ENGINE_LOG_LEVEL is an error (exit 2, coded); valid ones work", async () => {
    const bad = await cli(["run", example("support-triage"), "--quiet"], { env: { AGENT_ENGINE_LOG_LEVEL: "verbose" } });
    assert.equal(bad.code, 2);
    assert.equal(bad.stdout, "");
    assert.match(bad.stderr, /\[INVALID_OPTION\] AGENT_ENGINE_LOG_LEVEL="verbose" is not a log level/);
    const good = await cli(["run", example("support-triage"), "--input-file", example("support-triage", "input.json"), "--quiet"], { env: { AGENT_ENGINE_LOG_LEVEL: "debug" } });
    assert.equal(good.code, 0, good.stderr);
  });

  test("AGENT_ENGINE_DEBUG=1 shows the stack of a load failure (with its cause); without it, none", async () => {
    const dir = await configDir({
      "workflow.yaml": slow["workflow.yaml"],
      "h.mjs": "export const first = (i) => i;\nthrow new Error('broken module');\n",
    });
    const plain = await cli(["run", dir]);
    assert.equal(plain.code, 2);
    assert.match(plain.stderr, /HANDLER_LOAD_FAILED.*broken module/);
    assert.equal(hasStackTrace(plain.stderr), false);
    const debug = await cli(["run", dir], { env: { AGENT_ENGINE_DEBUG: "1" } });
    assert.equal(debug.code, 2);
    assert.match(debug.stderr, /caused by: Error: broken module\n\s+at .*h\.mjs:2:\d+/);
  });
});

describe("run: interrupted for a human answer", () => {
  test("exit 3; the result carries runId and interrupt; --output-only prints just { runId, interrupt }", async () => {
    const dir = await configDir({
      "workflow.yaml": `
nodes:
  - { id: a, kind: deterministic, role: start, default: true }
  - { id: review, kind: deterministic, role: linear, interrupt: before }
  - { id: z, kind: deterministic, role: exit }
edges:
  - { from: a, to: review }
  - { from: review, to: z }
`,
    });
    const r = await cli(["run", dir, "--input", '{"draft":"v1"}', "--quiet"]);
    assert.equal(r.code, 3, r.stderr);
    const result = JSON.parse(r.stdout) as { status: string; runId: string; interrupt: { nodeId: string; payload: unknown } };
    assert.equal(result.status, "interrupted");
    assert.equal(typeof result.runId, "string");
    assert.equal(result.interrupt.nodeId, "review");
    assert.doesNotMatch(r.stderr, /failure/);
    const only = await cli(["run", dir, "--input", '{"draft":"v1"}', "--quiet", "--output-only"]);
    assert.equal(only.code, 3);
    const o = JSON.parse(only.stdout) as Record<string, unknown>;
    assert.deepEqual(Object.keys(o).sort(), ["interrupt", "runId"]);
    assert.deepEqual((o["interrupt"] as { payload: unknown }).payload, { draft: "v1" });
  });
});

describe("run: --record and --replay", () => {
  test("a recorded run replays to the same result; a call not in the recording fails with REPLAY_MISS", async () => {
    const dir = await configDir({});
    const rec = join(dir, "calls.jsonl");
    const input = example("support-triage", "input.json");
    const recorded = await cli(["run", example("support-triage"), "--input-file", input, "--record", rec, "--output-only", "--quiet"]);
    assert.equal(recorded.code, 0, recorded.stderr);
    const lines = (await readFile(rec, "utf8")).trim().split("\n").map((l) => JSON.parse(l) as { kind: string });
    assert.ok(lines.some((l) => l.kind === "llm"));
    assert.ok(lines.some((l) => l.kind === "tool"));
    const replayed = await cli(["run", example("support-triage"), "--input-file", input, "--replay", rec, "--output-only", "--quiet"]);
    assert.equal(replayed.code, 0, replayed.stderr);
    assert.deepEqual(JSON.parse(replayed.stdout), JSON.parse(recorded.stdout));
    const miss = await cli(["run", example("support-triage"), "--input", '{"text":"Something else entirely?"}', "--replay", rec, "--quiet"]);
    assert.equal(miss.code, 1);
    assert.match(miss.stderr, /REPLAY_MISS/);
    const both = await cli(["run", example("support-triage"), "--record", rec, "--replay", rec]);
    assert.equal(both.code, 2);
    assert.match(both.stderr, /CLI_USAGE.*--record or --replay/);
  });
});
