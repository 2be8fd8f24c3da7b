/**
 * Scenario tests for tool calls, agent nodes (scripted and a real OpenAI-compatible HTTP server)
 * and context assembly.
 */
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import type { LlmRequest } from "../../src/agents/types.js";
import { path, runWorkflow, trace, withEnv } from "./harness.js";

const TOOLS_WF = `
nodes:
  - { id: begin, kind: deterministic, role: start }
  - { id: work, kind: deterministic, role: linear, tools: [lookup, strict] }
  - { id: done, kind: deterministic, role: exit }
edges:
  - { from: begin, to: work }
  - { from: work, to: done }
`;
const TOOLS_YAML = `
tools:
  - { id: lookup, type: kv, config: { prefix: "v-" } }
  - id: strict
    handler: ./tools.js#strict
    schema: { type: object, required: [n], properties: { n: { type: integer } } }
  - { id: unused, type: kv }
`;
const TOOLS_JS = `export function strict(args, ctx) { return { doubled: args.n * 2, tool: ctx.toolId }; }\n`;

describe("tools", () => {
  const files = { "workflow.yaml": TOOLS_WF, "tools.yaml": TOOLS_YAML, "tools.js": TOOLS_JS };
  const kv = (args: unknown, ctx: { config: Readonly<Record<string, unknown>>; nodeId: string }) => ({ value: `${String(ctx.config["prefix"])}${(args as { key: string }).key}`, node: ctx.nodeId });

  it("calls allow-listed tools (options.tools by type, and a tools.yaml module), with events and history toolCalls", async () => {
    const { result, events } = await runWorkflow(files, { key: "k1" }, {
      tools: { kv },
      handlers: {
        work: async (input, ctx) => {
          const a = await ctx.callTool("lookup", { key: (input as { key: string }).key });
          const b = await ctx.callTool("strict", { n: 21 });
          return { a, b };
        },
      },
    });
    assert.equal(result.status, "success");
    assert.deepEqual(result.output, { a: { value: "v-k1", node: "work" }, b: { doubled: 42, tool: "strict" } });
    const calls = result.history[1]!.toolCalls;
    assert.deepEqual(calls.map((c) => [c.tool, c.status, c.args, c.result]), [
      ["lookup", "success", { key: "k1" }, { value: "v-k1", node: "work" }],
      ["strict", "success", { n: 21 }, { doubled: 42, tool: "strict" }],
    ]);
    assert.notEqual(calls[0]!.callId, calls[1]!.callId);
    assert.deepEqual(trace(events), [
      "task.started",
      "node.started@begin",
      "node.completed@begin",
      "node.started@work",
      "tool.invoked@work",
      "tool.completed@work",
      "tool.invoked@work",
      "tool.completed@work",
      "node.completed@work",
      "node.started@done",
      "node.completed@done",
      "task.completed",
    ]);
    const invoked = events.find((e) => e.type === "tool.invoked")!;
    assert.deepEqual(invoked.payload, { tool: "lookup", callId: calls[0]!.callId, args: { key: "k1" } });
    const completed = events.find((e) => e.type === "tool.completed")!;
    assert.equal((completed.payload as { result: unknown }).result, calls[0]!.result);
  });

  it("an unlisted tool rejects TOOL_NOT_ALLOWED (the handler may catch it) without tool events", async () => {
    const { result, events } = await runWorkflow(files, {}, {
      tools: { kv },
      handlers: {
        work: async (_i, ctx) => {
          try {
            await ctx.callTool("unused", {});
            return "no";
          } catch (err) {
            return (err as { code: string }).code;
          }
        },
      },
    });
    assert.equal(result.output, "TOOL_NOT_ALLOWED");
    assert.equal(events.filter((e) => e.type.startsWith("tool.")).length, 0);
  });

  it("an uncaught TOOL_NOT_ALLOWED fails the node with that code", async () => {
    const { result } = await runWorkflow(files, {}, { tools: { kv }, handlers: { begin: async (_i, ctx) => ctx.callTool("lookup", {}) } });
    assert.equal(result.status, "failure");
    assert.equal(result.error?.code, "TOOL_NOT_ALLOWED");
    assert.match(result.error!.message, /tools: list/);
  });

  it("regression: a tool returning a self-resolving thenable, or throwing a Proxy whose traps throw, is a recorded TOOL_FAILED, never a hang", { timeout: 20_000 }, async () => {
    // Before: `await` re-adopted the thenable forever (no timer, the node's timeout included,
    // could fire again), and `instanceof ToolError` on the Proxy threw past tool.failed.
    const selfResolving = (): unknown => {
      const t: { then: (r: (v: unknown) => void) => void } = { then: (r) => r(t) };
      return t;
    };
    const noProto = (): never => {
      throw new Proxy({}, { getPrototypeOf(): never { throw new Error("proto trap"); }, get(): never { throw new Error("get trap"); } });
    };
    for (const kvImpl of [selfResolving, noProto]) {
      const { result, events } = await runWorkflow(files, {}, {
        tools: { kv: kvImpl },
        handlers: {
          work: async (_i, ctx) => {
            try {
              await ctx.callTool("lookup", { key: "x" });
              return "no";
            } catch (err) {
              return (err as { code: string }).code;
            }
          },
        },
      });
      assert.equal(result.status, "success");
      assert.equal(result.output, "TOOL_FAILED");
      assert.deepEqual(events.filter((e) => e.type.startsWith("tool.")).map((e) => e.type), ["tool.invoked", "tool.failed"]);
      assert.equal(result.history[1]!.toolCalls[0]?.status, "failure");
    }
  });

  it("a failing tool and bad arguments emit tool.failed and are recorded as failed calls", async () => {
    const { result, events } = await runWorkflow(files, {}, {
      tools: { kv: () => { throw new Error("store down"); } },
      handlers: {
        work: async (_i, ctx) => {
          const codes: string[] = [];
          for (const [tool, args] of [["lookup", { key: "x" }], ["strict", { n: "nope" }]] as const) {
            try {
              await ctx.callTool(tool, args);
            } catch (err) {
              codes.push((err as { code: string }).code);
            }
          }
          return codes;
        },
      },
    });
    assert.deepEqual(result.output, ["TOOL_FAILED", "TOOL_FAILED"]);
    assert.deepEqual(result.history[1]!.toolCalls.map((c) => [c.tool, c.status, c.error?.code]), [["lookup", "failure", "TOOL_FAILED"], ["strict", "failure", "TOOL_FAILED"]]);
    const failed = events.filter((e) => e.type === "tool.failed");
    assert.equal(failed.length, 2);
    assert.match((failed[0]!.payload as { error: { message: string } }).error.message, /store down/);
  });
});

