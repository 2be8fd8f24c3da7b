/**
 * Compatibility shim: the OpenAI-compatible client now lives in `./providers/` (see
 * {@link createHttpProvider}); this class delegates to it and will be removed.
 *
 * @module
 */
import { createHttpProvider } from "./providers/index.js";
import type { LlmProvider as HttpLlmProvider } from "./providers/contract.js";
import type { LlmProvider, LlmRequest, LlmResponse } from "./types.js";

/** Options of {@link OpenAiProvider}. */
export interface OpenAiProviderOptions {
  /** e.g. `https://api.openai.com/v1` (no trailing `/chat/completions`). */
  readonly baseUrl: string;
  /** Bearer token; omit for local servers that need none. */
  readonly apiKey?: string;
  /** Per-attempt timeout; default 60 s. */
  readonly timeoutMs?: number;
  /** Name shown in events; default `openai`. */
  readonly name?: string;
}

const KEY_VAR = "AGENT_ENGINE_OPENAI_PROVIDER_KEY";

/**
 * Calls `POST {baseUrl}/chat/completions` through the `openai` HTTP provider (retries, timeout,
 * redaction included).
 *
 * @deprecated Use `createHttpProvider({ id, type: "openai", base_url, api_key_env }, env)`.
 */
export class OpenAiProvider implements LlmProvider {
  readonly name: string;
  private readonly inner: HttpLlmProvider;

  constructor(options: OpenAiProviderOptions) {
    this.name = options.name ?? "openai";
    this.inner = createHttpProvider(
      {
        id: this.name,
        type: "openai",
        base_url: options.baseUrl,
        ...(options.apiKey ? { api_key_env: KEY_VAR } : {}),
        ...(options.timeoutMs ? { timeout_ms: options.timeoutMs } : {}),
      },
      options.apiKey ? { [KEY_VAR]: options.apiKey } : {},
    );
  }

  complete(request: LlmRequest): Promise<LlmResponse> {
    return this.inner.complete(request);
  }
}
