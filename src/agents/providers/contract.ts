/**
 * The provider interface of AGENTS-CONTRACT.md, copied here until `src/agents/types.ts` (owned by
 * the agent runner) carries it on main; then this file re-exports from there.
 *
 * @module
 */
import type { JsonValue } from "../../json.js";

/** Token counts of one response. `inputTokens` includes cached input tokens. */
export interface TokenUsage {
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly cachedInputTokens?: number;
  readonly reasoningTokens?: number;
}
/** A tool call asked for by the model. */
export interface ToolCall { readonly id: string; readonly name: string; readonly args: JsonValue }
/** A tool offered to the model. */
export interface ToolSpec { readonly name: string; readonly description?: string; readonly parameters: Readonly<Record<string, unknown>> }
/** One chat message. */
export type ChatMessage =
  | { readonly role: "system"; readonly content: string }
  | { readonly role: "user"; readonly content: string }
  | { readonly role: "assistant"; readonly content: string; readonly toolCalls?: readonly ToolCall[] }
  | { readonly role: "tool"; readonly toolCallId: string; readonly name: string; readonly content: string; readonly isError?: boolean };
/** A completion request. */
export interface LlmRequest {
  readonly agent: string;
  readonly model: string;
  readonly messages: readonly ChatMessage[];
  readonly tools?: readonly ToolSpec[];
  readonly responseFormat?: { readonly type: "json_schema"; readonly name: string; readonly schema: Readonly<Record<string, unknown>> };
  readonly temperature?: number;
  readonly maxTokens?: number;
  readonly signal: AbortSignal;
}
/** A completion response. */
export interface LlmResponse {
  readonly content: string;
  readonly toolCalls?: readonly ToolCall[];
  readonly finishReason?: string;
  readonly usage?: TokenUsage;
  readonly model?: string;
}
/** Passed to {@link CallHooks.onRetry} before each retry. */
export interface RetryInfo { /** The attempt about to be made (2 for the first retry). */ readonly attempt: number; readonly delayMs: number; readonly error: { readonly code: string; readonly message: string; readonly status?: number } }
/** Callbacks of one {@link LlmProvider.complete} call. */
export interface CallHooks { onRetry?(info: RetryInfo): void }
/** An LLM backend. */
export interface LlmProvider {
  readonly name: string;
  complete(request: LlmRequest, hooks?: CallHooks): Promise<LlmResponse>;
}
