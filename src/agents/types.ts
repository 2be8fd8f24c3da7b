/**
 * The LLM provider interface: what the agent runner sends to a model API and what it gets back.
 * Providers (`src/agents/providers/**`, the scripted provider, or your own) implement
 * {@link LlmProvider}.
 *
 * @module
 */
import type { JsonValue } from "../json.js";
import type { TokenUsage } from "../telemetry/events.js";

/** A tool call requested by the model. */
export interface ToolCall {
  /** The provider's call id (echoed back in the `role: "tool"` message). */
  readonly id: string;
  /** The tool name as declared to the model (sanitized; see {@link ToolSpec}). */
  readonly name: string;
  /** Arguments parsed from JSON, or the raw string when the model sent text that is not JSON. */
  readonly args: JsonValue;
}

/** A tool declared to the model. */
export interface ToolSpec {
  /** Matches `^[a-zA-Z0-9_-]{1,64}$` (the runner sanitizes tool ids and maps them back). */
  readonly name: string;
  readonly description?: string;
  /** JSON Schema of the arguments object. */
  readonly parameters: Readonly<Record<string, unknown>>;
}

/** One chat message. */
export type ChatMessage =
  | { readonly role: "system"; readonly content: string }
  | { readonly role: "user"; readonly content: string }
  | { readonly role: "assistant"; readonly content: string; readonly toolCalls?: readonly ToolCall[] }
  | { readonly role: "tool"; readonly toolCallId: string; readonly name: string; readonly content: string; readonly isError?: boolean };

/** A completion request. */
export interface LlmRequest {
  /** Agent id from agents.yaml. */
  readonly agent: string;
  readonly model: string;
  readonly messages: readonly ChatMessage[];
  /** Tools the model may call; names already sanitized to `^[a-zA-Z0-9_-]{1,64}$` by the runner. */
  readonly tools?: readonly ToolSpec[];
  /** Structured output: the reply must be JSON matching `schema`. */
  readonly responseFormat?: { readonly type: "json_schema"; readonly name: string; readonly schema: Readonly<Record<string, unknown>> };
  readonly temperature?: number;
  readonly maxTokens?: number;
  /** Aborted on run cancellation or node timeout. */
  readonly signal: AbortSignal;
}

/** A completion response. */
export interface LlmResponse {
  /** The assistant's reply text (`""` when it only calls tools). */
  readonly content: string;
  /** Tool calls requested by the model, in the model's order. */
  readonly toolCalls?: readonly ToolCall[];
  /** The provider's own finish reason (`stop`, `tool_calls`, `length`, `end_turn`, `tool_use`...). */
  readonly finishReason?: string;
  readonly usage?: TokenUsage;
  /** The model as reported by the server. */
  readonly model?: string;
}

/** Passed to {@link CallHooks.onRetry} before a provider retries a failed call. */
export interface RetryInfo {
  /** The attempt about to be made (2 for the first retry). */
  readonly attempt: number;
  readonly delayMs: number;
  readonly error: { readonly code: string; readonly message: string; readonly status?: number };
}

/** Hooks the runner passes to {@link LlmProvider.complete}. */
export interface CallHooks {
  onRetry?(info: RetryInfo): void;
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
  /** Provider id from agents.yaml; shown in `agent.request`/`agent.response` events. */
  readonly name: string;
  complete(request: LlmRequest, hooks?: CallHooks): Promise<LlmResponse>;
}
