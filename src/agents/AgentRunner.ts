/**
 * Runs agent nodes: renders the prompt, declares the agent's tools, loops model turns and tool
 * calls until a final answer, enforces budgets, validates (and repairs) structured output, and
 * records `agent.*` and `tool.*` events, usage and cost. Optionally records every call to, or
 * replays it from, a recording (see `recording.ts`).
 *
 * @module
 */
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import type { AgentManifest, AgentsManifest, ModelPricing, ProviderManifest } from "../config/types.js";
import { compileJsonSchema, formatValidationErrors } from "../config/jsonSchema.js";
import { manifestSchema } from "../config/manifestSchemas.js";
import { compileSchema } from "../dag/compileSchema.js";
import type { CompiledSchema } from "../dag/types.js";
import { EngineError, StageError, errorMessage, type ErrorCode, type ErrorDetail } from "../errors.js";
import { isInstance, readSafely, settleOnce } from "../guard.js";
import { freezeShell, sealJson, type JsonValue } from "../json.js";
import type { EventPayloads, TokenUsage } from "../telemetry/events.js";
import type { ToolCallRecord } from "../runtime/types.js";
import { expandAllowList } from "../tools/allowList.js";
import { createHttpProvider, secretsOf, type ProviderConfig } from "./providers/index.js";
import type { Recorder } from "./recording.js";
import { redactSecrets } from "./recording.js";
import { compileTemplate, type CompiledTemplate } from "./render.js";
import { ScriptedProvider, type ScriptedRule } from "./ScriptedProvider.js";
import type { CallHooks, ChatMessage, LlmProvider, LlmRequest, LlmResponse, RetryInfo, ToolCall, ToolSpec } from "./types.js";

type AgentEventType = "agent.request" | "agent.response" | "agent.retry" | "tool.invoked" | "tool.completed" | "tool.failed";

/** Where agent and tool events go while a node runs (the runtime's stage scope). */
export interface AgentEventScope {
  readonly taskId: string;
  readonly nodeId: string;
  readonly signal: AbortSignal;
  readonly toolCalls: ToolCallRecord[];
  nextCallId(): string;
  emit<T extends AgentEventType>(type: T, payload: EventPayloads[T]): void;
}

/** What the model is told about a tool (from tools.yaml, or an MCP server). */
export interface AgentToolInfo {
  readonly description?: string;
  /** JSON Schema of the arguments. */
  readonly parameters?: Readonly<Record<string, unknown>>;
}

/** Options of {@link AgentRunner.create}. */
export interface AgentRunnerOptions {
  readonly manifest: AgentsManifest | undefined;
  readonly configDir: string;
  readonly file?: string;
  /** Overrides every provider of agents.yaml. */
  readonly llm?: LlmProvider;
  /** Environment for `api_key_env`; default `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** JSON Schemas of `schemas/`, by stem (for `schema_out`). */
  readonly schemas?: ReadonlyMap<string, unknown>;
  /** Every tool id (for `mcp_id.*` in an agent's `tools:`). */
  readonly toolIds?: () => readonly string[];
  /** Description and argument schema of a tool. */
  readonly toolInfo?: (toolId: string) => AgentToolInfo | undefined;
  /** Record every LLM call to, or replay it from, this recording. */
  readonly recorder?: Recorder;
}

/** Per-call options of {@link AgentRunner.run}, supplied by the engine. */
export interface AgentRunOptions {
  /** The node's outbound labels when it is a decision: offered to the model as the allowed answers. */
  readonly labels?: readonly string[];
  /** The node's own `tools:` (added to the agent's). */
  readonly nodeTools?: readonly string[];
  /** Runs one tool call through the engine's tool path (schema, permissions, events). */
  readonly callTool?: (toolId: string, args: JsonValue, scope: AgentEventScope) => Promise<JsonValue>;
  /** Per-run usage totals. */
  readonly usage?: UsageTotals;
  /** `{{resume}}`: the answer to an interrupt. */
  readonly resume?: JsonValue;
}

/** Token and cost totals of a run (`RunResult.usage`). */
export interface RunUsage {
  /** LLM calls made (repairs included; replayed calls count). */
  readonly llmCalls: number;
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly cachedInputTokens: number;
  readonly reasoningTokens: number;
  /** Sum of `costUsd` of the responses of models with a `pricing:` entry. */
  readonly costUsd: number;
}

/**
 * Accumulates usage of one run. Token counts are integers, so their sums do not depend on the
 * order in which concurrent agent nodes report; costs are summed in a fixed order (by task, node
 * and step), so totals are deterministic.
 */
export class UsageTotals {
  private llmCalls = 0;
  private inputTokens = 0;
  private outputTokens = 0;
  private cachedInputTokens = 0;
  private reasoningTokens = 0;
  private readonly costs: { readonly key: string; readonly usd: number }[] = [];

  /** Adds one response's usage; `costKey` (task, node, step) orders cost sums and is only asked for when there is a cost. */
  add(usage: TokenUsage | undefined, costUsd: number | undefined, costKey: () => string): void {
    this.llmCalls++;
    if (usage) {
      this.inputTokens += usage.inputTokens;
      this.outputTokens += usage.outputTokens;
      this.cachedInputTokens += usage.cachedInputTokens ?? 0;
      this.reasoningTokens += usage.reasoningTokens ?? 0;
    }
    if (costUsd !== undefined) this.costs.push({ key: costKey(), usd: costUsd });
  }