const AGENT_WF = `
nodes:
  - { id: begin, kind: deterministic, role: start }
  - { id: classify, kind: agent, role: decision, agent: classifier }
  - { id: billing, kind: deterministic, role: linear }
  - { id: general, kind: agent, role: linear, agent: helper, context: brief }
  - { id: e1, kind: deterministic, role: exit }
  - { id: e2, kind: deterministic, role: exit }
edges:
  - { from: begin, to: classify }
  - { from: classify, to: billing, label: billing }
  - { from: classify, to: general, label: general }
  - { from: billing, to: e1 }
  - { from: general, to: e2 }
`;
const AGENTS_YAML = `
providers:
  - id: offline
    type: scripted
    rules:
      - agent: classifier
        match: "refund"
        response: { selected_edge: billing, confidence: 0.9 }
        usage: { input_tokens: 10, output_tokens: 3 }
      - agent: classifier
        match: "garbage|not valid"
        response: "this is not json"
      - agent: classifier
        response: "\`\`\`json\\n{\\"selected_edge\\": \\"general\\"}\\n\`\`\`"
      - agent: helper
        response: "Happy to help."
agents:
  - id: classifier
    model: m1
    system: "Classify the ticket."
    prompt: "Ticket: {{input.text}}"
    output: json
  - id: helper
    model: m2
    prompt: "Answer: {{input.selected_edge}}"
`;
const MEMORY_YAML = `
stores:
  - { id: faq, kind: static, items: [one, two, three] }
  - { id: notes, kind: file, path: ./notes.json }
profiles:
  - { id: brief, stores: [faq, notes], max_items: 3 }
`;

