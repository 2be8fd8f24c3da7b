/**
 * Secret redaction for everything that leaves the provider layer.
 *
 * @module
 */
import type { JsonValue } from "../../json.js";

/** What a secret is replaced with. */
export const REDACTED = "[REDACTED]";

/**
 * Replaces every occurrence of every secret in `text` with `[REDACTED]`, including the
 * secret's URL-encoded and JSON-escaped forms (a server may echo a key inside a URL or a JSON
 * string). Empty secrets are ignored; longer secrets are replaced first.
 *
 * @example
 * ```ts
 * redact("bad key sk-123", ["sk-123"]); // "bad key [REDACTED]"
 * ```
 */
export function redact(text: string, secrets: readonly string[]): string {
  if (secrets.length === 0 || text.length === 0) return text;
  let out = text;
  for (const s of variants(secrets)) {
    if (out.includes(s)) out = out.split(s).join(REDACTED);
  }
  return out;
}

const variantCache = new WeakMap<readonly string[], readonly string[]>();

function variants(secrets: readonly string[]): readonly string[] {
  const hit = variantCache.get(secrets);
  if (hit) return hit;
  const all = new Set<string>();
  for (const s of secrets) {
    if (!s) continue;
    all.add(s);
    all.add(encodeURIComponent(s));
    all.add(JSON.stringify(s).slice(1, -1));
  }
  const list = [...all].filter((s) => s.length > 0).sort((a, b) => b.length - a.length);
  variantCache.set(secrets, list);
  return list;
}

/** {@link redact} applied to every string (keys included) of a JSON value; returns a copy. */
export function redactJson<T extends JsonValue>(value: T, secrets: readonly string[]): T {
  if (secrets.length === 0) return value;
  return walk(value, secrets) as T;
}

function walk(value: JsonValue, secrets: readonly string[]): JsonValue {
  if (typeof value === "string") return redact(value, secrets);
  if (value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) return (value as readonly JsonValue[]).map((v) => walk(v, secrets));
  const out: Record<string, JsonValue> = {};
  for (const [k, v] of Object.entries(value as Record<string, JsonValue>)) out[redact(k, secrets)] = walk(v, secrets);
  return out;
}
