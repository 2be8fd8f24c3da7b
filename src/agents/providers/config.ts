/**
 * Provider configuration (one entry of `providers:` in agents.yaml) and its defaults.
 *
 * @module
 */
import { EngineError } from "../../errors.js";

/** One HTTP provider entry of agents.yaml (`type: openai | anthropic`). */
export interface ProviderConfig {
  /** Provider id, shown in events and errors. */
  readonly id: string;
  /** Wire protocol: `openai` (Chat Completions) or `anthropic` (Messages API). */
  readonly type: "openai" | "anthropic";
  /** Default `https://api.openai.com/v1` (openai) or `https://api.anthropic.com` (anthropic). */
  readonly base_url?: string;
  /** Environment variable holding the API key. Required for `anthropic`; optional for `openai` (local servers). */
  readonly api_key_env?: string;
  /** Retries after the first attempt for network errors, timeouts, 408/409/429/5xx. Default 2. */
  readonly retries?: number;
  /** Time limit of one attempt (request and whole response body), ms. Default 60000. */
  readonly timeout_ms?: number;
  /** Requests in flight to this provider at once (FIFO queue beyond). Default unlimited. */
  readonly max_concurrency?: number;
  /** Extra request headers (e.g. `anthropic-beta`, `OpenAI-Organization`); they override the defaults. */
  readonly headers?: Readonly<Record<string, string>>;
  /** Largest response body read, in bytes. Default 10485760 (10 MiB). */
  readonly max_response_bytes?: number;
}

/** Defaults of {@link ProviderConfig}. */
export const PROVIDER_DEFAULTS = Object.freeze({
  retries: 2,
  timeoutMs: 60_000,
  maxResponseBytes: 10 * 1024 * 1024,
  openaiBaseUrl: "https://api.openai.com/v1",
  anthropicBaseUrl: "https://api.anthropic.com",
  /** `max_tokens` sent to the Messages API when the agent sets none (the API requires one). */
  anthropicMaxTokens: 4096,
  anthropicVersion: "2023-06-01",
  /** Longest `Retry-After` honoured; longer values wait this long. */
  maxRetryAfterMs: 60_000,
  /** First backoff delay; doubled per retry, jittered to 50-100 %. */
  backoffBaseMs: 500,
  /** Largest backoff delay. */
  backoffMaxMs: 8_000,
});

/** Where a provider entry sits, for load errors. */
export interface ProviderSource {
  /** agents.yaml path. */
  readonly file?: string;
  /** JSON pointer of the provider entry, e.g. `/providers/1`. */
  readonly path?: string;
}

/** A config checked and completed with defaults. */
export interface ResolvedProviderConfig {
  readonly id: string;
  readonly type: "openai" | "anthropic";
  readonly baseUrl: string;
  readonly apiKey: string | undefined;
  readonly retries: number;
  readonly timeoutMs: number;
  readonly maxConcurrency: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly maxResponseBytes: number;
}

const SECRET_HEADER = /authorization|api[-_]?key|token|secret|cookie|password/i;

/**
 * The secret values of a provider: its API key and the values of extra headers whose names
 * look secret (`Authorization`, `*api-key*`, `*token*`, `*secret*`, `Cookie`). Pass them to
 * {@link redact} wherever requests, responses or errors are recorded.
 */
export function secretsOf(cfg: ProviderConfig, env: NodeJS.ProcessEnv): string[] {
  const out: string[] = [];
  const key = cfg.api_key_env ? env[cfg.api_key_env] : undefined;
  if (key) {
    out.push(key);
    const trimmed = key.trim();
    if (trimmed && trimmed !== key) out.push(trimmed);
  }
  for (const [name, value] of Object.entries(cfg.headers ?? {})) {
    if (!value || !SECRET_HEADER.test(name)) continue;
    out.push(value);
    const bare = value.replace(/^(bearer|basic|token)\s+/i, "");
    if (bare && bare !== value) out.push(bare);
  }
  return out;
}

/** Checks `cfg`, reads its key from `env` and fills in defaults. Throws {@link EngineError} on a bad entry. */
export function resolveProviderConfig(cfg: ProviderConfig, env: NodeJS.ProcessEnv, source: ProviderSource = {}): ResolvedProviderConfig {
  const at = (field: string): { file?: string; path: string } => ({ ...(source.file ? { file: source.file } : {}), path: `${source.path ?? ""}/${field}` });
  const bad = (field: string, message: string): never => {
    throw new EngineError({ code: "CONFIG_SCHEMA", ...at(field), message: `provider "${cfg.id}": ${message}` });
  };
  if (cfg.type !== "openai" && cfg.type !== "anthropic") bad("type", `type must be "openai" or "anthropic", got ${JSON.stringify(cfg.type)}`);
  const int = (field: keyof ProviderConfig, value: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined => {
    if (value === undefined) return undefined;
    if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) bad(field, `${field} must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`);
    return value as number;
  };
  const retries = int("retries", cfg.retries, 0) ?? PROVIDER_DEFAULTS.retries;
  // Node timers fire at once past 2^31-1 ms.
  const timeoutMs = int("timeout_ms", cfg.timeout_ms, 1, 2_147_483_647) ?? PROVIDER_DEFAULTS.timeoutMs;
  const maxConcurrency = int("max_concurrency", cfg.max_concurrency, 1) ?? Infinity;
  const maxResponseBytes = int("max_response_bytes", cfg.max_response_bytes, 1) ?? PROVIDER_DEFAULTS.maxResponseBytes;
  const baseUrl = cfg.base_url ?? (cfg.type === "openai" ? PROVIDER_DEFAULTS.openaiBaseUrl : PROVIDER_DEFAULTS.anthropicBaseUrl);
  let parsed: URL | undefined;
  try {
    parsed = new URL(baseUrl);
  } catch {
    parsed = undefined;
  }
  if (!parsed || (parsed.protocol !== "http:" && parsed.protocol !== "https:")) bad("base_url", `base_url must be an http(s) URL, got ${JSON.stringify(baseUrl)}`);
  for (const [name, value] of Object.entries(cfg.headers ?? {})) {
    if (typeof value !== "string") bad(`headers/${name}`, `header "${name}" must be a string`);
  }
  let apiKey: string | undefined;
  if (cfg.api_key_env !== undefined) {
    const v = env[cfg.api_key_env];
    if (v === undefined || v.trim() === "") {
      throw new EngineError({
        code: "CONFIG_PROVIDER_KEY_MISSING",
        ...at("api_key_env"),
        message: `provider "${cfg.id}" reads its API key from the environment variable ${cfg.api_key_env}, which is not set`,
        hint: `export ${cfg.api_key_env}=... before running, or remove api_key_env for a local server that needs no key`,
      });
    }
    apiKey = v.trim();
  } else if (cfg.type === "anthropic") {
    bad("api_key_env", `type anthropic needs api_key_env (the environment variable holding the key, e.g. ANTHROPIC_API_KEY)`);
  }
  return {
    id: cfg.id,
    type: cfg.type,
    baseUrl: baseUrl.replace(/\/+$/, ""),
    apiKey,
    retries,
    timeoutMs,
    maxConcurrency,
    headers: { ...(cfg.headers ?? {}) },
    maxResponseBytes,
  };
}
