/**
 * The embedded scripted LLM: answers from rules, offline and deterministically. Used by the
 * examples and tests, and for replaying recorded conversations.
 *
 * @module
 */
import { EngineError } from "../errors.js";
import type { LlmProvider, LlmRequest, LlmResponse } from "./types.js";

/** One scripted rule: the first rule whose conditions hold answers. */
export interface ScriptedRule {
  /** Only for this agent id. */
  readonly agent?: string;
  /** Regular expression (string) tested against the last user message. */
  readonly match?: string;
  /** Reply: a string as is, any other JSON value as JSON text. */
  readonly response: unknown;
  readonly usage?: { readonly input_tokens?: number; readonly output_tokens?: number };
}

interface CompiledRule {
  readonly agent?: string;
  readonly match?: RegExp;
  readonly content: string;
  readonly usage?: { inputTokens: number; outputTokens: number };
}

/**
 * A provider that replies from a list of rules. Rules are matched against the request only
 * (never against call order), so concurrent clones get the same replies in any interleaving.
 */
export class ScriptedProvider implements LlmProvider {
  readonly name: string;
  private readonly rules: readonly CompiledRule[];

  constructor(rules: readonly ScriptedRule[], name = "scripted") {
    this.name = name;
    this.rules = rules.map((r, i) => {
      let match: RegExp | undefined;
      if (r.match !== undefined) {
        try {
          match = new RegExp(r.match, "i");
        } catch (err) {
          throw new EngineError({ code: "CONFIG_SCHEMA", path: `/rules/${i}/match`, message: `scripted rule ${i}: invalid regular expression ${JSON.stringify(r.match)}: ${(err as Error).message}` });
        }
      }
      const content = typeof r.response === "string" ? r.response : JSON.stringify(r.response);
      return {
        ...(r.agent === undefined ? {} : { agent: r.agent }),
        ...(match === undefined ? {} : { match }),
        content,
        ...(r.usage ? { usage: { inputTokens: r.usage.input_tokens ?? 0, outputTokens: r.usage.output_tokens ?? 0 } } : {}),
      };
    });
  }

  complete(request: LlmRequest): Promise<LlmResponse> {
    const last = [...request.messages].reverse().find((m) => m.role === "user")?.content ?? "";
    for (const rule of this.rules) {
      if (rule.agent !== undefined && rule.agent !== request.agent) continue;
      if (rule.match !== undefined && !rule.match.test(last)) continue;
      const promptTokens = request.messages.reduce((n, m) => n + Math.ceil(m.content.length / 4), 0);
      return Promise.resolve({
        content: rule.content,
        usage: rule.usage ?? { inputTokens: promptTokens, outputTokens: Math.ceil(rule.content.length / 4) },
      });
    }
    return Promise.reject(
      new EngineError({
        code: "LLM_SCRIPT_EXHAUSTED",
        message: `scripted provider "${this.name}" has no rule for agent "${request.agent}" matching ${JSON.stringify(last.slice(0, 120))}; add a rule (agent/match/response) to agents.yaml`,
      }),
    );
  }
}
