/**
 * `isolation: worker`: a main-thread proxy that runs the real plugin in a `worker_threads` Worker.
 *
 * @module
 */
import { Worker, type ResourceLimits } from "node:worker_threads";
import { errorMessage, PluginLoadError } from "../errors.js";
import type { LoadPolicy } from "../modules.js";
import type { EngineEvent } from "../telemetry/events.js";
import { PROXY_INTERNALS, type ProxyInternals, type ProxyReporter } from "./internal.js";
import { PluginBase } from "./PluginBase.js";
import { relayLines, workerExecArgv } from "../workerThreads.js";
import { parseFromWorker, type PluginWorkerData, type ToWorker } from "./worker/protocol.js";

/** Default bound of deliveries sent to a worker and not yet acknowledged. */
export const DEFAULT_QUEUE_SIZE = 1000;

/** Default of {@link WorkerPluginOptions.maxMessagesPerSecond}. */
export const DEFAULT_MAX_MESSAGES_PER_SECOND = 200;

/** Default of {@link WorkerPluginOptions.maxOutputLinesPerSecond}. */
export const DEFAULT_MAX_OUTPUT_LINES_PER_SECOND = 100;

export { MAX_OUTPUT_LINE } from "../workerThreads.js";

/**
 * Default `resourceLimits` of a plugin worker: a 256 MB old generation and a 4 MB stack. A worker
 * over its heap limit is stopped by V8 and its plugin disabled; the engine keeps running.
 */
export const DEFAULT_RESOURCE_LIMITS: Readonly<ResourceLimits> = Object.freeze({ maxOldGenerationSizeMb: 256, stackSizeMb: 4 });

/** Options of {@link WorkerPlugin}. */
export interface WorkerPluginOptions {
  /** `specifier[#export]`, exactly as in plugins.yaml. */
  readonly module: string;
  /** Directory relative specifiers resolve against (the config dir). */
  readonly configDir: string;
  /** What the module may be besides a file of `configDir` or an installed package (`EngineOptions.allow`). Default none. */
  readonly allow?: LoadPolicy;
  /**
   * Deliveries in flight (sent, not yet acknowledged by the worker) before new ones are dropped.
   * Overflow drops the newest events; the plugin's `onMissed(count)` is called with how many before
   * its next delivered event and at shutdown. Default 1000.
   */
  readonly queueSize?: number;
  /**
   * Names of environment variables the worker may see (`env:` in plugins.yaml). The worker gets a
   * copy holding only these (those that are set); default none: `process.env` is empty in the worker.
   */
  readonly env?: readonly string[];
  /** V8 limits of the worker (`resource_limits:` in plugins.yaml); merged over {@link DEFAULT_RESOURCE_LIMITS}. */
  readonly resourceLimits?: ResourceLimits;
  /**
   * Messages a worker may send per second besides acknowledgements of deliveries (hook errors,
   * anything unexpected). Over it, the worker is flooding: it is terminated and the plugin
   * disabled. Default 200.
   */
  readonly maxMessagesPerSecond?: number;
  /** Lines of stdout/stderr re-emitted per second (the rest counted and summarized). Default 100. */
  readonly maxOutputLinesPerSecond?: number;
}

/** Lifecycle of a plugin worker thread, see {@link WorkerPlugin.workerStatus}. */
export type WorkerStatus = "idle" | "starting" | "running" | "stopping" | "stopped" | "dead";

/**
 * Runs a plugin in its own worker thread. The registry treats it like any plugin, except that
 * dispatch only posts a structured clone of the event (never waits), so a plugin that blocks
 * its thread (even `while (true) {}`) cannot stall the engine; at shutdown such a worker is
 * terminated after the timeout and reported.
 *
 * The boundary, from the host's side:
 * - every message from the worker is checked ({@link parseFromWorker}) and must be expected in the
 *   current state (an `ack` must name a delivery in flight); anything else is rejected, counted
 *   against the plugin as a failure, and never throws in the host;
 * - messages other than acknowledgements are rate-limited (`maxMessagesPerSecond`); a flooding
 *   worker is terminated and the plugin disabled;
 * - deliveries in flight are bounded by `queueSize` (overflow is dropped and counted), so neither
 *   direction queues without bound while the host is responsive;
 * - the worker gets an environment holding only the `env` allow-list, its stdout and stderr are
 *   captured and re-emitted on the host's stderr prefixed `[plugin <id>]` (never on stdout), and
 *   it runs under V8 `resourceLimits`;
 * - a worker that dies, floods, or whose plugin is disabled is terminated.
 *
 * A worker shares the process: it does not protect against `process.kill`, native addons,
 * off-heap memory or CPU use. See docs/SECURITY.md.
 *
 * The worker is `unref()`ed while running, so it never keeps the process alive; call
 * `engine.shutdown()` (or `registry.shutdown()`) to let it finish its queue and `onShutdown`.
 *
 * @example
 * ```ts
 * await registry.register(new WorkerPlugin("audit", { path: "audit.jsonl" }, { module: "./plugins/audit.js#Audit", configDir, env: ["AUDIT_TOKEN"] }));
 * ```
 */