  /**
   * Adds the LLM calls of a stage committed earlier, from its recorded events (a resumed run
   * replays such stages without calling the model again). `stageKey` is the journal's
   * `<taskId>\u0000<nodeId>\u0000<attempt>`.
   */
  addRecorded(stageKey: string, events: readonly (readonly [string, unknown, string])[]): void {
    const [taskId, nodeId] = stageKey.split("\u0000");
    for (const [type, payload] of events) {
      if (type !== "agent.response" || payload === null || typeof payload !== "object") continue;
      const p = payload as { step?: unknown; usage?: TokenUsage; costUsd?: unknown };
      this.add(p.usage, typeof p.costUsd === "number" ? p.costUsd : undefined, () => `${taskId ?? ""}\u0000${nodeId ?? ""}\u0000${String(p.step).padStart(6, "0")}`);
    }
  }

  /** `undefined` when no LLM call was made. */
  totals(): RunUsage | undefined {
    if (this.llmCalls === 0) return undefined;
    const sorted = this.costs.length > 1 ? [...this.costs].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)) : this.costs;
    let costUsd = 0;
    for (const c of sorted) costUsd += c.usd;
    return Object.freeze({
      llmCalls: this.llmCalls,
      inputTokens: this.inputTokens,
      outputTokens: this.outputTokens,
      cachedInputTokens: this.cachedInputTokens,
      reasoningTokens: this.reasoningTokens,
      costUsd: round(costUsd),
    });
  }
}

/** `AGENT_OUTPUT_INVALID`: carries the model's last reply and the validation errors. */
export class AgentOutputError extends StageError {
  constructor(
    message: string,
    /** The model's last reply text. */
    readonly raw: string,
    /** Why it was rejected. */
    readonly validation: readonly string[],
  ) {
    super("AGENT_OUTPUT_INVALID", message);
    this.name = "AgentOutputError";
  }
}

interface PreparedAgent {
  readonly manifest: AgentManifest;
  readonly schemaOut?: CompiledSchema & { readonly raw: Readonly<Record<string, unknown>> };
  readonly pricing?: ModelPricing;
  /** `system` and `prompt`, parsed once. */
  readonly system?: CompiledTemplate;
  readonly prompt: CompiledTemplate;
  /** Whether the templates place `{{context}}` themselves (else it gets a system message). */
  readonly mentionsContext: boolean;
}

/**
 * What one agent on one node sends besides the conversation, computed once per (agent, node
 * tools, decision labels): the tools as declared to the model, the structured-output request,
 * the fixed system messages.
 */
interface CallPlan {
  readonly tools: AgentTools;
  readonly specs: readonly ToolSpec[] | undefined;
  readonly sealedTools: JsonValue;
  readonly responseFormat: LlmRequest["responseFormat"];
  /** System messages after the context: the decision's labels, the schema for providers without structured output. */
  readonly instructions: readonly ChatMessage[];
}

interface ProviderEntry {
  readonly provider: LlmProvider;
  readonly type: ProviderManifest["type"] | "custom";
}

/** Secret values (API keys, secret-looking headers) of the providers in agents.yaml, to redact everywhere. */
export function providerSecrets(manifest: AgentsManifest | undefined, env: Readonly<Record<string, string | undefined>> = process.env): readonly string[] {
  const out = new Set<string>();
  for (const p of manifest?.providers ?? []) {
    if (p.type === "scripted") continue;
    for (const s of secretsOf(httpConfig(p), env as NodeJS.ProcessEnv)) out.add(s);
  }
  return Object.freeze([...out]);
}

/** Default `max_steps`. */
export const DEFAULT_MAX_STEPS = 8;
/** Default `repair_attempts`. */
export const DEFAULT_REPAIR_ATTEMPTS = 1;

const TOOL_NAME = /^[a-zA-Z0-9_-]{1,64}$/;
const NO_CALLS: JsonValue = sealJson([]);

/** Runs agents declared in agents.yaml. */
export class AgentRunner {
  /** Call plans by agent, node tools and decision labels (few: one per agent node at most). */
  private readonly plans = new Map<string, CallPlan>();

  private constructor(
    private readonly agents: ReadonlyMap<string, PreparedAgent>,
    private readonly providers: ReadonlyMap<string, ProviderEntry>,
    private readonly defaultProvider: string | undefined,
    private readonly override: LlmProvider | undefined,
    /** API key values, redacted from everything the runner emits. */
    readonly secrets: readonly string[],
    private readonly options: AgentRunnerOptions,
  ) {}

