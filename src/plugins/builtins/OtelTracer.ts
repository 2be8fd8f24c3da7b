/**
 * Built-in plugin: OpenTelemetry traces of engine runs, through the official SDK.
 *
 * @module
 */
import type { Attributes, AttributeValue, Context, Span, SpanStatusCode, Tracer } from "@opentelemetry/api";
import type { BasicTracerProvider, SpanExporter, SpanProcessor } from "@opentelemetry/sdk-trace-base";
import type * as OtelApi from "@opentelemetry/api";
import type * as OtelOtlp from "@opentelemetry/exporter-trace-otlp-http";
import type * as OtelResources from "@opentelemetry/resources";
import type * as OtelSdk from "@opentelemetry/sdk-trace-base";
import type { EngineEvent } from "../../telemetry/events.js";
import { PluginBase, type PluginContext } from "../PluginBase.js";
import { epochMs, get, num, str, usageOf } from "./eventFields.js";
import { importOptionalPeers } from "./optionalPeer.js";

/** The npm packages {@link OtelTracer} needs (optional peer dependencies of agent-engine). */
export const OTEL_TRACER_PACKAGES: readonly string[] = Object.freeze([
  "@opentelemetry/api",
  "@opentelemetry/sdk-trace-base",
  "@opentelemetry/resources",
  "@opentelemetry/exporter-trace-otlp-http",
]);

/** Config of {@link OtelTracer} (snake_case, as written in plugins.yaml). */
export interface OtelTracerConfig extends Record<string, unknown> {
  /**
   * OTLP/HTTP traces URL, e.g. `http://127.0.0.1:4318/v1/traces`. Default: the exporter's own
   * default, which honours `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` / `OTEL_EXPORTER_OTLP_ENDPOINT`
   * and otherwise is `http://localhost:4318/v1/traces`.
   */
  readonly endpoint?: string;
  /** Extra HTTP headers sent with each export (e.g. an API key of a hosted backend). */
  readonly headers?: Readonly<Record<string, string>>;
  /** `service.name` of the resource. Default `agent-engine`. */
  readonly service_name?: string;
  /** More resource attributes, e.g. `{ deployment.environment: prod }`. */
  readonly resource_attributes?: Readonly<Record<string, string | number | boolean>>;
  /** Export timeout in milliseconds. Default: the exporter's (10 s). */
  readonly timeout_ms?: number;
  /** Batch spans before export (default true); false exports each span when it ends. */
  readonly batch?: boolean;
  /**
   * Attach node inputs and outputs, agent messages and replies, tool arguments and results as
   * span attributes (JSON, truncated to `max_attribute_chars`). Default false: they may hold
   * personal data.
   */
  readonly capture_content?: boolean;
  /** Longest captured attribute value. Default 4096. */
  readonly max_attribute_chars?: number;
  /**
   * In code only: a `SpanExporter` instance from the OpenTelemetry SDK to use instead of the
   * OTLP/HTTP exporter (e.g. an `InMemorySpanExporter` in tests).
   */
  readonly exporter?: object;
}

interface OtelModules {
  readonly api: typeof OtelApi;
  readonly sdk: typeof OtelSdk;
  readonly resources: typeof OtelResources;
  readonly otlp: typeof OtelOtlp;
}

interface ErrorFields {
  readonly code: string;
  readonly message: string;
}

const SEP = "\u0000";