export class WorkerPlugin extends PluginBase {
  private readonly options: WorkerPluginOptions & { readonly queueSize: number; readonly maxMessagesPerSecond: number; readonly maxOutputLinesPerSecond: number };
  private worker: Worker | undefined;
  private status: WorkerStatus = "idle";
  /** Ids of deliveries sent and not acknowledged yet (at most `queueSize`). */
  private readonly outstanding = new Set<number>();
  private nextId = 0;
  private missed = 0;
  private rejected = 0;
  private windowStart = -Infinity;
  private windowCount = 0;
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
    const rate = options.maxMessagesPerSecond ?? DEFAULT_MAX_MESSAGES_PER_SECOND;
    if (!Number.isInteger(rate) || rate < 1) throw new RangeError(`max_messages_per_second must be an integer >= 1, got ${String(rate)}`);
    const lines = options.maxOutputLinesPerSecond ?? DEFAULT_MAX_OUTPUT_LINES_PER_SECOND;
    if (!Number.isInteger(lines) || lines < 0) throw new RangeError(`max_output_lines_per_second must be an integer >= 0, got ${String(lines)}`);
    if (options.env !== undefined && (!Array.isArray(options.env) || options.env.some((n) => typeof n !== "string" || n.length === 0))) {
      throw new TypeError("env must be a list of environment variable names");
    }
    for (const [k, v] of Object.entries(options.resourceLimits ?? {})) {
      if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) throw new RangeError(`resource_limits.${k} must be a positive number, got ${String(v)}`);
    }
    this.options = { ...options, queueSize, maxMessagesPerSecond: rate, maxOutputLinesPerSecond: lines };
  }

  /**
   * Where the worker thread is: `idle` (not started), `starting`, `running`, `stopping`,
   * `stopped` (terminated by us) or `dead` (exited or crashed on its own).
   */
  get workerStatus(): WorkerStatus {
    return this.status;
  }

  /** Posts the event to the worker, or drops it when the queue is full. Never waits. */
  onEvent(event: Readonly<EngineEvent>): void {
    this.offer(event);
  }

  private offer(event: object): boolean {
    if (this.status !== "running" || this.worker === undefined) return false;
    if (this.outstanding.size >= this.options.queueSize) {
      this.missed++;
      return false;
    }
    const id = ++this.nextId;
    this.outstanding.add(id);
    const missed = this.missed;
    this.missed = 0;
    this.worker.postMessage({ t: "event", id, event, missed } satisfies ToWorker);
    return true;
  }

  /** Starts the worker, which imports and constructs the plugin and runs its `onStartup`. */
  override onStartup(): Promise<void> {
    return this.start(false);
  }

  /**
   * Checks the plugin without running it, for `agent-engine plugins`: a worker (with the same
   * env allow-list, output capture and limits) imports and constructs the plugin, no hook runs,
   * and the worker is terminated. Rejects with the {@link PluginLoadError} the worker reported,
   * or `PLUGIN_STARTUP_FAILED` after `timeoutMs`. The plugin's module never runs in this thread.
   * An instance used for `inspect()` cannot be started afterwards.
   */
  async inspect(timeoutMs = 10_000): Promise<void> {
    const started = this.start(true);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new PluginLoadError({ code: "PLUGIN_STARTUP_FAILED", pluginId: this.pluginId, message: `importing the plugin in its worker did not finish within ${timeoutMs} ms` })), timeoutMs);
    });
    try {
      await Promise.race([started, timeout]);
    } finally {
      clearTimeout(timer);
      started.catch(() => undefined);
      await this.stopWorker();
    }
  }

  private start(inspectOnly: boolean): Promise<void> {
    if (this.status !== "idle") return Promise.reject(new Error(`worker plugin "${this.pluginId}" was already started`));
    this.status = "starting";
    const data: PluginWorkerData = {
      pluginId: this.pluginId,
      module: this.options.module,
      configDir: this.options.configDir,
      config: this.config,
      ...(this.options.allow === undefined ? {} : { allow: { ...this.options.allow } }),
      ...(inspectOnly ? { inspectOnly } : {}),
    };
    const env: Record<string, string> = {};
    for (const name of this.options.env ?? []) {
      const value = process.env[name];
      if (value !== undefined) env[name] = value;
    }
    let worker: Worker;
    try {
      worker = new Worker(new URL("./worker/pluginWorker.js", import.meta.url), {
        workerData: data,
        env,
        stdout: true,
        stderr: true,
        resourceLimits: { ...DEFAULT_RESOURCE_LIMITS, ...this.options.resourceLimits },
        execArgv: workerExecArgv(),
      });
    } catch (err) {
      this.status = "dead";
      return Promise.reject(
        new PluginLoadError({ code: "PLUGIN_CONFIG", pluginId: this.pluginId, message: `cannot start a worker for this plugin: ${errorMessage(err)}`, hint: "config must be structured-cloneable (plain data) for isolation: worker" }, { cause: err }),
      );
    }
    this.worker = worker;
    this.exited = new Promise<void>((resolve) => worker.once("exit", () => resolve()));
    worker.on("message", (msg: unknown) => this.onMessage(msg));
    worker.on("messageerror", () => this.reject("a message that could not be deserialized"));
    worker.on("error", (err) => this.onDeath(`worker crashed: ${errorMessage(err)}`, err));
    worker.on("exit", (code) => this.onDeath(`worker exited with code ${code}`, undefined));
    const prefix = `[plugin ${this.pluginId}] `;
    const limiter = { windowStart: -Infinity, count: 0, suppressed: 0 };
    relayLines(worker.stdout, prefix, limiter, this.options.maxOutputLinesPerSecond);
    relayLines(worker.stderr, prefix, limiter, this.options.maxOutputLinesPerSecond);
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

  /** Host side of the boundary: validates, rate-limits and dispatches one message. Never throws. */
  private onMessage(raw: unknown): void {
    if (this.status === "dead" || this.status === "stopped") return; // being terminated: ignore the backlog
    const msg = parseFromWorker(raw);
    if (typeof msg === "string") {
      this.reject(msg);
      return;
    }
    if (msg.t === "ack") {
      if (!this.outstanding.delete(msg.id)) {
        this.reject(`an ack for delivery ${msg.id}, which is not in flight`);
        return;
      }
      if (msg.error === undefined) this.reporter?.success();
      else this.reporter?.failure(new Error(msg.error), "onEvent");
      if (this.outstanding.size === 0) this.notifyDrained();
      return;
    }
    if (!this.withinRate()) return;
    switch (msg.t) {
      case "ready":
        if (this.status !== "starting" || this.startup === undefined) return this.reject('an unexpected "ready" message');
        this.status = "running";
        this.worker?.unref();
        this.startup.resolve();
        this.startup = undefined;
        return;
      case "load-error":
        if (this.status !== "starting" || this.startup === undefined) return this.reject('an unexpected "load-error" message');
        this.startup.reject(new PluginLoadError({ code: msg.code, pluginId: this.pluginId, message: msg.message, ...(msg.hint === undefined ? {} : { hint: msg.hint }) }));
        this.startup = undefined;
        void this.stopWorker();
        return;
      case "hook-error":
        this.reporter?.failure(new Error(msg.error), msg.hook);
        return;
      case "shutdown-done":
        if (this.shutdownDone === undefined) return this.reject('an unexpected "shutdown-done" message');
        if (msg.error === undefined) this.shutdownDone.resolve();
        else this.shutdownDone.reject(new Error(msg.error));
        this.shutdownDone = undefined;
        return;
    }
  }

  /** Counts a rejected message against the plugin. */
  private reject(reason: string): void {
    this.rejected++;
    if (!this.withinRate()) return;
    this.reporter?.failure(new Error(`rejected a message from its worker: ${reason}`), "worker message");
  }

  /** Rate limit of non-ack messages; on overflow the worker is terminated as flooding. */
  private withinRate(): boolean {
    const now = performance.now();
    if (now - this.windowStart >= 1000) {
      this.windowStart = now;
      this.windowCount = 0;
    }
    if (++this.windowCount <= this.options.maxMessagesPerSecond) return true;
    if (this.status === "dead" || this.status === "stopped") return false;
    const reason = `its worker sent more than ${this.options.maxMessagesPerSecond} messages in one second (flooding); the worker was terminated`;
    this.rejected++;
    this.startup?.reject(new PluginLoadError({ code: "PLUGIN_STARTUP_FAILED", pluginId: this.pluginId, message: reason }));
    this.startup = undefined;
    this.shutdownDone?.reject(new Error(reason));
    this.shutdownDone = undefined;
    void this.stopWorker();
    this.reporter?.failure(new Error(reason), "worker message", true);
    this.notifyDrained();
    return false;
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
    if (this.outstanding.size === 0) return Promise.resolve(true);
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
        if (this.outstanding.size === 0) finish(true);
        else if (this.status === "dead" || this.status === "stopped") finish(false);
      };
      const timer = setTimeout(() => finish(this.outstanding.size === 0), timeoutMs);
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
      inFlight: () => (this.status === "dead" || this.status === "stopped" ? 0 : this.outstanding.size),
      terminate: () => this.stopWorker(),
      rejectedMessages: () => this.rejected,
    };
  }
}
