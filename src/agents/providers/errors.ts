/**
 * The error thrown by HTTP LLM providers.
 *
 * @module
 */
import { EngineError } from "../../errors.js";

/**
 * What went wrong in a provider call: `http` (a non-2xx status), `timeout` (an attempt ran past
 * `timeout_ms`), `network` (connection refused/reset, DNS...), `response` (a 2xx body that is not
 * the protocol's JSON), `too_large` (body over `max_response_bytes`), `aborted` (the request's
 * signal fired).
 */
export type LlmFailureKind = "http" | "timeout" | "network" | "response" | "too_large" | "aborted";

/** Fields of an {@link LlmError}. */
export interface LlmErrorOptions {
  readonly code: "LLM_FAILED" | "NODE_TIMEOUT" | "ABORTED";
  /** Already redacted. */
  readonly message: string;
  readonly provider: string;
  readonly model: string;
  readonly kind: LlmFailureKind;
  readonly status?: number;
  /** Attempts made, retries included. */
  readonly attempts: number;
  /** Already redacted. */
  readonly cause?: unknown;
}

/**
 * A failed LLM call. `code` is `LLM_FAILED`, or `NODE_TIMEOUT`/`ABORTED` when the request's own
 * signal fired (node timeout, run cancellation). The message names the provider, the model, the
 * HTTP status and the provider's own error message; API keys are replaced by `[REDACTED]`.
 *
 * @example
 * ```ts
 * try { await provider.complete(request); }
 * catch (e) { if (e instanceof LlmError && e.status === 401) console.error("check the API key"); }
 * ```
 */
export class LlmError extends EngineError {
  override readonly code: "LLM_FAILED" | "NODE_TIMEOUT" | "ABORTED";
  /** Provider id from agents.yaml. */
  readonly provider: string;
  /** Model asked for. */
  readonly model: string;
  /** HTTP status of the last attempt, when there was a response. */
  readonly status: number | undefined;
  /** What kind of failure ended the call. */
  readonly kind: LlmFailureKind;
  /** Attempts made, retries included. */
  readonly attempts: number;

  constructor(o: LlmErrorOptions) {
    super({ code: o.code, message: o.message }, o.cause === undefined ? undefined : { cause: o.cause });
    this.name = "LlmError";
    this.code = o.code;
    this.provider = o.provider;
    this.model = o.model;
    this.status = o.status;
    this.kind = o.kind;
    this.attempts = o.attempts;
  }
}
