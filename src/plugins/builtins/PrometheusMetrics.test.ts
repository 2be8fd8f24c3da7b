import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { register as globalRegister } from "prom-client";
import { removeDir } from "../../../test/helpers.js";
import { FAILING_INPUT, ROUTINE_INPUT, writeObservedConfig } from "../../../test/observability/fixture.js";
import { Engine } from "../../runtime/Engine.js";
import { silentLogger } from "../../telemetry/logger.js";
import { PrometheusMetrics } from "./PrometheusMetrics.js";

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await removeDir(d);
});

/** Parses the Prometheus text format into `name{labels}` -> value (labels sorted by name). */
function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `unparsable line: ${line}`);
    const labels = [...(m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map((l) => `${l[1]}=${l[2]}`).sort();
    out.set(`${m[1]}{${labels.join(",")}}`, Number(m[3]));
  }
  return out;
}

describe("PrometheusMetrics", () => {
  it("serves per node, agent, tool and task metrics of real runs at /metrics on 127.0.0.1, and closes the server on shutdown", async () => {
    const dir = await writeObservedConfig({
      "plugins.yaml": `
plugins:
  - id: metrics
    module: agent-engine/plugins#PrometheusMetrics
    required: true
    config: { port: 0, labels: { service: observed } }
`,
    });
    dirs.push(dir);
    const engine = await Engine.fromConfigDir(dir, { logger: silentLogger });
    const plugin = engine.getPluginRegistry().get("metrics") as PrometheusMetrics;
    const url = plugin.url;
    assert.ok(url !== undefined);
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    await engine.run(FAILING_INPUT);
    await engine.run(ROUTINE_INPUT);

    const res = await fetch(url);
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /^text\/plain/);
    const metrics = parseMetrics(await res.text());
    const get = (key: string) => metrics.get(key);
    assert.equal(get("agent_engine_tasks_total{kind=root,service=observed,status=partial}"), 1);
    assert.equal(get("agent_engine_tasks_total{kind=root,service=observed,status=success}"), 1);
    assert.equal(get("agent_engine_tasks_total{kind=child,service=observed,status=failure}"), 1, "the failed clone");
    assert.equal(get("agent_engine_tasks_total{kind=child,service=observed,status=success}"), 4, "one clone and three subtasks");
    assert.equal(get("agent_engine_node_executions_total{kind=deterministic,node=lookup,role=linear,service=observed,status=failure}"), 1);
    assert.equal(get("agent_engine_node_executions_total{kind=agent,node=triage,role=decision,service=observed,status=success}"), 2);
    assert.equal(get("agent_engine_node_executions_total{kind=deterministic,node=worker_a,role=linear,service=observed,status=success}"), 2);
    assert.equal(get("agent_engine_node_duration_seconds_count{node=triage,service=observed,status=success}"), 2);
    assert.equal(get("agent_engine_node_duration_seconds_count{node=lookup,service=observed,status=failure}"), 1);
    assert.equal(get("agent_engine_agent_calls_total{agent=triager,model=scripted-small,provider=offline,service=observed}"), 2);
    assert.equal(get("agent_engine_agent_tokens_total{agent=triager,model=scripted-small,service=observed,type=input}"), 38);
    assert.equal(get("agent_engine_agent_tokens_total{agent=triager,model=scripted-small,service=observed,type=output}"), 2);
    assert.equal(get("agent_engine_agent_tokens_total{agent=writer,model=scripted-large,service=observed,type=input}"), 30);
    assert.equal(get("agent_engine_agent_call_duration_seconds_count{agent=writer,model=scripted-large,service=observed}"), 1);
    assert.equal(get("agent_engine_tool_calls_total{service=observed,status=success,tool=kb}"), 1);
    assert.equal(get("agent_engine_tool_call_duration_seconds_count{service=observed,status=success,tool=kb}"), 1);
    // The same text as scrape(); nothing lands in prom-client's global registry.
    assert.deepEqual(parseMetrics(await plugin.scrape()), metrics);
    assert.equal(globalRegister.getSingleMetric("agent_engine_tasks_total"), undefined);
    assert.equal((await fetch(url.replace("/metrics", "/other"))).status, 404);

    await engine.shutdown();
    assert.equal(plugin.url, undefined);
    await assert.rejects(fetch(url), "the server is closed after shutdown");
  });

  it("counts defensively: cost, cached and reasoning tokens and retries when the events carry them", async () => {
    const plugin = new PrometheusMetrics("m", { prefix: "x_" });
    await plugin.onStartup();
    const base = { id: "e", taskId: "t", nodeId: "n", timestamp: "2026-01-01T00:00:00.000Z" } as const;
    // Newer payload fields (costUsd, cached/reasoning tokens, agent.retry) arrive as plain data.
    const response = { ...base, seq: 1, type: "agent.response", payload: { agent: "a", model: "m1", provider: "p", output: "hi", durationMs: 1500, costUsd: 0.25, usage: { inputTokens: 10, outputTokens: 4, cachedInputTokens: 6, reasoningTokens: 2 } } };
    plugin.onEvent(response as never);
    plugin.onEvent({ ...base, seq: 2, type: "agent.retry", payload: { agent: "a", provider: "p", attempt: 1, delayMs: 10, error: { code: "LLM_FAILED", message: "429" } } } as never);
    plugin.onEvent({ ...base, seq: 3, type: "agent.response", payload: { agent: "a", model: "m1", provider: "p", step: 1, attempt: 1, output: "no usage", toolCalls: [], durationMs: 5 } });
    const m = parseMetrics(await plugin.scrape());
    assert.equal(m.get("x_agent_cost_usd_total{agent=a,model=m1}"), 0.25);
    assert.equal(m.get("x_agent_tokens_total{agent=a,model=m1,type=cached_input}"), 6);
    assert.equal(m.get("x_agent_tokens_total{agent=a,model=m1,type=reasoning}"), 2);
    assert.equal(m.get("x_agent_retries_total{agent=a,provider=p}"), 1);
    assert.equal(m.get("x_agent_calls_total{agent=a,model=m1,provider=p}"), 2);
    assert.equal(m.get('x_agent_call_duration_seconds_bucket{agent=a,le=1,model=m1}'), 1);
    assert.equal(m.get('x_agent_call_duration_seconds_bucket{agent=a,le=2.5,model=m1}'), 2);
    await plugin.onShutdown();
  });

  it("rejects bad config, and a port in use is a startup error naming it", async () => {
    assert.throws(() => new PrometheusMetrics("m", { port: 70000 }), /config\.port/);
    assert.throws(() => new PrometheusMetrics("m", { prefix: "bad-prefix" }), /config\.prefix/);
    const first = new PrometheusMetrics("a", { port: 0 });
    await first.onStartup();
    try {
      const port = Number(new URL(first.url!).port);
      const second = new PrometheusMetrics("b", { port });
      await assert.rejects(second.onStartup(), new RegExp(`cannot serve metrics on 127\\.0\\.0\\.1:${port}: EADDRINUSE`));
    } finally {
      await first.onShutdown();
    }
  });
});