  /** Builds providers (reading scripted `script_file`s) once, at engine start. */
  static async create(options: AgentRunnerOptions): Promise<AgentRunner> {
    const m = options.manifest;
    const env = options.env ?? process.env;
    const providers = new Map<string, ProviderEntry>();
    const problems: ErrorDetail[] = [];
    const secrets = providerSecrets(m, env);
    const at = (d: ErrorDetail, i: number): ErrorDetail => ({ ...d, file: d.file ?? options.file, path: d.file && d.file !== options.file ? d.path : `/providers/${i}${d.path ?? ""}` });
    if (!options.llm) {
      for (const [i, p] of (m?.providers ?? []).entries()) {
        try {
          providers.set(p.id, { provider: await buildProvider(p, options), type: p.type });
        } catch (err) {
          if (err instanceof EngineError) problems.push(...err.details.map((d) => at(d, i)));
          else problems.push({ code: "CONFIG_SCHEMA", file: options.file, path: `/providers/${i}`, message: errorMessage(err) });
        }
      }
    }
    const agents = new Map<string, PreparedAgent>();
    for (const [i, a] of (m?.agents ?? []).entries()) {
      let schemaOut: PreparedAgent["schemaOut"];
      if (a.schema_out !== undefined) {
        const raw = typeof a.schema_out === "string" ? options.schemas?.get(a.schema_out) : a.schema_out;
        if (raw === undefined || raw === null || typeof raw !== "object") {
          problems.push({ code: "CONFIG_SCHEMA_REF", file: options.file, path: `/agents/${i}/schema_out`, message: `schema_out ${JSON.stringify(a.schema_out)} of agent "${a.id}" names no schema in schemas/; add schemas/${String(a.schema_out)}.json or inline the schema` });
        } else {
          try {
            schemaOut = Object.freeze({ ...compileSchema(typeof a.schema_out === "string" ? a.schema_out : "output", raw), raw: raw as Record<string, unknown> });
          } catch (err) {
            problems.push({ code: "CONFIG_INVALID_JSON_SCHEMA", file: options.file, path: `/agents/${i}/schema_out`, message: `schema_out of agent "${a.id}" is not a valid JSON Schema: ${errorMessage(err)}` });
          }
        }
      }
      const pricing = m?.pricing?.[a.model];
      const prompt = a.prompt ?? "{{input}}";
      agents.set(a.id, {
        manifest: a,
        ...(schemaOut ? { schemaOut } : {}),
        ...(pricing ? { pricing } : {}),
        ...(a.system ? { system: compileTemplate(a.system, `system of agent "${a.id}"`) } : {}),
        prompt: compileTemplate(prompt, `prompt of agent "${a.id}"`),
        mentionsContext: prompt.includes("{{context") || (a.system ?? "").includes("{{context"),
      });
    }
    if (problems.length > 0) throw new EngineError(problems);
    const defaultProvider = m?.default_provider ?? (m?.providers?.length === 1 ? m.providers[0]!.id : undefined);
    return new AgentRunner(agents, providers, defaultProvider, options.llm, secrets, options);
  }

  /** The provider an agent uses. */
  providerFor(agentId: string): LlmProvider {
    return this.entryFor(agentId).provider;
  }

  private entryFor(agentId: string): ProviderEntry {
    if (this.override) return { provider: this.override, type: "custom" };
    const agent = this.agents.get(agentId);
    const id = agent?.manifest.provider ?? this.defaultProvider;
    const p = id === undefined ? undefined : this.providers.get(id);
    if (!p) {
      throw new EngineError({
        code: "AGENT_FAILED",
        message: `agent "${agentId}" has no LLM provider: declare one under providers: in agents.yaml (type: scripted for offline runs), set default_provider, or pass options.llm`,
      });
    }
    return p;
  }

  /** Checks every agent resolves to a provider; returns problems (for engine start). */
  check(file?: string): ErrorDetail[] {
    const out: ErrorDetail[] = [];
    for (const [id] of this.agents) {
      try {
        this.providerFor(id);
      } catch (err) {
        out.push({ ...(err as EngineError).details[0]!, ...(file ? { file } : {}) });
      }
    }
    return out;
  }

