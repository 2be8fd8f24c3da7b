/** The `anthropic` (Messages API) wire protocol over real HTTP against the fake server. */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { startFakeAnthropic, type FakeLlmServer, type FakeServerOptions } from "../../../test/llm-servers/fakeLlmServer.js";
import type { ChatMessage, LlmRequest } from "./contract.js";
import { createHttpProvider, LlmError, PROVIDER_DEFAULTS } from "./index.js";

const servers: FakeLlmServer[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
});
async function server(replies: FakeServerOptions["replies"]): Promise<FakeLlmServer> {
  const s = await startFakeAnthropic({ replies, model: "claude-fake" });
  servers.push(s);
  return s;
}
const env = { ANTHROPIC_KEY: "sk-ant-xyz" };
const signal = new AbortController().signal;
const tools = [{ name: "docs", description: "Search the docs", parameters: { type: "object", properties: { q: { type: "string" } } } }];
const provider = (s: FakeLlmServer, base = s.url) => createHttpProvider({ id: "claude", type: "anthropic", base_url: base, api_key_env: "ANTHROPIC_KEY" }, env);

test("request encoding: headers, top-level system, max_tokens default, tools as input_schema", async () => {
  const s = await server([{ type: "text", text: "hi" }]);
  await provider(s).complete({
    agent: "a",
    model: "claude-x",
    messages: [{ role: "system", content: "rule 1" }, { role: "system", content: "rule 2" }, { role: "user", content: "hello" }],
    tools,
    responseFormat: { type: "json_schema", name: "answer", schema: { type: "object" } },
    temperature: 0.2,
    signal,
  });
  const req = s.requests[0]!;
  assert.equal(req.path, "/v1/messages");
  assert.equal(req.headers["x-api-key"], "sk-ant-xyz");
  assert.equal(req.headers["anthropic-version"], "2023-06-01");
  assert.equal(req.headers.authorization, undefined);
  assert.deepEqual(req.body, {
    model: "claude-x",
    max_tokens: PROVIDER_DEFAULTS.anthropicMaxTokens,
    system: "rule 1\n\nrule 2",
    messages: [{ role: "user", content: [{ type: "text", text: "hello" }] }],
    tools: [{ name: "docs", description: "Search the docs", input_schema: tools[0]!.parameters }],
    temperature: 0.2,
  });
});

test("maxTokens is sent as max_tokens; a base_url ending in /v1 is accepted; headers override defaults", async () => {
  const s = await server([{ type: "text", text: "hi" }]);
  const p = createHttpProvider({ id: "c", type: "anthropic", base_url: `${s.url}/v1/`, api_key_env: "ANTHROPIC_KEY", headers: { "anthropic-version": "2099-01-01", "anthropic-beta": "b1" } }, env);
  await p.complete({ agent: "a", model: "m", messages: [{ role: "user", content: "q" }], maxTokens: 10, signal });
  const req = s.requests[0]!;
  assert.equal(req.path, "/v1/messages");
  assert.equal((req.body as { max_tokens: number }).max_tokens, 10);
  assert.equal(req.headers["anthropic-version"], "2099-01-01");
  assert.equal(req.headers["anthropic-beta"], "b1");
});

test("response decoding: text blocks joined, stop_reason, model, usage with cache reads", async () => {
  const s = await server([{ type: "text", text: "answer", usage: { input: 120, output: 30, cached: 100 }, finishReason: "max_tokens" }]);
  const res = await provider(s).complete({ agent: "a", model: "m", messages: [{ role: "user", content: "q" }], signal });
  // inputTokens counts all input, cached included (input_tokens 20 + cache_read 100)
  assert.deepEqual(res, { content: "answer", finishReason: "max_tokens", model: "claude-fake", usage: { inputTokens: 120, outputTokens: 30, cachedInputTokens: 100 } });
});

