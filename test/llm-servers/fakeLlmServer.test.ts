/** The fake servers check requests the way the real APIs do; other suites rely on those checks. */
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { startFakeAnthropic, startFakeOpenAi, type FakeLlmServer } from "./fakeLlmServer.js";

const servers: FakeLlmServer[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

async function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: { error?: { message?: string } } }> {
  const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });
  return { status: res.status, json: (await res.json()) as { error?: { message?: string } } };
}

describe("fake OpenAI server", () => {
  test("rejects a tool message answering no call, and an unscripted request", async () => {
    const s = await startFakeOpenAi({ replies: [{ type: "text", text: "ok" }] });
    servers.push(s);
    const url = `${s.url}/chat/completions`;
    const bad = await post(url, { model: "m", messages: [{ role: "user", content: "q" }, { role: "tool", tool_call_id: "x", content: "r" }] });
    assert.equal(bad.status, 400);
    assert.match(bad.json.error?.message ?? "", /answers no tool call/);
    assert.equal((await post(url, { model: "m", messages: [{ role: "user", content: "q" }] })).status, 200);
    const none = await post(url, { model: "m", messages: [{ role: "user", content: "q" }] });
    assert.equal(none.status, 400);
    assert.match(none.json.error?.message ?? "", /no scripted reply left for request #3/);
    assert.equal((await post(`${s.url}/completions`, {})).status, 404);
  });
});

describe("fake Anthropic server", () => {
  const h = { "anthropic-version": "2023-06-01", "x-api-key": "k" };
  test("requires anthropic-version and max_tokens; roles must alternate; tool results must answer the previous tool_use", async () => {
    const s = await startFakeAnthropic({ replies: () => ({ type: "text", text: "ok" }) });
    servers.push(s);
    const url = `${s.url}/v1/messages`;
    const base = { model: "m", max_tokens: 10 };
    const cases: [Record<string, unknown>, Record<string, string>, RegExp][] = [
      [{ ...base, messages: [{ role: "user", content: "q" }] }, { "x-api-key": "k" }, /anthropic-version/],
      [{ model: "m", messages: [{ role: "user", content: "q" }] }, h, /max_tokens/],
      [{ ...base, messages: [{ role: "user", content: "a" }, { role: "user", content: "b" }] }, h, /alternate/],
      [{ ...base, messages: [{ role: "assistant", content: "a" }] }, h, /first message/],
      [{ ...base, messages: [{ role: "user", content: [{ type: "text", text: "" }] }] }, h, /non-empty/],
      [{ ...base, messages: [{ role: "user", content: [{ type: "tool_result", tool_use_id: "t", content: "r" }] }] }, h, /answers no tool_use/],
      [
        { ...base, messages: [{ role: "user", content: "q" }, { role: "assistant", content: [{ type: "tool_use", id: "t1", name: "x", input: {} }, { type: "tool_use", id: "t2", name: "x", input: {} }] }, { role: "user", content: [{ type: "tool_result", tool_use_id: "t1", content: "r" }] }] },
        h,
        /without tool_result: t2/,
      ],
    ];
    for (const [body, headers, why] of cases) {
      const r = await post(url, body, headers);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.match(r.json.error?.message ?? "", why);
    }
    assert.equal((await post(url, { ...base, messages: [{ role: "user", content: "q" }] }, h)).status, 200);
  });
});
