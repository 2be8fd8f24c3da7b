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

/** Returns its argument from the constructor, so a subclass can stamp private fields on any object. */
class Stamp {
  constructor(obj: object) {
    return obj;
  }
}

/**
 * Brands engine-sealed objects with a private class field (the "return override" idiom).
 * The brand is invisible to JSON, `structuredClone`, `Object.keys`, `Reflect.ownKeys`, spread and
 * `assert.deepStrictEqual`, cannot be forged by other code, and costs about as much as adding a
 * property. (A WeakSet did the same job at 0.2-7 µs per object once many sealed values were
 * alive, and slowed every GC; a non-enumerable symbol via defineProperty cost ~250 ns.)
 */
class SealBrand extends Stamp {
  #sealed = true;
  /** True when `obj` was branded by {@link brand}. */
  static has(obj: object): boolean {
    return #sealed in obj;
  }
}

function markSealed(obj: object): void {
  new SealBrand(obj);
}

function hasSeal(obj: object): boolean {
  return SealBrand.has(obj);
}

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
    return seal(value, { ancestors: [], objects: 0, memo: undefined }, 0);
  } catch (err) {
    if (err instanceof BadValue) {
      // Cycles are only looked for deep down (see CYCLE_CHECK_DEPTH); report the shortest path.
      const segments = err.found === CIRCULAR ? (findCycle(value, [], []) ?? err.segments) : err.segments;
      throw new NotJsonError(path + segments.map((k) => `/${escapePointer(String(k))}`).join(""), err.found);
    }
    throw err;
  }
}

const CIRCULAR = "a circular reference";

/**
 * Path to the first object that contains one of its own ancestors, or undefined. Objects already
 * searched completely are skipped (`done`), so shared sub-objects are walked once, not once per path.
 */
function findCycle(value: unknown, ancestors: object[], path: (string | number)[], done = new Set<object>()): (string | number)[] | undefined {
  if (value === null || typeof value !== "object") return undefined;
  if (ancestors.includes(value)) return path;
  if (done.has(value)) return undefined;
  ancestors.push(value);
  for (const k of Object.keys(value)) {
    const found = findCycle((value as Record<string, unknown>)[k], ancestors, [...path, Array.isArray(value) ? Number(k) : k], done);
    if (found) return found;
  }
  ancestors.pop();
  done.add(value);
  return undefined;
}

/** Internal: unwinds with the path to the offending value, built only when something is wrong. */
class BadValue {
  readonly segments: (string | number)[] = [];
  constructor(readonly found: string) {}
}

/** Depth below which cycles are not looked for: a cycle recurses past it and is caught there. */
const CYCLE_CHECK_DEPTH = 32;

/**
 * Objects copied in one call before shared sub-objects are remembered. Ordinary values (a few
 * dozen objects) never pay for the map; a value sharing sub-objects (a DAG with 2^40 paths)
 * copies each distinct object at most twice instead of once per path.
 */
const MEMO_AFTER = 64;

/** State of one {@link sealJson} call. */
interface SealState {
  /** Source objects being copied, below {@link CYCLE_CHECK_DEPTH}. */
  readonly ancestors: object[];
  /** Objects copied so far. */
  objects: number;
  /** Source object -> its sealed copy, once more than {@link MEMO_AFTER} objects were copied. */
  memo: Map<object, JsonValue> | undefined;
}

function seal(value: unknown, state: SealState, depth: number): JsonValue {
  switch (typeof value) {
    case "string":
    case "boolean":
      return value;
    case "number":
      if (!Number.isFinite(value)) throw new BadValue(describe(value));
      return value;
    case "object": {
      if (value === null) return null;
      if (hasSeal(value)) return value as JsonValue;
      const memo = state.memo;
      if (memo !== undefined) {
        // Only completed copies are remembered, so an object still being copied (a cycle) is
        // never found here and the ancestor check below still sees it.
        const done = memo.get(value);
        if (done !== undefined) return done;
      } else if (++state.objects > MEMO_AFTER) state.memo = new Map();
      const ancestors = state.ancestors;
      const tracked = depth >= CYCLE_CHECK_DEPTH;
      if (tracked) {
        if (ancestors.includes(value)) throw new BadValue(CIRCULAR);
        ancestors.push(value);
      }
      let out: JsonValue;
      let key: string | number | undefined;
      try {
        if (Array.isArray(value)) {
          const arr: JsonValue[] = new Array<JsonValue>(value.length);
          for (let i = 0; i < value.length; i++) {
            key = i;
            arr[i] = seal(value[i], state, depth + 1);
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
            const sealedValue = seal(v, state, depth + 1);
            // `obj.__proto__ = x` would set the prototype, not copy the key (JSON.parse makes
            // "__proto__" an own key); define it as data instead.
            if (k === "__proto__") Object.defineProperty(obj, k, { value: sealedValue, enumerable: true, writable: true, configurable: true });
            else obj[k] = sealedValue;
          }
          out = obj;
        }
      } catch (err) {
        if (err instanceof BadValue && key !== undefined) err.segments.unshift(key);
        throw err;
      }
      if (tracked) ancestors.pop();
      markSealed(out as object);
      Object.freeze(out);
      state.memo?.set(value, out);
      return out;
    }
    default:
      throw new BadValue(describe(value));
  }
}

/** True when `value` was produced by {@link sealJson} (or is a primitive). */
export function isSealed(value: unknown): boolean {
  return typeof value !== "object" || value === null || hasSeal(value);
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
