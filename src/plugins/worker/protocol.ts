/**
 * Messages between {@link WorkerPlugin} (main thread) and the plugin worker. Internal.
 *
 * @internal
 * @module
 */
import type { ErrorCode } from "../../errors.js";

/** `workerData` of a plugin worker. */
export interface PluginWorkerData {
  readonly pluginId: string;
  readonly module: string;
  readonly configDir: string;
  readonly config: Record<string, unknown>;
}

/** Main thread -> worker. */
export type ToWorker =
  /** One event; `missed` deliveries were dropped since the previous one. */
  | { readonly t: "event"; readonly event: unknown; readonly missed: number }
  /** Drain and call onShutdown; `missed` drops not yet reported. */
  | { readonly t: "shutdown"; readonly missed: number };

/** Worker -> main thread. */
export type FromWorker =
  | { readonly t: "ready" }
  | { readonly t: "load-error"; readonly code: ErrorCode; readonly message: string; readonly hint?: string }
  /** One delivery settled; `error` when it failed. */
  | { readonly t: "ack"; readonly error?: string }
  /** A hook other than onEvent failed, or an uncaught error/rejection inside the worker. */
  | { readonly t: "hook-error"; readonly hook: string; readonly error: string }
  | { readonly t: "shutdown-done"; readonly error?: string };