  /**
   * Runs one agent node to its final answer: model turns and tool calls, within budgets.
   *
   * @returns the reply text (`output: text`) or the parsed, validated JSON (`output: json`).
   * @throws {@link StageError} with `AGENT_BUDGET_EXCEEDED`, `AGENT_OUTPUT_INVALID`, `LLM_FAILED`,
   * `TEMPLATE_MISSING_VALUE`, `REPLAY_MISS`...
   */
  async run(agentId: string, input: JsonValue, context: JsonValue, scope: AgentEventScope, call: AgentRunOptions = {}): Promise<JsonValue> {
    const prepared = this.agents.get(agentId);
    if (!prepared) throw new StageError("AGENT_FAILED", `unknown agent "${agentId}"`);
    const agent = prepared.manifest;
    const entry = this.entryFor(agentId);
    const provider = entry.provider;
    const values: Record<string, JsonValue | undefined> = { input, context, ...(call.resume === undefined ? {} : { resume: call.resume }) };
    const plan = this.planFor(agentId, prepared, entry, call);
    const { tools, specs, sealedTools, responseFormat } = plan;
    const schema = prepared.schemaOut;
    const json = agent.output === "json";

    // The conversation, each message sealed once as it is added (so a step's request and its
    // agent.request event share them instead of copying the whole conversation at every step),
    // and, when a provider has secrets, the redacted copy the events and the recording show.
    const secrets = this.secrets;
    const messages: ChatMessage[] = [];
    const shown: JsonValue[] | undefined = secrets.length === 0 ? undefined : [];
    const add = (m: ChatMessage): void => {
      const sealed = sealJson(m);
      messages.push(sealed as unknown as ChatMessage);
      shown?.push(sealJson(scrub(sealed, secrets)));
    };
    if (prepared.system) add({ role: "system", content: prepared.system(values) });
    if (context !== null && !prepared.mentionsContext) add({ role: "system", content: `Context:\n${JSON.stringify(context)}` });
    for (const m of plan.instructions) add(m);
    add({ role: "user", content: prepared.prompt(values) });

    const maxSteps = agent.max_steps ?? DEFAULT_MAX_STEPS;
    let repairsLeft = agent.repair_attempts ?? DEFAULT_REPAIR_ATTEMPTS;
    let step = 0;
    let attempt = 1;
    let toolCallsUsed = 0;
    let tokensUsed = 0;
    let costUsed = 0;
    const budget = (name: string, limit: number, used: number, what: string): never => {
      throw new StageError("AGENT_BUDGET_EXCEEDED", `agent "${agentId}": budget ${name} ${limit} reached (used ${used}); ${what}. Raise ${name} in agents.yaml or simplify the task`);
    };

    for (;;) {
      // Budgets are checked before every call: no call is ever made past one.
      if (step + 1 > maxSteps) budget("max_steps", maxSteps, step, "the model would need another turn");
      if (agent.max_tokens_total !== undefined && tokensUsed >= agent.max_tokens_total) budget("max_tokens_total", agent.max_tokens_total, tokensUsed, "no tokens left for another call");
      if (agent.max_cost_usd !== undefined && costUsed >= agent.max_cost_usd) budget("max_cost_usd", agent.max_cost_usd, round(costUsed), "no budget left for another call");
      step++;
      // A frozen copy of the array (its messages are shared): what this step sent, for good.
      const sent = sealJson(messages) as unknown as readonly ChatMessage[];
      const request: LlmRequest = {
        agent: agentId,
        model: agent.model,
        messages: sent,
        ...(specs ? { tools: specs } : {}),
        ...(responseFormat ? { responseFormat } : {}),
        ...(agent.temperature === undefined ? {} : { temperature: agent.temperature }),
        ...(agent.max_tokens === undefined ? {} : { maxTokens: agent.max_tokens }),
        signal: scope.signal,
      };
      const shownMessages = shown === undefined ? (sent as unknown as JsonValue) : sealJson(shown);
      const res = await this.callModel(agentId, provider, request, shownMessages, sealedTools, step, attempt, scope, prepared.pricing, call.usage, tools.byName);
      tokensUsed += (res.usage?.inputTokens ?? 0) + (res.usage?.outputTokens ?? 0);
      costUsed += res.costUsd ?? 0;

      const calls = res.response.toolCalls ?? [];
      if (calls.length > 0) {
        add({ role: "assistant", content: res.response.content, toolCalls: calls });
        if (agent.max_tool_calls !== undefined && toolCallsUsed + calls.length > agent.max_tool_calls) {
          budget("max_tool_calls", agent.max_tool_calls, toolCallsUsed, `the model asked for ${calls.length} more`);
        }
        toolCallsUsed += calls.length;
        for (const m of await this.runTools(calls, tools, scope, call)) add(m);
        attempt = 1;
        continue;
      }

      const text = res.response.content;
      if (!json) return text;
      const validation = validateReply(text, schema);
      if (validation.ok) return validation.value;
      if (repairsLeft > 0) {
        repairsLeft--;
        attempt++;
        add({ role: "assistant", content: text });
        add({
          role: "user",
          content: `Your reply was not valid:\n${validation.errors.map((e) => `- ${e}`).join("\n")}\nReply again with only the corrected JSON${schema ? " matching the schema" : ""}.`,
        });
        continue;
      }
      throw new AgentOutputError(
        `agent "${agentId}" did not return valid JSON${schema ? ` matching schema_out "${schema.name}"` : ""} after ${attempt} attempt(s): ${validation.errors.slice(0, 5).join("; ")}`,
        text,
        Object.freeze(validation.errors.slice()),
      );
    }
  }

