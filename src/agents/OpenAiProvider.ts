/**
 * A provider for any OpenAI-compatible chat-completions HTTP API (OpenAI, Azure OpenAI
 * compatible gateways, vLLM, llama.cpp server, Ollama's `/v1`).
 *
 * @module
 */
import { EngineError, errorMessage } from "../errors.js";
import type { LlmProvider, LlmRequest, LlmResponse } from "./types.js";

/** Options of {@link OpenAiProvider}. */
export interface OpenAiProviderOptions {
  /** e.g. `https://api.openai.com/v1` (no trailing `/chat/completions`). */
  readonly baseUrl: string;
  /** Bearer token; omit for local servers that need none. */
  readonly apiKey?: string;
  /** Per-request timeout; default 60 s. */
  readonly timeoutMs?: number;
  /** Name shown in events; default `openai`. */
  readonly name?: string;
}

interface ChatCompletion {
  choices?: { message?: { content?: string | null } }[];
  usage?: { prompt_tokens?: number; completion_tokens?: number };
  error?: { message?: string };
}

/** Calls `POST {baseUrl}/chat/completions`. */
export class OpenAiProvider implements LlmProvider {
  readonly name: string;
  private readonly url: string;

  constructor(private readonly options: OpenAiProviderOptions) {
    this.name = options.name ?? "openai";
    this.url = `${options.baseUrl.replace(/\/+$/, "")}/chat/completions`;
  }

  async complete(request: LlmRequest): Promise<LlmResponse> {
    const timeout = AbortSignal.timeout(this.options.timeoutMs ?? 60_000);
    const signal = AbortSignal.any([request.signal, timeout]);
    let res: Response;
    try {
      res = await fetch(this.url, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          ...(this.options.apiKey ? { authorization: `Bearer ${this.options.apiKey}` } : {}),
        },
        body: JSON.stringify({
          model: request.model,
          messages: request.messages,
          ...(request.temperature === undefined ? {} : { temperature: request.temperature }),
          ...(request.maxTokens === undefined ? {} : { max_tokens: request.maxTokens }),
        }),
        signal,
      });
    } catch (err) {
      const why = timeout.aborted ? `timed out after ${this.options.timeoutMs ?? 60_000} ms` : errorMessage(err);
      throw new EngineError({ code: "LLM_FAILED", message: `${this.name}: request to ${this.url} failed: ${why}` }, { cause: err });
    }
    const text = await res.text();
    let body: ChatCompletion | undefined;
    try {
      body = JSON.parse(text) as ChatCompletion;
    } catch {
      body = undefined;
    }
    if (!res.ok) {
      const detail = body?.error?.message ?? text.slice(0, 300);
      throw new EngineError({ code: "LLM_FAILED", message: `${this.name}: HTTP ${res.status} from ${this.url}: ${detail}` });
    }
    const content = body?.choices?.[0]?.message?.content;
    if (typeof content !== "string") {
      throw new EngineError({ code: "LLM_FAILED", message: `${this.name}: response from ${this.url} has no choices[0].message.content` });
    }
    const usage = body?.usage;
    return {
      content,
      ...(usage ? { usage: { inputTokens: usage.prompt_tokens ?? 0, outputTokens: usage.completion_tokens ?? 0 } } : {}),
    };
  }
}
