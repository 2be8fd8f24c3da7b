/**
 * The agent loop's own overhead (issue 9): an agent node with a tool loop and structured output,
 * run by the engine on the embedded scripted provider (no network, no latency), side by side
 * with a hand-written loop that makes the same model calls on the same provider and calls the
 * same tool function directly.
 *
 * One operation is one agent run of {@link AGENT_LOOP_STEPS} model calls: turns 1 to 3 each ask
 * for one tool call, turn 4 answers with JSON. The engine side is a whole task (`begin` ->
 * `ask` (agent) -> `done`): the prompt rendered, tools declared, each tool call checked against
 * the allow-list and its argument schema and recorded, `agent.*`/`tool.*`/`node.*` events
 * sealed and retained, the reply validated against `schema_out`, usage summed. The baseline is
 * what a user would write by hand without an engine: build the messages, call
 * `provider.complete()`, call the tool function, `JSON.parse` the answer.
 *
 * The provider's own work (matching its rules) is in both, so the difference per model call is
 * the engine's overhead per step; the report quotes it as a share of a 1 ms provider latency.
 *
 * @module
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { Engine, ScriptedProvider, silentLogger, type ChatMessage, type JsonValue, type LlmRequest, type RunResult, type ScriptedRule, type ToolHandler, type ToolSpec } from "../src/index.js";
import type { BenchCase } from "./harness.js";

/** Model calls in one agent run (tool turns + the final answer). */
export const AGENT_LOOP_STEPS = 4;

/** The provider latency the overhead is quoted against, in nanoseconds (1 ms). */
export const PROVIDER_LATENCY_NS = 1e6;

const AGENT = "researcher";
const MODEL = "bench-model";
const SYSTEM = "You answer questions about the product from its knowledge base. Use the lookup tool.";
const QUESTION = "How do I rotate the API key of a project without downtime?";

const WORKFLOW_YAML = `name: bench-agent-loop
nodes:
  - { id: begin, kind: deterministic, role: start, default: true }
  - { id: ask, kind: agent, agent: ${AGENT}, role: linear }
  - { id: done, kind: deterministic, role: exit }
edges:
  - { from: begin, to: ask }
  - { from: ask, to: done }
`;

const TOOL_DESCRIPTION = "Look up an article of the knowledge base by key";
const TOOL_SCHEMA = { type: "object", required: ["key"], additionalProperties: false, properties: { key: { type: "string", minLength: 1 } } };

const TOOLS_YAML = `tools:
  - id: kb.lookup
    description: ${TOOL_DESCRIPTION}
    schema: ${JSON.stringify(TOOL_SCHEMA)}
`;

const ANSWER_SCHEMA = {
  type: "object",
  required: ["answer", "sources"],
  additionalProperties: false,
  properties: { answer: { type: "string" }, sources: { type: "array", items: { type: "string" } } },
};

/** The scripted replies: a tool call at each of the first turns, then the answer. */
const RULES_YAML = `rules:
${Array.from({ length: AGENT_LOOP_STEPS - 1 }, (_, k) => `  - { agent: ${AGENT}, step: ${k + 1}, tool_calls: [{ name: kb.lookup, args: { key: "article-${k + 1}" } }] }`).join("\n")}
  - agent: ${AGENT}
    step: ${AGENT_LOOP_STEPS}
    response:
      answer: "Create a second key, deploy it, then revoke the first one."
      sources: [${Array.from({ length: AGENT_LOOP_STEPS - 1 }, (_, k) => `article-${k + 1}`).join(", ")}]
`;

const AGENTS_YAML = `default_provider: offline
providers:
  - { id: offline, type: scripted, script_file: ./llm-script.yaml }
agents:
  - id: ${AGENT}
    model: ${MODEL}
    system: "${SYSTEM}"
    prompt: "Question: {{input.question}}"
    tools: [kb.lookup]
    output: json
    schema_out: answer
`;

