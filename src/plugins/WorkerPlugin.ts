/**
 * `isolation: worker`: a main-thread proxy that runs the real plugin in a `worker_threads` Worker.
 *
 * @module
 */
import { Worker } from "node:worker_threads";
import { PluginLoadError } from "../errors.js";
import type { EngineEvent } from "../telemetry/events.js";
import { PROXY_INTERNALS, type ProxyInternals, type ProxyReporter } from "./internal.js";
import { PluginBase } from "./PluginBase.js";
import type { FromWorker, PluginWorkerData, ToWorker } from "./worker/protocol.js";

/** Default bound of deliveries sent to a worker and not yet acknowledged. */
export const DEFAULT_QUEUE_SIZE = 1000;

/** Options of {@link WorkerPlugin}. */
export interface WorkerPluginOptions {
  /** `specifier[#export]`, exactly as in plugins.yaml. */
  readonly module: string;
  /** Directory relative specifiers resolve against (the config dir). */
  readonly configDir: string;
  /**
   * Deliveries in flight (sent, not yet acknowledged by the worker) before new ones are dropped.
   * Overflow drops the newest events; the plugin's `onMissed(count)` is called with how many before
   * its next delivered event and at shutdown. Default 1000.
   */
  readonly queueSize?: number;
}

type Status = "idle" | "starting" | "running" | "stopping" | "stopped" | "dead";

/**
 * Runs a plugin in its own worker thread. The registry treats it like any plugin, except that
 * dispatch only posts a structured clone of the event (never waits), so a plugin that blocks
 * its thread (even `while (true) {}`) cannot stall the engine; at shutdown such a worker is
 * terminated after the timeout and reported.
 *
 * The worker is `unref()`ed while running, so it never keeps the process alive; call
 * `engine.shutdown()` (or `registry.shutdown()`) to let it finish its queue and `onShutdown`.
 *
 * @example
 * ```ts
 * await registry.register(new WorkerPlugin("audit", { path: "audit.jsonl" }, { module: "./plugins/audit.js#Audit", configDir }));
 * ```
 */
export class WorkerPlugin extends PluginBase {
  private readonly options: Required<WorkerPluginOptions>;
  private worker: Worker | undefined;
  private status: Status = "idle";
  private inFlight = 0;
  private missed = 0;
  private reporter: ProxyReporter | undefined;
  private readonly drainWaiters = new Set<() => void>();
  private startup: { resolve: () => void; reject: (err: unknown) => void } | undefined;
  private shutdownDone: { resolve: () => void; reject: (err: unknown) => void } | undefined;
  private exited: Promise<void> = Promise.resolve();

  constructor(pluginId: string, config: Record<string, unknown>, options: WorkerPluginOptions) {
    super(pluginId, config, { configDir: options.configDir, isolation: "worker" });
    const queueSize = options.queueSize ?? DEFAULT_QUEUE_SIZE;
    if (!Number.isInteger(queueSize) || queueSize < 1) throw new RangeError(`queue_size must be an integer >= 1, got ${String(queueSize)}`);
    if (typeof options.module !== "string" || options.module.length === 0) throw new TypeError("module must be a non-empty string");
    this.options = { module: options.module, configDir: options.configDir, queueSize };
  }

  /** Posts the event to the worker, or drops it when the queue is full. Never waits. */
  onEvent(event: Readonly<EngineEvent>): void {
    this.offer(event);
  }

  private offer(event: object): boolean {
    if (this.status !== "running" || this.worker === undefined) return false;
    if (this.inFlight >= this.options.queueSize) {
      this.missed++;
      return false;
    }
    this.inFlight++;
    const missed = this.missed;
    this.missed = 0;
    this.worker.postMessage({ t: "event", event, missed } satisfies ToWorker);
    return true;
  }

  /** Starts the worker, which imports and constructs the plugin and runs its `onStartup`. */
  override onStartup(): Promise<void> {
    if (this.status !== "idle") return Promise.reject(new Error(`worker plugin "${this.pluginId}" was already started`));
    this.status = "starting";
    const data: PluginWorkerData = { pluginId: this.pluginId, module: this.options.module, configDir: this.options.configDir, config: this.config };
    let worker: Worker;
    try {
      worker = new Worker(new URL("./worker/pluginWorker.js", import.meta.url), { workerData: data });
    } catch (err) {
      this.status = "dead";
      return Promise.reject(
        new PluginLoadError({ code: "PLUGIN_CONFIG", pluginId: this.pluginId, message: `cannot start a worker for this plugin: ${String(err instanceof Error ? err.message : err)}`, hint: "config must be structured-cloneable (plain data) for isolation: worker" }, { cause: err }),
      );
    }
    this.worker = worker;
    this.exited = new Promise<void>((resolve) => worker.once("exit", () => resolve()));
    worker.on("message", (msg: FromWorker) => this.onMessage(msg));
    worker.on("error", (err) => this.onDeath(`worker crashed: ${err.message}`, err));
    worker.on("exit", (code) => this.onDeath(`worker exited with code ${code}`, undefined));
    return new Promise<void>((resolve, reject) => {
      this.startup = { resolve, reject };
    });
  }

