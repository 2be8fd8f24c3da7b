/**
 * The issue-9 scenario end to end: a split of 20 sections, each summarized by an agent on an
 * OpenAI-protocol server (real HTTP on 127.0.0.1) that rate-limits every first attempt with a
 * 429 and `retry-after-ms`. Every section succeeds, each retry is an `agent.retry` event with
 * the server's delay, and `max_concurrency` caps the requests in flight.
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { startFakeOpenAi, type FakeLlmServer } from "../llm-servers/fakeLlmServer.js";
import { runWorkflow } from "./harness.js";

const WORKFLOW = `
nodes:
  - { id: begin, kind: deterministic, role: start }
  - { id: sections, kind: deterministic, role: split }
  - { id: summarize, kind: agent, agent: summarizer, role: linear }
  - { id: gather, kind: deterministic, role: merge }
  - { id: done, kind: deterministic, role: exit }
edges:
  - { from: begin, to: sections }
  - { from: sections, to: summarize }
  - { from: summarize, to: gather }
  - { from: gather, to: done }
`;

const servers: FakeLlmServer[] = [];
after(() => Promise.all(servers.map((s) => s.close())));

describe("a split against a rate-limited API", () => {
  it("20 sections, every first attempt answered 429 with retry-after-ms: all succeed, retries are agent.retry events, max_concurrency holds", async () => {
    const tried = new Set<string>();
    const srv = await startFakeOpenAi({
      replies: (req) => {
        const body = req.body as { messages: { role: string; content: string }[] };
        const prompt = body.messages.at(-1)!.content;
        if (!tried.has(prompt)) {
          tried.add(prompt);
          return { type: "error", status: 429, message: "Rate limit reached for requests", retryAfterMs: "30" };
        }
        return { type: "text", text: `summary of ${prompt}`, usage: { input: 10, output: 5 } };
      },
    });
    servers.push(srv);
    const agents = `
providers:
  - { id: api, type: openai, base_url: "${srv.url}", retries: 2, max_concurrency: 3 }
agents:
  - { id: summarizer, model: gpt-test, prompt: "{{input.title}}" }
`;
    const sections = Array.from({ length: 20 }, (_, i) => ({ title: `section ${i + 1}` }));
    const { result, events } = await runWorkflow({ "workflow.yaml": WORKFLOW, "agents.yaml": agents }, { sections }, { handlers: { sections: (input) => (input as { sections: unknown[] }).sections } });
    assert.equal(result.status, "success", JSON.stringify(result.error));
    const merged = result.history.find((h) => h.nodeId === "gather")!.input as { output: string; index: number }[];
    assert.deepEqual(merged.map((a) => a.output), sections.map((s) => `summary of ${s.title}`), "every section, in document order");
    const retries = events.filter((e) => e.type === "agent.retry").map((e) => e.payload as { agent: string; provider: string; attempt: number; delayMs: number; error: { status?: number; message: string } });
    assert.equal(retries.length, 20);
    for (const r of retries) {
      assert.deepEqual([r.agent, r.provider, r.attempt, r.delayMs, r.error.status], ["summarizer", "api", 2, 30, 429]);
      assert.match(r.error.message, /Rate limit reached/);
    }
    assert.equal(srv.requests.length, 40);
    assert.ok(srv.maxInFlight <= 3, `max_concurrency 3, saw ${srv.maxInFlight} in flight`);
    assert.equal(result.usage?.llmCalls, 20);
    assert.equal(result.usage?.inputTokens, 200);
  });
});
