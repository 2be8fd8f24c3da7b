/**
 * Messages between the handler worker pool (main thread, `HandlerWorkers.ts`) and a handler
 * worker (`handlerWorker.ts`), and the host-side check of every message a worker sends. Internal.
 *
 * Handler code shares its thread with the worker bootstrap and can post anything on
 * `parentPort`; {@link parseFromHandlerWorker} accepts only the shapes below, with bounded
 * strings, and never throws. Values (`value`, `payload`, `args`) are not checked here: the host
 * seals them like any handler's output (sealJson), so a worker cannot hand the engine anything
 * that is not JSON data.
 *
 * @internal
 * @module
 */

/** `workerData` of a handler worker. */
export interface HandlerWorkerData {
  /** Importable URL of the handler module (already resolved and allowed by the host). */
  readonly url: string;
}

/** A thrown value, copied across the thread boundary. */
export interface WireError {
  readonly message: string;
  /** The thrown value's own `code` (a handler's, Node's `ERR_*`), kept as `originalCode`. */
  readonly code?: string | number;
  /** Its stack, when it was an Error. */
  readonly stack?: string;
  /** Set when the value was an engine error (`StageError`): its engine code. */
  readonly engineCode?: string;
}

/** Main thread -> worker. */
export type ToHandlerWorker =
  /** Run export `export` on `input` (call `id`); `answers` are the stage's interrupt answers so far. */
  | {
      readonly t: "call";
      readonly id: number;
      readonly export: string;
      readonly input: unknown;
      readonly context: unknown;
      readonly taskId: string;
      readonly nodeId: string;
      readonly answers: readonly unknown[];
      /** How `ctx.memory` calls are checked (`MemoryRules`), when memory.yaml declares kv stores. */
      readonly memory?: unknown;
    }
  /** The result of tool call `n` made by call `id`. */
  | { readonly t: "tool-result"; readonly id: number; readonly n: number; readonly value: unknown }
  | { readonly t: "tool-error"; readonly id: number; readonly n: number; readonly error: WireError }
  /** The answer to memory read `n` (`get`: the value or undefined; `list`: the entries) of call `id`. */
  | { readonly t: "memory-result"; readonly id: number; readonly n: number; readonly value: unknown }
  | { readonly t: "memory-error"; readonly id: number; readonly n: number; readonly error: WireError };

/** Worker -> main thread. */
export type FromHandlerWorker =
  /** The module was imported; `exports` maps each export name to its `typeof`. */
  | { readonly t: "ready"; readonly exports: Readonly<Record<string, string>> }
  | { readonly t: "load-error"; readonly message: string; readonly hint?: string }
  /** Call `id` returned `value` (sealed JSON in the worker). */
  | { readonly t: "result"; readonly id: number; readonly value: unknown }
  /** Call `id` returned something that is not JSON data. */
  | { readonly t: "not-json"; readonly id: number; readonly message: string }
  /** Call `id` threw or rejected. */
  | { readonly t: "error"; readonly id: number; readonly error: WireError }
  /** Call `id` called `ctx.interrupt(payload)` past the answers it was given. */
  | { readonly t: "interrupt"; readonly id: number; readonly payload: unknown }
  /** Call `id` calls tool `toolId` (its `n`-th tool call). */
  | { readonly t: "tool"; readonly id: number; readonly n: number; readonly toolId: string; readonly args: unknown }
  /**
   * Call `id` uses `ctx.memory` (its `n`-th memory call): `get` and `list` are answered with
   * `memory-result`/`memory-error`; `put` and `delete` (checked in the worker already) are not
   * answered.
   */
  | { readonly t: "memory"; readonly id: number; readonly n: number; readonly op: "get" | "list" | "put" | "delete"; readonly store: string; readonly key?: string; readonly prefix?: string; readonly value?: unknown };

/** Longest message or stack kept from a worker; longer ones are cut. */
export const MAX_WIRE_STRING = 16_384;

/** Most export names a `ready` message may list. */
export const MAX_EXPORTS = 1000;

const KEYS: Readonly<Record<FromHandlerWorker["t"], readonly string[]>> = {
  ready: ["t", "exports"],
  "load-error": ["t", "message", "hint"],
  result: ["t", "id", "value"],
  "not-json": ["t", "id", "message"],
  error: ["t", "id", "error"],
  interrupt: ["t", "id", "payload"],
  tool: ["t", "id", "n", "toolId", "args"],
  memory: ["t", "id", "n", "op", "store", "key", "prefix", "value"],
};

const ERROR_KEYS: readonly string[] = ["message", "code", "stack", "engineCode"];

/**
 * Checks one message from a handler worker. Returns the typed message, or a string saying why it
 * was rejected. Never throws.
 */
