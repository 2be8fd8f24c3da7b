/**
 * Scenario tests of the agent runner (issue 9): tool loop, budgets, structured output with
 * repair, decisions by agents, strict templates, usage and cost, scripted provider rules.
 * Real config dirs, the real scripted provider, real tool modules.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Engine } from "../../src/runtime/Engine.js";
import { EngineError } from "../../src/errors.js";
import type { LlmRequest } from "../../src/agents/types.js";
import { silentLogger } from "../../src/telemetry/logger.js";
import { removeDir, writeConfigDir } from "../helpers.js";
import { runWorkflow, trace } from "./harness.js";

const WF = `
nodes:
  - { id: begin, kind: deterministic, role: start }
  - { id: research, kind: agent, agent: researcher, role: linear }
  - { id: done, kind: deterministic, role: exit }
edges:
  - { from: begin, to: research }
  - { from: research, to: done }
`;
const TOOLS_YAML = `
tools:
  - id: docs.read
    handler: ./tools.mjs#read
    description: Read a page of the docs
    schema: { type: object, required: [page], additionalProperties: false, properties: { page: { type: string } } }
  - id: slow
    handler: ./tools.mjs#slow
    description: A slow tool
  - id: boom
    handler: ./tools.mjs#boom
  - id: secret
    handler: ./tools.mjs#read
`;
const TOOLS_MJS = `
export async function read(args) { return { text: "page " + args.page }; }
export async function slow(args) { await new Promise((r) => setTimeout(r, 30)); return { slow: true, n: args.n }; }
export async function boom() { throw new Error("disk on fire"); }
`;
const SCHEMAS = { "schemas/answer.json": JSON.stringify({ type: "object", required: ["answer"], additionalProperties: false, properties: { answer: { type: "string" }, sources: { type: "array" } } }) };

function agentsYaml(rules: string, agent: string, extra = ""): string {
  return `
providers:
  - id: offline
    type: scripted
    rules:
${rules}
${extra}
agents:
  - id: researcher
    model: m1
    prompt: "Q: {{input.q}}"
${agent}
`;
}

function files(rules: string, agent: string, extra = ""): Record<string, string> {
  return { "workflow.yaml": WF, "tools.yaml": TOOLS_YAML, "tools.mjs": TOOLS_MJS, "agents.yaml": agentsYaml(rules, agent, extra), ...SCHEMAS };
}

function withPrompt(f: Record<string, string>, prompt: string): Record<string, string> {
  return { ...f, "agents.yaml": f["agents.yaml"]!.replace('prompt: "Q: {{input.q}}"', `prompt: "${prompt}"`) };
}

const payloads = <T>(events: readonly { type: string; payload: unknown }[], type: string): T[] => events.filter((e) => e.type === type).map((e) => e.payload as T);

describe("agent tool loop", () => {
  const rules = `
      - agent: researcher
        step: 1
        tool_calls:
          - { id: c1, name: slow, args: { n: 1 } }
          - { id: c2, name: docs_read, args: { page: intro } }
      - agent: researcher
        step: 2
        tool_result: "page intro"
        response: { answer: "42", sources: [intro] }
`;
  const agent = `
    tools: [docs.read, slow]
    output: json
    schema_out: answer`;

  it("declares tools (sanitized names, descriptions, schemas), runs calls concurrently, returns results in call order, loops to a schema-checked answer", async () => {
    const { result, events } = await runWorkflow(files(rules, agent), { q: "meaning?" });
    assert.equal(result.status, "success", JSON.stringify(result.error));
    assert.deepEqual(result.output, { answer: "42", sources: ["intro"] });
    const reqs = payloads<{ step: number; attempt: number; tools: { name: string; description?: string; parameters: unknown }[]; messages: Record<string, unknown>[] }>(events, "agent.request");
    assert.equal(reqs.length, 2);
    assert.deepEqual(reqs[0]!.tools, [
      { name: "docs_read", description: "Read a page of the docs", parameters: { type: "object", required: ["page"], additionalProperties: false, properties: { page: { type: "string" } } } },
      { name: "slow", description: "A slow tool", parameters: { type: "object" } },
    ]);
    // Second request: assistant turn with the calls, then the results in the model's order
    // (the slow one first, although it finished last).
    const msgs = reqs[1]!.messages;
    assert.deepEqual(msgs.slice(-3), [
      { role: "assistant", content: "", toolCalls: [{ id: "c1", name: "slow", args: { n: 1 } }, { id: "c2", name: "docs_read", args: { page: "intro" } }] },
      { role: "tool", toolCallId: "c1", name: "slow", content: JSON.stringify({ slow: true, n: 1 }) },
      { role: "tool", toolCallId: "c2", name: "docs_read", content: JSON.stringify({ text: "page intro" }) },
    ]);
    const res = payloads<{ toolCalls: unknown; finishReason: string; step: number }>(events, "agent.response");
    assert.deepEqual(res[0]!.toolCalls, [{ id: "c1", name: "slow", args: { n: 1 } }, { id: "c2", name: "docs.read", args: { page: "intro" } }]);
    assert.equal(res[0]!.finishReason, "tool_calls");
    assert.equal(res[1]!.finishReason, "stop");
    // Tool events are in call order, each invoked/completed pair together, tool ids (not names).
    assert.deepEqual(trace(events).filter((t) => t.endsWith("@research")), [
      "node.started@research",
      "agent.request@research",
      "agent.response@research",
      "tool.invoked@research",
      "tool.completed@research",
      "tool.invoked@research",
      "tool.completed@research",
      "agent.request@research",
      "agent.response@research",
      "node.completed@research",
    ]);
    assert.deepEqual(payloads<{ tool: string }>(events, "tool.invoked").map((p) => p.tool), ["slow", "docs.read"]);
    const calls = result.history[1]!.toolCalls;
    assert.deepEqual(calls.map((c) => [c.tool, c.status]), [["slow", "success"], ["docs.read", "success"]]);
    assert.ok(result.usage && result.usage.llmCalls === 2 && result.usage.inputTokens > 0);
  });

  it("a tool's error and a refused tool go back to the model as results and are recorded; the node succeeds", async () => {
    const r = `
      - agent: researcher
        step: 1
        tool_calls:
          - { id: a, name: boom }
          - { id: b, name: secret, args: { page: x } }
          - { id: c, name: docs.read, args: { wrong: 1 } }
      - agent: researcher
        step: 2
        tool_result: "TOOL_FAILED"
        response: { answer: "recovered" }
`;
    const { result, events } = await runWorkflow(files(r, agent.replace("[docs.read, slow]", "[docs.read, boom]")), { q: "x" });
    assert.equal(result.status, "success", JSON.stringify(result.error));
    const msgs = payloads<{ messages: { role: string; content: string; isError?: boolean }[] }>(events, "agent.request")[1]!.messages.filter((m) => m.role === "tool");
    const errs = msgs.map((m) => (JSON.parse(m.content) as { error: { code: string; message: string } }).error);
    assert.deepEqual(errs.map((e) => e.code), ["TOOL_FAILED", "TOOL_NOT_ALLOWED", "TOOL_FAILED"]);
    assert.match(errs[0]!.message, /disk on fire/);
    assert.match(errs[1]!.message, /not available to this agent/);
    assert.match(errs[2]!.message, /schema/);
    assert.ok(msgs.every((m) => m.isError === true));
    assert.deepEqual(payloads<{ tool: string; error: { code: string } }>(events, "tool.failed").map((p) => [p.tool, p.error.code]), [["boom", "TOOL_FAILED"], ["secret", "TOOL_NOT_ALLOWED"], ["docs.read", "TOOL_FAILED"]]);
    assert.deepEqual(result.history[1]!.toolCalls.map((c) => c.status), ["failure", "failure", "failure"]);
  });
});

describe("agent budgets", () => {
  const loopForever = `
      - agent: researcher
        tool_calls: [{ name: docs.read, args: { page: p } }]
        usage: { input_tokens: 100, output_tokens: 50 }
`;
  const cases: [string, string, string, number][] = [
    ["max_steps", "max_steps: 3", "budget max_steps 3 reached (used 3)", 3],
    ["max_tool_calls", "max_tool_calls: 2", "budget max_tool_calls 2 reached (used 2)", 3],
    ["max_tokens_total", "max_tokens_total: 400", "budget max_tokens_total 400 reached (used 450)", 3],
    ["max_cost_usd", "max_cost_usd: 0.0002", "budget max_cost_usd 0.0002 reached (used 0.00025)", 2],
  ];
  for (const [name, setting, message, calls] of cases) {
    it(`${name}: fails AGENT_BUDGET_EXCEEDED naming budget, limit and amount used; no call past it`, async () => {
      const pricing = `pricing:\n  m1: { input: 1.0, output: 0.5 }`;
      const { result, events } = await runWorkflow(files(loopForever, `    tools: [docs.read]\n    ${setting}`, pricing), { q: "x" });
      assert.equal(result.status, "failure");
      assert.equal(result.error?.code, "AGENT_BUDGET_EXCEEDED");
      assert.ok(result.error?.message.includes(message), result.error?.message);
      assert.equal(events.filter((e) => e.type === "agent.request").length, calls);
      const costs = payloads<{ costUsd: number }>(events, "agent.response").map((p) => p.costUsd);
      assert.ok(costs.every((c) => c === 0.000125), String(costs));
      assert.equal(result.usage?.costUsd, 0.000125 * calls);
    });
  }
});

describe("structured output", () => {
  const agent = `
    output: json
    schema_out: answer
    repair_attempts: 2`;

  it("sends responseFormat, re-asks with the validation errors, each attempt its own request/response", async () => {
    const rules = `
      - { agent: researcher, step: 1, response: { answer: 7 } }
      - { agent: researcher, step: 2, response: "no json here" }
      - { agent: researcher, step: 3, match: "not valid", response: { answer: "seven" } }
`;
    const seen: LlmRequest[] = [];
    const dir = await writeConfigDir(files(rules, agent));
    try {
      const { result, events } = await runWorkflow(files(rules, agent), { q: "x" });
      assert.equal(result.status, "success", JSON.stringify(result.error));
      assert.deepEqual(result.output, { answer: "seven" });
      const reqs = payloads<{ step: number; attempt: number; messages: { role: string; content: string }[] }>(events, "agent.request");
      assert.deepEqual(reqs.map((r) => [r.step, r.attempt]), [[1, 1], [2, 2], [3, 3]]);
      assert.match(reqs[1]!.messages.at(-1)!.content, /\/answer: must be string/);
      assert.match(reqs[2]!.messages.at(-1)!.content, /not JSON/);
      // The request a provider gets carries the schema as structured output.
      const engine = await Engine.fromConfigDir(dir, { logger: silentLogger, llm: { name: "spy", complete: async (r) => (seen.push(r), { content: '{"answer":"a"}' }) } });
      await engine.run({ q: "x" });
      await engine.shutdown();
      assert.deepEqual(seen[0]!.responseFormat, { type: "json_schema", name: "answer", schema: { type: "object", required: ["answer"], additionalProperties: false, properties: { answer: { type: "string" }, sources: { type: "array" } } } });
    } finally {
      await removeDir(dir);
    }
  });

  it("after the repair attempts: AGENT_OUTPUT_INVALID with raw and validation in node.failed and history", async () => {
    const rules = `
      - { agent: researcher, response: { answer: 7 } }
`;
    const { result, events } = await runWorkflow(files(rules, agent), { q: "x" });
    assert.equal(result.error?.code, "AGENT_OUTPUT_INVALID");
    assert.equal(result.error?.raw, '{"answer":7}');
    assert.deepEqual(result.error?.validation, ["/answer: must be string"]);
    const failed = events.find((e) => e.type === "node.failed")!.payload as { error: unknown };
    assert.deepEqual(failed.error, result.error);
    assert.deepEqual(result.history[1]!.error, result.error);
    assert.equal(events.filter((e) => e.type === "agent.request").length, 3);
  });
});

describe("decisions by agents", () => {
  const DWF = `
nodes:
  - { id: begin, kind: deterministic, role: start }
  - { id: triage, kind: agent, agent: triager, role: decision }
  - { id: a, kind: deterministic, role: exit }
  - { id: b, kind: deterministic, role: exit }
edges:
  - { from: begin, to: triage }
  - { from: triage, to: a, label: review }
  - { from: triage, to: b, label: auto_close }
`;
  const yaml = (reply: string): string => `
providers: [{ id: offline, type: scripted, rules: [{ agent: triager, response: ${JSON.stringify(reply)} }] }]
agents:
  - { id: triager, model: m, prompt: "{{input}}" }
`;
  for (const reply of ["Review.", '  "review"  ', "REVIEW!", "`review`"]) {
    it(`the labels are offered and ${JSON.stringify(reply)} matches "review" leniently`, async () => {
      const { result, events } = await runWorkflow({ "workflow.yaml": DWF, "agents.yaml": yaml(reply) }, "t");
      assert.equal(result.status, "success", JSON.stringify(result.error));
      assert.deepEqual(result.history.map((h) => h.nodeId), ["begin", "triage", "a"]);
      const req = payloads<{ messages: { role: string; content: string }[] }>(events, "agent.request")[0]!;
      assert.ok(req.messages.some((m) => m.role === "system" && m.content.includes('"review", "auto_close"')));
      assert.equal(payloads<{ selected: string }>(events, "routing.decision")[0]!.selected, "review");
    });
  }
  it("no match: ROUTING_NO_MATCH listing the labels", async () => {
    const { result } = await runWorkflow({ "workflow.yaml": DWF, "agents.yaml": yaml("escalate") }, "t");
    assert.equal(result.error?.code, "ROUTING_NO_MATCH");
    assert.match(result.error!.message, /review \(-> a\), auto_close \(-> b\)/);
  });
});

describe("strict templates", () => {
  it("an unknown root is a load error with file and path", async () => {
    const dir = await writeConfigDir(withPrompt(files(`      - { response: x }`, ""), "Q: {{inptu.q}}"));
    try {
      await assert.rejects(Engine.fromConfigDir(dir, { logger: silentLogger }), (err: unknown) => {
        assert.ok(err instanceof EngineError);
        const d = err.details.find((x) => x.path === "/agents/0/prompt");
        assert.ok(d, JSON.stringify(err.details));
        assert.match(d.message, /unknown template root "inptu"/);
        assert.match(d.file ?? "", /agents\.yaml$/);
        return true;
      });
    } finally {
      await removeDir(dir);
    }
  });
  it("a missing path fails the node TEMPLATE_MISSING_VALUE naming the path; {{resume}} is accepted at load", async () => {
    const f = withPrompt(files(`      - { response: x }`, `    system: "Resume: {{resume}}"`), "Q: {{input.txt}}");
    const { result, events } = await runWorkflow(f, { text: "hi" });
    assert.equal(result.error?.code, "TEMPLATE_MISSING_VALUE");
    assert.match(result.error!.message, /\{\{resume\}\}|\{\{input\.txt\}\}/);
    assert.equal(events.filter((e) => e.type === "agent.request").length, 0);
    const g = withPrompt(files(`      - { response: x }`, ""), "Q: {{input.txt}}");
    const r2 = await runWorkflow(g, { text: "hi" });
    assert.equal(r2.result.error?.code, "TEMPLATE_MISSING_VALUE");
    assert.match(r2.result.error!.message, /\{\{input\.txt\}\} has no value \(nothing at "txt"\)/);
  });
});

describe("usage, cost and retries", () => {
  it("pricing gives costUsd per response (cached input at its own price) and run totals", async () => {
    const rules = `
      - { agent: researcher, response: "ok", usage: { input_tokens: 1000, output_tokens: 200, cached_input_tokens: 400, reasoning_tokens: 50 } }
`;
    const pricing = `pricing:\n  m1: { input: 2.0, output: 8.0, cached_input: 0.5 }`;
    const { result, events } = await runWorkflow(files(rules, "", pricing), { q: "x" });
    const res = payloads<{ usage: unknown; costUsd: number }>(events, "agent.response")[0]!;
    assert.deepEqual(res.usage, { inputTokens: 1000, outputTokens: 200, cachedInputTokens: 400, reasoningTokens: 50 });
    // (600 * 2 + 400 * 0.5 + 200 * 8) / 1e6
    assert.equal(res.costUsd, 0.003);
    assert.deepEqual(result.usage, { llmCalls: 1, inputTokens: 1000, outputTokens: 200, cachedInputTokens: 400, reasoningTokens: 50, costUsd: 0.003 });
  });

  it("a provider's onRetry hook becomes agent.retry events; a scripted error fails LLM_FAILED naming provider and model", async () => {
    const llm = {
      name: "flaky",
      complete: (_r: LlmRequest, hooks?: { onRetry?(i: { attempt: number; delayMs: number; error: { code: string; message: string; status?: number } }): void }) => {
        hooks?.onRetry?.({ attempt: 2, delayMs: 10, error: { code: "LLM_FAILED", message: "HTTP 429 slow down", status: 429 } });
        return Promise.resolve({ content: "fine" });
      },
    };
    const { events } = await runWorkflow(files(`      - { response: x }`, ""), { q: "x" }, { llm });
    assert.deepEqual(payloads(events, "agent.retry"), [{ agent: "researcher", provider: "flaky", attempt: 2, delayMs: 10, error: { code: "LLM_FAILED", message: "HTTP 429 slow down", status: 429 } }]);
    const { result } = await runWorkflow(files(`      - { error: { message: "overloaded", status: 529 } }`, ""), { q: "x" });
    assert.equal(result.error?.code, "LLM_FAILED");
    assert.match(result.error!.message, /offline.*m1.*HTTP 529.*overloaded/);
  });
});

describe("scripted provider rules", () => {
  it("script_file rules are schema-checked at load, with the file named", async () => {
    const f: Record<string, string> = { ...files(`      - { response: x }`, ""), "script.yaml": "rules:\n  - { agent: researcher, respnse: typo }\n" };
    f["agents.yaml"] = f["agents.yaml"]!.replace("    type: scripted\n", "    type: scripted\n    script_file: ./script.yaml\n");
    const dir = await writeConfigDir(f);
    try {
      await assert.rejects(Engine.fromConfigDir(dir, { logger: silentLogger }), (err: unknown) => {
        assert.ok(err instanceof EngineError);
        assert.ok(err.details.some((d) => /script\.yaml$/.test(d.file ?? "") && /respnse/.test(d.message)), JSON.stringify(err.details));
        return true;
      });
    } finally {
      await removeDir(dir);
    }
  });
  it("a match pattern that can backtrack catastrophically is refused at load", async () => {
    const dir = await writeConfigDir(files(`      - { match: "(a+)+$", response: x }`, ""));
    try {
      await assert.rejects(Engine.fromConfigDir(dir, { logger: silentLogger }), (err: unknown) => {
        assert.ok(err instanceof EngineError);
        assert.ok(err.details.some((d) => d.path === "/providers/0/rules/0/match" && /refused/.test(d.message)), JSON.stringify(err.details));
        return true;
      });
    } finally {
      await removeDir(dir);
    }
  });
});

describe("usage in agent.response is sealed", () => {
  it("regression: a plugin writing usage, or a provider keeping and changing its usage object, changes nothing anyone else sees; non-finite counts are dropped", async () => {
    const dir = await writeConfigDir(files(`      - { response: x }`, ""));
    try {
      const kept = { inputTokens: 10, outputTokens: 2, reasoningTokens: Number.NaN, cachedInputTokens: Number.POSITIVE_INFINITY };
      const seen: unknown[] = [];
      const writes: string[] = [];
      const writer = {
        pluginId: "writer",
        onEvent(e: { type: string; payload: { usage?: Record<string, number> } }): void {
          if (e.type !== "agent.response") return;
          try {
            e.payload.usage!["inputTokens"] = 999_999;
          } catch (err) {
            writes.push((err as Error).name);
          }
        },
      };
      const reader = { pluginId: "reader", onEvent: (e: { type: string; payload: { usage?: unknown } }) => (e.type === "agent.response" ? seen.push(e.payload.usage) : undefined) };
      const engine = await Engine.fromConfigDir(dir, {
        logger: silentLogger,
        plugins: [writer as never, reader as never],
        llm: { name: "keeper", complete: async () => ({ content: "ok", usage: kept }) },
      });
      try {
        const result = await engine.run({ q: "x" });
        kept.inputTokens = 123; // after the fact: the engine holds its own copy
        assert.equal(result.status, "success");
        assert.deepEqual(writes, ["TypeError"], "the write throws: usage is frozen");
        const expected = { inputTokens: 10, outputTokens: 2 };
        assert.deepEqual(seen, [expected]);
        const response = engine.getEvents({ type: "agent.response" })[0]!.payload as { usage: unknown };
        assert.deepEqual(response.usage, expected);
        assert.ok(Object.isFrozen(response.usage));
        assert.equal(result.usage?.inputTokens, 10);
        const again = await engine.run({ q: "x" });
        assert.equal(again.usage?.inputTokens, 123, "a later run sees the provider's new answer, never a plugin's write");
      } finally {
        await engine.shutdown();
      }
    } finally {
      await removeDir(dir);
    }
  });
});

describe("hostile providers", () => {
  it("regression: a provider returning a self-resolving thenable, or rejecting with a Proxy whose traps throw, fails the node LLM_FAILED, never a hang", { timeout: 20_000 }, async () => {
    const dir = await writeConfigDir(files(`      - { response: x }`, ""));
    try {
      const noProto = new Proxy({}, { getPrototypeOf(): never { throw new Error("proto trap"); }, get(): never { throw new Error("get trap"); } });
      for (const complete of [
        (): unknown => {
          const t: { then: (r: (v: unknown) => void) => void } = { then: (r) => r(t) };
          return t;
        },
        (): Promise<never> => Promise.reject(noProto),
      ]) {
        const engine = await Engine.fromConfigDir(dir, { logger: silentLogger, llm: { name: "hostile", complete: complete as never } });
        try {
          const result = await engine.run({ q: "x" });
          assert.equal(result.status, "failure");
          assert.equal(result.error?.code, "LLM_FAILED", result.error?.message);
          assert.match(result.error!.message, /agent "researcher" \(hostile\/m1\)/);
        } finally {
          await engine.shutdown();
        }
      }
    } finally {
      await removeDir(dir);
    }
  });
});