describe("agent nodes (scripted provider from agents.yaml)", () => {
  const files = { "workflow.yaml": AGENT_WF, "agents.yaml": AGENTS_YAML, "memory.yaml": MEMORY_YAML, "notes.json": JSON.stringify(["n1", "n2"]) };

  it("an agent decision with output: json routes by selected_edge and records agent.request/agent.response", async () => {
    const { result, events } = await runWorkflow(files, { text: "I want a refund" });
    assert.equal(result.status, "success");
    assert.deepEqual(path(result), ["begin", "classify", "billing", "e1"]);
    assert.deepEqual(result.output, { selected_edge: "billing", confidence: 0.9 });
    assert.deepEqual(trace(events).slice(3, 8), ["node.started@classify", "agent.request@classify", "agent.response@classify", "node.completed@classify", "routing.decision@classify"]);
    const req = events.find((e) => e.type === "agent.request")!;
    assert.deepEqual(req.payload, {
      agent: "classifier",
      model: "m1",
      provider: "offline",
      step: 1,
      attempt: 1,
      messages: [
        { role: "system", content: "Classify the ticket." },
        { role: "system", content: 'Choose the next step: reply with JSON whose "selected_edge" is exactly one of: "billing", "general".' },
        { role: "user", content: "Ticket: I want a refund" },
      ],
      tools: [],
    });
    const res = events.find((e) => e.type === "agent.response")!;
    const { durationMs, ...rest } = res.payload as { durationMs: number };
    assert.equal(typeof durationMs, "number");
    assert.deepEqual(rest, { agent: "classifier", model: "m1", provider: "offline", step: 1, attempt: 1, output: JSON.stringify({ selected_edge: "billing", confidence: 0.9 }), toolCalls: [], finishReason: "stop", usage: { inputTokens: 10, outputTokens: 3 } });
    assert.deepEqual(result.usage, { llmCalls: 1, inputTokens: 10, outputTokens: 3, cachedInputTokens: 0, reasoningTokens: 0, costUsd: 0 });
  });

  it("json output inside a ``` fence is parsed; an agent linear node gets its context and returns text", async () => {
    const { result, events } = await runWorkflow(files, { text: "hello" });
    assert.deepEqual(path(result), ["begin", "classify", "general", "e2"]);
    assert.equal(result.output, "Happy to help.");
    const ctx = events.find((e) => e.type === "context.assembled")!;
    assert.equal(ctx.nodeId, "general");
    assert.deepEqual(ctx.payload, { profile: "brief", items: 3, context: { profile: "brief", items: ["three", "n1", "n2"] } });
    const req = events.filter((e) => e.type === "agent.request")[1]!;
    const messages = (req.payload as unknown as { messages: { role: string; content: string }[] }).messages;
    assert.deepEqual(messages.map((m) => m.role), ["system", "user"]);
    assert.match(messages[0]!.content, /three/);
    // The decision's output object (not a bare string) is what flows on.
    assert.equal(messages[1]!.content, "Answer: general");
    // context.assembled comes right after node.started, before the agent call.
    const i = events.indexOf(ctx);
    assert.deepEqual(trace(events).slice(i - 1, i + 2), ["node.started@general", "context.assembled@general", "agent.request@general"]);
  });

  it("a non-JSON reply with output: json is re-asked once, then fails AGENT_OUTPUT_INVALID with raw and validation", async () => {
    const { result, events } = await runWorkflow(files, { text: "garbage in" });
    assert.equal(result.status, "failure");
    assert.equal(result.error?.code, "AGENT_OUTPUT_INVALID");
    assert.equal(result.error?.raw, "this is not json");
    assert.match(result.error?.validation?.[0] ?? "", /not JSON/);
    const failed = events.find((e) => e.type === "node.failed")!;
    assert.deepEqual((failed.payload as { error: unknown }).error, result.error);
    assert.deepEqual(result.history.at(-1)!.error, result.error);
    assert.deepEqual(events.filter((e) => e.type === "agent.request").map((e) => [(e.payload as { step: number }).step, (e.payload as { attempt: number }).attempt]), [[1, 1], [2, 2]]);
  });

  it("options.llm overrides the providers of agents.yaml and receives the rendered request", async () => {
    const seen: LlmRequest[] = [];
    const { result } = await runWorkflow(files, { text: "refund" }, {
      llm: { name: "fake", complete: async (r) => { seen.push(r); return { content: r.agent === "classifier" ? '{"selected_edge":"General."}' : "fake answer" }; } },
    });
    assert.equal(result.output, "fake answer");
    assert.deepEqual(seen.map((r) => [r.agent, r.model]), [["classifier", "m1"], ["helper", "m2"]]);
    assert.ok(seen.every((r) => r.signal instanceof AbortSignal));
  });

  it("a scripted provider without a matching rule fails the node LLM_SCRIPT_EXHAUSTED", async () => {
    const yaml = AGENTS_YAML.replace(/ {6}- agent: helper\n {8}response: "Happy to help."\n/, "");
    const { result } = await runWorkflow({ ...files, "agents.yaml": yaml }, { text: "hi" });
    assert.equal(result.status, "failure");
    assert.equal(result.error?.code, "LLM_SCRIPT_EXHAUSTED");
  });
});

