/**
 * The HTTP side shared by every wire protocol: per-attempt timeout joined with the request's
 * signal, a response size cap, retries with exponential backoff and `Retry-After`, a FIFO
 * concurrency limit, and redaction of everything that leaves.
 *
 * @module
 */
import { errorMessage } from "../../errors.js";
import type { JsonValue } from "../../json.js";
import type { ResolvedProviderConfig } from "./config.js";
import { PROVIDER_DEFAULTS } from "./config.js";
import type { CallHooks, LlmProvider, LlmRequest, LlmResponse } from "./contract.js";
import { LlmError, type LlmFailureKind } from "./errors.js";
import { redact, redactJson } from "./redact.js";
import { Semaphore } from "./semaphore.js";

/** A 2xx body that does not have the protocol's shape. */
export class ProtocolError extends Error {}

/** One wire protocol: how to address, encode and decode. */
export interface WireProtocol {
  /** Full endpoint URL. */
  readonly url: string;
  /** Request headers (content-type and auth included). */
  headers(): Record<string, string>;
  /** The JSON body of `request`. */
  body(request: LlmRequest): unknown;
  /** Decodes a 2xx JSON body; throws {@link ProtocolError} when it has the wrong shape. */
  parse(body: unknown): LlmResponse;
}

/**
 * Test seams, not part of the public API.
 * @internal
 */
export interface TransportInternals {
  /** In [0, 1); jitter of the backoff. Default `Math.random`. */
  readonly random?: () => number;
  /** Waits `ms` or rejects with the signal's reason. Default a real timer. */
  readonly sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

interface Failure {
  readonly kind: LlmFailureKind;
  readonly message: string;
  readonly status?: number;
  readonly retryable: boolean;
  readonly retryAfterMs?: number;
  readonly cause?: unknown;
}

type Outcome = { readonly ok: true; readonly response: LlmResponse } | { readonly ok: false; readonly failure: Failure };

const RETRY_CODES: Record<string, string> = { http: "HTTP_ERROR", timeout: "TIMEOUT", network: "NETWORK_ERROR" };

/** Statuses retried: 408, 409, 429 and every 5xx. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 409 || status === 429 || status >= 500;
}

/**
 * Delay asked by `Retry-After` (seconds or an HTTP date) or `retry-after-ms`, capped at
 * {@link PROVIDER_DEFAULTS.maxRetryAfterMs}; `undefined` when absent or unreadable.
 */
export function retryAfterMs(headers: Headers, now: number = Date.now()): number | undefined {
  const cap = PROVIDER_DEFAULTS.maxRetryAfterMs;
  const ms = headers.get("retry-after-ms");
  if (ms !== null && /^\s*\d+(\.\d+)?\s*$/.test(ms)) return Math.min(cap, Math.ceil(Number(ms)));
  const ra = headers.get("retry-after");
  if (ra === null) return undefined;
  if (/^\s*\d+(\.\d+)?\s*$/.test(ra)) return Math.min(cap, Math.ceil(Number(ra) * 1000));
  const at = Date.parse(ra);
  if (Number.isNaN(at)) return undefined;
  return Math.min(cap, Math.max(0, at - now));
}

/** Backoff before retry `n` (1-based): base * 2^(n-1), capped, jittered to 50-100 %. */
export function backoffMs(n: number, random: () => number): number {
  const d = Math.min(PROVIDER_DEFAULTS.backoffMaxMs, PROVIDER_DEFAULTS.backoffBaseMs * 2 ** (n - 1));
  return Math.round(d * (0.5 + 0.5 * Math.min(1, Math.max(0, random()))));
}

function realSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason as Error);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason as Error);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/** An {@link LlmProvider} speaking one {@link WireProtocol} over `fetch`. */
export class HttpProvider implements LlmProvider {
  readonly name: string;
  private readonly semaphore: Semaphore;
  private readonly random: () => number;
  private readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>;

  constructor(
    private readonly cfg: ResolvedProviderConfig,
    private readonly protocol: WireProtocol,
    private readonly secrets: readonly string[],
    internals: TransportInternals = {},
  ) {
    this.name = cfg.id;
    this.semaphore = new Semaphore(cfg.maxConcurrency);
    this.random = internals.random ?? Math.random;
    this.sleep = internals.sleep ?? realSleep;
  }

