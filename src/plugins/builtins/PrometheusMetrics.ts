/**
 * Built-in plugin: Prometheus metrics of engine runs, through prom-client.
 *
 * @module
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Counter, Histogram, Registry } from "prom-client";
import type { EngineEvent } from "../../telemetry/events.js";
import { PluginBase, type PluginContext } from "../PluginBase.js";
import { num, str, usageOf } from "./eventFields.js";
import { importOptionalPeers } from "./optionalPeer.js";

/** The npm packages {@link PrometheusMetrics} needs (optional peer dependencies of agent-engine). */
export const PROMETHEUS_METRICS_PACKAGES: readonly string[] = Object.freeze(["prom-client"]);

/** Config of {@link PrometheusMetrics} (snake_case, as written in plugins.yaml). */
export interface PrometheusMetricsConfig extends Record<string, unknown> {
  /** Serve `/metrics` over HTTP on this port (0: any free port, see {@link PrometheusMetrics.url}). Default: no server. */
  readonly port?: number;
  /** Interface the server binds. Default `127.0.0.1` (loopback only); set it explicitly (e.g. `0.0.0.0`) to expose metrics. */
  readonly host?: string;
  /** HTTP path of the metrics. Default `/metrics`. */
  readonly path?: string;
  /** Prefix of every metric name. Default `agent_engine_`. */
  readonly prefix?: string;
  /** Labels added to every series, e.g. `{ service: support-bot }`. */
  readonly labels?: Readonly<Record<string, string>>;
  /** Histogram buckets, in seconds. Default `[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120]`. */
  readonly buckets?: readonly number[];
  /** Also collect prom-client's default process metrics (CPU, memory, event loop) into this registry. Default false. */
  readonly default_metrics?: boolean;
}

/**
 * The part of prom-client's `Registry` that {@link PrometheusMetrics.registry} promises (kept
 * structural so agent-engine's types do not need prom-client installed); the object is a real
 * prom-client `Registry`: cast it to use the rest.
 */
export interface MetricsRegistry {
  /** The metrics in the Prometheus text format. */
  metrics(): Promise<string>;
  /** Content type of {@link metrics}. */
  readonly contentType: string;
}

const DEFAULT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

interface Metrics {
  readonly tasks: Counter;
  readonly nodes: Counter;
  readonly nodeSeconds: Histogram;
  readonly agentCalls: Counter;
  readonly agentSeconds: Histogram;
  readonly agentTokens: Counter;
  readonly agentCost: Counter;
  readonly agentRetries: Counter;
  readonly tools: Counter;
  readonly toolSeconds: Histogram;
}

/**
 * Counts and times what the engine does, in a prom-client `Registry` of its own (never the
 * global one), optionally served at `http://127.0.0.1:<port>/metrics`:
 *
 * | metric (default prefix `agent_engine_`) | type | labels |
 * |---|---|---|
 * | `tasks_total` | counter | `status` (success, partial, failure), `kind` (root, child) |
 * | `node_executions_total` | counter | `node`, `role`, `kind`, `status` (success, failure) |
 * | `node_duration_seconds` | histogram | `node`, `status` |
 * | `agent_calls_total` | counter | `agent`, `model`, `provider` |
 * | `agent_call_duration_seconds` | histogram | `agent`, `model` |
 * | `agent_tokens_total` | counter | `agent`, `model`, `type` (input, output, cached_input, reasoning) |
 * | `agent_cost_usd_total` | counter | `agent`, `model` |
 * | `agent_retries_total` | counter | `agent`, `provider` |
 * | `tool_calls_total` | counter | `tool`, `status` |
 * | `tool_call_duration_seconds` | histogram | `tool`, `status` |
 *
 * Durations come from the events' `durationMs`. prom-client is an optional peer dependency,
 * imported in `onStartup` (missing: `PLUGIN_DEPENDENCY_MISSING`). `onShutdown` closes the server.
 *
 * @example
 * ```yaml
 * # plugins.yaml
 * plugins:
 *   - id: metrics
 *     module: agent-engine/plugins#PrometheusMetrics
 *     config: { port: 9464 }     # scrape http://127.0.0.1:9464/metrics
 * ```
 */
export class PrometheusMetrics extends PluginBase<PrometheusMetricsConfig> {
  private registryValue: Registry | undefined;
  private metrics: Metrics | undefined;
  private server: Server | undefined;
  private urlValue: string | undefined;
  /** Root task ids seen (to label tasks root or child); entries leave when the task ends. */
  private readonly roots = new Set<string>();