/** The tool both sides call: a small in-memory knowledge base. */
export const lookup: ToolHandler = (args) => {
  const key = (args as { key: string }).key;
  return { key, title: `Article ${key}`, text: "Keys are rotated by creating a second key, deploying it, then revoking the first; both work in between." };
};

/** The input of every run. */
export const AGENT_LOOP_INPUT = Object.freeze({ question: QUESTION });

/** The tools as declared to the model (the engine sanitizes `kb.lookup` the same way). */
const TOOL_SPECS: readonly ToolSpec[] = [{ name: "kb_lookup", description: TOOL_DESCRIPTION, parameters: TOOL_SCHEMA }];

/**
 * A hand-written agent loop over a provider: what the engine is compared with. The same
 * messages, tools and structured-output request the engine sends; tool calls answered by calling
 * `tool` directly; the final reply parsed. Returns the answer and the model calls made.
 */
export async function directAgentLoop(provider: ScriptedProvider, tool: ToolHandler, signal: AbortSignal): Promise<{ answer: JsonValue; calls: number }> {
  const messages: ChatMessage[] = [
    { role: "system", content: SYSTEM },
    { role: "user", content: `Question: ${AGENT_LOOP_INPUT.question}` },
  ];
  for (let calls = 1; ; calls++) {
    const request: LlmRequest = { agent: AGENT, model: MODEL, messages: messages.slice(), tools: TOOL_SPECS, responseFormat: { type: "json_schema", name: "answer", schema: ANSWER_SCHEMA }, signal };
    const res = await provider.complete(request);
    const toolCalls = res.toolCalls ?? [];
    if (toolCalls.length === 0) return { answer: JSON.parse(res.content) as JsonValue, calls };
    messages.push({ role: "assistant", content: res.content, toolCalls });
    for (const c of toolCalls) {
      const result = await tool(c.args, { taskId: "t", nodeId: "ask", toolId: "kb.lookup", config: {}, signal });
      messages.push({ role: "tool", toolCallId: c.id, name: c.name, content: JSON.stringify(result) });
    }
  }
}