  async complete(request: LlmRequest, hooks?: CallHooks): Promise<LlmResponse> {
    const body = JSON.stringify(this.protocol.body(request));
    const attempts = this.cfg.retries + 1;
    for (let attempt = 1; ; attempt++) {
      if (request.signal.aborted) throw this.aborted(request, attempt - 1);
      let release: () => void;
      try {
        release = await this.semaphore.acquire(request.signal);
      } catch {
        throw this.aborted(request, attempt - 1);
      }
      let outcome: Outcome;
      try {
        outcome = await this.attempt(request, body);
      } finally {
        release();
      }
      if (outcome.ok) return this.redactResponse(outcome.response);
      const f = outcome.failure;
      if (f.kind === "aborted") throw this.aborted(request, attempt);
      if (!f.retryable || attempt >= attempts) throw this.failed(request, f, attempt);
      const delayMs = f.retryAfterMs ?? backoffMs(attempt, this.random);
      if (hooks?.onRetry) {
        const error = { code: RETRY_CODES[f.kind] ?? "LLM_FAILED", message: redact(f.message, this.secrets), ...(f.status === undefined ? {} : { status: f.status }) };
        try {
          hooks.onRetry({ attempt: attempt + 1, delayMs, error });
        } catch {
          // a failing observer must not change the call's outcome
        }
      }
      try {
        await this.sleep(delayMs, request.signal);
      } catch {
        throw this.aborted(request, attempt);
      }
    }
  }

  /** One HTTP exchange, never throwing. */
  private async attempt(request: LlmRequest, body: string): Promise<Outcome> {
    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(), this.cfg.timeoutMs);
    const signal = AbortSignal.any([request.signal, timeout.signal]);
    const classify = (err: unknown, during: string): Outcome => {
      if (request.signal.aborted) return fail({ kind: "aborted", message: "aborted", retryable: false });
      if (timeout.signal.aborted) return fail({ kind: "timeout", message: `timed out after ${this.cfg.timeoutMs} ms (timeout_ms) ${during}`, retryable: true });
      return fail({ kind: "network", message: `network error ${during}: ${networkMessage(err)}`, retryable: true, cause: err });
    };
    try {
      let res: Response;
      try {
        res = await fetch(this.protocol.url, { method: "POST", headers: this.protocol.headers(), body, signal, redirect: "manual" });
      } catch (err) {
        return classify(err, "while sending the request");
      }
      const cap = res.ok ? this.cfg.maxResponseBytes : Math.min(this.cfg.maxResponseBytes, 64 * 1024);
      let read: { text: string; truncated: boolean };
      try {
        read = await readCapped(res, cap);
      } catch (err) {
        return classify(err, "while reading the response");
      }
      if (res.status >= 300 && res.status < 400) {
        const location = res.headers.get("location");
        return fail({
          kind: "http",
          status: res.status,
          message: `HTTP ${res.status}: redirects are not followed (the key would go along); set base_url to the final URL${location ? ` (Location: ${location})` : ""}`,
          retryable: false,
        });
      }
      if (!res.ok) {
        const detail = providerMessage(read.text) ?? (read.text.trim().slice(0, 500) || res.statusText || "(empty body)");
        const retryAfter = retryAfterMs(res.headers);
        return fail({
          kind: "http",
          status: res.status,
          message: `HTTP ${res.status}: ${detail}${hintFor(res.status, this.cfg)}`,
          retryable: isRetryableStatus(res.status),
          ...(retryAfter === undefined ? {} : { retryAfterMs: retryAfter }),
        });
      }
      if (read.truncated) {
        return fail({ kind: "too_large", status: res.status, message: `response body exceeds max_response_bytes (${this.cfg.maxResponseBytes} bytes); reading stopped`, retryable: false });
      }
      let json: unknown;
      try {
        json = JSON.parse(read.text);
      } catch {
        return fail({ kind: "response", status: res.status, message: `response body is not JSON: ${JSON.stringify(read.text.slice(0, 200))}`, retryable: false });
      }
      try {
        return { ok: true, response: this.protocol.parse(json) };
      } catch (err) {
        return fail({ kind: "response", status: res.status, message: `unexpected response: ${errorMessage(err)}`, retryable: false });
      }
    } finally {
      clearTimeout(timer);
    }
  }

  private prefix(request: LlmRequest): string {
    return `provider "${this.name}" (${this.cfg.type}, model "${request.model}", POST ${this.protocol.url})`;
  }

  private failed(request: LlmRequest, f: Failure, attempts: number): LlmError {
    const tries = attempts > 1 ? ` (after ${attempts} attempts)` : "";
    const cause = f.cause === undefined ? undefined : new Error(redact(errorMessage(f.cause), this.secrets));
    return new LlmError({
      code: "LLM_FAILED",
      message: redact(`${this.prefix(request)}: ${f.message}${tries}`, this.secrets),
      provider: this.name,
      model: request.model,
      kind: f.kind,
      ...(f.status === undefined ? {} : { status: f.status }),
      attempts,
      ...(cause ? { cause } : {}),
    });
  }

  private aborted(request: LlmRequest, attempts: number): LlmError {
    const reason: unknown = request.signal.reason;
    const code = (reason as { code?: unknown } | null)?.code === "NODE_TIMEOUT" || (reason as { name?: unknown } | null)?.name === "TimeoutError" ? "NODE_TIMEOUT" : "ABORTED";
    const text = typeof (reason as { message?: unknown } | null)?.message === "string" ? (reason as { message: string }).message : errorMessage(reason);
    const why = reason === undefined ? "" : `: ${text}`;
    return new LlmError({
      code,
      message: redact(`${this.prefix(request)}: call aborted${why}`, this.secrets),
      provider: this.name,
      model: request.model,
      kind: "aborted",
      attempts,
    });
  }

  private redactResponse(r: LlmResponse): LlmResponse {
    if (this.secrets.length === 0) return r;
    const s = this.secrets;
    return {
      ...r,
      content: redact(r.content, s),
      ...(r.toolCalls ? { toolCalls: r.toolCalls.map((c) => ({ id: redact(c.id, s), name: redact(c.name, s), args: redactJson(c.args, s) })) } : {}),
      ...(r.finishReason === undefined ? {} : { finishReason: redact(r.finishReason, s) }),
      ...(r.model === undefined ? {} : { model: redact(r.model, s) }),
    };
  }
}