  /** One model call: `agent.request`, the provider (or the recording), `agent.response`. */
  private async callModel(
    agentId: string,
    provider: LlmProvider,
    request: LlmRequest,
    /** The request's messages as events show them (sealed, secrets redacted). */
    sealedMessages: JsonValue,
    sealedTools: JsonValue,
    step: number,
    attempt: number,
    scope: AgentEventScope,
    pricing: ModelPricing | undefined,
    totals: UsageTotals | undefined,
    byName: ReadonlyMap<string, string>,
  ): Promise<{ response: LlmResponse; usage?: TokenUsage; costUsd?: number }> {
    const secrets = this.secrets;
    scope.emit("agent.request", { agent: agentId, model: request.model, provider: provider.name, step, attempt, messages: sealedMessages, tools: sealedTools });
    const started = performance.now();
    const recorder = this.options.recorder;
    const keyRequest: JsonValue | undefined = recorder
      ? sealJson({
          provider: provider.name,
          model: request.model,
          messages: sealedMessages,
          tools: request.tools ? sealJson(request.tools) : [],
          params: {
            ...(request.temperature === undefined ? {} : { temperature: request.temperature }),
            ...(request.maxTokens === undefined ? {} : { maxTokens: request.maxTokens }),
            ...(request.responseFormat ? { responseFormat: sealJson(request.responseFormat) } : {}),
          },
        })
      : undefined;
    // Retries are kept only for the recording; the events are emitted as they happen.
    const retries: RetryInfo[] = [];
    const hooks: CallHooks = {
      onRetry: (info) => {
        if (recorder) retries.push(info);
        scope.emit("agent.retry", retryPayload(agentId, provider.name, info, secrets));
      },
    };
    let response: LlmResponse;
    if (recorder?.mode === "replay") {
      const hit = recorder.lookup("llm", keyRequest!);
      if (!hit.found) throw new StageError("REPLAY_MISS", `agent "${agentId}" (${provider.name}/${request.model}), step ${step}: ${hit.message}`);
      const rec = hit.response as { error?: { code: string; message: string }; retries?: RetryInfo[]; response?: LlmResponse };
      for (const r of rec.retries ?? []) scope.emit("agent.retry", retryPayload(agentId, provider.name, r, secrets));
      if (rec.error) throw new StageError(codeOf(rec.error.code, "LLM_FAILED"), rec.error.message);
      response = rec.response ?? { content: "" };
    } else {
      try {
        // settleOnce, not await: a provider's thenable that resolves with itself must not spin
        // the microtask queue (the node's timeout could never fire).
        response = (await settleOnce(provider.complete(request, hooks))).value as LlmResponse;
      } catch (err) {
        // A provider's rejection is a foreign value: every read is total.
        const code = codeOf(readSafely(err, "code"), "LLM_FAILED");
        const message = redactSecrets(`agent "${agentId}" (${provider.name}/${request.model}): ${engineMessage(err) ?? errorMessage(err)}`, secrets);
        if (recorder) recorder.record("llm", keyRequest!, sealJson({ error: { code, message }, ...(retries.length > 0 ? { retries: scrub(retries, secrets) } : {}) }));
        throw new StageError(code, message, { cause: err });
      }
      if (!response || typeof response.content !== "string") {
        throw new StageError("LLM_FAILED", `agent "${agentId}" (${provider.name}/${request.model}): the provider returned no content string`);
      }
      response = scrub(normalizeResponse(response), secrets);
      if (recorder) recorder.record("llm", keyRequest!, sealJson({ response, ...(retries.length > 0 ? { retries: scrub(retries, secrets) } : {}) }));
    }
    const usage = cleanUsage(response.usage);
    const costUsd = pricing && usage ? costOf(usage, pricing) : undefined;
    const calls = response.toolCalls;
    // Optional fields set in place (key order as documented, durationMs last).
    const payload = {
      agent: agentId,
      model: request.model,
      provider: provider.name,
      step,
      attempt,
      output: response.content,
      toolCalls: calls === undefined ? NO_CALLS : sealJson(calls.map((c) => ({ id: c.id, name: byName.get(c.name) ?? c.name, args: c.args }))),
    } as { -readonly [K in keyof EventPayloads["agent.response"]]: EventPayloads["agent.response"][K] };
    if (response.finishReason !== undefined) payload.finishReason = response.finishReason;
    if (usage) payload.usage = usage;
    if (costUsd !== undefined) payload.costUsd = costUsd;
    payload.durationMs = performance.now() - started;
    scope.emit("agent.response", payload);
    totals?.add(usage, costUsd, () => `${scope.taskId}\u0000${scope.nodeId}\u0000${String(step).padStart(6, "0")}`);
    return { response, ...(usage ? { usage } : {}), ...(costUsd === undefined ? {} : { costUsd }) };
  }

  /** Runs the model's tool calls concurrently; events and results in the model's call order. */
  private async runTools(calls: readonly ToolCall[], tools: AgentTools, scope: AgentEventScope, call: AgentRunOptions): Promise<ChatMessage[]> {
    if (calls.length === 1) {
      // One call: nothing to reorder, its events go straight to the stage.
      const c = calls[0]!;
      return [toolMessage(c, await this.runTool(c, tools, scope, call))];
    }
    // Each call gets a buffered scope (call ids assigned now, in order); buffers are flushed in
    // call order, so the event sequence does not depend on which tool finishes first.
    const buffers = calls.map(() => new BufferedScope(scope, scope.nextCallId()));
    const outcomes = await Promise.all(calls.map((c, k) => this.runTool(c, tools, buffers[k]!, call)));
    for (const b of buffers) b.flush();
    return calls.map((c, k) => toolMessage(c, outcomes[k]!));
  }

  /** One tool call through the engine's tool path; a refusal or a tool's error is an outcome, not a throw (but `REPLAY_MISS` is). */
  private async runTool(c: ToolCall, tools: AgentTools, scope: AgentEventScope, call: AgentRunOptions): Promise<ToolOutcome> {
    const toolId = tools.byName.get(c.name);
    if (toolId === undefined || !call.callTool) {
      const message = `tool "${c.name}" is not available to this agent; it may call: ${tools.specs.map((s) => s.name).join(", ") || "no tools"}`;
      refuseCall(scope, c.name, c.args, message);
      return { ok: false, code: "TOOL_NOT_ALLOWED", message };
    }
    try {
      return { ok: true, result: await call.callTool(toolId, c.args, scope) };
    } catch (err) {
      const code = codeOf((err as { code?: unknown } | null)?.code, "TOOL_FAILED");
      if (code === "REPLAY_MISS") throw err;
      return { ok: false, code, message: redactSecrets(errorMessage(err), this.secrets) };
    }
  }

