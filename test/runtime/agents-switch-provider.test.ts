/**
 * examples/agent-tools on real wire protocols: the same workflow, tools and schemas, with only
 * agents.yaml changed (as the README shows), against local servers on 127.0.0.1 speaking the
 * OpenAI Chat Completions and the Anthropic Messages protocols. The model calls the tool through
 * the engine, then answers with JSON that is checked against schema_out.
 */
import assert from "node:assert/strict";
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { Engine } from "../../src/runtime/Engine.js";
import { silentLogger } from "../../src/telemetry/logger.js";
import { example } from "../helpers.js";
import { startFakeAnthropic, startFakeOpenAi, type FakeLlmServer, type FakeReply } from "../llm-servers/fakeLlmServer.js";

const ANSWER = { order_id: "A-1001", status: "shipped", reply: "Your order A-1001 has shipped and should arrive on 2026-12-03." };
const SCRIPT: FakeReply[] = [
  { type: "tools", calls: [{ id: "call_1", name: "orders_lookup", args: { order_id: "A-1001" } }], usage: { input: 120, output: 15 } },
  { type: "text", text: JSON.stringify(ANSWER), usage: { input: 180, output: 30 } },
];

// The agents.yaml of examples/agent-tools/README.md, with the base_url of the local server.
const AGENT = `
agents:
  - id: support_agent
    model: MODEL
    system: "You answer customers about their orders. Use the orders.lookup tool."
    prompt: "Customer message: {{input.message}}"
    tools: [orders.lookup]
    output: json
    schema_out: support_answer
    max_steps: 4
    max_cost_usd: 0.05
`;
const OPENAI = (url: string): string => `
default_provider: openai
providers:
  - { id: openai, type: openai, base_url: "${url}", api_key_env: SWITCH_TEST_KEY }
pricing:
  gpt-4.1-mini: { input: 0.40, output: 1.60, cached_input: 0.10 }
${AGENT.replace("MODEL", "gpt-4.1-mini")}`;
const ANTHROPIC = (url: string): string => `
default_provider: claude
providers:
  - { id: claude, type: anthropic, base_url: "${url}", api_key_env: SWITCH_TEST_KEY }
pricing:
  claude-sonnet-4-5: { input: 3.00, output: 15.00, cached_input: 0.30 }
${AGENT.replace("MODEL", "claude-sonnet-4-5")}`;

const servers: FakeLlmServer[] = [];
const dirs: string[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function runExampleWith(agentsYaml: string): Promise<Awaited<ReturnType<Engine["run"]>>> {
  const dir = await mkdtemp(join(tmpdir(), "agent-engine-switch-"));
  dirs.push(dir);
  await cp(example("agent-tools"), dir, { recursive: true });
  await writeFile(join(dir, "agents.yaml"), agentsYaml);
  process.env["SWITCH_TEST_KEY"] = "sk-switch-test";
  try {
    const engine = await Engine.fromConfigDir(dir, { logger: silentLogger });
    try {
      return await engine.run(JSON.parse(await readFile(join(dir, "input.json"), "utf8")));
    } finally {
      await engine.shutdown();
    }
  } finally {
    delete process.env["SWITCH_TEST_KEY"];
  }
}

describe("examples/agent-tools with only agents.yaml changed", () => {
  it("on an OpenAI-compatible endpoint: tools declared, the tool call run by the engine, the JSON answer schema-checked, cost from pricing", async () => {
    const srv = await startFakeOpenAi({ replies: [...SCRIPT] });
    servers.push(srv);
    const result = await runExampleWith(OPENAI(srv.url));
    assert.equal(result.status, "success", JSON.stringify(result.error));
    assert.deepEqual(result.output, ANSWER);
    assert.deepEqual(result.history[1]!.toolCalls.map((c) => [c.tool, c.status]), [["orders.lookup", "success"]]);
    const first = srv.requests[0]!.body as { tools: { function: { name: string; parameters: unknown } }[]; response_format: { json_schema: { name: string } } };
    assert.deepEqual(first.tools.map((t) => t.function.name), ["orders_lookup"]);
    assert.equal(first.response_format.json_schema.name, "support_answer");
    const second = srv.requests[1]!.body as { messages: { role: string; tool_call_id?: string; content: string }[] };
    assert.deepEqual(JSON.parse(second.messages.find((m) => m.role === "tool" && m.tool_call_id === "call_1")!.content), { order_id: "A-1001", status: "shipped", eta: "2026-12-03" });
    assert.deepEqual(result.usage, { llmCalls: 2, inputTokens: 300, outputTokens: 45, cachedInputTokens: 0, reasoningTokens: 0, costUsd: 0.000192 });
  });

  it("on Anthropic: the same, as tool_use / tool_result blocks and the schema in the instructions", async () => {
    const srv = await startFakeAnthropic({ replies: [...SCRIPT] });
    servers.push(srv);
    const result = await runExampleWith(ANTHROPIC(srv.url));
    assert.equal(result.status, "success", JSON.stringify(result.error));
    assert.deepEqual(result.output, ANSWER);
    assert.deepEqual(result.history[1]!.toolCalls.map((c) => [c.tool, c.status]), [["orders.lookup", "success"]]);
    const first = srv.requests[0]!.body as { system: string; tools: { name: string }[] };
    assert.deepEqual(first.tools.map((t) => t.name), ["orders_lookup"]);
    assert.match(first.system, /matching this JSON Schema/);
    const second = srv.requests[1]!.body as { messages: { role: string; content: { type: string; tool_use_id?: string }[] | string }[] };
    const results = second.messages.flatMap((m) => (Array.isArray(m.content) ? m.content : [])).filter((b) => b.type === "tool_result");
    assert.deepEqual(results.map((b) => b.tool_use_id), ["call_1"]);
    assert.equal(result.usage?.costUsd, 0.001575); // 300 x $3 + 45 x $15 per million
  });
});
