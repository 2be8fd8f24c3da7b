/**
 * The embedded scripted LLM: answers from rules, offline and deterministically. It can reply
 * with text or JSON, request tool calls, report token usage, fail like a real API and take its
 * time, so every agent feature runs in examples and tests without a network.
 *
 * @module
 */
import { EngineError } from "../errors.js";
import type { JsonValue } from "../json.js";
import type { TokenUsage } from "../telemetry/events.js";
import { unsafeRegexReason } from "./safeRegex.js";
import type { LlmProvider, LlmRequest, LlmResponse, ToolCall } from "./types.js";

/** One scripted rule: the first rule whose conditions all hold answers. */
export interface ScriptedRule {
  /** Only for this agent id. */
  readonly agent?: string;
  /** Regular expression (string, case-insensitive) tested against the last user message. */
  readonly match?: string;
  /** Only at this model turn: 1 for the first request, n + 1 after n assistant turns. */
  readonly step?: number;
  /** Regular expression tested against the last tool result message. */
  readonly tool_result?: string;
  /** Reply: a string as is, any other JSON value as JSON text. Default `""`. */
  readonly response?: unknown;
  /** Tool calls to request, by tool id (the runner also accepts the sanitized names it offered). */
  readonly tool_calls?: readonly { readonly id?: string; readonly name: string; readonly args?: unknown }[];
  /** Default `tool_calls` when calling tools, else `stop`. */
  readonly finish_reason?: string;
  /** Fail the call instead of answering. */
  readonly error?: { readonly message: string; readonly status?: number; readonly code?: string };
  /** Answer after this many milliseconds (cancellation honoured). */
  readonly delay_ms?: number;
  readonly usage?: { readonly input_tokens?: number; readonly output_tokens?: number; readonly cached_input_tokens?: number; readonly reasoning_tokens?: number };
}

interface CompiledRule {
  readonly rule: ScriptedRule;
  readonly match?: RegExp;
  readonly toolResult?: RegExp;
  readonly content: string;
}

/** A scripted failure: thrown by {@link ScriptedProvider} for rules with `error`. */
export class ScriptedLlmError extends EngineError {
  /** The scripted HTTP status, if any. */
  readonly status?: number;
  constructor(message: string, status?: number) {
    super({ code: "LLM_FAILED", message });
    this.name = "ScriptedLlmError";
    if (status !== undefined) this.status = status;
  }
}

function compileRegex(source: string, path: string): RegExp {
  const unsafe = unsafeRegexReason(source);
  if (unsafe !== undefined) {
    throw new EngineError({ code: "CONFIG_SCHEMA", path, message: `regular expression ${JSON.stringify(source)} is refused: ${unsafe}; simplify it (scripted rules accept a safe subset, see docs/agents.md)` });
  }
  try {
    return new RegExp(source, "i");
  } catch (err) {
    throw new EngineError({ code: "CONFIG_SCHEMA", path, message: `invalid regular expression ${JSON.stringify(source)}: ${(err as Error).message}` });
  }
}

/**
 * A provider that replies from a list of rules. Rules are matched against the request only
 * (agent, last user message, turn, last tool result; never call order), so concurrent clones
 * get the same replies in any interleaving.
 *
 * @example
 * ```ts
 * const llm = new ScriptedProvider([
 *   { agent: "researcher", step: 1, tool_calls: [{ name: "docs", args: { path: "faq.md" } }] },
 *   { agent: "researcher", response: { answer: "42" } },
 * ]);
 * ```
 */
export class ScriptedProvider implements LlmProvider {
  readonly name: string;
  private readonly rules: readonly CompiledRule[];

  /** @throws {@link EngineError} `CONFIG_SCHEMA` for an invalid or unsafe regular expression. */
  constructor(rules: readonly ScriptedRule[], name = "scripted") {
    this.name = name;
    this.rules = rules.map((r, i) => ({
      rule: r,
      ...(r.match === undefined ? {} : { match: compileRegex(r.match, `/rules/${i}/match`) }),
      ...(r.tool_result === undefined ? {} : { toolResult: compileRegex(r.tool_result, `/rules/${i}/tool_result`) }),
      content: r.response === undefined ? "" : typeof r.response === "string" ? r.response : JSON.stringify(r.response),
    }));
  }

  async complete(request: LlmRequest): Promise<LlmResponse> {
    const msgs = request.messages;
    let lastUser = "";
    let lastTool: string | undefined;
    let step = 1;
    for (const m of msgs) {
      if (m.role === "user") lastUser = m.content;
      else if (m.role === "assistant") step++;
    }
    for (let k = msgs.length - 1; k >= 0; k--) {
      const m = msgs[k]!;
      if (m.role === "tool") {
        lastTool = m.content;
        break;
      }
      if (m.role === "assistant") break;
    }
    const rule = this.rules.find(
      (c) =>
        (c.rule.agent === undefined || c.rule.agent === request.agent) &&
        (c.rule.step === undefined || c.rule.step === step) &&
        (c.match === undefined || c.match.test(lastUser)) &&
        (c.toolResult === undefined || (lastTool !== undefined && c.toolResult.test(lastTool))),
    );
    if (!rule) {
      throw new EngineError({
        code: "LLM_SCRIPT_EXHAUSTED",
        message: `scripted provider "${this.name}" has no rule for agent "${request.agent}" at step ${step} matching ${JSON.stringify(lastUser.slice(0, 120))}; add a rule (agent/match/step/response) to agents.yaml`,
      });
    }
    const r = rule.rule;
    if (r.delay_ms !== undefined && r.delay_ms > 0) await sleep(r.delay_ms, request.signal);
    if (request.signal.aborted) throw new EngineError({ code: "ABORTED", message: `scripted provider "${this.name}": the request was cancelled` });
    if (r.error) {
      const status = r.error.status === undefined ? "" : ` (HTTP ${r.error.status})`;
      throw new ScriptedLlmError(`scripted provider "${this.name}", model "${request.model}"${status}: ${r.error.message}`, r.error.status);
    }
    const toolCalls: ToolCall[] | undefined = r.tool_calls?.map((c, n) => ({
      id: c.id ?? `call_${step}_${n + 1}`,
      name: c.name,
      args: (c.args ?? {}) as JsonValue,
    }));
    const promptTokens = msgs.reduce((n, m) => n + Math.ceil(m.content.length / 4), 0);
    const outputTokens = Math.ceil(rule.content.length / 4) + (toolCalls ? toolCalls.length * 8 : 0);
    const u = r.usage;
    const usage: TokenUsage = {
      inputTokens: u?.input_tokens ?? promptTokens,
      outputTokens: u?.output_tokens ?? outputTokens,
      ...(u?.cached_input_tokens === undefined ? {} : { cachedInputTokens: u.cached_input_tokens }),
      ...(u?.reasoning_tokens === undefined ? {} : { reasoningTokens: u.reasoning_tokens }),
    };
    return {
      content: rule.content,
      ...(toolCalls && toolCalls.length > 0 ? { toolCalls } : {}),
      finishReason: r.finish_reason ?? (toolCalls && toolCalls.length > 0 ? "tool_calls" : "stop"),
      usage,
      model: request.model,
    };
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}
