/**
 * OpenAI Chat Completions wire protocol (OpenAI, vLLM, Ollama `/v1`, LM Studio, llama.cpp server).
 *
 * @module
 */
import type { ResolvedProviderConfig } from "./config.js";
import type { ChatMessage, LlmRequest, LlmResponse, TokenUsage, ToolCall } from "./contract.js";
import { ProtocolError, parseArgs, type WireProtocol } from "./transport.js";

interface WireToolCall {
  id?: unknown;
  type?: unknown;
  function?: { name?: unknown; arguments?: unknown };
}
interface WireCompletion {
  model?: unknown;
  choices?: { message?: { content?: unknown; refusal?: unknown; tool_calls?: WireToolCall[] }; finish_reason?: unknown }[];
  usage?: {
    prompt_tokens?: unknown;
    completion_tokens?: unknown;
    prompt_tokens_details?: { cached_tokens?: unknown } | null;
    completion_tokens_details?: { reasoning_tokens?: unknown } | null;
  } | null;
}

/** Encodes a message list as Chat Completions `messages`. */
export function toOpenAiMessages(messages: readonly ChatMessage[]): unknown[] {
  return messages.map((m) => {
    switch (m.role) {
      case "system":
      case "user":
        return { role: m.role, content: m.content };
      case "assistant":
        if (!m.toolCalls || m.toolCalls.length === 0) return { role: "assistant", content: m.content };
        return {
          role: "assistant",
          content: m.content === "" ? null : m.content,
          tool_calls: m.toolCalls.map((c) => ({ id: c.id, type: "function", function: { name: c.name, arguments: typeof c.args === "string" ? c.args : JSON.stringify(c.args) } })),
        };
      case "tool":
        return { role: "tool", tool_call_id: m.toolCallId, content: m.content };
    }
  });
}

/** The Chat Completions request body of `request`. */
export function toOpenAiBody(request: LlmRequest): Record<string, unknown> {
  return {
    model: request.model,
    messages: toOpenAiMessages(request.messages),
    ...(request.tools && request.tools.length > 0
      ? { tools: request.tools.map((t) => ({ type: "function", function: { name: t.name, ...(t.description ? { description: t.description } : {}), parameters: t.parameters } })) }
      : {}),
    ...(request.responseFormat ? { response_format: { type: "json_schema", json_schema: { name: request.responseFormat.name, schema: request.responseFormat.schema } } } : {}),
    ...(request.temperature === undefined ? {} : { temperature: request.temperature }),
    ...(request.maxTokens === undefined ? {} : { max_tokens: request.maxTokens }),
  };
}

const count = (v: unknown): number | undefined => (typeof v === "number" && Number.isFinite(v) && v >= 0 ? v : undefined);

/** Decodes a Chat Completions response. */
export function fromOpenAiBody(body: unknown): LlmResponse {
  const b = body as WireCompletion | null;
  if (b === null || typeof b !== "object" || Array.isArray(b)) throw new ProtocolError("the body is not a JSON object");
  const choice = Array.isArray(b.choices) ? b.choices[0] : undefined;
  if (!choice || typeof choice !== "object") throw new ProtocolError("no choices[0] in the response");
  const msg = choice.message ?? {};
  const content = typeof msg.content === "string" ? msg.content : typeof msg.refusal === "string" ? msg.refusal : "";
  const toolCalls: ToolCall[] = [];
  for (const [i, c] of (Array.isArray(msg.tool_calls) ? msg.tool_calls : []).entries()) {
    const name = c?.function?.name;
    if (typeof name !== "string" || name === "") throw new ProtocolError(`choices[0].message.tool_calls[${i}] has no function.name`);
    toolCalls.push({ id: typeof c.id === "string" && c.id ? c.id : `call_${i}`, name, args: parseArgs(c.function?.arguments) });
  }
  let usage: TokenUsage | undefined;
  if (b.usage && typeof b.usage === "object") {
    const cached = count(b.usage.prompt_tokens_details?.cached_tokens);
    const reasoning = count(b.usage.completion_tokens_details?.reasoning_tokens);
    usage = {
      inputTokens: count(b.usage.prompt_tokens) ?? 0,
      outputTokens: count(b.usage.completion_tokens) ?? 0,
      ...(cached === undefined ? {} : { cachedInputTokens: cached }),
      ...(reasoning === undefined ? {} : { reasoningTokens: reasoning }),
    };
  }
  return {
    content,
    ...(toolCalls.length > 0 ? { toolCalls } : {}),
    ...(typeof choice.finish_reason === "string" ? { finishReason: choice.finish_reason } : {}),
    ...(usage ? { usage } : {}),
    ...(typeof b.model === "string" ? { model: b.model } : {}),
  };
}

/** The Chat Completions protocol for one provider. */
export function openAiProtocol(cfg: ResolvedProviderConfig): WireProtocol {
  const url = `${cfg.baseUrl}/chat/completions`;
  const headers: Record<string, string> = {
    "content-type": "application/json",
    accept: "application/json",
    ...(cfg.apiKey === undefined ? {} : { authorization: `Bearer ${cfg.apiKey}` }),
    ...lower(cfg.headers),
  };
  return { url, headers: () => headers, body: toOpenAiBody, parse: fromOpenAiBody };
}

/** Header names lower-cased, so a configured header replaces a default one. */
export function lower(h: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), v]));
}