test("parallel tool_use blocks, then all tool results in one user message, errors flagged", async () => {
  const s = await server([
    { type: "tools", text: "Let me look.", calls: [{ id: "toolu_a", name: "docs", args: { q: "one" } }, { id: "toolu_b", name: "docs", args: { q: "two" } }], usage: { input: 9, output: 4 } },
    { type: "text", text: "final" },
  ]);
  const p = provider(s);
  const first: LlmRequest = { agent: "a", model: "m", messages: [{ role: "system", content: "s" }, { role: "user", content: "q" }], tools, signal };
  const r1 = await p.complete(first);
  assert.equal(r1.content, "Let me look.");
  assert.equal(r1.finishReason, "tool_use");
  assert.deepEqual(r1.toolCalls, [
    { id: "toolu_a", name: "docs", args: { q: "one" } },
    { id: "toolu_b", name: "docs", args: { q: "two" } },
  ]);
  const history: ChatMessage[] = [
    ...first.messages,
    { role: "assistant", content: r1.content, toolCalls: r1.toolCalls! },
    { role: "tool", toolCallId: "toolu_a", name: "docs", content: '{"hits": 1}' },
    { role: "tool", toolCallId: "toolu_b", name: "docs", content: '{"error": {"code": "TOOL_FAILED", "message": "boom"}}', isError: true },
  ];
  const r2 = await p.complete({ ...first, messages: history });
  assert.equal(r2.content, "final");
  const body = s.requests[1]!.body as { system: string; messages: unknown[] };
  assert.equal(body.system, "s");
  assert.deepEqual(body.messages, [
    { role: "user", content: [{ type: "text", text: "q" }] },
    {
      role: "assistant",
      content: [
        { type: "text", text: "Let me look." },
        { type: "tool_use", id: "toolu_a", name: "docs", input: { q: "one" } },
        { type: "tool_use", id: "toolu_b", name: "docs", input: { q: "two" } },
      ],
    },
    {
      role: "user",
      content: [
        { type: "tool_result", tool_use_id: "toolu_a", content: '{"hits": 1}' },
        { type: "tool_result", tool_use_id: "toolu_b", content: '{"error": {"code": "TOOL_FAILED", "message": "boom"}}', is_error: true },
      ],
    },
  ]);
});

test("an assistant turn with only tool calls sends no empty text block; a user message after tool results joins them", async () => {
  const s = await server([{ type: "text", text: "ok" }]);
  await provider(s).complete({
    agent: "a",
    model: "m",
    messages: [
      { role: "user", content: "q" },
      { role: "assistant", content: "", toolCalls: [{ id: "t1", name: "docs", args: { q: "x" } }] },
      { role: "tool", toolCallId: "t1", name: "docs", content: "r" },
      { role: "user", content: "Your reply was not valid JSON; try again." },
    ],
    signal,
  });
  const msgs = (s.requests[0]!.body as { messages: unknown[] }).messages;
  assert.deepEqual(msgs.slice(1), [
    { role: "assistant", content: [{ type: "tool_use", id: "t1", name: "docs", input: { q: "x" } }] },
    { role: "user", content: [{ type: "tool_result", tool_use_id: "t1", content: "r" }, { type: "text", text: "Your reply was not valid JSON; try again." }] },
  ]);
});

test("tool arguments that are not an object (kept raw from another protocol) are wrapped as an object", async () => {
  const s = await server([{ type: "text", text: "ok" }]);
  await provider(s).complete({
    agent: "a",
    model: "m",
    messages: [
      { role: "user", content: "q" },
      { role: "assistant", content: "", toolCalls: [{ id: "t1", name: "docs", args: "{bad" }] },
      { role: "tool", toolCallId: "t1", name: "docs", content: "r", isError: true },
    ],
    signal,
  });
  const msgs = (s.requests[0]!.body as { messages: { content: unknown[] }[] }).messages;
  assert.deepEqual(msgs[1]!.content[0], { type: "tool_use", id: "t1", name: "docs", input: { _raw: "{bad" } });
});

test("the server's error type and message are in the LlmError", async () => {
  const s = await server([{ type: "error", status: 400, message: "messages: roles must alternate" }]);
  await assert.rejects(provider(s).complete({ agent: "a", model: "m", messages: [{ role: "user", content: "q" }], signal }), (err: unknown) => {
    assert.ok(err instanceof LlmError);
    assert.match(err.message, /HTTP 400: messages: roles must alternate \[api_error\]/);
    return true;
  });
});