/** Writes the engine side's config directory; `dispose()` removes it. `handlerNode`: `ask` is a deterministic node instead (its handler runs the hand-written loop). */
export function writeAgentLoopConfig(handlerNode = false): { readonly dir: string; dispose(): void } {
  const dir = mkdtempSync(join(tmpdir(), "agent-engine-bench-agent-loop-"));
  mkdirSync(join(dir, "schemas"));
  writeFileSync(join(dir, "workflow.yaml"), handlerNode ? WORKFLOW_YAML.replace(`kind: agent, agent: ${AGENT}`, "kind: deterministic") : WORKFLOW_YAML);
  writeFileSync(join(dir, "tools.yaml"), TOOLS_YAML);
  writeFileSync(join(dir, "agents.yaml"), AGENTS_YAML);
  writeFileSync(join(dir, "llm-script.yaml"), RULES_YAML);
  writeFileSync(join(dir, "schemas", "answer.json"), JSON.stringify(ANSWER_SCHEMA));
  return { dir, dispose: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The answer both sides must end with. */
export const EXPECTED_ANSWER = Object.freeze({
  answer: "Create a second key, deploy it, then revoke the first one.",
  sources: Array.from({ length: AGENT_LOOP_STEPS - 1 }, (_, k) => `article-${k + 1}`),
});

/** The scripted rules, as the engine reads them from llm-script.yaml. */
export function agentLoopRules(): ScriptedRule[] {
  return (parseYaml(RULES_YAML) as { rules: ScriptedRule[] }).rules;
}

/** The pair of cases: the engine's agent node and the hand-written loop. */
export async function agentLoopCases(): Promise<{ cases: BenchCase[]; dispose: () => Promise<void> }> {
  const cfg = writeAgentLoopConfig();
  const engine = await Engine.fromConfigDir(cfg.dir, { tools: { "kb.lookup": lookup }, logger: silentLogger, maxEvents: 10_000 });
  const provider = new ScriptedProvider(agentLoopRules(), "offline");
  const signal = new AbortController().signal;
  // The same workflow whose middle node is a handler running the hand-written loop: the
  // difference to the agent node is the agent runner's own share.
  const handlerCfg = writeAgentLoopConfig(true);
  const handlerEngine = await Engine.fromConfigDir(handlerCfg.dir, {
    tools: { "kb.lookup": lookup },
    logger: silentLogger,
    maxEvents: 10_000,
    handlers: { ask: async (_input, ctx) => (await directAgentLoop(provider, lookup, ctx.signal)).answer },
  });
  let lastRun: RunResult | undefined;
  let lastHandlerRun: RunResult | undefined;
  let lastDirect: { answer: JsonValue; calls: number } | undefined;
  const same = (a: unknown): boolean => JSON.stringify(a) === JSON.stringify(EXPECTED_ANSWER);
  const cases: BenchCase[] = [
    {
      name: "agent-loop-engine",
      group: "agent-loop",
      unit: "run",
      description: `agent-engine: begin -> agent node -> done; ${AGENT_LOOP_STEPS} model calls on the scripted provider (${AGENT_LOOP_STEPS - 1} tool calls through the engine's tool path), JSON answer checked against schema_out, events recorded`,
      async batch(n) {
        for (let i = 0; i < n; i++) lastRun = await engine.run(AGENT_LOOP_INPUT);
      },
      verify() {
        const r = lastRun;
        if (r?.status !== "success" || !same(r.output)) throw new Error(`agent-loop-engine: unexpected result ${JSON.stringify({ status: r?.status, output: r?.output, error: r?.error })}`);
        const requests = engine.getEvents({ type: "agent.request", taskId: r.taskId }).length;
        const tools = engine.getEvents({ type: "tool.completed", taskId: r.taskId }).length;
        if (requests !== AGENT_LOOP_STEPS || tools !== AGENT_LOOP_STEPS - 1 || r.usage?.llmCalls !== AGENT_LOOP_STEPS) {
          throw new Error(`agent-loop-engine: ${requests} model calls and ${tools} tool calls per run, expected ${AGENT_LOOP_STEPS} and ${AGENT_LOOP_STEPS - 1}`);
        }
      },
    },
    {
      name: "agent-loop-handler",
      group: "agent-loop",
      unit: "run",
      description: `the same workflow, the middle node a deterministic handler running the hand-written loop (${AGENT_LOOP_STEPS} provider calls, tool called directly): the workflow's own cost (context)`,
      async batch(n) {
        for (let i = 0; i < n; i++) lastHandlerRun = await handlerEngine.run(AGENT_LOOP_INPUT);
      },
      verify() {
        const r = lastHandlerRun;
        if (r?.status !== "success" || !same(r.output)) throw new Error(`agent-loop-handler: unexpected result ${JSON.stringify({ status: r?.status, output: r?.output, error: r?.error })}`);
      },
    },
    {
      name: "agent-loop-direct",
      group: "agent-loop",
      unit: "run",
      description: `hand-written loop: the same ${AGENT_LOOP_STEPS} provider.complete() calls on the same scripted rules, the tool function called directly, JSON.parse of the answer`,
      async batch(n) {
        for (let i = 0; i < n; i++) lastDirect = await directAgentLoop(provider, lookup, signal);
      },
      verify() {
        if (lastDirect?.calls !== AGENT_LOOP_STEPS || !same(lastDirect.answer)) throw new Error(`agent-loop-direct: unexpected result ${JSON.stringify(lastDirect)}`);
      },
    },
  ];
  return {
    cases,
    dispose: async () => {
      await engine.shutdown();
      await handlerEngine.shutdown();
      cfg.dispose();
      handlerCfg.dispose();
    },
  };
}
