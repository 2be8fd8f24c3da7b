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
  try {
    return seal(value, []);
  } catch (err) {
    if (err instanceof BadValue) throw new NotJsonError(path + err.segments.map((k) => `/${escapePointer(String(k))}`).join(""), err.found);
    throw err;
  }
}

/** Internal: unwinds with the path to the offending value, built only when something is wrong. */
class BadValue {
  readonly segments: (string | number)[] = [];
  constructor(readonly found: string) {}
}

function seal(value: unknown, ancestors: object[]): JsonValue {
  switch (typeof value) {
    case "string":
    case "boolean":
      return value;
    case "number":
      if (!Number.isFinite(value)) throw new BadValue(describe(value));
      return value;
    case "object": {
      if (value === null) return null;
      if (sealed.has(value)) return value as JsonValue;
      if (ancestors.includes(value)) throw new BadValue("a circular reference");
      ancestors.push(value);
      let out: JsonValue;
      let key: string | number | undefined;
      try {
        if (Array.isArray(value)) {
          const arr: JsonValue[] = new Array<JsonValue>(value.length);
          for (let i = 0; i < value.length; i++) {
            key = i;
            arr[i] = seal(value[i], ancestors);
          }
          out = arr;
        } else {
          const proto = Object.getPrototypeOf(value) as unknown;
          if (proto !== Object.prototype && proto !== null) throw new BadValue(describe(value));
          const obj: Record<string, JsonValue> = {};
          for (const k in value) {
            if (!Object.prototype.hasOwnProperty.call(value, k)) continue;
            const v = (value as Record<string, unknown>)[k];
            if (v === undefined) continue;
            key = k;
            obj[k] = seal(v, ancestors);
          }
          out = obj;
        }
      } catch (err) {
        if (err instanceof BadValue && key !== undefined) err.segments.unshift(key);
        throw err;
      }
      ancestors.pop();
      Object.freeze(out);
      sealed.add(out as object);
      return out;
    }
    default:
      throw new BadValue(describe(value));
  }
}

/** True when `value` was produced by {@link sealJson} (or is a primitive). */
export function isSealed(value: unknown): boolean {
  return typeof value !== "object" || value === null || sealed.has(value);
}

/**
 * Freezes an engine-built object shell whose leaves are already sealed (event payloads, history
 * entries). Cheaper than {@link sealJson}: nothing is walked or copied. The shell is not
 * remembered as sealed (that bookkeeping costs more than the freeze), so passing it to
 * {@link sealJson} later copies the shell itself, never its sealed leaves.
 * The caller guarantees every nested object is sealed or a frozen engine-built shell.
 */
export function freezeShell<T extends object>(obj: T): T {
  return Object.freeze(obj);
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