/**
 * Turns engine events into OpenTelemetry spans and exports them over OTLP/HTTP (JSON):
 *
 * - a `task` span per task (root tasks start a trace; clones and subtasks are children of their
 *   parent task's span),
 * - a `node <id>` span per node execution, child of its task's span,
 * - a `chat <model>` span per LLM call (`agent.request` to `agent.response`) and an
 *   `execute_tool <tool>` span per tool call (`tool.invoked` to `tool.completed`/`tool.failed`),
 *   children of their node's span,
 *
 * with OpenTelemetry GenAI semantic-convention attributes (`gen_ai.operation.name`,
 * `gen_ai.request.model`, `gen_ai.response.model`, `gen_ai.provider.name`, `gen_ai.system`,
 * `gen_ai.usage.input_tokens`, `gen_ai.usage.output_tokens`, `gen_ai.tool.name`, ...), span
 * times taken from the events' timestamps, and an error status (`CODE: message`, plus
 * `error.type` and an `exception` span event) on failed tasks, nodes and tool calls.
 *
 * The OpenTelemetry packages are optional peer dependencies, imported in `onStartup`; when
 * they are missing, startup fails with `PLUGIN_DEPENDENCY_MISSING` naming them
 * ({@link OTEL_TRACER_PACKAGES}). `onShutdown` ends spans still open (as errors), flushes and
 * shuts the tracer provider down. The provider is private to the plugin: the global
 * OpenTelemetry tracer provider is left alone.
 *
 * @example
 * ```yaml
 * # plugins.yaml
 * plugins:
 *   - id: tracing
 *     module: agent-engine/plugins#OtelTracer
 *     config: { endpoint: "http://127.0.0.1:4318/v1/traces", service_name: support-bot }
 * ```
 */
export class OtelTracer extends PluginBase<OtelTracerConfig> {
  private modules: OtelModules | undefined;
  private provider: BasicTracerProvider | undefined;
  private tracer: Tracer | undefined;
  private readonly maxChars: number;
  private readonly capture: boolean;
  /** Task spans by task id (open, or ended but still a parent for late children). */
  private readonly taskSpans = new Map<string, Span>();
  /** Parent task of each clone/subtask, from clone.created / subtask.created. */
  private readonly parentTask = new Map<string, string>();
  /** Open node spans by `taskId SEP nodeId`. */
  private readonly nodeSpans = new Map<string, Span>();
  /** Open LLM-call spans by `taskId SEP nodeId SEP agent`, oldest first. */
  private readonly agentSpans = new Map<string, Span[]>();
  /** Open tool-call spans by `taskId SEP nodeId SEP callId`. */
  private readonly toolSpans = new Map<string, Span>();
  private lastTime = 0;

  constructor(pluginId: string, config: OtelTracerConfig = {}, context: PluginContext = {}) {
    super(pluginId, config, context);
    const c = this.config as Record<string, unknown>;
    if (c.endpoint !== undefined) {
      let ok = false;
      if (typeof c.endpoint === "string") {
        try {
          ok = ["http:", "https:"].includes(new URL(c.endpoint).protocol);
        } catch {
          ok = false;
        }
      }
      if (!ok) throw new TypeError(`config.endpoint must be an http(s) URL such as "http://127.0.0.1:4318/v1/traces", got ${JSON.stringify(c.endpoint)}`);
    }
    if (c.headers !== undefined && (typeof c.headers !== "object" || c.headers === null || Object.values(c.headers).some((v) => typeof v !== "string"))) {
      throw new TypeError("config.headers must map header names to strings, e.g. { x-api-key: secret }");
    }
    if (c.service_name !== undefined && (typeof c.service_name !== "string" || c.service_name.length === 0)) throw new TypeError("config.service_name must be a non-empty string");
    if (c.timeout_ms !== undefined && (typeof c.timeout_ms !== "number" || !(c.timeout_ms > 0))) throw new TypeError("config.timeout_ms must be a positive number of milliseconds");
    if (c.exporter !== undefined && (typeof c.exporter !== "object" || c.exporter === null || typeof (c.exporter as { export?: unknown }).export !== "function")) {
      throw new TypeError("config.exporter must be an OpenTelemetry SpanExporter instance (in code only)");
    }
    const max = c.max_attribute_chars ?? 4096;
    if (typeof max !== "number" || !Number.isInteger(max) || max < 16) throw new TypeError("config.max_attribute_chars must be an integer >= 16");
    this.maxChars = max;
    this.capture = c.capture_content === true;
  }