  constructor(pluginId: string, config: PrometheusMetricsConfig = {}, context: PluginContext = {}) {
    super(pluginId, config, context);
    const c = this.config as Record<string, unknown>;
    if (c.port !== undefined && (typeof c.port !== "number" || !Number.isInteger(c.port) || c.port < 0 || c.port > 65535)) {
      throw new TypeError(`config.port must be an integer from 0 to 65535, got ${JSON.stringify(c.port)}`);
    }
    if (c.host !== undefined && (typeof c.host !== "string" || c.host.length === 0)) throw new TypeError("config.host must be a non-empty string such as 127.0.0.1");
    if (c.path !== undefined && (typeof c.path !== "string" || !c.path.startsWith("/"))) throw new TypeError('config.path must start with "/", e.g. /metrics');
    if (c.prefix !== undefined && (typeof c.prefix !== "string" || !/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(c.prefix))) throw new TypeError("config.prefix must be a valid Prometheus metric name prefix, e.g. agent_engine_");
    if (c.buckets !== undefined && (!Array.isArray(c.buckets) || c.buckets.length === 0 || c.buckets.some((b) => typeof b !== "number" || !(b > 0)))) {
      throw new TypeError("config.buckets must be a non-empty list of positive numbers (seconds)");
    }
    if (c.labels !== undefined && (typeof c.labels !== "object" || c.labels === null || Object.values(c.labels).some((v) => typeof v !== "string"))) {
      throw new TypeError("config.labels must map label names to strings");
    }
  }

  /** The plugin's own prom-client `Registry` (undefined before `onStartup`), e.g. to merge with another registry or push. */
  get registry(): MetricsRegistry | undefined {
    return this.registryValue;
  }

  /** URL of the metrics endpoint once the server listens (`config.port` given), e.g. `http://127.0.0.1:9464/metrics`. */
  get url(): string | undefined {
    return this.urlValue;
  }

  /** The metrics in the Prometheus text format. */
  async scrape(): Promise<string> {
    if (this.registryValue === undefined) throw new Error("PrometheusMetrics is not started");
    return this.registryValue.metrics();
  }

  /** Imports prom-client, creates the registry and metrics, and starts the server when `port` is set. */
  override async onStartup(): Promise<void> {
    const prom = await importOptionalPeers(this.pluginId, "PrometheusMetrics", PROMETHEUS_METRICS_PACKAGES, () => import("prom-client"));
    const c = this.config;
    const p = c.prefix ?? "agent_engine_";
    const buckets = [...(c.buckets ?? DEFAULT_BUCKETS)];
    const registers = [new prom.Registry()];
    const registry = registers[0]!;
    if (c.labels !== undefined) registry.setDefaultLabels({ ...c.labels });
    this.metrics = {
      tasks: new prom.Counter({ name: `${p}tasks_total`, help: "Tasks ended, by status and kind (root or child: clone or subtask).", labelNames: ["status", "kind"], registers }),
      nodes: new prom.Counter({ name: `${p}node_executions_total`, help: "Node executions ended, by node, role, kind and status.", labelNames: ["node", "role", "kind", "status"], registers }),
      nodeSeconds: new prom.Histogram({ name: `${p}node_duration_seconds`, help: "Node execution time in seconds.", labelNames: ["node", "status"], buckets, registers }),
      agentCalls: new prom.Counter({ name: `${p}agent_calls_total`, help: "LLM calls answered, by agent, model and provider.", labelNames: ["agent", "model", "provider"], registers }),
      agentSeconds: new prom.Histogram({ name: `${p}agent_call_duration_seconds`, help: "LLM call latency in seconds.", labelNames: ["agent", "model"], buckets, registers }),
      agentTokens: new prom.Counter({ name: `${p}agent_tokens_total`, help: "Tokens used by LLM calls, by agent, model and type (input, output, cached_input, reasoning).", labelNames: ["agent", "model", "type"], registers }),
      agentCost: new prom.Counter({ name: `${p}agent_cost_usd_total`, help: "Cost of LLM calls in US dollars (models with pricing in agents.yaml).", labelNames: ["agent", "model"], registers }),
      agentRetries: new prom.Counter({ name: `${p}agent_retries_total`, help: "LLM calls retried by the provider, by agent and provider.", labelNames: ["agent", "provider"], registers }),
      tools: new prom.Counter({ name: `${p}tool_calls_total`, help: "Tool calls ended, by tool and status.", labelNames: ["tool", "status"], registers }),
      toolSeconds: new prom.Histogram({ name: `${p}tool_call_duration_seconds`, help: "Tool call time in seconds.", labelNames: ["tool", "status"], buckets, registers }),
    };
    if (c.default_metrics === true) prom.collectDefaultMetrics({ register: registry, prefix: p });
    this.registryValue = registry;
    if (c.port !== undefined) await this.listen(registry, c.port, c.host ?? "127.0.0.1", c.path ?? "/metrics");
  }

