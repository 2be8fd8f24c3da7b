/**
 * The provider interface this layer implements (AGENTS-CONTRACT.md), re-exported from its
 * owners: `src/agents/types.ts` and the telemetry `TokenUsage`.
 *
 * @module
 */
export type { CallHooks, ChatMessage, LlmProvider, LlmRequest, LlmResponse, RetryInfo, ToolCall, ToolSpec } from "../types.js";
export type { TokenUsage } from "../../telemetry/events.js";