  /** Imports the OpenTelemetry SDK and builds a private tracer provider with its exporter. */
  override async onStartup(): Promise<void> {
    const modules = await importOptionalPeers(this.pluginId, "OtelTracer", OTEL_TRACER_PACKAGES, async () => ({
      api: await import("@opentelemetry/api"),
      sdk: await import("@opentelemetry/sdk-trace-base"),
      resources: await import("@opentelemetry/resources"),
      otlp: await import("@opentelemetry/exporter-trace-otlp-http"),
    }));
    const c = this.config;
    const exporter: SpanExporter =
      c.exporter !== undefined
        ? (c.exporter as SpanExporter)
        : new modules.otlp.OTLPTraceExporter({
            ...(c.endpoint === undefined ? {} : { url: c.endpoint }),
            ...(c.headers === undefined ? {} : { headers: { ...c.headers } }),
            ...(c.timeout_ms === undefined ? {} : { timeoutMillis: c.timeout_ms }),
          });
    const processor: SpanProcessor = c.batch === false ? new modules.sdk.SimpleSpanProcessor(exporter) : new modules.sdk.BatchSpanProcessor(exporter);
    const resource = modules.resources.resourceFromAttributes({ ...(c.resource_attributes ?? {}), "service.name": c.service_name ?? "agent-engine" });
    this.provider = new modules.sdk.BasicTracerProvider({ resource, spanProcessors: [processor] });
    this.tracer = this.provider.getTracer("agent-engine");
    this.modules = modules;
  }

