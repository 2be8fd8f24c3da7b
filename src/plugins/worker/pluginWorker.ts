/**
 * Entry point of a plugin worker thread (`isolation: worker`): imports and constructs the plugin,
 * runs its hooks on events received from the main thread and acknowledges each delivery.
 * Compiled to `dist/src/plugins/worker/pluginWorker.js`; started by {@link WorkerPlugin}.
 *
 * @internal
 * @module
 */
import { parentPort, workerData } from "node:worker_threads";
import { errorMessage } from "../../errors.js";
import type { EngineEvent } from "../../telemetry/events.js";
import type { Plugin } from "../PluginBase.js";
import { importPluginExport, instantiatePlugin, parseModuleRef, PluginProblemError } from "../resolveModule.js";
import type { FromWorker, PluginWorkerData, ToWorker } from "./protocol.js";

const port = parentPort;
if (port === null) throw new Error("pluginWorker.js must run in a worker thread");
const data = workerData as PluginWorkerData;

function post(message: FromWorker): void {
  port!.postMessage(message);
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (typeof value === "object" || typeof value === "function") && value !== null && typeof (value as { then?: unknown }).then === "function";
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

async function callHook(hook: string, fn: () => unknown): Promise<string | undefined> {
  try {
    await fn();
    return undefined;
  } catch (err) {
    return `${errorMessage(err)}` || `${hook} failed`;
  }
}

async function main(): Promise<void> {
  let plugin: Plugin;
  try {
    const ref = parseModuleRef(data.module);
    const value = await importPluginExport(ref, data.configDir);
    plugin = instantiatePlugin(value, ref, data.pluginId, data.config, { configDir: data.configDir, isolation: "worker" });
  } catch (err) {
    if (err instanceof PluginProblemError) {
      post({ t: "load-error", code: err.problem.code, message: err.problem.message, ...(err.problem.hint === undefined ? {} : { hint: err.problem.hint }) });
    } else {
      post({ t: "load-error", code: "PLUGIN_IMPORT_FAILED", message: errorMessage(err) });
    }
    return;
  }
  if (typeof plugin.onStartup === "function") {
    const error = await callHook("onStartup", () => plugin.onStartup!());
    if (error !== undefined) {
      post({ t: "load-error", code: "PLUGIN_STARTUP_FAILED", message: `onStartup() failed: ${error}` });
      return;
    }
  }

  const reportMissed = (count: number): void => {
    if (count <= 0 || typeof plugin.onMissed !== "function") return;
    try {
      const r = plugin.onMissed(count);
      if (isThenable(r)) r.then(undefined, (err: unknown) => post({ t: "hook-error", hook: "onMissed", error: errorMessage(err) }));
    } catch (err) {
      post({ t: "hook-error", hook: "onMissed", error: errorMessage(err) });
    }
  };

  port!.on("message", (msg: ToWorker) => {
    if (msg.t === "event") {
      reportMissed(msg.missed);
      let result: unknown;
      try {
        result = plugin.onEvent(deepFreeze(msg.event) as Readonly<EngineEvent>);
      } catch (err) {
        post({ t: "ack", error: errorMessage(err) });
        return;
      }
      if (isThenable(result)) {
        result.then(
          () => post({ t: "ack" }),
          (err: unknown) => post({ t: "ack", error: errorMessage(err ?? "promise rejected without a reason") }),
        );
      } else post({ t: "ack" });
      return;
    }
    // shutdown
    void (async () => {
      if (msg.missed > 0 && typeof plugin.onMissed === "function") {
        const error = await callHook("onMissed", () => plugin.onMissed!(msg.missed));
        if (error !== undefined) post({ t: "hook-error", hook: "onMissed", error });
      }
      const error = typeof plugin.onShutdown === "function" ? await callHook("onShutdown", () => plugin.onShutdown!()) : undefined;
      post({ t: "shutdown-done", ...(error === undefined ? {} : { error }) });
    })();
  });
  post({ t: "ready" });
}

void main();
