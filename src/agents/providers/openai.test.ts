/** The `openai` (Chat Completions) wire protocol over real HTTP against the fake server. */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { startFakeOpenAi, type FakeLlmServer, type FakeServerOptions } from "../../../test/llm-servers/fakeLlmServer.js";
import type { ChatMessage, LlmRequest } from "./contract.js";
import { createHttpProvider, LlmError } from "./index.js";

const servers: FakeLlmServer[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
});
async function server(replies: FakeServerOptions["replies"]): Promise<FakeLlmServer> {
  const s = await startFakeOpenAi({ replies, model: "gpt-fake-2026" });
  servers.push(s);
  return s;
}
const signal = new AbortController().signal;
const tools = [
  { name: "docs", description: "Search the docs", parameters: { type: "object", properties: { q: { type: "string" } }, required: ["q"] } },
  { name: "fetch", parameters: { type: "object", properties: { url: { type: "string" } } } },
];

test("request encoding: auth, model, messages, tools, response_format, temperature, max_tokens", async () => {
  const s = await server([{ type: "text", text: "{}" }]);
  const p = createHttpProvider({ id: "oa", type: "openai", base_url: s.url + "/", api_key_env: "K", headers: { "OpenAI-Organization": "org-1" } }, { K: "sk-abc" });
  await p.complete({
    agent: "a",
    model: "gpt-4.1-mini",
    messages: [{ role: "system", content: "be brief" }, { role: "user", content: "hi" }],
    tools,
    responseFormat: { type: "json_schema", name: "answer", schema: { type: "object", properties: { a: { type: "string" } } } },
    temperature: 0,
    maxTokens: 99,
    signal,
  });
  const req = s.requests[0]!;
  assert.equal(req.path, "/v1/chat/completions");
  assert.equal(req.headers.authorization, "Bearer sk-abc");
  assert.equal(req.headers["content-type"], "application/json");
  assert.equal(req.headers["openai-organization"], "org-1");
  assert.deepEqual(req.body, {
    model: "gpt-4.1-mini",
    messages: [{ role: "system", content: "be brief" }, { role: "user", content: "hi" }],
    tools: [
      { type: "function", function: { name: "docs", description: "Search the docs", parameters: tools[0]!.parameters } },
      { type: "function", function: { name: "fetch", parameters: tools[1]!.parameters } },
    ],
    response_format: { type: "json_schema", json_schema: { name: "answer", schema: { type: "object", properties: { a: { type: "string" } } } } },
    temperature: 0,
    max_tokens: 99,
  });
});

test("no api_key_env (a local server): no Authorization header, optional fields left out", async () => {
  const s = await server([{ type: "text", text: "hello" }]);
  const p = createHttpProvider({ id: "ollama", type: "openai", base_url: s.url }, {});
  const res = await p.complete({ agent: "a", model: "llama3", messages: [{ role: "user", content: "hi" }], signal });
  assert.equal(s.requests[0]!.headers.authorization, undefined);
  assert.deepEqual(Object.keys(s.requests[0]!.body as object).sort(), ["messages", "model"]);
  assert.deepEqual(res, { content: "hello", finishReason: "stop", model: "gpt-fake-2026" });
});

test("response decoding: text, finish_reason, model and usage with cached and reasoning tokens", async () => {
  const s = await server([{ type: "text", text: "answer", usage: { input: 120, output: 30, cached: 100, reasoning: 12 }, finishReason: "length" }]);
  const p = createHttpProvider({ id: "oa", type: "openai", base_url: s.url }, {});
  const res = await p.complete({ agent: "a", model: "m", messages: [{ role: "user", content: "q" }], signal });
  assert.deepEqual(res, {
    content: "answer",
    finishReason: "length",
    model: "gpt-fake-2026",
    usage: { inputTokens: 120, outputTokens: 30, cachedInputTokens: 100, reasoningTokens: 12 },
  });
});

test("usage without details has no cached/reasoning fields", async () => {
  const s = await server([{ type: "text", text: "x", usage: { input: 5, output: 2 } }]);
  const res = await createHttpProvider({ id: "oa", type: "openai", base_url: s.url }, {}).complete({ agent: "a", model: "m", messages: [{ role: "user", content: "q" }], signal });
  assert.deepEqual(res.usage, { inputTokens: 5, outputTokens: 2 });
});