  /** Opens or ends the span the event describes. */
  onEvent(event: Readonly<EngineEvent>): void {
    const tracer = this.tracer;
    const m = this.modules;
    if (tracer === undefined || m === undefined) throw new Error("OtelTracer is not started (onStartup was not called or failed)");
    const time = epochMs(event.timestamp, this.lastTime || Date.now());
    this.lastTime = Math.max(this.lastTime, time);
    const p: unknown = event.payload;
    const type: string = event.type;
    const taskId = event.taskId;
    const nodeId = event.nodeId;
    switch (type) {
      case "clone.created":
      case "subtask.created": {
        const child = str(p, "childTaskId");
        const parent = str(p, "parentTaskId");
        if (child !== undefined && parent !== undefined) this.parentTask.set(child, parent);
        return;
      }
      case "task.started": {
        const parentId = str(p, "parentTaskId") ?? this.parentTask.get(taskId);
        this.parentTask.delete(taskId);
        const parent = parentId === undefined ? undefined : this.taskSpans.get(parentId);
        const attributes: Attributes = { "agent_engine.task.id": taskId };
        setAttr(attributes, "agent_engine.task.start_node", str(p, "startNode"));
        setAttr(attributes, "agent_engine.task.parent_id", parentId);
        if (this.capture) attributes["agent_engine.task.input"] = this.clip(get(p, "input"));
        const span = tracer.startSpan("task", { startTime: time, attributes, kind: m.api.SpanKind.INTERNAL, root: parent === undefined }, this.contextOf(parent));
        this.taskSpans.set(taskId, span);
        return;
      }
      case "task.completed":
      case "task.failed": {
        const span = this.taskSpans.get(taskId);
        if (span === undefined) return;
        this.taskSpans.delete(taskId);
        const status = str(p, "status") ?? (type === "task.failed" ? "failure" : "success");
        span.setAttribute("agent_engine.task.status", status);
        if (this.capture) span.setAttribute("agent_engine.task.output", this.clip(get(p, "output")));
        if (type === "task.failed") this.fail(span, errorOf(get(p, "error")) ?? { code: "TASK_FAILED", message: `task ${taskId} failed` }, time);
        else span.setStatus({ code: m.api.SpanStatusCode.OK });
        span.end(time);
        return;
      }
      case "node.started": {
        if (nodeId === undefined) return;
        const key = taskId + SEP + nodeId;
        this.nodeSpans.get(key)?.end(time);
        const attributes: Attributes = { "agent_engine.node.id": nodeId, "agent_engine.task.id": taskId };
        setAttr(attributes, "agent_engine.node.role", str(p, "role"));
        setAttr(attributes, "agent_engine.node.kind", str(p, "kind"));
        if (this.capture) attributes["agent_engine.node.input"] = this.clip(get(p, "input"));
        const span = tracer.startSpan(`node ${nodeId}`, { startTime: time, attributes, kind: m.api.SpanKind.INTERNAL }, this.contextOf(this.taskSpans.get(taskId)));
        this.nodeSpans.set(key, span);
        return;
      }
      case "node.completed":
      case "node.failed": {
        if (nodeId === undefined) return;
        const key = taskId + SEP + nodeId;
        const span = this.nodeSpans.get(key);
        if (span === undefined) return;
        this.nodeSpans.delete(key);
        setSpanAttr(span, "agent_engine.node.duration_ms", num(p, "durationMs"));
        if (type === "node.failed") {
          const error = errorOf(get(p, "error")) ?? { code: "NODE_FAILED", message: `node ${nodeId} failed` };
          const continued = get(p, "continued");
          if (typeof continued === "boolean") span.setAttribute("agent_engine.node.continued", continued);
          this.closeChildren(key, time, error);
          this.fail(span, error, time);
        } else {
          this.closeChildren(key, time, undefined);
          if (this.capture) span.setAttribute("agent_engine.node.output", this.clip(get(p, "output")));
          span.setStatus({ code: m.api.SpanStatusCode.OK });
        }
        span.end(time);
        return;
      }
      case "agent.request": {
        const agent = str(p, "agent") ?? "agent";
        const model = str(p, "model");
        const provider = str(p, "provider");
        const attributes: Attributes = { "gen_ai.operation.name": "chat", "gen_ai.agent.name": agent };
        setAttr(attributes, "gen_ai.request.model", model);
        setAttr(attributes, "gen_ai.provider.name", provider);
        setAttr(attributes, "gen_ai.system", provider);
        setAttr(attributes, "agent_engine.agent.step", num(p, "step"));
        setAttr(attributes, "agent_engine.agent.attempt", num(p, "attempt"));
        if (nodeId !== undefined) attributes["agent_engine.node.id"] = nodeId;
        if (this.capture) attributes["gen_ai.input.messages"] = this.clip(get(p, "messages"));
        const parent = this.parentOfCall(taskId, nodeId);
        const span = tracer.startSpan(model === undefined ? "chat" : `chat ${model}`, { startTime: time, attributes, kind: m.api.SpanKind.CLIENT }, this.contextOf(parent));
        const key = callKey(taskId, nodeId, agent);
        const queue = this.agentSpans.get(key);
        if (queue === undefined) this.agentSpans.set(key, [span]);
        else queue.push(span);
        return;
      }
      case "agent.retry": {
        const span = this.agentSpans.get(callKey(taskId, nodeId, str(p, "agent") ?? "agent"))?.at(-1);
        if (span === undefined) return;
        const error = errorOf(get(p, "error"));
        const attributes: Attributes = {};
        setAttr(attributes, "agent_engine.retry.attempt", num(p, "attempt"));
        setAttr(attributes, "agent_engine.retry.delay_ms", num(p, "delayMs"));
        setAttr(attributes, "error.type", error?.code);
        setAttr(attributes, "agent_engine.retry.error", error?.message);
        setAttr(attributes, "http.response.status_code", num(get(p, "error"), "status"));
        span.addEvent("retry", attributes, time);
        return;
      }
      case "agent.response": {
        const key = callKey(taskId, nodeId, str(p, "agent") ?? "agent");
        const queue = this.agentSpans.get(key);
        const span = queue?.shift();
        if (queue !== undefined && queue.length === 0) this.agentSpans.delete(key);
        if (span === undefined) return;
        const usage = usageOf(p);
        setSpanAttr(span, "gen_ai.response.model", str(p, "model"));
        setSpanAttr(span, "gen_ai.usage.input_tokens", usage.inputTokens);
        setSpanAttr(span, "gen_ai.usage.output_tokens", usage.outputTokens);
        setSpanAttr(span, "gen_ai.usage.cache_read.input_tokens", usage.cachedInputTokens);
        setSpanAttr(span, "agent_engine.usage.reasoning_tokens", usage.reasoningTokens);
        setSpanAttr(span, "agent_engine.cost_usd", num(p, "costUsd"));
        setSpanAttr(span, "agent_engine.duration_ms", num(p, "durationMs"));
        const finish = str(p, "finishReason");
        if (finish !== undefined) span.setAttribute("gen_ai.response.finish_reasons", [finish]);
        const toolCalls = get(p, "toolCalls");
        if (Array.isArray(toolCalls)) span.setAttribute("agent_engine.tool_calls", toolCalls.length);
        if (this.capture) span.setAttribute("gen_ai.output.messages", this.clip(get(p, "output")));
        span.end(time);
        return;
      }
      case "tool.invoked": {
        const tool = str(p, "tool") ?? "tool";
        const callId = str(p, "callId") ?? String(event.seq);
        const attributes: Attributes = { "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": tool, "gen_ai.tool.call.id": callId };
        if (nodeId !== undefined) attributes["agent_engine.node.id"] = nodeId;
        if (this.capture) attributes["gen_ai.tool.call.arguments"] = this.clip(get(p, "args"));
        const span = tracer.startSpan(`execute_tool ${tool}`, { startTime: time, attributes, kind: m.api.SpanKind.INTERNAL }, this.contextOf(this.parentOfCall(taskId, nodeId)));
        this.toolSpans.set(callKey(taskId, nodeId, callId), span);
        return;
      }
      case "tool.completed":
      case "tool.failed": {
        const key = callKey(taskId, nodeId, str(p, "callId") ?? "");
        const span = this.toolSpans.get(key);
        if (span === undefined) return;
        this.toolSpans.delete(key);
        setSpanAttr(span, "agent_engine.duration_ms", num(p, "durationMs"));
        if (type === "tool.failed") this.fail(span, errorOf(get(p, "error")) ?? { code: "TOOL_FAILED", message: "tool call failed" }, time);
        else if (this.capture) span.setAttribute("gen_ai.tool.call.result", this.clip(get(p, "result")));
        span.end(time);
        return;
      }
      case "routing.decision":
      case "routing.branch":
      case "routing.split":
      case "routing.merge":
      case "context.failed":
      case "error": {
        // Routing events follow their node's completion, so they land on the node span only
        // while it is open (context.failed, error), else on the task span.
        const target = (nodeId === undefined ? undefined : this.nodeSpans.get(taskId + SEP + nodeId)) ?? this.taskSpans.get(taskId);
        if (target === undefined) return;
        const attributes: Attributes = {};
        setAttr(attributes, "agent_engine.node.id", nodeId);
        setAttr(attributes, "agent_engine.routing.selected", str(p, "selected"));
        setAttr(attributes, "agent_engine.routing.status", str(p, "status"));
        setAttr(attributes, "agent_engine.routing.count", num(p, "count"));
        const error = errorOf(get(p, "error"));
        setAttr(attributes, "error.type", error?.code);
        setAttr(attributes, "agent_engine.error.message", error?.message);
        target.addEvent(type, attributes, time);
        return;
      }
      case "memory.written":
      case "run.interrupted":
      case "run.resumed": {
        // Committed after their node's completion: on the task span (the node id is an attribute).
        const target = this.taskSpans.get(taskId);
        if (target === undefined) return;
        const attributes: Attributes = {};
        setAttr(attributes, "agent_engine.node.id", nodeId);
        setAttr(attributes, "agent_engine.memory.store", str(p, "store"));
        setAttr(attributes, "agent_engine.memory.scope", str(p, "scope"));
        setAttr(attributes, "agent_engine.memory.key", str(p, "key"));
        setAttr(attributes, "agent_engine.memory.deleted", get(p, "deleted") === true ? true : undefined);
        setAttr(attributes, "agent_engine.interrupt.id", str(p, "interruptId"));
        setAttr(attributes, "agent_engine.interrupt.kind", str(p, "kind"));
        target.addEvent(type, attributes, time);
        return;
      }
      default:
        return;
    }
  }