  /** Counts the event. */
  onEvent(event: Readonly<EngineEvent>): void {
    const m = this.metrics;
    if (m === undefined) throw new Error("PrometheusMetrics is not started (onStartup was not called or failed)");
    const p: unknown = event.payload;
    const type: string = event.type;
    switch (type) {
      case "task.started":
        if (str(p, "parentTaskId") === undefined) this.roots.add(event.taskId);
        return;
      case "task.completed":
      case "task.failed": {
        const kind = this.roots.delete(event.taskId) ? "root" : "child";
        m.tasks.inc({ status: str(p, "status") ?? (type === "task.failed" ? "failure" : "success"), kind });
        return;
      }
      case "node.completed":
      case "node.failed": {
        const node = event.nodeId ?? "";
        const status = type === "node.failed" ? "failure" : "success";
        m.nodes.inc({ node, role: str(p, "role") ?? "", kind: str(p, "kind") ?? "", status });
        const ms = num(p, "durationMs");
        if (ms !== undefined) m.nodeSeconds.observe({ node, status }, ms / 1000);
        return;
      }
      case "agent.response": {
        const agent = str(p, "agent") ?? "";
        const model = str(p, "model") ?? "";
        m.agentCalls.inc({ agent, model, provider: str(p, "provider") ?? "" });
        const ms = num(p, "durationMs");
        if (ms !== undefined) m.agentSeconds.observe({ agent, model }, ms / 1000);
        const usage = usageOf(p);
        const tokens: [string, number | undefined][] = [
          ["input", usage.inputTokens],
          ["output", usage.outputTokens],
          ["cached_input", usage.cachedInputTokens],
          ["reasoning", usage.reasoningTokens],
        ];
        for (const [kind, n] of tokens) if (n !== undefined && n >= 0) m.agentTokens.inc({ agent, model, type: kind }, n);
        const cost = num(p, "costUsd");
        if (cost !== undefined && cost >= 0) m.agentCost.inc({ agent, model }, cost);
        return;
      }
      case "agent.retry":
        m.agentRetries.inc({ agent: str(p, "agent") ?? "", provider: str(p, "provider") ?? "" });
        return;
      case "tool.completed":
      case "tool.failed": {
        const tool = str(p, "tool") ?? "";
        const status = type === "tool.failed" ? "failure" : "success";
        m.tools.inc({ tool, status });
        const ms = num(p, "durationMs");
        if (ms !== undefined) m.toolSeconds.observe({ tool, status }, ms / 1000);
        return;
      }
      default:
        return;
    }
  }

  /** Closes the metrics server (open scrapes are cut). */
  override async onShutdown(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    this.urlValue = undefined;
    if (server === undefined) return;
    server.closeAllConnections();
    await new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
  }

  private async listen(registry: Registry, port: number, host: string, path: string): Promise<void> {
    const server = createServer((req, res) => {
      const url = new URL(req.url ?? "/", "http://localhost");
      if (url.pathname !== path) {
        res.writeHead(404, { "content-type": "text/plain" }).end(`not found; metrics are at ${path}\n`);
        return;
      }
      if (req.method !== "GET" && req.method !== "HEAD") {
        res.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain" }).end("method not allowed\n");
        return;
      }
      registry.metrics().then(
        (text) => res.writeHead(200, { "content-type": registry.contentType }).end(req.method === "HEAD" ? undefined : text),
        (err: unknown) => res.writeHead(500, { "content-type": "text/plain" }).end(`metrics failed: ${String(err)}\n`),
      );
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => {
        server.off("error", reject);
        resolve();
      });
    }).catch((err: unknown) => {
      throw new Error(`cannot serve metrics on ${host}:${port}: ${(err as { code?: string }).code ?? String(err)}; choose another port (or 0 for any free one)`, { cause: err });
    });
    server.unref();
    const address = server.address() as AddressInfo;
    this.server = server;
    const shownHost = address.family === "IPv6" ? `[${address.address}]` : address.address;
    this.urlValue = `http://${shownHost}:${address.port}${path}`;
  }
}
