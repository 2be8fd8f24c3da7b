/**
 * HTTP LLM providers: `openai` (Chat Completions wire protocol) and `anthropic` (Messages API),
 * as thin `fetch` clients with retries, timeouts, a concurrency cap, a response size cap and
 * secret redaction. See docs/providers.md.
 *
 * @example
 * ```ts
 * const provider = createHttpProvider({ id: "openai", type: "openai", api_key_env: "OPENAI_API_KEY" }, process.env);
 * const res = await provider.complete({ agent: "a", model: "gpt-4.1-mini", messages: [{ role: "user", content: "Hi" }], signal: AbortSignal.timeout(30_000) });
 * ```
 *
 * @module
 */
import { anthropicProtocol } from "./anthropic.js";
import { resolveProviderConfig, secretsOf, type ProviderConfig, type ProviderSource } from "./config.js";
import type { LlmProvider } from "./contract.js";
import { openAiProtocol } from "./openai.js";
import { HttpProvider, type TransportInternals } from "./transport.js";

export { LlmError, type LlmErrorOptions, type LlmFailureKind } from "./errors.js";
export { redact, redactJson, REDACTED } from "./redact.js";
export { secretsOf, PROVIDER_DEFAULTS, type ProviderConfig, type ProviderSource } from "./config.js";

/** Options of {@link createHttpProvider}. */
export interface HttpProviderOptions extends ProviderSource {
  /**
   * Test seams (backoff jitter and sleep).
   * @internal
   */
  readonly internals?: TransportInternals;
}

/**
 * Builds the provider of one agents.yaml entry of `type: openai | anthropic`.
 *
 * Throws an `EngineError` at load time: `CONFIG_PROVIDER_KEY_MISSING` when `api_key_env` names
 * an unset variable, `CONFIG_SCHEMA` for a bad field (with `options.file`/`options.path` when
 * given). `complete()` rejects with an {@link LlmError}.
 */
export function createHttpProvider(cfg: ProviderConfig, env: NodeJS.ProcessEnv, options: HttpProviderOptions = {}): LlmProvider {
  const resolved = resolveProviderConfig(cfg, env, options);
  const protocol = resolved.type === "openai" ? openAiProtocol(resolved) : anthropicProtocol(resolved);
  return new HttpProvider(resolved, protocol, secretsOf(cfg, env), options.internals);
}