  /** Sends remaining missed counts, lets the worker run `onShutdown`, then stops the worker. */
  override async onShutdown(): Promise<void> {
    const worker = this.worker;
    if (worker === undefined || (this.status !== "running" && this.status !== "starting")) return;
    this.status = "stopping";
    // Keep the process alive while the worker finishes its onShutdown (flushing files, ...).
    worker.ref();
    const done = new Promise<void>((resolve, reject) => {
      this.shutdownDone = { resolve, reject };
    });
    worker.postMessage({ t: "shutdown", missed: this.missed } satisfies ToWorker);
    this.missed = 0;
    try {
      await done;
    } finally {
      await this.stopWorker();
    }
  }

  private onMessage(msg: FromWorker): void {
    switch (msg.t) {
      case "ready":
        if (this.status === "starting") {
          this.status = "running";
          this.worker?.unref();
        }
        this.startup?.resolve();
        this.startup = undefined;
        return;
      case "load-error":
        this.startup?.reject(new PluginLoadError({ code: msg.code, pluginId: this.pluginId, message: msg.message, ...(msg.hint === undefined ? {} : { hint: msg.hint }) }));
        this.startup = undefined;
        void this.stopWorker();
        return;
      case "ack":
        if (this.inFlight > 0) this.inFlight--;
        if (msg.error === undefined) this.reporter?.success();
        else this.reporter?.failure(new Error(msg.error), "onEvent");
        if (this.inFlight === 0) this.notifyDrained();
        return;
      case "hook-error":
        this.reporter?.failure(new Error(msg.error), msg.hook);
        return;
      case "shutdown-done":
        if (msg.error === undefined) this.shutdownDone?.resolve();
        else this.shutdownDone?.reject(new Error(msg.error));
        this.shutdownDone = undefined;
        return;
    }
  }

  private onDeath(reason: string, err: Error | undefined): void {
    const wasRunning = this.status === "running";
    if (this.status !== "stopped") this.status = "dead";
    this.startup?.reject(new PluginLoadError({ code: "PLUGIN_STARTUP_FAILED", pluginId: this.pluginId, message: reason }, { cause: err }));
    this.startup = undefined;
    this.shutdownDone?.reject(new Error(reason));
    this.shutdownDone = undefined;
    if (wasRunning) this.reporter?.failure(err ?? new Error(reason), "worker", true);
    this.notifyDrained();
  }

  private notifyDrained(): void {
    for (const waiter of [...this.drainWaiters]) waiter();
  }

  private async stopWorker(): Promise<void> {
    const worker = this.worker;
    if (worker === undefined) return;
    if (this.status !== "dead") this.status = "stopped";
    await worker.terminate();
    await this.exited;
  }

  private drain(timeoutMs: number): Promise<boolean> {
    if (this.inFlight === 0) return Promise.resolve(true);
    if (this.status === "dead" || this.status === "stopped") return Promise.resolve(false);
    const worker = this.worker;
    worker?.ref(); // acknowledgements must be able to arrive even if nothing else keeps the process alive
    return new Promise<boolean>((resolve) => {
      const finish = (value: boolean): void => {
        clearTimeout(timer);
        this.drainWaiters.delete(waiter);
        if (this.status === "running") worker?.unref();
        resolve(value);
      };
      const waiter = (): void => {
        if (this.inFlight === 0) finish(true);
        else if (this.status === "dead" || this.status === "stopped") finish(false);
      };
      const timer = setTimeout(() => finish(this.inFlight === 0), timeoutMs);
      this.drainWaiters.add(waiter);
    });
  }

  /** @internal */
  get [PROXY_INTERNALS](): ProxyInternals {
    return {
      attach: (reporter) => {
        this.reporter = reporter;
      },
      offer: (event) => this.offer(event),
      drain: (timeoutMs) => this.drain(timeoutMs),
      inFlight: () => (this.status === "dead" || this.status === "stopped" ? 0 : this.inFlight),
      terminate: () => this.stopWorker(),
    };
  }
}