describe("context profiles for deterministic nodes", () => {
  const WF = `
nodes:
  - { id: begin, kind: deterministic, role: start, context: global }
  - { id: step, kind: deterministic, role: linear, context: brief }
  - { id: done, kind: deterministic, role: exit }
edges:
  - { from: begin, to: step }
  - { from: step, to: done }
`;
  it("ctx.context is the assembled profile; nodes with context: none get null and no event", async () => {
    const seen: unknown[] = [];
    const { events } = await runWorkflow({ "workflow.yaml": WF, "memory.yaml": MEMORY_YAML, "notes.json": '["n1"]' }, 1, {
      handlers: { begin: (i, ctx) => { seen.push(ctx.context); return i; }, step: (i, ctx) => { seen.push(ctx.context); return i; }, done: (i, ctx) => { seen.push(ctx.context); return i; } },
    });
    assert.deepEqual(seen, [{ profile: "global", items: ["one", "two", "three", "n1"] }, { profile: "brief", items: ["two", "three", "n1"] }, null]);
    assert.deepEqual(events.filter((e) => e.type === "context.assembled").map((e) => [e.nodeId, (e.payload as { items: number }).items]), [["begin", 4], ["step", 3]]);
  });
});

describe("OpenAI-compatible provider against a real HTTP server", () => {
  let server: Server;
  let base = "";
  const requests: { url: string; auth: string | undefined; body: Record<string, unknown> }[] = [];
  let status = 200;

  before(async () => {
    server = createServer((req: IncomingMessage, res) => {
      let data = "";
      req.on("data", (c: Buffer) => (data += c.toString()));
      req.on("end", () => {
        requests.push({ url: req.url ?? "", auth: req.headers.authorization, body: JSON.parse(data) as Record<string, unknown> });
        res.setHeader("content-type", "application/json");
        if (req.url !== "/v1/chat/completions") {
          res.statusCode = 404;
          res.end(JSON.stringify({ error: { message: "wrong path" } }));
        } else if (status !== 200) {
          res.statusCode = status;
          res.end(JSON.stringify({ error: { message: "model overloaded, try later" } }));
        } else {
          res.end(JSON.stringify({ choices: [{ message: { role: "assistant", content: '{"answer": 42}' } }], usage: { prompt_tokens: 7, completion_tokens: 2 } }));
        }
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });

  const files = () => ({
    "workflow.yaml": `
nodes:
  - { id: begin, kind: deterministic, role: start }
  - { id: ask, kind: agent, role: linear, agent: asker }
  - { id: done, kind: deterministic, role: exit }
edges:
  - { from: begin, to: ask }
  - { from: ask, to: done }
`,
    "agents.yaml": `
providers:
  - { id: remote, type: openai, base_url: "${base}/", api_key_env: AGENT_ENGINE_TEST_KEY }
agents:
  - { id: asker, model: gpt-test, prompt: "Q: {{input.q}}", output: json, temperature: 0.5, max_tokens: 20 }
`,
  });

  it("posts to /v1/chat/completions with the key from the environment and parses the reply", async () => {
    status = 200;
    requests.length = 0;
    const { result, events } = await withEnv("AGENT_ENGINE_TEST_KEY", "sk-test-123", () => runWorkflow(files(), { q: "meaning?" }));
    assert.equal(result.status, "success", result.error?.message);
    assert.deepEqual(result.output, { answer: 42 });
    assert.equal(requests.length, 1);
    assert.equal(requests[0]!.url, "/v1/chat/completions");
    assert.equal(requests[0]!.auth, "Bearer sk-test-123");
    assert.deepEqual(requests[0]!.body, { model: "gpt-test", messages: [{ role: "user", content: "Q: meaning?" }], temperature: 0.5, max_tokens: 20 });
    const res = events.find((e) => e.type === "agent.response")!;
    assert.deepEqual((res.payload as { usage: unknown }).usage, { inputTokens: 7, outputTokens: 2 });
    assert.equal((res.payload as { provider: string }).provider, "remote");
  });

  it("HTTP 500 fails the node LLM_FAILED with the server's message", async () => {
    status = 500;
    const { result, events } = await withEnv("AGENT_ENGINE_TEST_KEY", "sk-test-123", () => runWorkflow(files(), { q: "x" }));
    assert.equal(result.status, "failure");
    assert.equal(result.error?.code, "LLM_FAILED");
    assert.match(result.error!.message, /model overloaded, try later/);
    assert.match(result.error!.message, /500/);
    assert.equal(events.filter((e) => e.type === "agent.request").length, 1);
    assert.equal(events.filter((e) => e.type === "agent.response").length, 0);
  });

  it("a missing API key environment variable is a load-time error", async () => {
    const old = process.env["AGENT_ENGINE_TEST_KEY"];
    delete process.env["AGENT_ENGINE_TEST_KEY"];
    try {
      await assert.rejects(runWorkflow(files(), {}), /AGENT_ENGINE_TEST_KEY/);
    } finally {
      if (old !== undefined) process.env["AGENT_ENGINE_TEST_KEY"] = old;
    }
  });
});