export function parseFromHandlerWorker(msg: unknown): FromHandlerWorker | string {
  try {
    if (!isPlain(msg)) return `not a plain object (${msg === null ? "null" : Array.isArray(msg) ? "an array" : typeof msg})`;
    const t = msg.t;
    if (typeof t !== "string" || !Object.hasOwn(KEYS, t)) return `unknown message kind ${typeof t === "string" ? JSON.stringify(t.slice(0, 40)) : typeof t}`;
    const kind = t as FromHandlerWorker["t"];
    for (const key of Object.keys(msg)) if (!KEYS[kind].includes(key)) return `unexpected field "${key.slice(0, 40)}" in a "${kind}" message`;
    const id = msg.id;
    if (kind !== "ready" && kind !== "load-error" && !isId(id)) return `malformed "${kind}" message (id)`;
    switch (kind) {
      case "ready": {
        const exports = msg.exports;
        if (!isPlain(exports)) return 'malformed "ready" message';
        const names = Object.keys(exports);
        if (names.length > MAX_EXPORTS) return `"ready" lists more than ${MAX_EXPORTS} exports`;
        const out: Record<string, string> = {};
        for (const name of names) {
          const type = exports[name];
          if (typeof type !== "string" || name.length > 200) return 'malformed "ready" message';
          out[name] = type.slice(0, 20);
        }
        return { t: "ready", exports: out };
      }
      case "load-error": {
        if (typeof msg.message !== "string" || (msg.hint !== undefined && typeof msg.hint !== "string")) return 'malformed "load-error" message';
        return { t: "load-error", message: cut(msg.message), ...(msg.hint === undefined ? {} : { hint: cut(msg.hint as string) }) };
      }
      case "result":
        return { t: "result", id: id as number, value: msg.value };
      case "not-json":
        if (typeof msg.message !== "string") return 'malformed "not-json" message';
        return { t: "not-json", id: id as number, message: cut(msg.message) };
      case "error": {
        const error = parseWireError(msg.error);
        if (error === undefined) return 'malformed "error" message';
        return { t: "error", id: id as number, error };
      }
      case "interrupt":
        return { t: "interrupt", id: id as number, payload: msg.payload };
      case "tool":
        if (!isId(msg.n) || typeof msg.toolId !== "string" || msg.toolId.length > 1000) return 'malformed "tool" message';
        return { t: "tool", id: id as number, n: msg.n as number, toolId: msg.toolId, args: msg.args };
      case "memory": {
        const { op, store, key, prefix } = msg;
        if (!isId(msg.n) || (op !== "get" && op !== "list" && op !== "put" && op !== "delete") || typeof store !== "string" || store.length > 1000) return 'malformed "memory" message';
        if ((op !== "list" && typeof key !== "string") || (key !== undefined && (typeof key !== "string" || key.length > 4096))) return 'malformed "memory" message';
        if (prefix !== undefined && (op !== "list" || typeof prefix !== "string" || prefix.length > 4096)) return 'malformed "memory" message';
        return { t: "memory", id: id as number, n: msg.n as number, op, store, ...(key === undefined ? {} : { key: key as string }), ...(prefix === undefined ? {} : { prefix: prefix as string }), ...(op === "put" ? { value: msg.value } : {}) };
      }
    }
  } catch {
    return "a message that cannot be inspected";
  }
}

/** Checks a {@link WireError} (both directions use it); undefined when malformed. */
export function parseWireError(e: unknown): WireError | undefined {
  if (!isPlain(e)) return undefined;
  for (const key of Object.keys(e)) if (!ERROR_KEYS.includes(key)) return undefined;
  const { message, code, stack, engineCode } = e;
  if (typeof message !== "string") return undefined;
  if (code !== undefined && typeof code !== "string" && !(typeof code === "number" && Number.isFinite(code))) return undefined;
  if (stack !== undefined && typeof stack !== "string") return undefined;
  if (engineCode !== undefined && (typeof engineCode !== "string" || !/^[A-Z][A-Z0-9_]{1,63}$/.test(engineCode))) return undefined;
  return {
    message: cut(message),
    ...(code === undefined ? {} : { code: typeof code === "string" ? code.slice(0, 200) : code }),
    ...(stack === undefined ? {} : { stack: cut(stack as string) }),
    ...(engineCode === undefined ? {} : { engineCode: engineCode as string }),
  };
}

function isPlain(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== "object" || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

function isId(v: unknown): boolean {
  return typeof v === "number" && Number.isSafeInteger(v) && v > 0;
}

function cut(s: string): string {
  return s.length > MAX_WIRE_STRING ? `${s.slice(0, MAX_WIRE_STRING)}... (${s.length - MAX_WIRE_STRING} more characters)` : s;
}
