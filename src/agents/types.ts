/**
 * LLM provider interface.
 *
 * @module
 */
import type { TokenUsage } from "../telemetry/events.js";

/** One chat message. */
export interface ChatMessage {
  readonly role: "system" | "user" | "assistant";
  readonly content: string;
}

/** A completion request. */
export interface LlmRequest {
  /** Agent id from agents.yaml. */
  readonly agent: string;
  readonly model: string;
  readonly messages: readonly ChatMessage[];
  readonly temperature?: number;
  readonly maxTokens?: number;
  /** Aborted on run cancellation or node timeout. */
  readonly signal: AbortSignal;
}

/** A completion response. */
export interface LlmResponse {
  /** The assistant's reply text. */
  readonly content: string;
  readonly usage?: TokenUsage;
}

/**
 * An LLM backend. Implement it to plug in any model API; pass it as `EngineOptions.llm`.
 *
 * @example
 * ```ts
 * const echo: LlmProvider = { name: "echo", complete: async (req) => ({ content: req.messages.at(-1)?.content ?? "" }) };
 * ```
 */
export interface LlmProvider {
  /** Shown in `agent.request`/`agent.response` events. */
  readonly name: string;
  complete(request: LlmRequest): Promise<LlmResponse>;
}