  /** The {@link CallPlan} of an agent on a node, computed on first use. */
  private planFor(agentId: string, prepared: PreparedAgent, entry: ProviderEntry, call: AgentRunOptions): CallPlan {
    const labels = call.labels && call.labels.length > 0 ? call.labels : undefined;
    const key = `${agentId}\u0000${call.nodeTools?.join("\u0001") ?? ""}\u0000${labels?.join("\u0001") ?? ""}`;
    let plan = this.plans.get(key);
    if (plan !== undefined) return plan;
    const agent = prepared.manifest;
    const tools = this.toolsFor(agent, call.nodeTools);
    const json = agent.output === "json";
    const schema = prepared.schemaOut;
    // Structured output: the agent's schema_out; for a decision, with `selected_edge` limited to
    // the outbound labels (or a schema of just that when the agent has none), so the labels are
    // the allowed answers. Replies are still validated against schema_out alone: the router
    // matches the label leniently and reports ROUTING_NO_MATCH with the labels.
    let responseFormat: LlmRequest["responseFormat"];
    if (json && labels) {
      const name = schema ? toolName(schema.name === "inline" ? "output" : schema.name) : "decision";
      responseFormat = { type: "json_schema", name, schema: sealJson(decisionSchema(labels, schema?.raw)) as Readonly<Record<string, unknown>> };
    } else if (json && schema) {
      responseFormat = { type: "json_schema", name: toolName(schema.name === "inline" ? "output" : schema.name), schema: schema.raw };
    }
    const instructions: ChatMessage[] = [];
    if (labels) {
      const list = labels.map((l) => JSON.stringify(l)).join(", ");
      instructions.push({ role: "system", content: json ? `Choose the next step: reply with JSON whose "selected_edge" is exactly one of: ${list}.` : `Choose the next step: reply with exactly one of: ${list}, and nothing else.` });
    }
    if (responseFormat && entry.type !== "openai" && entry.type !== "scripted") {
      instructions.push({ role: "system", content: `Reply with only a JSON value (no prose, no code fence) matching this JSON Schema:\n${JSON.stringify(responseFormat.schema)}` });
    }
    plan = Object.freeze({
      tools,
      specs: tools.specs.length > 0 ? tools.specs : undefined,
      sealedTools: sealJson(tools.specs),
      responseFormat,
      instructions: sealJson(instructions) as unknown as readonly ChatMessage[],
    });
    this.plans.set(key, plan);
    return plan;
  }

  /** The agent's tools as declared to the model, and the map back from names to tool ids. */
  private toolsFor(agent: AgentManifest, nodeTools: readonly string[] | undefined): AgentTools {
    const ids = expandAllowList([...(agent.tools ?? []), ...(nodeTools ?? [])], this.options.toolIds?.() ?? []);
    const specs: ToolSpec[] = [];
    const byName = new Map<string, string>();
    for (const id of ids) {
      let name = toolName(id);
      for (let n = 2; byName.has(name); n++) name = `${toolName(id).slice(0, 60)}_${n}`;
      byName.set(name, id);
      const info = this.options.toolInfo?.(id);
      specs.push(freezeShell({ name, ...(info?.description ? { description: info.description } : {}), parameters: info?.parameters ?? { type: "object", additionalProperties: true } }));
    }
    // Also accept the plain tool id (scripted rules name tools by id).
    for (const id of ids) if (!byName.has(id)) byName.set(id, id);
    return { specs, byName };
  }
}

interface AgentTools {
  readonly specs: readonly ToolSpec[];
  /** Name the model uses (sanitized, or the plain id) -> tool id. */
  readonly byName: ReadonlyMap<string, string>;
}

/** A scope for one tool call whose events are held until {@link flush}. */
class BufferedScope implements AgentEventScope {
  readonly toolCalls: ToolCallRecord[] = [];
  private readonly events: [AgentEventType, unknown][] = [];
  constructor(
    private readonly parent: AgentEventScope,
    private readonly callId: string,
  ) {}
  get taskId(): string {
    return this.parent.taskId;
  }
  get nodeId(): string {
    return this.parent.nodeId;
  }
  get signal(): AbortSignal {
    return this.parent.signal;
  }
  nextCallId(): string {
    return this.callId;
  }
  emit<T extends AgentEventType>(type: T, payload: EventPayloads[T]): void {
    this.events.push([type, payload]);
  }
  flush(): void {
    for (const [type, payload] of this.events) this.parent.emit(type, payload as never);
    this.parent.toolCalls.push(...this.toolCalls);
  }
}

/**
 * The structured-output schema of a decision agent answering in JSON: `schema` (the agent's
 * `schema_out`) with `selected_edge` required and limited to `labels`; without a schema, an
 * object of just `selected_edge`. A schema whose root is a string gets the labels as its enum;
 * any other root is returned unchanged (the instructions still list the labels).
 */