function fail(f: Failure): Outcome {
  return { ok: false, failure: f };
}

function networkMessage(err: unknown): string {
  const cause = (err as { cause?: { code?: unknown; message?: unknown } } | null)?.cause;
  const code = typeof cause?.code === "string" ? cause.code : undefined;
  const msg = typeof cause?.message === "string" ? cause.message : errorMessage(err);
  return code && !msg.includes(code) ? `${code} ${msg}` : msg;
}

function hintFor(status: number, cfg: ResolvedProviderConfig): string {
  if (status === 401 || status === 403) return cfg.apiKey === undefined ? " (no API key is sent: set api_key_env)" : " (check the API key)";
  if (status === 404) return " (check base_url and the model name)";
  return "";
}

/** The provider's own error message from an error body (`{error: {message}}` in both protocols). */
function providerMessage(text: string): string | undefined {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return undefined;
  }
  const o = json as { error?: unknown; message?: unknown; detail?: unknown } | null;
  if (o === null || typeof o !== "object") return undefined;
  if (typeof o.error === "string") return o.error;
  const inner = o.error as { message?: unknown; type?: unknown } | null | undefined;
  if (inner && typeof inner.message === "string") return typeof inner.type === "string" && inner.type ? `${inner.message} [${inner.type}]` : inner.message;
  if (typeof o.message === "string") return o.message;
  if (typeof o.detail === "string") return o.detail;
  return undefined;
}

/** Reads the body up to `cap` bytes; stops reading (cancels the stream) past it. */
async function readCapped(res: Response, cap: number): Promise<{ text: string; truncated: boolean }> {
  const declared = Number(res.headers.get("content-length"));
  if (res.ok && Number.isFinite(declared) && declared > cap) {
    await res.body?.cancel().catch(() => undefined);
    return { text: "", truncated: true };
  }
  if (!res.body) return { text: "", truncated: false };
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  let truncated = false;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (size + value.byteLength > cap) {
      chunks.push(value.subarray(0, cap - size));
      size = cap;
      truncated = true;
      await reader.cancel().catch(() => undefined);
      break;
    }
    chunks.push(value);
    size += value.byteLength;
  }
  return { text: new TextDecoder().decode(Buffer.concat(chunks, size)), truncated };
}

/** JSON-parses tool-call arguments; the raw string when they are not JSON. */
export function parseArgs(raw: unknown): JsonValue {
  if (raw === undefined || raw === null) return {};
  if (typeof raw !== "string") return raw as JsonValue;
  if (raw.trim() === "") return {};
  try {
    return JSON.parse(raw) as JsonValue;
  } catch {
    return raw;
  }
}
