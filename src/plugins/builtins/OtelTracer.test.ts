import assert from "node:assert/strict";
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { gunzipSync } from "node:zlib";
import { after, describe, it } from "node:test";
import { InMemorySpanExporter, type ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { removeDir, writeConfigDir } from "../../../test/helpers.js";
import { FAILING_INPUT, writeObservedConfig } from "../../../test/observability/fixture.js";
import { Engine } from "../../runtime/Engine.js";
import type { EngineEvent } from "../../telemetry/events.js";
import { silentLogger } from "../../telemetry/logger.js";
import { OtelTracer } from "./OtelTracer.js";

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await removeDir(d);
});

/** The SDK's in-memory exporter, except that shutdown keeps the finished spans for the test to read. */
class KeepingExporter extends InMemorySpanExporter {
  override shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

function hrToMs(t: readonly [number, number]): number {
  return t[0] * 1000 + t[1] / 1e6;
}

function eventTime(events: readonly EngineEvent[], type: string, nodeId?: string, taskId?: string): number {
  const e = events.find((x) => x.type === type && (nodeId === undefined || x.nodeId === nodeId) && (taskId === undefined || x.taskId === taskId));
  assert.ok(e, `no ${type} event for ${nodeId ?? "-"}`);
  return Date.parse(e.timestamp);
}

describe("OtelTracer", () => {
  it("makes task, node, LLM-call and tool-call spans of a real run, parented by lineage, with GenAI attributes and event times", async () => {
    const dir = await writeObservedConfig();
    dirs.push(dir);
    const exporter = new KeepingExporter();
    const engine = await Engine.fromConfigDir(dir, { logger: silentLogger, plugins: [new OtelTracer("otel", { exporter, service_name: "observed-test", capture_content: true })] });
    const result = await engine.run(FAILING_INPUT);
    const events = engine.getEvents();
    await engine.shutdown();
    assert.equal(result.status, "partial");

    const spans = exporter.getFinishedSpans();
    const byId = new Map(spans.map((s) => [s.spanContext().spanId, s]));
    const parentOf = (s: ReadableSpan) => {
      const id = s.parentSpanContext?.spanId;
      return id === undefined ? undefined : byId.get(id);
    };
    const tasks = spans.filter((s) => s.name === "task");
    const taskIds = new Set(events.filter((e) => e.type === "task.started").map((e) => e.taskId));
    assert.equal(tasks.length, taskIds.size);
    assert.equal(tasks.length, 6, "root, two clones, three subtasks");
    // One trace; the root task span is its root; clones and subtasks are children of the root task span.
    assert.equal(new Set(spans.map((s) => s.spanContext().traceId)).size, 1);
    const root = tasks.find((s) => s.parentSpanContext === undefined);
    assert.ok(root);
    assert.equal(root.attributes["agent_engine.task.id"], result.taskId);
    for (const t of tasks.filter((s) => s !== root)) assert.equal(parentOf(t), root, `task ${String(t.attributes["agent_engine.task.id"])}`);
    assert.equal(root.resource.attributes["service.name"], "observed-test");

    // Every node span sits under its own task's span.
    const nodeSpans = spans.filter((s) => s.name.startsWith("node "));
    assert.equal(nodeSpans.length, events.filter((e) => e.type === "node.started").length);
    for (const n of nodeSpans) assert.equal(parentOf(n)?.attributes["agent_engine.task.id"], n.attributes["agent_engine.task.id"]);

    // LLM calls under their node, with GenAI attributes.
    const chats = spans.filter((s) => s.attributes["gen_ai.operation.name"] === "chat");
    assert.deepEqual(chats.map((s) => s.name).sort(), ["chat scripted-large", "chat scripted-small"]);
    const triage = chats.find((s) => s.name === "chat scripted-small")!;
    assert.equal(parentOf(triage)?.name, "node triage");
    assert.equal(triage.attributes["gen_ai.request.model"], "scripted-small");
    assert.equal(triage.attributes["gen_ai.response.model"], "scripted-small");
    assert.equal(triage.attributes["gen_ai.provider.name"], "offline");
    assert.equal(triage.attributes["gen_ai.system"], "offline");
    assert.equal(triage.attributes["gen_ai.agent.name"], "triager");
    assert.equal(triage.attributes["gen_ai.usage.input_tokens"], 20);
    assert.equal(triage.attributes["gen_ai.usage.output_tokens"], 1);
    assert.equal(triage.attributes["gen_ai.output.messages"], "urgent");
    assert.equal(triage.kind, 2 /* CLIENT */);

    // The tool call under the node that made it.
    const tool = spans.find((s) => s.name === "execute_tool kb");
    assert.ok(tool);
    assert.equal(parentOf(tool)?.name, "node lookup");
    assert.equal(tool.attributes["gen_ai.tool.name"], "kb");
    assert.equal(tool.attributes["gen_ai.operation.name"], "execute_tool");
    assert.equal(tool.status.code, 0);

    // The failure: the node span and its clone's task span are errors with code and message.
    const lookup = nodeSpans.find((s) => s.name === "node lookup")!;
    assert.equal(lookup.status.code, 2 /* ERROR */);
    assert.match(lookup.status.message ?? "", /^HANDLER_FAILED: knowledge base down for urgent <img/);
    assert.equal(lookup.attributes["error.type"], "HANDLER_FAILED");
    assert.ok(lookup.events.some((e) => e.name === "exception" && e.attributes?.["exception.type"] === "HANDLER_FAILED"));
    const lookupTask = parentOf(lookup)!;
    assert.equal(lookupTask.status.code, 2);
    assert.equal(lookupTask.attributes["agent_engine.task.status"], "failure");
    assert.equal(root.attributes["agent_engine.task.status"], "partial");
    assert.equal(nodeSpans.find((s) => s.name === "node draft")!.status.code, 1 /* OK */);
    // The decision is recorded on the task's span, naming the node.
    assert.ok(root.events.some((e) => e.name === "routing.decision" && e.attributes?.["agent_engine.routing.selected"] === "urgent" && e.attributes["agent_engine.node.id"] === "triage"));

    // Span times are the events' timestamps.
    assert.equal(hrToMs(root.startTime), eventTime(events, "task.started", undefined, result.taskId));
    assert.equal(hrToMs(root.endTime), eventTime(events, "task.completed", undefined, result.taskId));
    assert.equal(hrToMs(lookup.startTime), eventTime(events, "node.started", "lookup"));
    assert.equal(hrToMs(lookup.endTime), eventTime(events, "node.failed", "lookup"));
    assert.equal(hrToMs(triage.startTime), eventTime(events, "agent.request", "triage"));
    assert.equal(hrToMs(triage.endTime), eventTime(events, "agent.response", "triage"));
  });

  it("exports a real run's spans over OTLP/HTTP to a receiver on 127.0.0.1, loaded from plugins.yaml", async () => {
    const bodies: { path: string; headers: IncomingMessage["headers"]; json: unknown }[] = [];
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        let raw = Buffer.concat(chunks);
        if (req.headers["content-encoding"] === "gzip") raw = gunzipSync(raw);
        bodies.push({ path: req.url ?? "", headers: req.headers, json: JSON.parse(raw.toString("utf8")) });
        res.writeHead(200, { "content-type": "application/json" });
        res.end("{}");
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    try {
      const { port } = server.address() as AddressInfo;
      const pluginsYaml = `
plugins:
  - id: tracing
    module: agent-engine/plugins#OtelTracer
    required: true
    config:
      endpoint: "http://127.0.0.1:${port}/v1/traces"
      headers: { x-team: observability }
      service_name: observed
`;
      const dir = await writeObservedConfig({ "plugins.yaml": pluginsYaml });
      dirs.push(dir);
      const engine = await Engine.fromConfigDir(dir, { logger: silentLogger });
      const result = await engine.run(FAILING_INPUT);
      const report = await engine.shutdown();
      assert.equal(report.complete, true);
      assert.ok(bodies.length > 0, "the receiver got at least one export");
      assert.ok(bodies.every((b) => b.path === "/v1/traces" && b.headers["x-team"] === "observability" && String(b.headers["content-type"]).startsWith("application/json")));

      interface OtlpSpan {
        traceId: string;
        spanId: string;
        parentSpanId?: string;
        name: string;
        attributes: { key: string; value: Record<string, unknown> }[];
        status?: { code?: number; message?: string };
      }
      const spans: OtlpSpan[] = [];
      const services = new Set<unknown>();
      for (const b of bodies) {
        for (const rs of (b.json as { resourceSpans: { resource: { attributes: OtlpSpan["attributes"] }; scopeSpans: { spans: OtlpSpan[] }[] }[] }).resourceSpans) {
          services.add(rs.resource.attributes.find((a) => a.key === "service.name")?.value.stringValue);
          for (const ss of rs.scopeSpans) spans.push(...ss.spans);
        }
      }
      assert.deepEqual([...services], ["observed"]);
      const attr = (s: OtlpSpan, key: string) => {
        const v = s.attributes.find((a) => a.key === key)?.value;
        return v === undefined ? undefined : (v.stringValue ?? v.intValue ?? v.boolValue ?? v.doubleValue);
      };
      const events = engine.getEvents();
      assert.equal(spans.filter((s) => s.name === "task").length, new Set(events.map((e) => e.taskId)).size);
      assert.equal(spans.filter((s) => s.name.startsWith("node ")).length, events.filter((e) => e.type === "node.started").length);
      const byId = new Map(spans.map((s) => [s.spanId, s]));
      const root = spans.find((s) => s.name === "task" && !s.parentSpanId)!;
      assert.equal(attr(root, "agent_engine.task.id"), result.taskId);
      assert.equal(new Set(spans.map((s) => s.traceId)).size, 1);
      const chat = spans.find((s) => s.name === "chat scripted-large")!;
      assert.equal(byId.get(chat.parentSpanId!)?.name, "node draft");
      assert.equal(attr(chat, "gen_ai.request.model"), "scripted-large");
      assert.equal(Number(attr(chat, "gen_ai.usage.input_tokens")), 30);
      assert.equal(Number(attr(chat, "gen_ai.usage.output_tokens")), 5);
      const tool = spans.find((s) => s.name === "execute_tool kb")!;
      assert.equal(byId.get(tool.parentSpanId!)?.name, "node lookup");
      const lookup = spans.find((s) => s.name === "node lookup")!;
      assert.equal(lookup.status?.code, 2);
      assert.match(lookup.status?.message ?? "", /^HANDLER_FAILED: /);
      // Content is not captured unless asked for.
      assert.equal(attr(chat, "gen_ai.output.messages"), undefined);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it("memory writes and the interrupt and resume of a real run are events on their task's span", async () => {
    const dir = await writeConfigDir({
      "workflow.yaml": [
        "nodes:",
        "  - { id: learn, kind: deterministic, role: start }",
        "  - { id: review, kind: deterministic, role: linear, interrupt: before }",
        "  - { id: done, kind: deterministic, role: exit }",
        "edges:",
        "  - { from: learn, to: review }",
        "  - { from: review, to: done }",
        "",
      ].join("\n"),
      "memory.yaml": "stores:\n  - { id: facts, kind: kv, scope: project }\n",
    });
    dirs.push(dir);
    const exporter = new KeepingExporter();
    const engine = await Engine.fromConfigDir(dir, {
      logger: silentLogger,
      plugins: [new OtelTracer("otel", { exporter, batch: false })],
      handlers: {
        learn: (input, ctx) => {
          ctx.memory.put("facts", "city", "Lisbon");
          ctx.memory.delete("facts", "town");
          return input;
        },
      },
    });
    const first = await engine.run({});
    assert.equal(first.status, "interrupted");
    const done = await engine.resume(first.runId, { answer: { approve: true } });
    assert.equal(done.status, "success");
    await engine.shutdown();
    const tasks = exporter.getFinishedSpans().filter((s) => s.name === "task");
    assert.equal(tasks.length, 1, "one task span, ended when the resumed task completed");
    const task = tasks[0]!;
    assert.equal(task.status.code, 1 /* OK */);
    const events = task.events.map((e) => [e.name, e.attributes?.["agent_engine.node.id"], e.attributes?.["agent_engine.memory.store"] ?? e.attributes?.["agent_engine.interrupt.id"]]);
    assert.deepEqual(events, [
      ["memory.written", "learn", "facts"],
      ["memory.written", "learn", "facts"],
      ["run.interrupted", "review", first.interrupt!.id],
      ["run.resumed", "review", first.interrupt!.id],
    ]);
    const written = task.events[0]!.attributes!;
    assert.equal(written["agent_engine.memory.scope"], "project");
    assert.equal(written["agent_engine.memory.key"], "city");
    assert.equal(written["agent_engine.memory.deleted"], undefined, "a put has no deleted attribute");
    const deleted = task.events[1]!.attributes!;
    assert.equal(deleted["agent_engine.memory.key"], "town");
    assert.equal(deleted["agent_engine.memory.deleted"], true);
    assert.equal(task.events[2]!.attributes!["agent_engine.interrupt.kind"], "before");
  });

  it("rejects bad config with a clear message", () => {
    assert.throws(() => new OtelTracer("t", { endpoint: "localhost:4318" }), /config\.endpoint must be an http\(s\) URL/);
    assert.throws(() => new OtelTracer("t", { headers: { a: 1 } as unknown as Record<string, string> }), /config\.headers/);
    assert.throws(() => new OtelTracer("t", { exporter: {} }), /SpanExporter/);
  });

  it("ends spans still open at shutdown as errors", async () => {
    const exporter = new KeepingExporter();
    const tracer = new OtelTracer("otel", { exporter, batch: false });
    await tracer.onStartup();
    const base = { id: "e", taskId: "t1", timestamp: "2026-01-01T00:00:00.000Z" };
    tracer.onEvent({ ...base, seq: 1, type: "task.started", payload: { input: null, startNode: "a", lineage: [] } });
    tracer.onEvent({ ...base, seq: 2, type: "node.started", nodeId: "a", timestamp: "2026-01-01T00:00:01.000Z", payload: { role: "start", kind: "deterministic", input: null } });
    await tracer.onShutdown();
    const spans = exporter.getFinishedSpans();
    assert.deepEqual(spans.map((s) => [s.name, s.status.code, s.attributes["error.type"]]).sort(), [
      ["node a", 2, "RUN_UNFINISHED"],
      ["task", 2, "RUN_UNFINISHED"],
    ]);
    assert.throws(() => tracer.onEvent({ ...base, seq: 3, type: "task.started", payload: { input: null, startNode: "a", lineage: [] } }), /not started/);
  });

  it("reads newer agent fields defensively: cost, cached and reasoning tokens, finish reason, tool calls, retries", async () => {
    const exporter = new KeepingExporter();
    const tracer = new OtelTracer("otel", { exporter, batch: false });
    await tracer.onStartup();
    const at = (s: number) => `2026-01-01T00:00:0${s}.000Z`;
    const base = { id: "e", taskId: "t1" };
    const events: unknown[] = [
      { ...base, seq: 1, type: "task.started", timestamp: at(0), payload: { input: null, startNode: "a", lineage: [] } },
      { ...base, seq: 2, type: "node.started", nodeId: "a", timestamp: at(1), payload: { role: "start", kind: "agent", input: null } },
      { ...base, seq: 3, type: "agent.request", nodeId: "a", timestamp: at(2), payload: { agent: "ag", model: "m-1", provider: "openai", step: 1, attempt: 1, messages: [], tools: [] } },
      { ...base, seq: 4, type: "agent.retry", nodeId: "a", timestamp: at(3), payload: { agent: "ag", provider: "openai", attempt: 2, delayMs: 250, error: { code: "LLM_FAILED", message: "rate limited", status: 429 } } },
      { ...base, seq: 5, type: "agent.response", nodeId: "a", timestamp: at(4), payload: { agent: "ag", model: "m-1-2026", provider: "openai", step: 1, attempt: 1, output: "", toolCalls: [{ id: "c1", name: "kb", args: {} }], finishReason: "tool_calls", usage: { inputTokens: 100, outputTokens: 7, cachedInputTokens: 64, reasoningTokens: 3 }, costUsd: 0.0012, durationMs: 2000 } },
      // A request whose response never comes (the provider failed): ended with the node's error.
      { ...base, seq: 6, type: "agent.request", nodeId: "a", timestamp: at(5), payload: { agent: "ag", model: "m-1", provider: "openai", step: 2, attempt: 1, messages: [], tools: [] } },
      { ...base, seq: 7, type: "node.failed", nodeId: "a", timestamp: at(6), payload: { role: "start", kind: "agent", error: { code: "LLM_FAILED", message: "gave up" }, continued: false, durationMs: 5000 } },
      { ...base, seq: 8, type: "task.failed", timestamp: at(7), payload: { status: "failure", output: null, error: { code: "LLM_FAILED", message: "gave up" } } },
    ];
    for (const e of events) tracer.onEvent(e as never);
    await tracer.onShutdown();
    const spans = exporter.getFinishedSpans();
    const [first, second] = spans.filter((s) => s.name === "chat m-1").sort((a, b) => hrToMs(a.startTime) - hrToMs(b.startTime));
    assert.ok(first && second);
    assert.equal(first.attributes["gen_ai.response.model"], "m-1-2026");
    assert.equal(first.attributes["gen_ai.usage.input_tokens"], 100);
    assert.equal(first.attributes["gen_ai.usage.output_tokens"], 7);
    assert.equal(first.attributes["gen_ai.usage.cache_read.input_tokens"], 64);
    assert.equal(first.attributes["agent_engine.usage.reasoning_tokens"], 3);
    assert.equal(first.attributes["agent_engine.cost_usd"], 0.0012);
    assert.deepEqual(first.attributes["gen_ai.response.finish_reasons"], ["tool_calls"]);
    assert.equal(first.attributes["agent_engine.tool_calls"], 1);
    assert.equal(first.attributes["agent_engine.agent.step"], 1);
    const retry = first.events.find((e) => e.name === "retry");
    assert.equal(retry?.attributes?.["agent_engine.retry.attempt"], 2);
    assert.equal(retry?.attributes?.["http.response.status_code"], 429);
    assert.equal(second.status.code, 2);
    assert.equal(second.status.message, "LLM_FAILED: gave up");
    assert.equal(hrToMs(second.endTime), Date.parse(at(6)));
  });
});
