/**
 * Messages between {@link WorkerPlugin} (main thread) and the plugin worker, and the host-side
 * check of every message a worker sends. Internal.
 *
 * Plugin code shares its thread with the worker bootstrap, so it can post anything on
 * `parentPort` (including forged protocol messages). The host therefore treats every message as
 * untrusted input: {@link parseFromWorker} accepts only the exact shapes below, with bounded
 * strings, and never throws.
 *
 * @internal
 * @module
 */
import type { ErrorCode } from "../../errors.js";
import type { LoadPolicy } from "../../modules.js";

/** `workerData` of a plugin worker. */
export interface PluginWorkerData {
  readonly pluginId: string;
  readonly module: string;
  readonly configDir: string;
  readonly config: Record<string, unknown>;
  /** The host's load policy for the plugin module (`EngineOptions.allow`). */
  readonly allow?: LoadPolicy;
  /** Import and construct the plugin, report `ready`, and run nothing else (for `agent-engine plugins`). */
  readonly inspectOnly?: boolean;
}

/** Main thread -> worker. */
export type ToWorker =
  /** One event, delivery `id`; `missed` deliveries were dropped since the previous one. */
  | { readonly t: "event"; readonly id: number; readonly event: unknown; readonly missed: number }
  /** Drain and call onShutdown; `missed` drops not yet reported. */
  | { readonly t: "shutdown"; readonly missed: number };

/** Worker -> main thread. */
export type FromWorker =
  | { readonly t: "ready" }
  | { readonly t: "load-error"; readonly code: ErrorCode; readonly message: string; readonly hint?: string }
  /** Delivery `id` settled; `error` when it failed. */
  | { readonly t: "ack"; readonly id: number; readonly error?: string }
  /** A hook other than onEvent failed, or an uncaught error/rejection inside the worker. */
  | { readonly t: "hook-error"; readonly hook: string; readonly error: string }
  | { readonly t: "shutdown-done"; readonly error?: string };

/** Longest string kept from a worker message; longer ones are cut. */
export const MAX_MESSAGE_STRING = 4000;

/** Load-error codes a worker may report; anything else becomes `PLUGIN_IMPORT_FAILED`. */
const LOAD_CODES: ReadonlySet<string> = new Set<ErrorCode>([
  "PLUGIN_MODULE_NOT_FOUND",
  "PLUGIN_IMPORT_FAILED",
  "PLUGIN_EXPORT_MISSING",
  "PLUGIN_NOT_A_PLUGIN",
  "PLUGIN_CONSTRUCTOR_FAILED",
  "PLUGIN_STARTUP_FAILED",
  "PLUGIN_CONFIG",
  "CONFIG_MODULE_NOT_ALLOWED",
]);

const KEYS: Readonly<Record<FromWorker["t"], readonly string[]>> = {
  ready: ["t"],
  "load-error": ["t", "code", "message", "hint"],
  ack: ["t", "id", "error"],
  "hook-error": ["t", "hook", "error"],
  "shutdown-done": ["t", "error"],
};

/**
 * Checks one message from a worker. Returns the typed message, or a string saying why it was
 * rejected (`null`, wrong type, unknown kind, extra or mistyped fields). Never throws.
 */
export function parseFromWorker(msg: unknown): FromWorker | string {
  try {
    if (msg === null || typeof msg !== "object" || Array.isArray(msg)) return `not an object (${msg === null ? "null" : Array.isArray(msg) ? "an array" : typeof msg})`;
    const proto = Object.getPrototypeOf(msg) as unknown;
    if (proto !== Object.prototype && proto !== null) return "not a plain object";
    const m = msg as Record<string, unknown>;
    const t = m.t;
    if (typeof t !== "string" || !Object.hasOwn(KEYS, t)) return `unknown message kind ${typeof t === "string" ? JSON.stringify(t.slice(0, 40)) : typeof t}`;
    const allowed = KEYS[t as FromWorker["t"]];
    for (const key of Object.keys(m)) if (!allowed.includes(key)) return `unexpected field "${key.slice(0, 40)}" in a "${t}" message`;
    const str = (key: string, required: boolean): string | undefined | null => {
      const v = m[key];
      if (v === undefined) return required ? null : undefined;
      return typeof v === "string" ? cut(v) : null;
    };
    switch (t as FromWorker["t"]) {
      case "ready":
        return { t: "ready" };
      case "load-error": {
        const code = str("code", true);
        const message = str("message", true);
        const hint = str("hint", false);
        if (code === null || message === null || hint === null) return 'malformed "load-error" message';
        const known = LOAD_CODES.has(code!) ? (code as ErrorCode) : "PLUGIN_IMPORT_FAILED";
        return { t: "load-error", code: known, message: message!, ...(hint === undefined ? {} : { hint }) };
      }
      case "ack": {
        const id = m.id;
        const error = str("error", false);
        if (typeof id !== "number" || !Number.isSafeInteger(id) || error === null) return 'malformed "ack" message';
        return { t: "ack", id, ...(error === undefined ? {} : { error }) };
      }
      case "hook-error": {
        const hook = str("hook", true);
        const error = str("error", true);
        if (hook === null || error === null) return 'malformed "hook-error" message';
        return { t: "hook-error", hook: hook!, error: error! };
      }
      case "shutdown-done": {
        const error = str("error", false);
        if (error === null) return 'malformed "shutdown-done" message';
        return { t: "shutdown-done", ...(error === undefined ? {} : { error }) };
      }
    }
  } catch {
    return "a message that cannot be inspected";
  }
}

function cut(s: string): string {
  return s.length > MAX_MESSAGE_STRING ? `${s.slice(0, MAX_MESSAGE_STRING)}... (${s.length - MAX_MESSAGE_STRING} more characters)` : s;
}