export function decisionSchema(labels: readonly string[], schema?: Readonly<Record<string, unknown>>): Readonly<Record<string, unknown>> {
  const choice = (own?: unknown): Record<string, unknown> => {
    const description = own !== null && typeof own === "object" ? (own as { description?: unknown }).description : undefined;
    return { type: "string", enum: [...labels], ...(typeof description === "string" ? { description } : {}) };
  };
  if (schema === undefined) return { type: "object", required: ["selected_edge"], additionalProperties: false, properties: { selected_edge: choice() } };
  const props = schema["properties"];
  if (schema["type"] === "object" || (schema["type"] === undefined && props !== null && typeof props === "object" && !Array.isArray(props))) {
    const properties = props !== null && typeof props === "object" && !Array.isArray(props) ? (props as Record<string, unknown>) : {};
    const required = Array.isArray(schema["required"]) ? (schema["required"] as unknown[]) : [];
    return {
      ...schema,
      properties: { ...properties, selected_edge: choice(properties["selected_edge"]) },
      required: required.includes("selected_edge") ? required : [...required, "selected_edge"],
    };
  }
  if (schema["type"] === "string") return { ...schema, enum: [...labels] };
  return schema;
}

type ToolOutcome = { readonly ok: true; readonly result: JsonValue } | { readonly ok: false; readonly code: string; readonly message: string };

/** The `role: "tool"` message answering call `c`. */
function toolMessage(c: ToolCall, o: ToolOutcome): ChatMessage {
  return o.ok
    ? { role: "tool", toolCallId: c.id, name: c.name, content: JSON.stringify(o.result) }
    : { role: "tool", toolCallId: c.id, name: c.name, content: JSON.stringify({ error: { code: o.code, message: o.message } }), isError: true };
}

/** Records a refused call (`TOOL_NOT_ALLOWED`): `tool.invoked`, `tool.failed` and a failed history record. */
function refuseCall(scope: AgentEventScope, name: string, args: JsonValue, message: string): void {
  const callId = scope.nextCallId();
  const sealedArgs = safeSeal(args);
  const error = freezeShell({ code: "TOOL_NOT_ALLOWED", message });
  scope.emit("tool.invoked", { tool: name, callId, args: sealedArgs });
  scope.emit("tool.failed", { tool: name, callId, error, durationMs: 0 });
  scope.toolCalls.push(freezeShell({ callId, tool: name, args: sealedArgs, status: "failure" as const, error }));
}

/** A tool id as a name the providers accept (`^[a-zA-Z0-9_-]{1,64}$`). */
export function toolName(id: string): string {
  if (TOOL_NAME.test(id)) return id;
  const s = id.replace(/[^a-zA-Z0-9_-]/g, "_").slice(0, 64);
  return s.length > 0 ? s : "tool";
}

type Validation = { ok: true; value: JsonValue } | { ok: false; errors: string[] };

function validateReply(text: string, schema: CompiledSchema | undefined): Validation {
  let value: unknown;
  try {
    value = JSON.parse(stripFence(text));
  } catch (err) {
    return { ok: false, errors: [`the reply is not JSON (${errorMessage(err)})`] };
  }
  let sealed: JsonValue;
  try {
    sealed = sealJson(value);
  } catch (err) {
    return { ok: false, errors: [errorMessage(err)] };
  }
  const problems = schema ? schema.validate(sealed) : [];
  return problems.length > 0 ? { ok: false, errors: [...problems] } : { ok: true, value: sealed };
}

function stripFence(s: string): string {
  const m = /^\s*```(?:json)?\s*([\s\S]*?)\s*```\s*$/.exec(s);
  return m ? m[1]! : s;
}

function codeOf(code: unknown, fallback: ErrorCode): ErrorCode {
  return typeof code === "string" && /^[A-Z][A-Z0-9_]+$/.test(code) && !/^E[A-Z]+$/.test(code) ? (code as ErrorCode) : fallback;
}

function round(n: number): number {
  return Math.round(n * 1e9) / 1e9;
}

/** Only finite, non-negative numbers; `undefined` when nothing usable was reported. */
/** The first detail's message of an engine error, or undefined for anything else. Total. */
function engineMessage(err: unknown): string | undefined {
  if (!isInstance(err, EngineError)) return undefined;
  try {
    const e = err as EngineError;
    return e.details[0]?.message ?? e.message;
  } catch {
    return undefined;
  }
}

function cleanUsage(u: TokenUsage | undefined): TokenUsage | undefined {
  if (!u || typeof u !== "object") return undefined;
  const n = (v: unknown): number | undefined => (typeof v === "number" && Number.isFinite(v) && v >= 0 ? v : undefined);
  const input = n(u.inputTokens);
  const output = n(u.outputTokens);
  if (input === undefined && output === undefined) return undefined;
  const cached = n(u.cachedInputTokens);
  const reasoning = n(u.reasoningTokens);
  return freezeShell({ inputTokens: input ?? 0, outputTokens: output ?? 0, ...(cached === undefined ? {} : { cachedInputTokens: cached }), ...(reasoning === undefined ? {} : { reasoningTokens: reasoning }) });
}

/** USD of one response: uncached input, cached input and output, at per-million prices. */
export function costOf(u: TokenUsage, p: ModelPricing): number {
  const cached = Math.min(u.cachedInputTokens ?? 0, u.inputTokens);
  const usd = ((u.inputTokens - cached) * p.input + cached * (p.cached_input ?? p.input) + u.outputTokens * p.output) / 1e6;
  return Number.isFinite(usd) ? round(usd) : 0;
}

