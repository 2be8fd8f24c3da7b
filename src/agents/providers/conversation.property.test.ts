/**
 * Property: any well-formed tool-loop conversation the runner can build is accepted by both
 * wire protocols' servers (tool results answer the previous turn's calls, Anthropic roles
 * alternate, no empty text blocks), over real HTTP against the fake servers' checks.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { startFakeAnthropic, startFakeOpenAi, type FakeLlmServer } from "../../../test/llm-servers/fakeLlmServer.js";
import type { JsonValue } from "../../json.js";
import type { ChatMessage, ToolCall } from "./contract.js";
import { createHttpProvider } from "./index.js";

let oa: FakeLlmServer;
let an: FakeLlmServer;
before(async () => {
  oa = await startFakeOpenAi({ replies: () => ({ type: "text", text: "ok" }) });
  an = await startFakeAnthropic({ replies: () => ({ type: "text", text: "ok" }) });
});
after(async () => {
  await Promise.all([oa.close(), an.close()]);
});

const text = fc.string({ minLength: 1, maxLength: 20 });
const args = fc.oneof(fc.dictionary(fc.string({ maxLength: 5 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }), fc.constant("{not json"));
const turn = fc.record({
  say: fc.option(text, { nil: undefined }),
  calls: fc.array(fc.record({ name: fc.stringMatching(/^[a-zA-Z0-9_-]{1,64}$/), args, fails: fc.boolean(), result: fc.string({ maxLength: 20 }) }), { minLength: 1, maxLength: 4 }),
  nudge: fc.option(text, { nil: undefined }), // e.g. a repair prompt after the tool results
});
const conversation = fc.record({
  systems: fc.array(text, { maxLength: 2 }),
  first: text,
  turns: fc.array(turn, { maxLength: 4 }),
  closing: fc.option(fc.tuple(text, text), { nil: undefined }), // a final answer and a follow-up
});

type Conversation = typeof conversation extends fc.Arbitrary<infer T> ? T : never;

function build(c: Conversation): ChatMessage[] {
  const msgs: ChatMessage[] = [...c.systems.map((content) => ({ role: "system" as const, content })), { role: "user", content: c.first }];
  let n = 0;
  for (const t of c.turns) {
    const calls: ToolCall[] = t.calls.map((k) => ({ id: `call_${++n}`, name: k.name, args: k.args as JsonValue }));
    msgs.push({ role: "assistant", content: t.say ?? "", toolCalls: calls });
    t.calls.forEach((k, i) => msgs.push({ role: "tool", toolCallId: calls[i]!.id, name: k.name, content: k.result, ...(k.fails ? { isError: true } : {}) }));
    if (t.nudge !== undefined) msgs.push({ role: "user", content: t.nudge });
  }
  if (c.closing) msgs.push({ role: "assistant", content: c.closing[0] }, { role: "user", content: c.closing[1] });
  return msgs;
}

test("every tool-loop conversation is accepted by both protocols", async () => {
  const providers = [
    createHttpProvider({ id: "oa", type: "openai", base_url: oa.url, retries: 0 }, {}),
    createHttpProvider({ id: "an", type: "anthropic", base_url: an.url, api_key_env: "K", retries: 0 }, { K: "sk-ant-property-key" }),
  ];
  await fc.assert(
    fc.asyncProperty(conversation, async (c) => {
      const messages = build(c);
      for (const p of providers) {
        const res = await p.complete({ agent: "a", model: "m", messages, signal: new AbortController().signal });
        assert.equal(res.content, "ok");
      }
    }),
    { numRuns: 60 },
  );
});
