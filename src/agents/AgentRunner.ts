/**
 * Runs agent nodes: renders the prompt, calls the agent's LLM provider, records
 * `agent.request`/`agent.response`, and parses the reply.
 *
 * @module
 */
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import type { AgentManifest, AgentsManifest, ProviderManifest } from "../config/types.js";
import { EngineError, errorMessage, type ErrorDetail } from "../errors.js";
import { freezeShell, sealJson, type JsonValue } from "../json.js";
import type { EventPayloads } from "../telemetry/events.js";
import { OpenAiProvider } from "./OpenAiProvider.js";
import { renderTemplate } from "./render.js";
import { ScriptedProvider, type ScriptedRule } from "./ScriptedProvider.js";
import type { ChatMessage, LlmProvider } from "./types.js";

/** Where agent events go while a node runs (the runtime's stage scope). */
export interface AgentEventScope {
  readonly signal: AbortSignal;
  emit<T extends "agent.request" | "agent.response">(type: T, payload: EventPayloads[T]): void;
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
}

/** Runs agents declared in agents.yaml. */
export class AgentRunner {
  private constructor(
    private readonly agents: ReadonlyMap<string, AgentManifest>,
    private readonly providers: ReadonlyMap<string, LlmProvider>,
    private readonly defaultProvider: string | undefined,
    private readonly override: LlmProvider | undefined,
  ) {}

  /** Builds providers (reading scripted `script_file`s) once, at engine start. */
  static async create(options: AgentRunnerOptions): Promise<AgentRunner> {
    const m = options.manifest;
    const agents = new Map((m?.agents ?? []).map((a) => [a.id, a]));
    const providers = new Map<string, LlmProvider>();
    const problems: ErrorDetail[] = [];
    if (!options.llm) {
      for (const [i, p] of (m?.providers ?? []).entries()) {
        try {
          providers.set(p.id, await buildProvider(p, options));
        } catch (err) {
          if (err instanceof EngineError) problems.push(...err.details.map((d) => ({ ...d, file: d.file ?? options.file, path: `/providers/${i}${d.path ?? ""}` })));
          else problems.push({ code: "CONFIG_SCHEMA", file: options.file, path: `/providers/${i}`, message: errorMessage(err) });
        }
      }
    }
    if (problems.length > 0) throw new EngineError(problems);
    return new AgentRunner(agents, providers, m?.default_provider ?? (m?.providers?.length === 1 ? m.providers[0]!.id : undefined), options.llm);
  }

  /** The provider an agent uses. */
  providerFor(agentId: string): LlmProvider {
    if (this.override) return this.override;
    const agent = this.agents.get(agentId);
    const id = agent?.provider ?? this.defaultProvider;
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

  /** Runs one agent call for a node. */
  async run(agentId: string, input: JsonValue, context: JsonValue, scope: AgentEventScope): Promise<JsonValue> {
    const agent = this.agents.get(agentId);
    if (!agent) throw new EngineError({ code: "AGENT_FAILED", message: `unknown agent "${agentId}"` });
    const provider = this.providerFor(agentId);
    const template = agent.prompt ?? "{{input}}";
    const messages: ChatMessage[] = [];
    if (agent.system) messages.push({ role: "system", content: renderTemplate(agent.system, { input, context }) });
    if (context !== null && !template.includes("{{context") && !(agent.system ?? "").includes("{{context")) {
      messages.push({ role: "system", content: `Context:\n${JSON.stringify(context)}` });
    }
    messages.push({ role: "user", content: renderTemplate(template, { input, context }) });
    const sealedMessages = sealJson(messages);
    scope.emit("agent.request", { agent: agentId, model: agent.model, provider: provider.name, messages: sealedMessages });
    const started = performance.now();
    let content: string;
    let usage;
    try {
      const res = await provider.complete({
        agent: agentId,
        model: agent.model,
        messages,
        ...(agent.temperature === undefined ? {} : { temperature: agent.temperature }),
        ...(agent.max_tokens === undefined ? {} : { maxTokens: agent.max_tokens }),
        signal: scope.signal,
      });
      content = String(res.content);
      usage = res.usage ? freezeShell({ inputTokens: res.usage.inputTokens, outputTokens: res.usage.outputTokens }) : undefined;
    } catch (err) {
      const code = err instanceof EngineError ? err.code : "LLM_FAILED";
      throw Object.assign(new Error(`agent "${agentId}" (${provider.name}/${agent.model}): ${errorMessage(err)}`), { code });
    }
    scope.emit("agent.response", {
      agent: agentId,
      model: agent.model,
      provider: provider.name,
      output: content,
      ...(usage ? { usage } : {}),
      durationMs: performance.now() - started,
    });
    if (agent.output !== "json") return content;
    try {
      return JSON.parse(stripFence(content)) as JsonValue;
    } catch {
      throw Object.assign(new Error(`agent "${agentId}" must reply with JSON (output: json) but replied ${JSON.stringify(content.slice(0, 200))}`), { code: "AGENT_FAILED" });
    }
  }
}

function stripFence(s: string): string {
  const m = /^\s*```(?:json)?\s*([\s\S]*?)\s*```\s*$/.exec(s);
  return m ? m[1]! : s;
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
      const doc = parseYaml(text) as { rules?: ScriptedRule[] } | ScriptedRule[] | null;
      const more = Array.isArray(doc) ? doc : doc?.rules;
      if (!Array.isArray(more)) throw new EngineError({ code: "CONFIG_SCHEMA", file: path, path: "/rules", message: "a script file must hold a list of rules (or { rules: [...] })" });
      rules = rules.concat(more);
    }
    return new ScriptedProvider(rules, p.id);
  }
  const env = options.env ?? process.env;
  const apiKey = p.api_key_env ? env[p.api_key_env] : undefined;
  if (p.api_key_env && !apiKey) {
    throw new EngineError({ code: "CONFIG_SCHEMA", path: "/api_key_env", message: `provider "${p.id}" reads its API key from $${p.api_key_env}, which is not set` });
  }
  if (!p.base_url) throw new EngineError({ code: "CONFIG_SCHEMA", path: "/base_url", message: `provider "${p.id}" (type openai) needs base_url, e.g. https://api.openai.com/v1` });
  return new OpenAiProvider({ baseUrl: p.base_url, ...(apiKey ? { apiKey } : {}), ...(p.timeout_ms ? { timeoutMs: p.timeout_ms } : {}), name: p.id });
}