function normalizeResponse(r: LlmResponse): LlmResponse {
  const calls = Array.isArray(r.toolCalls) ? r.toolCalls : [];
  return {
    content: r.content,
    ...(calls.length > 0 ? { toolCalls: calls.map((c, k) => ({ id: typeof c.id === "string" && c.id ? c.id : `call_${k + 1}`, name: String(c.name), args: safeSeal(c.args) })) } : {}),
    ...(typeof r.finishReason === "string" ? { finishReason: r.finishReason } : {}),
    ...(r.usage ? { usage: r.usage } : {}),
    ...(typeof r.model === "string" ? { model: r.model } : {}),
  };
}

function safeSeal(v: unknown): JsonValue {
  try {
    return v === undefined ? null : sealJson(v);
  } catch {
    return String(v);
  }
}

function retryPayload(agent: string, provider: string, info: RetryInfo, secrets: readonly string[]): EventPayloads["agent.retry"] {
  const delay = Number.isFinite(info.delayMs) ? info.delayMs : 0;
  const status = typeof info.error?.status === "number" && Number.isFinite(info.error.status) ? info.error.status : undefined;
  return freezeShell({
    agent,
    provider,
    attempt: Number.isFinite(info.attempt) ? info.attempt : 0,
    delayMs: delay,
    error: freezeShell({ code: String(info.error?.code ?? "LLM_FAILED"), message: redactSecrets(String(info.error?.message ?? ""), secrets), ...(status === undefined ? {} : { status }) }),
  });
}

/** Deep copy of JSON-like data with every secret value redacted from strings. */
function scrub<T>(value: T, secrets: readonly string[]): T {
  if (secrets.length === 0) return value;
  const walk = (v: unknown): unknown => {
    if (typeof v === "string") return redactSecrets(v, secrets);
    if (Array.isArray(v)) return v.map(walk);
    if (v !== null && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    return v;
  };
  return walk(value) as T;
}

let ruleValidator: ((rules: unknown) => string[]) | undefined;

/** Validates scripted rules from a `script_file` against the rule schema of agents.schema.json. */
function validateRules(rules: unknown): string[] {
  if (!ruleValidator) {
    const s = manifestSchema("agents");
    const fn = compileJsonSchema({ $defs: s["$defs"], type: "array", items: { $ref: "#/$defs/rule" } });
    ruleValidator = (v) => (fn(v) ? [] : formatValidationErrors(fn.errors));
  }
  return ruleValidator(rules);
}

async function buildProvider(p: ProviderManifest, options: AgentRunnerOptions): Promise<LlmProvider> {
  if (p.type === "scripted") {
    let rules: ScriptedRule[] = [...((p.rules ?? []) as ScriptedRule[])];
    if (p.script_file) {
      const path = resolve(options.configDir, p.script_file);
      let text: string;
      try {
        text = await readFile(path, "utf8");
      } catch (err) {
        throw new EngineError({ code: "CONFIG_FILE_UNREADABLE", path: "/script_file", message: `cannot read scripted LLM file ${path}: ${errorMessage(err)}` });
      }
      let doc: unknown;
      try {
        doc = parseYaml(text);
      } catch (err) {
        throw new EngineError({ code: "CONFIG_YAML_SYNTAX", file: path, message: `scripted LLM file ${path} is not valid YAML: ${errorMessage(err)}` });
      }
      const more: unknown = Array.isArray(doc) ? doc : (doc as { rules?: unknown } | null)?.rules;
      if (!Array.isArray(more)) throw new EngineError({ code: "CONFIG_SCHEMA", file: path, path: "/rules", message: "a script file must hold a list of rules (or { rules: [...] })" });
      const problems = validateRules(more);
      if (problems.length > 0) {
        throw new EngineError(problems.map((m) => ({ code: "CONFIG_SCHEMA" as const, file: path, path: `/rules${m.startsWith("/") ? m.slice(0, m.indexOf(":")) : ""}`, message: `scripted rule: ${m}` })));
      }
      try {
        new ScriptedProvider(more as ScriptedRule[], p.id);
      } catch (err) {
        if (err instanceof EngineError) throw new EngineError(err.details.map((d) => ({ ...d, file: path })));
        throw err;
      }
      rules = rules.concat(more as ScriptedRule[]);
    }
    return new ScriptedProvider(rules, p.id);
  }
  if (options.recorder?.mode === "replay") {
    // Replay answers from the recording: no network, no key needed.
    return { name: p.id, complete: () => Promise.reject(new EngineError({ code: "REPLAY_MISS", message: `provider "${p.id}" is not called during replay` })) };
  }
  return createHttpProvider(httpConfig(p), (options.env ?? process.env) as NodeJS.ProcessEnv, { ...(options.file ? { file: options.file } : {}) });
}

function httpConfig(p: ProviderManifest): ProviderConfig {
  return {
    id: p.id,
    type: p.type as "openai" | "anthropic",
    ...(p.base_url === undefined ? {} : { base_url: p.base_url }),
    ...(p.api_key_env === undefined ? {} : { api_key_env: p.api_key_env }),
    ...(p.retries === undefined ? {} : { retries: p.retries }),
    ...(p.timeout_ms === undefined ? {} : { timeout_ms: p.timeout_ms }),
    ...(p.max_concurrency === undefined ? {} : { max_concurrency: p.max_concurrency }),
    ...(p.headers === undefined ? {} : { headers: p.headers }),
    ...(p.max_response_bytes === undefined ? {} : { max_response_bytes: p.max_response_bytes }),
  };
}
