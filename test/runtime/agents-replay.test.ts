/**
 * Record and replay (CONTRACT §8) and secrets end to end: a real fake OpenAI server that echoes
 * the API key back, the real HTTP provider, real tool modules, real files.
 */
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { Engine } from "../../src/runtime/Engine.js";
import { silentLogger } from "../../src/telemetry/logger.js";
import { startFakeOpenAi } from "../llm-servers/fakeLlmServer.js";
import { normalizeEvents, normalizeResult } from "../normalize.js";
import { example, removeDir, writeConfigDir } from "../helpers.js";
import { cli } from "../cli/harness.js";

const WF = `
nodes:
  - { id: begin, kind: deterministic, role: start }
  - { id: research, kind: agent, agent: researcher, role: linear }
  - { id: done, kind: deterministic, role: exit }
edges:
  - { from: begin, to: research }
  - { from: research, to: done }
`;
const TOOLS = `
tools:
  - id: counter
    handler: ./tools.mjs#counter
    schema: { type: object, required: [n], properties: { n: { type: integer } } }
`;
// A tool with a side effect: it appends to a file. Replay must not run it.
const TOOLS_MJS = `
import { appendFileSync } from "node:fs";
export function counter(args, ctx) { appendFileSync(new URL("./side-effects.txt", import.meta.url), "x"); return { doubled: args.n * 2 }; }
`;
const AGENTS = `
providers:
  - id: offline
    type: scripted
    rules:
      - { agent: researcher, step: 1, tool_calls: [{ id: c1, name: counter, args: { n: 21 } }, { id: c2, name: counter, args: { n: 1 } }] }
      - { agent: researcher, step: 2, response: { answer: "42" }, usage: { input_tokens: 30, output_tokens: 5 } }
pricing:
  m1: { input: 1, output: 2 }
agents:
  - { id: researcher, model: m1, prompt: "Q: {{input.q}}", tools: [counter], output: json }
`;