  /** Ends spans still open (as errors: the run did not finish), then flushes and shuts the provider down. */
  override async onShutdown(): Promise<void> {
    const provider = this.provider;
    if (provider === undefined) return;
    const time = this.lastTime || Date.now();
    const unfinished = { code: "RUN_UNFINISHED", message: "the engine shut down before this finished" };
    for (const queue of this.agentSpans.values()) for (const span of queue) this.endFailed(span, unfinished, time);
    for (const span of this.toolSpans.values()) this.endFailed(span, unfinished, time);
    for (const span of this.nodeSpans.values()) this.endFailed(span, unfinished, time);
    for (const span of this.taskSpans.values()) this.endFailed(span, unfinished, time);
    this.agentSpans.clear();
    this.toolSpans.clear();
    this.nodeSpans.clear();
    this.taskSpans.clear();
    this.provider = undefined;
    this.tracer = undefined;
    try {
      await provider.forceFlush();
    } finally {
      await provider.shutdown();
    }
  }

  private contextOf(parent: Span | undefined): Context {
    const api = this.modules!.api;
    return parent === undefined ? api.ROOT_CONTEXT : api.trace.setSpan(api.ROOT_CONTEXT, parent);
  }

  private parentOfCall(taskId: string, nodeId: string | undefined): Span | undefined {
    return (nodeId === undefined ? undefined : this.nodeSpans.get(taskId + SEP + nodeId)) ?? this.taskSpans.get(taskId);
  }

