/**
 * Anthropic Messages API wire protocol.
 *
 * @module
 */
import type { JsonValue } from "../../json.js";
import { PROVIDER_DEFAULTS, type ResolvedProviderConfig } from "./config.js";
import type { ChatMessage, LlmRequest, LlmResponse, TokenUsage, ToolCall } from "./contract.js";
import { lower } from "./openai.js";
import { ProtocolError, type WireProtocol } from "./transport.js";

type Block =
  | { type: "text"; text: string }
  | { type: "tool_use"; id: string; name: string; input: JsonValue }
  | { type: "tool_result"; tool_use_id: string; content: string; is_error?: true };

interface WireMessage {
  role: "user" | "assistant";
  content: Block[];
}

interface WireResponse {
  model?: unknown;
  content?: { type?: unknown; text?: unknown; id?: unknown; name?: unknown; input?: unknown }[];
  stop_reason?: unknown;
  usage?: { input_tokens?: unknown; output_tokens?: unknown; cache_read_input_tokens?: unknown; cache_creation_input_tokens?: unknown } | null;
}

/**
 * Encodes a message list for the Messages API: system messages joined into the top-level
 * `system`; tool results as `tool_result` blocks of a user message; consecutive messages of the
 * same role merged into one (so all results of one tool turn share one user message).
 */
export function toAnthropicMessages(messages: readonly ChatMessage[]): { system: string | undefined; messages: WireMessage[] } {
  const system: string[] = [];
  const out: WireMessage[] = [];
  const push = (role: "user" | "assistant", blocks: Block[]): void => {
    const last = out.at(-1);
    if (last && last.role === role) last.content.push(...blocks);
    else out.push({ role, content: blocks });
  };
  for (const m of messages) {
    switch (m.role) {
      case "system":
        system.push(m.content);
        break;
      case "user":
        push("user", [{ type: "text", text: m.content }]);
        break;
      case "assistant": {
        const blocks: Block[] = [];
        if (m.content !== "" || !m.toolCalls || m.toolCalls.length === 0) blocks.push({ type: "text", text: m.content });
        for (const c of m.toolCalls ?? []) {
          const input: JsonValue = c.args !== null && typeof c.args === "object" && !Array.isArray(c.args) ? c.args : { _raw: c.args };
          blocks.push({ type: "tool_use", id: c.id, name: c.name, input });
        }
        push("assistant", blocks);
        break;
      }
      case "tool":
        push("user", [{ type: "tool_result", tool_use_id: m.toolCallId, content: m.content, ...(m.isError ? { is_error: true as const } : {}) }]);
        break;
    }
  }
  return { system: system.length > 0 ? system.join("\n\n") : undefined, messages: out };
}

/** The Messages API request body of `request`. `max_tokens` defaults to {@link PROVIDER_DEFAULTS.anthropicMaxTokens}. */
export function toAnthropicBody(request: LlmRequest): Record<string, unknown> {
  const { system, messages } = toAnthropicMessages(request.messages);
  return {
    model: request.model,
    max_tokens: request.maxTokens ?? PROVIDER_DEFAULTS.anthropicMaxTokens,
    ...(system === undefined ? {} : { system }),
    messages,
    ...(request.tools && request.tools.length > 0
      ? { tools: request.tools.map((t) => ({ name: t.name, ...(t.description ? { description: t.description } : {}), input_schema: t.parameters })) }
      : {}),
    ...(request.temperature === undefined ? {} : { temperature: request.temperature }),
  };
}

const count = (v: unknown): number | undefined => (typeof v === "number" && Number.isFinite(v) && v >= 0 ? v : undefined);

/**
 * Decodes a Messages API response. Text blocks are joined; `usage.inputTokens` counts all input
 * (`input_tokens + cache_read_input_tokens + cache_creation_input_tokens`) so it means the same
 * as OpenAI's `prompt_tokens`; `cachedInputTokens` is `cache_read_input_tokens`.
 */
export function fromAnthropicBody(body: unknown): LlmResponse {
  const b = body as WireResponse | null;
  if (b === null || typeof b !== "object" || Array.isArray(b)) throw new ProtocolError("the body is not a JSON object");
  if (!Array.isArray(b.content)) throw new ProtocolError("no content array in the response");
  let text = "";
  const toolCalls: ToolCall[] = [];
  for (const [i, block] of b.content.entries()) {
    if (block?.type === "text" && typeof block.text === "string") text += block.text;
    else if (block?.type === "tool_use") {
      if (typeof block.name !== "string" || block.name === "") throw new ProtocolError(`content[${i}] (tool_use) has no name`);
      toolCalls.push({ id: typeof block.id === "string" && block.id ? block.id : `toolu_${i}`, name: block.name, args: (block.input ?? {}) as JsonValue });
    }
  }
  let usage: TokenUsage | undefined;
  if (b.usage && typeof b.usage === "object") {
    const cacheRead = count(b.usage.cache_read_input_tokens);
    const cacheWrite = count(b.usage.cache_creation_input_tokens) ?? 0;
    usage = {
      inputTokens: (count(b.usage.input_tokens) ?? 0) + (cacheRead ?? 0) + cacheWrite,
      outputTokens: count(b.usage.output_tokens) ?? 0,
      ...(cacheRead === undefined ? {} : { cachedInputTokens: cacheRead }),
    };
  }
  return {
    content: text,
    ...(toolCalls.length > 0 ? { toolCalls } : {}),
    ...(typeof b.stop_reason === "string" ? { finishReason: b.stop_reason } : {}),
    ...(usage ? { usage } : {}),
    ...(typeof b.model === "string" ? { model: b.model } : {}),
  };
}

/** The Messages API protocol for one provider: `POST {base_url}/v1/messages` (or `{base_url}/messages` when base_url ends in `/v1`). */
export function anthropicProtocol(cfg: ResolvedProviderConfig): WireProtocol {
  const url = /\/v1$/.test(cfg.baseUrl) ? `${cfg.baseUrl}/messages` : `${cfg.baseUrl}/v1/messages`;
  const headers: Record<string, string> = {
    "content-type": "application/json",
    accept: "application/json",
    "anthropic-version": PROVIDER_DEFAULTS.anthropicVersion,
    ...(cfg.apiKey === undefined ? {} : { "x-api-key": cfg.apiKey }),
    ...lower(cfg.headers),
  };
  return { url, headers: () => headers, body: toAnthropicBody, parse: fromAnthropicBody };
}