describe("record and replay", () => {
  it("regression: replayed tool events are capped like live ones, so long arguments and results replay to the same event stream", async () => {
    const dir = await writeConfigDir({
      "workflow.yaml": `
nodes:
  - { id: begin, kind: deterministic, role: start }
  - { id: work, kind: deterministic, role: linear, handler: ./h.mjs#work, tools: [echo] }
  - { id: done, kind: deterministic, role: exit }
edges:
  - { from: begin, to: work }
  - { from: work, to: done }
`,
      "tools.yaml": "tools:\n  - { id: echo, handler: ./tools.mjs#echo }\n",
      "tools.mjs": "export const echo = (args) => ({ text: args.text + 'b'.repeat(3000) });\n",
      "h.mjs": "export async function work(input, ctx) { const r = await ctx.callTool('echo', { text: 'a'.repeat(3000) }); return { length: r.text.length }; }\n",
    });
    const path = join(dir, "run.jsonl");
    try {
      const rec = await Engine.fromConfigDir(dir, { logger: silentLogger, recording: { mode: "record", path } });
      const recorded = await rec.run({});
      const recordedEvents = rec.getEvents();
      await rec.shutdown();
      assert.deepEqual(recorded.output, { length: 6000 });
      const invoked = recordedEvents.find((e) => e.type === "tool.invoked")!.payload as unknown as { args: { text: string } };
      assert.match(invoked.args.text, /truncated: 3000 chars/);
      const rep = await Engine.fromConfigDir(dir, { logger: silentLogger, recording: { mode: "replay", path } });
      const replayed = await rep.run({});
      const replayedEvents = rep.getEvents();
      await rep.shutdown();
      assert.deepEqual(normalizeResult(replayed), normalizeResult(recorded), "the handler still gets the whole result");
      assert.deepEqual(normalizeEvents(replayedEvents), normalizeEvents(recordedEvents));
    } finally {
      await removeDir(dir);
    }
  });

  it("a replayed run equals the recorded one (results and normalized events), with no tool side effect", async () => {
    const dir = await writeConfigDir({ "workflow.yaml": WF, "tools.yaml": TOOLS, "tools.mjs": TOOLS_MJS, "agents.yaml": AGENTS });
    const path = join(dir, "rec", "run.jsonl");
    try {
      const rec = await Engine.fromConfigDir(dir, { logger: silentLogger, recording: { mode: "record", path } });
      const recorded = await rec.run({ q: "meaning" });
      const recordedEvents = rec.getEvents();
      await rec.shutdown();
      assert.equal(recorded.status, "success", JSON.stringify(recorded.error));
      assert.equal(await readFile(join(dir, "side-effects.txt"), "utf8"), "xx");
      const lines = (await readFile(path, "utf8")).trim().split("\n").map((l) => JSON.parse(l) as { kind: string; key: string; request: unknown });
      assert.deepEqual(lines.map((l) => l.kind).sort(), ["llm", "llm", "tool", "tool"]);
      assert.ok(lines.every((l) => /^[0-9a-f]{64}$/.test(l.key)));

      // Replay: the scripted rules are gone (a provider that would fail), the tool would leave a trace.
      await writeFile(join(dir, "agents.yaml"), AGENTS.replace(/rules:[\s\S]*?pricing:/, "rules: []\npricing:"));
      const rep = await Engine.fromConfigDir(dir, { logger: silentLogger, recording: { mode: "replay", path } });
      const replayed = await rep.run({ q: "meaning" });
      const replayedEvents = rep.getEvents();
      await rep.shutdown();
      assert.equal(await readFile(join(dir, "side-effects.txt"), "utf8"), "xx", "replay must not run the tool");
      assert.deepEqual(normalizeResult(replayed), normalizeResult(recorded));
      assert.deepEqual(normalizeEvents(replayedEvents), normalizeEvents(recordedEvents));
      assert.deepEqual(replayed.usage, recorded.usage);

      // A different request: REPLAY_MISS naming the agent and the differing field.
      const rep2 = await Engine.fromConfigDir(dir, { logger: silentLogger, recording: { mode: "replay", path } });
      const missed = await rep2.run({ q: "other question" });
      await rep2.shutdown();
      assert.equal(missed.error?.code, "REPLAY_MISS");
      assert.match(missed.error!.message, /agent "researcher".*differs in: messages\[0\]\.content/);
    } finally {
      await removeDir(dir);
    }
  });

  it("a bad recording line is RECORDING_INVALID naming file and line", async () => {
    const dir = await writeConfigDir({ "workflow.yaml": WF, "tools.yaml": TOOLS, "tools.mjs": TOOLS_MJS, "agents.yaml": AGENTS, "bad.jsonl": '{"kind":"llm","key":"k","request":{},"response":{}}\nnot json\n' });
    try {
      await assert.rejects(Engine.fromConfigDir(dir, { logger: silentLogger, recording: { mode: "replay", path: join(dir, "bad.jsonl") } }), (err: { code?: string; details?: { line?: number }[] }) => {
        assert.equal(err.code, "RECORDING_INVALID");
        assert.equal(err.details?.[0]?.line, 2);
        return true;
      });
    } finally {
      await removeDir(dir);
    }
  });
});

describe("secrets", () => {
  it("an API key echoed back by the server never reaches events, results, errors or recordings", async () => {
    const KEY = "sk-test-SECRET-0123456789abcdef";
    const server = await startFakeOpenAi({
      replies: (req, i) =>
        i === 0
          ? { type: "text", text: `your key is ${String(req.headers["authorization"]).replace("Bearer ", "")}`, usage: { input: 3, output: 4 } }
          : { type: "error", status: 400, message: "bad request", echoKey: true },
    });
    const agents = `
providers:
  - { id: remote, type: openai, base_url: "${server.url}", api_key_env: SECRET_TEST_KEY, retries: 0 }
agents:
  - { id: researcher, model: gpt-test, prompt: "Q: {{input.q}}" }
`;
    const dir = await writeConfigDir({ "workflow.yaml": WF, "agents.yaml": agents });
    const path = join(dir, "rec.jsonl");
    process.env["SECRET_TEST_KEY"] = KEY;
    try {
      const engine = await Engine.fromConfigDir(dir, { logger: silentLogger, recording: { mode: "record", path } });
      const ok = await engine.run({ q: "who am i" });
      const failed = await engine.run({ q: "again" });
      const events = engine.getEvents();
      await engine.shutdown();
      assert.equal(server.requests[0]!.headers["authorization"], `Bearer ${KEY}`, "the key is sent to the server");
      assert.equal(ok.status, "success");
      assert.match(String(ok.output), /your key is \[REDACTED\]/);
      assert.equal(failed.error?.code, "LLM_FAILED");
      const everything = JSON.stringify([ok, failed, events]) + (await readFile(path, "utf8"));
      assert.ok(!everything.includes(KEY), "the key leaked");
      assert.ok(everything.includes("[REDACTED]"));
    } finally {
      delete process.env["SECRET_TEST_KEY"];
      await server.close();
      await removeDir(dir);
    }
  });
});

