/**
 * JSON values as the engine holds them: plain data, deeply frozen, copied once.
 *
 * Everything the engine stores (task inputs and outputs, history, event payloads) passes through
 * {@link sealJson} exactly once. Sealed values are remembered in a WeakSet so re-sealing a value
 * the engine already owns (a pass-through node, `{ ...input }`) costs only a walk of the new
 * top-level object. Events and results then share sealed values without further copies.
 *
 * @module
 */

/** A JSON value. */
export type JsonValue = null | boolean | number | string | readonly JsonValue[] | { readonly [key: string]: JsonValue };
/** A JSON object. */
export type JsonObject = { readonly [key: string]: JsonValue };

const sealed = new WeakSet<object>();

/** Thrown by {@link sealJson} when a value is not plain JSON data. */
export class NotJsonError extends Error {
  constructor(
    readonly path: string,
    readonly found: string,
  ) {
    super(`value at ${path || "/"} is not JSON data (found ${found}); return plain objects, arrays, strings, finite numbers, booleans or null`);
    this.name = "NotJsonError";
  }
}

function describe(value: unknown): string {
  if (value === undefined) return "undefined";
  if (typeof value === "number") return String(value);
  if (typeof value === "function") return "a function";
  if (typeof value === "bigint") return "a bigint";
  if (typeof value === "symbol") return "a symbol";
  if (typeof value === "object" && value !== null) {
    const name = (value as { constructor?: { name?: string } }).constructor?.name;
    return name ? `an instance of ${name}` : "an object with a null prototype";
  }
  return typeof value;
}

/**
 * Returns a deeply frozen, plain-JSON copy of `value`, reusing any part the engine already sealed.
 * Object keys whose value is `undefined` are dropped (as `JSON.stringify` does).
 *
 * @throws {@link NotJsonError} for functions, class instances, NaN/Infinity, bigint, symbols, cycles.
 */
export function sealJson(value: unknown, path = ""): JsonValue {
  return seal(value, path, undefined);
}

function seal(value: unknown, path: string, stack: Set<object> | undefined): JsonValue {
  switch (typeof value) {
    case "string":
    case "boolean":
      return value;
    case "number":
      if (!Number.isFinite(value)) throw new NotJsonError(path, describe(value));
      return value;
    case "object": {
      if (value === null) return null;
      if (sealed.has(value)) return value as JsonValue;
      const seen = stack ?? new Set<object>();
      if (seen.has(value)) throw new NotJsonError(path, "a circular reference");
      seen.add(value);
      let out: JsonValue;
      if (Array.isArray(value)) {
        const arr: JsonValue[] = new Array<JsonValue>(value.length);
        for (let i = 0; i < value.length; i++) arr[i] = seal(value[i], `${path}/${i}`, seen);
        out = arr;
      } else {
        const proto = Object.getPrototypeOf(value) as unknown;
        if (proto !== Object.prototype && proto !== null) throw new NotJsonError(path, describe(value));
        const obj: Record<string, JsonValue> = {};
        for (const key of Object.keys(value)) {
          const v = (value as Record<string, unknown>)[key];
          if (v === undefined) continue;
          obj[key] = seal(v, `${path}/${escapePointer(key)}`, seen);
        }
        out = obj;
      }
      seen.delete(value);
      Object.freeze(out);
      sealed.add(out as object);
      return out;
    }
    default:
      throw new NotJsonError(path, describe(value));
  }
}

/** True when `value` was produced by {@link sealJson} (or is a primitive). */
export function isSealed(value: unknown): boolean {
  return typeof value !== "object" || value === null || sealed.has(value);
}

/**
 * Freezes an engine-built object shell whose leaves are already sealed, and marks it sealed.
 * Cheaper than {@link sealJson} for objects the engine assembles itself (event payloads).
 * The caller guarantees every nested object is sealed or a fresh engine-built shell passed here.
 */
export function freezeShell<T extends object>(obj: T): T {
  Object.freeze(obj);
  sealed.add(obj);
  return obj;
}

/** Escapes one JSON-pointer segment. */
export function escapePointer(segment: string): string {
  return segment.replace(/~/g, "~0").replace(/\//g, "~1");
}

/**
 * Thaws a sealed value into a mutable deep copy (for callers that want to edit a result).
 */
export function thawJson<T = unknown>(value: JsonValue): T {
  return structuredClone(value) as T;
}