test("parallel tool calls, malformed arguments kept raw, then the results round-trip as role: tool", async () => {
  const s = await server([
    {
      type: "tools",
      calls: [
        { id: "call_a", name: "docs", args: { q: "retries" } },
        { id: "call_b", name: "fetch", args: { url: "http://x" } },
        { id: "call_c", name: "docs", rawArgs: '{"q": "unterminated' },
      ],
      usage: { input: 10, output: 5 },
    },
    { type: "text", text: "final" },
  ]);
  const p = createHttpProvider({ id: "oa", type: "openai", base_url: s.url }, {});
  const first: LlmRequest = { agent: "a", model: "m", messages: [{ role: "system", content: "s" }, { role: "user", content: "q" }], tools, signal };
  const r1 = await p.complete(first);
  assert.equal(r1.content, "");
  assert.equal(r1.finishReason, "tool_calls");
  assert.deepEqual(r1.toolCalls, [
    { id: "call_a", name: "docs", args: { q: "retries" } },
    { id: "call_b", name: "fetch", args: { url: "http://x" } },
    { id: "call_c", name: "docs", args: '{"q": "unterminated' },
  ]);
  const history: ChatMessage[] = [
    ...first.messages,
    { role: "assistant", content: r1.content, toolCalls: r1.toolCalls! },
    { role: "tool", toolCallId: "call_a", name: "docs", content: '{"hits": 3}' },
    { role: "tool", toolCallId: "call_b", name: "fetch", content: '{"error": {"code": "TOOL_FAILED", "message": "boom"}}', isError: true },
    { role: "tool", toolCallId: "call_c", name: "docs", content: '{"error": {"code": "TOOL_ARGS", "message": "not JSON"}}', isError: true },
  ];
  const r2 = await p.complete({ ...first, messages: history });
  assert.equal(r2.content, "final");
  assert.equal(r2.toolCalls, undefined);
  const sent = (s.requests[1]!.body as { messages: unknown[] }).messages;
  assert.deepEqual(sent.slice(2), [
    {
      role: "assistant",
      content: null,
      tool_calls: [
        { id: "call_a", type: "function", function: { name: "docs", arguments: '{"q":"retries"}' } },
        { id: "call_b", type: "function", function: { name: "fetch", arguments: '{"url":"http://x"}' } },
        { id: "call_c", type: "function", function: { name: "docs", arguments: '{"q": "unterminated' } },
      ],
    },
    { role: "tool", tool_call_id: "call_a", content: '{"hits": 3}' },
    { role: "tool", tool_call_id: "call_b", content: '{"error": {"code": "TOOL_FAILED", "message": "boom"}}' },
    { role: "tool", tool_call_id: "call_c", content: '{"error": {"code": "TOOL_ARGS", "message": "not JSON"}}' },
  ]);
});

test("a tool result answering no tool call is refused by the server with its own message", async () => {
  const s = await server([{ type: "text", text: "never" }]);
  const p = createHttpProvider({ id: "oa", type: "openai", base_url: s.url }, {});
  await assert.rejects(
    p.complete({ agent: "a", model: "m", messages: [{ role: "user", content: "q" }, { role: "tool", toolCallId: "nope", name: "docs", content: "{}" }], signal }),
    (err: unknown) => err instanceof LlmError && err.status === 400 && /answers no tool call/.test(err.message),
  );
});

test("tool calls without ids or with object arguments (some local servers) are accepted", async () => {
  const s = await server([
    {
      type: "raw",
      status: 200,
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ choices: [{ message: { role: "assistant", content: null, tool_calls: [{ type: "function", function: { name: "docs", arguments: { q: "x" } } }, { function: { name: "fetch", arguments: "" } }] }, finish_reason: "tool_calls" }] }),
    },
  ]);
  const res = await createHttpProvider({ id: "oa", type: "openai", base_url: s.url }, {}).complete({ agent: "a", model: "m", messages: [{ role: "user", content: "q" }], signal });
  assert.deepEqual(res.toolCalls, [
    { id: "call_0", name: "docs", args: { q: "x" } },
    { id: "call_1", name: "fetch", args: {} },
  ]);
});

test("a refusal comes back as the content", async () => {
  const s = await server([{ type: "raw", status: 200, body: JSON.stringify({ choices: [{ message: { content: null, refusal: "I can't help with that." }, finish_reason: "stop" }] }) }]);
  const res = await createHttpProvider({ id: "oa", type: "openai", base_url: s.url }, {}).complete({ agent: "a", model: "m", messages: [{ role: "user", content: "q" }], signal });
  assert.equal(res.content, "I can't help with that.");
});

test("a 404 (wrong base_url) says what to check", async () => {
  const s = await server([]);
  const p = createHttpProvider({ id: "oa", type: "openai", base_url: s.url.replace(/\/v1$/, "/v2") }, {});
  await assert.rejects(p.complete({ agent: "a", model: "m", messages: [{ role: "user", content: "q" }], signal }), (err: unknown) => err instanceof LlmError && err.status === 404 && /check base_url and the model name/.test(err.message));
});
