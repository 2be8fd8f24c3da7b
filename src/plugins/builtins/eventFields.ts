/**
 * Defensive readers for event payload fields, shared by the built-in observability plugins.
 * Payload shapes grow over time (and recorded runs may come from older versions), so these
 * plugins read optional or newer fields through these helpers instead of trusting the types.
 *
 * @module
 */

/** `obj[key]` when `obj` is an object and the value is a string, else undefined. */
export function str(obj: unknown, key: string): string | undefined {
  const v = obj !== null && typeof obj === "object" ? (obj as Record<string, unknown>)[key] : undefined;
  return typeof v === "string" ? v : undefined;
}

/** `obj[key]` when `obj` is an object and the value is a finite number, else undefined. */
export function num(obj: unknown, key: string): number | undefined {
  const v = obj !== null && typeof obj === "object" ? (obj as Record<string, unknown>)[key] : undefined;
  return typeof v === "number" && Number.isFinite(v) ? v : undefined;
}

/** `obj[key]` when `obj` is an object, else undefined. */
export function get(obj: unknown, key: string): unknown {
  return obj !== null && typeof obj === "object" ? (obj as Record<string, unknown>)[key] : undefined;
}

/** Token usage as agent.response carries it; each field undefined when absent. */
export interface UsageFields {
  readonly inputTokens: number | undefined;
  readonly outputTokens: number | undefined;
  readonly cachedInputTokens: number | undefined;
  readonly reasoningTokens: number | undefined;
}

/** Reads `payload.usage` of an agent.response, tolerating its absence or missing fields. */
export function usageOf(payload: unknown): UsageFields {
  const usage = get(payload, "usage");
  return {
    inputTokens: num(usage, "inputTokens"),
    outputTokens: num(usage, "outputTokens"),
    cachedInputTokens: num(usage, "cachedInputTokens"),
    reasoningTokens: num(usage, "reasoningTokens"),
  };
}

/** Epoch milliseconds of an ISO timestamp; `fallback` when it does not parse. */
export function epochMs(timestamp: string, fallback: number): number {
  const t = Date.parse(timestamp);
  return Number.isFinite(t) ? t : fallback;
}