  /** Ends the LLM and tool spans still open under a node that just ended. */
  private closeChildren(nodeKey: string, time: number, error: ErrorFields | undefined): void {
    const prefix = nodeKey + SEP;
    const why = error ?? { code: "CALL_UNFINISHED", message: "the node ended before this call reported a result" };
    for (const [key, queue] of this.agentSpans) {
      if (!key.startsWith(prefix)) continue;
      for (const span of queue) this.endFailed(span, why, time);
      this.agentSpans.delete(key);
    }
    for (const [key, span] of this.toolSpans) {
      if (!key.startsWith(prefix)) continue;
      this.endFailed(span, why, time);
      this.toolSpans.delete(key);
    }
  }

  private fail(span: Span, error: ErrorFields, time: number): void {
    const code: SpanStatusCode = this.modules!.api.SpanStatusCode.ERROR;
    span.setStatus({ code, message: `${error.code}: ${error.message}` });
    span.setAttribute("error.type", error.code);
    span.addEvent("exception", { "exception.type": error.code, "exception.message": error.message }, time);
  }

  private endFailed(span: Span, error: ErrorFields, time: number): void {
    this.fail(span, error, time);
    span.end(time);
  }

  private clip(value: unknown): string {
    let text: string;
    try {
      text = typeof value === "string" ? value : (JSON.stringify(value) ?? "null");
    } catch {
      text = String(value);
    }
    return text.length > this.maxChars ? `${text.slice(0, this.maxChars - 3)}...` : text;
  }
}

function callKey(taskId: string, nodeId: string | undefined, id: string): string {
  return taskId + SEP + (nodeId ?? "") + SEP + id;
}

function errorOf(value: unknown): ErrorFields | undefined {
  const code = str(value, "code");
  const message = str(value, "message");
  if (code === undefined && message === undefined) return undefined;
  return { code: code ?? "ERROR", message: message ?? "" };
}

function setAttr(attributes: Attributes, key: string, value: AttributeValue | undefined): void {
  if (value !== undefined) attributes[key] = value;
}

function setSpanAttr(span: Span, key: string, value: AttributeValue | undefined): void {
  if (value !== undefined) span.setAttribute(key, value);
}