describe("secrets from the command line", () => {
  it("an echoed key reaches neither stdout, stderr (progress and debug logs), the events file nor the recording", async () => {
    const KEY = "sk-cli-SECRET-9876543210fedcba";
    const server = await startFakeOpenAi({
      replies: (req, i) =>
        i === 0
          ? { type: "error", status: 500, message: "upstream hiccup", echoKey: true, retryAfterMs: "5" }
          : i === 1
            ? { type: "text", text: `your key is ${String(req.headers["authorization"]).replace("Bearer ", "")}` }
            : { type: "error", status: 401, message: "invalid key", echoKey: true },
    });
    const agents = `
providers:
  - { id: remote, type: openai, base_url: "${server.url}", api_key_env: CLI_SECRET_KEY, retries: 1 }
agents:
  - { id: researcher, model: gpt-test, prompt: "Q: {{input.q}}" }
`;
    const dir = await writeConfigDir({ "workflow.yaml": WF, "agents.yaml": agents });
    try {
      const env = { CLI_SECRET_KEY: KEY, AGENT_ENGINE_LOG_LEVEL: "debug" };
      const args = (n: number): string[] => ["run", dir, "--input", '{"q":"who am i"}', "--store", "memory", "--progress", "plain", "--events", join(dir, `ev${n}.jsonl`), "--record", join(dir, `rec${n}.jsonl`)];
      const ok = await cli(args(1), { env });
      const failed = await cli(args(2), { env });
      assert.equal(ok.code, 0, ok.stderr);
      assert.equal(failed.code, 1, failed.stderr);
      assert.equal(server.requests[0]!.headers["authorization"], `Bearer ${KEY}`, "the key is sent to the server");
      const files = await Promise.all(["ev1.jsonl", "rec1.jsonl", "ev2.jsonl", "rec2.jsonl"].map((f) => readFile(join(dir, f), "utf8")));
      const everything = [ok.stdout, ok.stderr, failed.stdout, failed.stderr, ...files].join("\n");
      assert.ok(!everything.includes(KEY), "the key leaked");
      assert.match(ok.stdout, /your key is \[REDACTED\]/);
      assert.match(files[0]!, /"agent\.retry"/, "the retry (whose server message echoed the key) is recorded");
      assert.match(failed.stdout + failed.stderr, /LLM_FAILED/);
    } finally {
      await server.close();
      await removeDir(dir);
    }
  });
});

describe("examples/agent-tools", () => {
  it("runs offline: the agent calls the tool and returns schema-checked JSON, with usage and cost", async () => {
    const dir = example("agent-tools");
    const engine = await Engine.fromConfigDir(dir, { logger: silentLogger });
    const input = JSON.parse(await readFile(join(dir, "input.json"), "utf8")) as unknown;
    const result = await engine.run(input);
    const events = engine.getEvents();
    await engine.shutdown();
    assert.equal(result.status, "success", JSON.stringify(result.error));
    assert.deepEqual(result.output, { order_id: "A-1001", status: "shipped", reply: "Your order A-1001 has shipped and should arrive on 2026-12-03." });
    const req = events.find((e) => e.type === "agent.request")!.payload as unknown as { tools: { name: string }[] };
    assert.deepEqual(req.tools.map((t) => t.name), ["orders_lookup"]);
    assert.deepEqual(result.history[1]!.toolCalls.map((c) => [c.tool, c.status, c.result]), [["orders.lookup", "success", { order_id: "A-1001", status: "shipped", eta: "2026-12-03" }]]);
    assert.deepEqual(result.usage, { llmCalls: 2, inputTokens: 300, outputTokens: 45, cachedInputTokens: 0, reasoningTokens: 0, costUsd: 0.000192 });
  });
});
