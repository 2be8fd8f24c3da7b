/**
 * Entry point of a plugin worker thread (`isolation: worker`): imports and constructs the plugin,
 * runs its hooks on events received from the main thread and acknowledges each delivery by id.
 * Compiled to `dist/src/plugins/worker/pluginWorker.js`; started by {@link WorkerPlugin}.
 *
 * What a hook returns is observed once (never adopted), so a self-resolving thenable cannot spin
 * this thread's microtask queue; the host validates every message this thread sends.
 *
 * @internal
 * @module
 */
import { parentPort, workerData } from "node:worker_threads";
import { errorMessage } from "../../errors.js";
import type { EngineEvent } from "../../telemetry/events.js";
import { observeOnce, readSafely, settledBy, thenOf } from "../../guard.js";
import type { Plugin } from "../PluginBase.js";
import { importPluginExport, instantiatePlugin, parseModuleRef, PluginProblemError } from "../resolveModule.js";
import type { FromWorker, PluginWorkerData, ToWorker } from "./protocol.js";

const port = parentPort;
if (port === null) throw new Error("pluginWorker.js must run in a worker thread");
const data = workerData as PluginWorkerData;

function post(message: FromWorker): void {
  try {
    port!.postMessage(message);
  } catch {
    // the host is going away
  }
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

// A plugin's stray timer or promise must not kill the worker silently: report and carry on.
process.on("uncaughtException", (err) => post({ t: "hook-error", hook: "uncaught exception", error: errorMessage(err) }));
process.on("unhandledRejection", (err) => post({ t: "hook-error", hook: "unhandled rejection", error: errorMessage(err) }));

/** Calls a hook and waits for what it returns without adopting it; resolves an error message or undefined. */
async function callHook(plugin: Plugin, hook: "onStartup" | "onShutdown" | "onMissed", args: readonly unknown[]): Promise<string | undefined> {
  try {
    const fn = readSafely(plugin, hook);
    if (typeof fn !== "function") return undefined;
    const result: unknown = Reflect.apply(fn, plugin, args);
    const then = thenOf(result);
    if (then !== undefined) await settledBy(result, then);
    return undefined;
  } catch (err) {
    return errorMessage(err) || `${hook} failed`;
  }
}

function flushed(stream: NodeJS.WritableStream): Promise<void> {
  return new Promise<void>((resolve) => {
    try {
      stream.write("", () => resolve());
    } catch {
      resolve();
    }
  });
}

async function main(): Promise<void> {
  let plugin: Plugin;
  try {
    const ref = parseModuleRef(data.module);
    const value = await importPluginExport(ref, data.configDir, data.allow);
    plugin = instantiatePlugin(value, ref, data.pluginId, data.config, { configDir: data.configDir, isolation: "worker" });
  } catch (err) {
    if (err instanceof PluginProblemError) {
      post({ t: "load-error", code: err.problem.code, message: err.problem.message, ...(err.problem.hint === undefined ? {} : { hint: err.problem.hint }) });
    } else {
      post({ t: "load-error", code: "PLUGIN_IMPORT_FAILED", message: errorMessage(err) });
    }
    return;
  }
  if (data.inspectOnly === true) {
    // Checked only: no hook runs; the host terminates this thread once it has the answer.
    post({ t: "ready" });
    return;
  }
  const startupError = await callHook(plugin, "onStartup", []);
  if (startupError !== undefined) {
    post({ t: "load-error", code: "PLUGIN_STARTUP_FAILED", message: `onStartup() failed: ${startupError}` });
    return;
  }

  const reportMissed = (count: number): void => {
    if (count <= 0) return;
    void callHook(plugin, "onMissed", [count]).then((error) => {
      if (error !== undefined) post({ t: "hook-error", hook: "onMissed", error });
    });
  };

  port!.on("message", (msg: ToWorker) => {
    if (msg.t === "event") {
      const id = msg.id;
      reportMissed(msg.missed);
      let result: unknown;
      try {
        result = plugin.onEvent(deepFreeze(msg.event) as Readonly<EngineEvent>);
      } catch (err) {
        post({ t: "ack", id, error: errorMessage(err) || "onEvent threw" });
        return;
      }
      const then = thenOf(result);
      if (then === undefined) post({ t: "ack", id });
      else observeOnce(result, then, (failed, err) => post(failed ? { t: "ack", id, error: errorMessage(err ?? "promise rejected without a reason") } : { t: "ack", id }));
      return;
    }
    // shutdown
    void (async () => {
      if (msg.missed > 0) {
        const error = await callHook(plugin, "onMissed", [msg.missed]);
        if (error !== undefined) post({ t: "hook-error", hook: "onMissed", error });
      }
      const error = await callHook(plugin, "onShutdown", []);
      // Worker stdio reaches the host chunk by chunk; let what the plugin printed arrive before the host stops this thread.
      await Promise.all([flushed(process.stdout), flushed(process.stderr)]);
      post({ t: "shutdown-done", ...(error === undefined ? {} : { error }) });
    })();
  });
  post({ t: "ready" });
}

void main();
