/**
 * The plugin registry: owns registered plugins, dispatches each engine event to its subscribers
 * synchronously, and keeps every plugin failure away from the engine.
 *
 * @module
 */
import { errorMessage, errorStack, PluginLoadError } from "../errors.js";
import type { EngineEvent } from "../telemetry/events.js";
import { createConsoleLogger, type LogFields, type Logger } from "../telemetry/logger.js";
import { compileTypeMatcher, type TypeMatcher } from "../telemetry/match.js";
import { isInstance, observeOnce, readSafely, settledBy, thenOf, type ThenFn } from "../guard.js";
import { proxyInternals, type ProxyInternals, type ProxyReporter } from "./internal.js";
import { describeValue, isPlugin, type Plugin } from "./PluginBase.js";

/** Lifecycle state of a registered plugin. */
export type PluginState =
  /** `register()` is running its `onStartup`; no events yet. */
  | "starting"
  /** Receiving events. */
  | "active"
  /** Switched off after too many consecutive failures (or its worker died); still shut down at the end. */
  | "disabled"
  /** Being unregistered: no new events, pending deliveries draining, then `onShutdown`. */
  | "stopping"
  /** Unregistered. */
  | "stopped";

/** Per-plugin counters, as returned by {@link PluginRegistry.stats}. */
export interface PluginStats {
  readonly id: string;
  readonly state: PluginState;
  /** `inline`, or `worker` for plugins running in a worker thread. */
  readonly isolation: "inline" | "worker";
  /** Subscription patterns; `undefined` means every event. */
  readonly events: readonly string[] | undefined;
  /** Events handed to the plugin (for worker plugins: queued to the worker). */
  readonly delivered: number;
  /** Deliveries and hooks that threw, rejected, timed out, or failed in the worker. */
  readonly failed: number;
  /** Of {@link failed}, async deliveries that did not settle within `deliveryTimeoutMs`. */
  readonly timedOut: number;
  /** Subscribed events not delivered because too many deliveries were pending (or the worker queue was full). */
  readonly dropped: number;
  /** Async deliveries not settled yet (for worker plugins: not acknowledged yet). */
  readonly pending: number;
  /** Failures since the last success. */
  readonly consecutiveFailures: number;
  /** `hook: message` of the last failure. */
  readonly lastError: string | undefined;
  /** Failure log lines withheld by the per-plugin log rate limit. */
  readonly suppressedLogLines: number;
  /** `required: true` in plugins.yaml (or {@link RegisterOptions.required}): its failure must fail the caller (the CLI exits non-zero). */
  readonly required: boolean;
  /** Subscribed events dispatched while it was being shut down (after event sources were given up on), so never delivered. */
  readonly undelivered: number;
  /** Worker plugins: messages from the worker that were malformed, unexpected or over the rate limit (each also counted in {@link failed}). */
  readonly rejectedMessages: number;
}

/** Options of {@link PluginRegistry.register}. */
export interface RegisterOptions {
  /** Event-type patterns (`node.*`, `task.completed`, `*`); default every event. */
  readonly events?: readonly string[];
  /** Consecutive failures after which this plugin is disabled; default the registry's `maxConsecutiveFailures`. */
  readonly maxFailures?: number;
  /**
   * Marks the plugin as required (`required: true` in plugins.yaml): any failure of it (a failed
   * delivery, a write error it reports, a failed `onShutdown`, lost events) makes
   * {@link ShutdownReport.requiredFailed} true. Default false.
   */
  readonly required?: boolean;
}

/** Options of {@link PluginRegistry}. */
export interface PluginRegistryOptions {
  /** Where plugin failures and warnings go (never the event stream). Default: console logger on stderr. */
  readonly logger?: Logger;
  /** Consecutive failures after which a plugin is disabled. Default 10. `Infinity` never disables. */
  readonly maxConsecutiveFailures?: number;
  /** Async deliveries a plugin may have unsettled before new events for it are dropped (and counted). Default 1000. */
  readonly maxPendingPerPlugin?: number;
  /** An async delivery unsettled after this long counts as a failure and stops counting as pending. Default 30,000 ms. */
  readonly deliveryTimeoutMs?: number;
  /** `onStartup` must settle within this. Default 10,000 ms. */
  readonly startupTimeoutMs?: number;
  /** Default timeout of `unregister()`, `clear()`, `shutdown()` and of the old plugin's shutdown on a duplicate `register()`. Default 5,000 ms. */
  readonly shutdownTimeoutMs?: number;
  /** Failure log lines allowed per plugin per {@link logWindowMs}; the rest are counted and summarized. Default 5. */
  readonly logBurst?: number;
  /** Length of the failure-log window. Default 60,000 ms. */
  readonly logWindowMs?: number;
}

/** How one plugin's shutdown went. */
export interface PluginShutdownResult {
  readonly id: string;
  /** True when all its pending deliveries settled (or were acknowledged by its worker) before the deadline. */
  readonly drained: boolean;
  /** Pending deliveries abandoned at the deadline. */
  readonly abandoned: number;
  /** Outcome of `onShutdown`. */
  readonly shutdown: "ok" | "failed" | "timeout";
  /** True when its worker thread had to be terminated. */
  readonly terminated: boolean;
  /** Error message when `shutdown` is `failed` or `timeout`. */
  readonly error?: string;
  /** Copied from registration: its failure must fail the caller. */
  readonly required: boolean;
  /** True when the plugin got every event it subscribed to, never failed, drained and shut down cleanly. */
  readonly ok: boolean;
  /** Final counters. */
  readonly stats: PluginStats;
}

/** One plugin that failed or lost events, in a {@link ShutdownReport}. */
export interface PluginFailure {
  readonly id: string;
  /** The plugin was registered as required. */
  readonly required: boolean;
  /** What went wrong, e.g. `3 deliveries failed (last: onShutdown: ENOSPC: no space left on device, write); 12 events dropped`. */
  readonly reason: string;
}

/** Result of {@link PluginRegistry.shutdown}, {@link PluginRegistry.clear}. */
export interface ShutdownReport {
  /**
   * True when every plugin drained, its `onShutdown` succeeded in time, no subscribed event was
   * dropped or left undelivered, and no event source (run) was still in flight.
   */
  readonly complete: boolean;
  /** True when {@link complete} and no plugin failed at all ({@link failures} is empty). */
  readonly ok: boolean;
  /** True when a plugin registered with `required: true` is in {@link failures}: callers must fail (the CLI exits non-zero). */
  readonly requiredFailed: boolean;
  /** Every plugin that failed or lost events, with the reason, in registration order. */
  readonly failures: readonly PluginFailure[];
  /** One result per plugin, in registration order. */
  readonly plugins: readonly PluginShutdownResult[];
  /** Ids of plugins that did not drain or whose `onShutdown` failed or timed out. */
  readonly unfinished: readonly string[];
  /** Subscribed events dropped over the plugins' lifetime (sum of their `dropped`). */
  readonly dropped: number;
  /** Subscribed events dispatched while plugins were being shut down, never delivered (sum of their `undelivered`). */
  readonly undelivered: number;
  /**
   * Event sources (runs, see {@link PluginRegistry.hold}) still in flight when the plugins were
   * stopped: their remaining events reach no plugin. Non-zero makes the report incomplete.
   */
  readonly sourcesInFlight: number;
}

/** Thrown into the stats (never to the engine) when an async delivery or hook exceeds its timeout. */
export class PluginTimeoutError extends Error {
  constructor(
    readonly hook: string,
    readonly timeoutMs: number,
  ) {
    super(`${hook} did not settle within ${timeoutMs} ms`);
    this.name = "PluginTimeoutError";
  }
}

/** Default of {@link PluginRegistryOptions.maxConsecutiveFailures}. */
export const DEFAULT_MAX_FAILURES = 10;
/** Default of {@link PluginRegistryOptions.maxPendingPerPlugin}. */
export const DEFAULT_MAX_PENDING = 1000;
/** Default of {@link PluginRegistryOptions.shutdownTimeoutMs}. */
export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 5000;

interface Entry {
  readonly id: string;
  readonly plugin: Plugin;
  readonly matcher: TypeMatcher;
  readonly events: readonly string[] | undefined;
  readonly maxFailures: number;
  readonly required: boolean;
  readonly proxy: ProxyInternals | undefined;
  state: PluginState;
  undelivered: number;
  delivered: number;
  failed: number;
  timedOut: number;
  dropped: number;
  consecutive: number;
  lastError: string | undefined;
  /** token -> start time (ms) of unsettled async deliveries, oldest first. */
  readonly pending: Map<number, number>;
  /** Drops not yet reported through `onMissed`. */
  missed: number;
  logWindowStart: number;
  logCount: number;
  suppressed: number;
  suppressedTotal: number;
}

const EMPTY: readonly Entry[] = Object.freeze([]);

/**
 * Holds plugins and fans engine events out to them.
 *
 * - {@link dispatch} is synchronous and never throws: each subscribed plugin's `onEvent` is called
 *   in registration order with the same frozen event; a returned promise is tracked, never awaited.
 * - Per event type the subscriber list is precomputed, so an event nobody subscribes to costs one
 *   map lookup.
 * - Failures (throw, rejection, delivery timeout) are logged (rate-limited per plugin) and counted;
 *   after `maxFailures` consecutive ones the plugin is disabled with one warning.
 * - Lifecycle operations (`register`, `unregister`, `clear`, `shutdown`) run one at a time, in call order.
 *
 * @example
 * ```ts
 * const registry = new PluginRegistry({ logger: createConsoleLogger("info") });
 * await registry.register(new AuditPlugin("audit", { path: "./audit.jsonl" }), { events: ["node.*"] });
 * bus.setSink((e) => registry.dispatch(e));
 * // ... run ...
 * const report = await registry.shutdown(5000);
 * if (!report.complete) console.error("unfinished plugins:", report.unfinished);
 * ```
 */
export class PluginRegistry {
  private readonly logger: Logger;
  private readonly maxFailures: number;
  private readonly maxPending: number;
  private readonly deliveryTimeoutMs: number;
  private readonly startupTimeoutMs: number;
  private readonly shutdownTimeoutMs: number;
  private readonly logBurst: number;
  private readonly logWindowMs: number;

  /** Registered plugins (starting, active, disabled), in registration order. */
  private readonly entries = new Map<string, Entry>();
  /** Active subscribers per event type, computed lazily, reset whenever the active set changes. */
  private byType = new Map<string, readonly Entry[]>();
  private activeCount = 0;
  /** Entries (registered or being stopped) with unsettled async deliveries. */
  private readonly tracked = new Set<Entry>();
  private tokenCounter = 0;
  private sweepTimer: ReturnType<typeof setInterval> | undefined;
  private readonly settleListeners = new Set<() => void>();
  private lifecycle: Promise<unknown> = Promise.resolve();
  /** Active event sources (see {@link hold}). */
  private holds = 0;
  private readonly holdListeners = new Set<() => void>();
  /** Plugins being stopped by shutdown(): events for them are counted as undelivered. */
  private stopping: readonly Entry[] = EMPTY;

  constructor(options: PluginRegistryOptions = {}) {
    this.logger = options.logger ?? createConsoleLogger();
    this.maxFailures = checkLimit("maxConsecutiveFailures", options.maxConsecutiveFailures, DEFAULT_MAX_FAILURES, 1);
    this.maxPending = checkLimit("maxPendingPerPlugin", options.maxPendingPerPlugin, DEFAULT_MAX_PENDING);
    this.deliveryTimeoutMs = checkLimit("deliveryTimeoutMs", options.deliveryTimeoutMs, 30_000);
    this.startupTimeoutMs = checkLimit("startupTimeoutMs", options.startupTimeoutMs, 10_000);
    this.shutdownTimeoutMs = checkLimit("shutdownTimeoutMs", options.shutdownTimeoutMs, DEFAULT_SHUTDOWN_TIMEOUT_MS);
    this.logBurst = checkLimit("logBurst", options.logBurst, 5);
    this.logWindowMs = checkLimit("logWindowMs", options.logWindowMs, 60_000);
  }

  // ---------------------------------------------------------------- dispatch

  /**
   * Delivers `event` to every active plugin subscribed to its type, synchronously, in
   * registration order. Never throws and never waits. This is the bus sink:
   * `bus.setSink((e) => registry.dispatch(e))`.
   */
  dispatch(event: EngineEvent): void {
    if (this.activeCount === 0) {
      if (this.stopping.length > 0) this.countUndelivered(event.type);
      return;
    }
    const subs = this.byType.get(event.type) ?? this.subscribersFor(event.type);
    for (let i = 0; i < subs.length; i++) {
      const entry = subs[i]!;
      // A plugin disabled earlier in this same loop is skipped.
      if (entry.state !== "active") continue;
      try {
        this.deliver(entry, event);
      } catch {
        // deliver() guards the plugin call; this catches what a hostile thrown value could still
        // do to the bookkeeping, so the next plugin gets the event regardless.
        entry.failed++;
      }
    }
  }

  private countUndelivered(type: string): void {
    for (const entry of this.stopping) {
      try {
        if (entry.matcher(type)) entry.undelivered++;
      } catch {
        // matchers are ours; nothing to do
      }
    }
  }

  /** True when at least one active plugin subscribes to `type` (lets callers skip building an event). */
  wants(type: string): boolean {
    if (this.activeCount === 0) return this.stopping.length > 0;
    return (this.byType.get(type) ?? this.subscribersFor(type)).length > 0;
  }

  private subscribersFor(type: string): readonly Entry[] {
    const list: Entry[] = [];
    for (const entry of this.entries.values()) if (entry.state === "active" && entry.matcher(type)) list.push(entry);
    const frozen = list.length === 0 ? EMPTY : list;
    this.byType.set(type, frozen);
    return frozen;
  }

  private activeSetChanged(): void {
    this.byType = new Map();
    let n = 0;
    for (const entry of this.entries.values()) if (entry.state === "active") n++;
    this.activeCount = n;
  }

  private deliver(entry: Entry, event: EngineEvent): void {
    const proxy = entry.proxy;
    if (proxy !== undefined) {
      let queued = false;
      try {
        queued = proxy.offer(event);
      } catch (err) {
        this.fail(entry, err, "onEvent");
        return;
      }
      if (queued) entry.delivered++;
      else entry.dropped++;
      return;
    }
    if (entry.pending.size >= this.maxPending) {
      entry.dropped++;
      entry.missed++;
      return;
    }
    if (entry.missed > 0) this.reportMissed(entry);
    entry.delivered++;
    try {
      const result = entry.plugin.onEvent(event);
      if (result !== undefined) {
        const then = thenOf(result);
        if (then !== undefined) {
          this.track(entry, result, then, "onEvent");
          return;
        }
      }
    } catch (err) {
      this.fail(entry, err, "onEvent");
      return;
    }
    entry.consecutive = 0;
  }

  private reportMissed(entry: Entry): void {
    const count = entry.missed;
    entry.missed = 0;
    try {
      const onMissed = readSafely(entry.plugin, "onMissed");
      if (typeof onMissed !== "function") return;
      const result: unknown = Reflect.apply(onMissed, entry.plugin, [count]);
      const then = thenOf(result);
      if (then !== undefined) this.track(entry, result, then, "onMissed");
    } catch (err) {
      this.fail(entry, err, "onMissed");
    }
  }

  /**
   * Tracks an async delivery. The thenable's `then` is called once with our callbacks and its
   * value is never adopted (`Promise.resolve(thenable)` would loop forever on a thenable that
   * resolves with itself, starving the event loop).
   */
  private track(entry: Entry, result: unknown, then: ThenFn, hook: string): void {
    const token = ++this.tokenCounter;
    entry.pending.set(token, performance.now());
    this.tracked.add(entry);
    this.ensureSweep();
    observeOnce(result, then, (failed, err) => this.settle(entry, token, hook, failed, err));
  }

  private settle(entry: Entry, token: number, hook: string, failed: boolean, err: unknown): void {
    if (!entry.pending.delete(token)) return; // already counted as timed out
    if (entry.pending.size === 0) this.tracked.delete(entry);
    if (failed) this.fail(entry, err ?? new Error("promise rejected without a reason"), hook);
    else entry.consecutive = 0;
    this.notifySettled();
  }

  private ensureSweep(): void {
    if (this.sweepTimer !== undefined || !Number.isFinite(this.deliveryTimeoutMs)) return;
    const every = Math.max(5, Math.min(1000, Math.floor(this.deliveryTimeoutMs / 4)));
    this.sweepTimer = setInterval(() => this.sweep(), every);
    this.sweepTimer.unref();
  }

  /** Counts async deliveries older than `deliveryTimeoutMs` as failures and stops tracking them. */
  private sweep(): void {
    const now = performance.now();
    let changed = false;
    for (const entry of this.tracked) {
      for (const [token, start] of entry.pending) {
        if (now - start < this.deliveryTimeoutMs) break; // insertion order = start order
        entry.pending.delete(token);
        entry.timedOut++;
        changed = true;
        this.fail(entry, new PluginTimeoutError("onEvent", this.deliveryTimeoutMs), "onEvent");
      }
      if (entry.pending.size === 0) this.tracked.delete(entry);
    }
    if (this.tracked.size === 0 && this.sweepTimer !== undefined) {
      clearInterval(this.sweepTimer);
      this.sweepTimer = undefined;
    }
    if (changed) this.notifySettled();
  }

  private notifySettled(): void {
    if (this.settleListeners.size === 0) return;
    for (const listener of [...this.settleListeners]) listener();
  }

  // ---------------------------------------------------------------- failures

  private fail(entry: Entry, err: unknown, hook: string): void {
    entry.failed++;
    entry.consecutive++;
    const message = errorMessage(err);
    entry.lastError = `${hook}: ${message}`;
    this.logFailure(entry, hook, err, message);
    if (entry.state === "active" && entry.consecutive >= entry.maxFailures) {
      this.disable(entry, `${entry.consecutive} consecutive failures`);
    }
  }

  private disable(entry: Entry, reason: string): void {
    if (entry.state !== "active") return;
    entry.state = "disabled";
    this.activeSetChanged();
    // A disabled worker plugin gets no more events: stop its thread now rather than at shutdown.
    if (entry.proxy !== undefined) entry.proxy.terminate().catch(() => undefined);
    const suppressed = entry.suppressed > 0 ? `; ${entry.suppressed} failure log lines suppressed` : "";
    this.log("warn", `plugin "${entry.id}" disabled after ${reason}; it receives no more events. Last error: ${entry.lastError ?? "none"}${suppressed}`, {
      pluginId: entry.id,
      failed: entry.failed,
      lastError: entry.lastError,
    });
    entry.suppressed = 0;
  }

  /** Per-plugin rate limit: `logBurst` lines per `logWindowMs`, then one summary when the window rolls over. */
  private logFailure(entry: Entry, hook: string, err: unknown, message: string): void {
    const now = performance.now();
    if (now - entry.logWindowStart >= this.logWindowMs) {
      if (entry.suppressed > 0) {
        this.log("error", `plugin "${entry.id}": ${entry.suppressed} more failure log lines were suppressed`, { pluginId: entry.id, suppressed: entry.suppressed });
        entry.suppressed = 0;
      }
      entry.logWindowStart = now;
      entry.logCount = 0;
    }
    if (entry.logCount >= this.logBurst) {
      entry.suppressed++;
      entry.suppressedTotal++;
      return;
    }
    entry.logCount++;
    const last = entry.logCount === this.logBurst ? ` (further failures of this plugin are counted but not logged for ${Math.round(this.logWindowMs / 1000)} s)` : "";
    const stack = errorStack(err);
    this.log("error", `plugin "${entry.id}" ${hook} failed: ${message}${last}`, { pluginId: entry.id, hook, error: message, ...(stack ? { stack } : {}) });
  }

  private log(level: "warn" | "error" | "info", message: string, fields: LogFields): void {
    try {
      this.logger[level](message, fields);
    } catch {
      // A broken logger must not break dispatch either.
    }
  }

  // ---------------------------------------------------------------- lifecycle

  /**
   * Registers `plugin` and calls its `onStartup` (guarded by `startupTimeoutMs`); the plugin gets
   * events only once `onStartup` has settled. If a plugin with the same id is registered, it is
   * first removed from dispatch, drained and its `onShutdown` awaited (bounded by
   * `shutdownTimeoutMs`), then the new one starts; events emitted in between reach neither.
   *
   * @throws {@link PluginLoadError} `PLUGIN_NOT_A_PLUGIN` when `plugin` lacks `pluginId`/`onEvent`,
   *   `PLUGIN_CONFIG` for bad options, `PLUGIN_STARTUP_FAILED` when `onStartup` throws, rejects or
   *   times out (the plugin is then not registered).
   */
  register(plugin: Plugin, options: RegisterOptions = {}): Promise<void> {
    if (!isPlugin(plugin)) {
      return Promise.reject(
        new PluginLoadError({
          code: "PLUGIN_NOT_A_PLUGIN",
          message: `register() needs a plugin (an object with a string pluginId and an onEvent method, e.g. a PluginBase instance), got ${describeValue(plugin)}`,
        }),
      );
    }
    const id = readSafely(plugin, "pluginId");
    if (typeof id !== "string" || id.length === 0) {
      return Promise.reject(new PluginLoadError({ code: "PLUGIN_NOT_A_PLUGIN", message: "register() needs a plugin whose pluginId is a non-empty string; it changed while being read" }));
    }
    let matcher: TypeMatcher;
    let maxFailures: number;
    try {
      if (options.events !== undefined && (!Array.isArray(options.events) || options.events.some((p) => typeof p !== "string" || p.length === 0))) {
        throw new Error(`events must be an array of non-empty event-type patterns, got ${describeValue(options.events)}`);
      }
      matcher = compileTypeMatcher(options.events);
      maxFailures = checkLimit("maxFailures", options.maxFailures, this.maxFailures, 1);
    } catch (err) {
      return Promise.reject(new PluginLoadError({ code: "PLUGIN_CONFIG", pluginId: id, message: errorMessage(err) }));
    }
    const events = options.events === undefined ? undefined : Object.freeze([...options.events]);
    return this.serialize(async () => {
      const old = this.entries.get(id);
      if (old !== undefined) {
        this.log("info", `plugin "${id}" registered again: shutting down the previous instance`, { pluginId: id });
        await this.stop([old], this.shutdownTimeoutMs);
      }
      const entry = newEntry(id, plugin, matcher, events, maxFailures, options.required === true);
      this.entries.set(id, entry);
      if (entry.proxy !== undefined) entry.proxy.attach(this.reporterFor(entry));
      try {
        const onStartup = readSafely(plugin, "onStartup");
        const outcome = typeof onStartup === "function" ? await callGuarded(() => Reflect.apply(onStartup, plugin, []) as unknown, this.startupTimeoutMs, "onStartup") : "ok";
        if (outcome === "timeout") throw new PluginTimeoutError("onStartup", this.startupTimeoutMs);
      } catch (err) {
        this.entries.delete(id);
        entry.state = "stopped";
        if (entry.proxy !== undefined) await entry.proxy.terminate().catch(() => undefined);
        // Load problems reported by a worker proxy already carry their own code.
        if (isInstance(err, PluginLoadError)) throw err;
        throw new PluginLoadError(
          {
            code: "PLUGIN_STARTUP_FAILED",
            pluginId: id,
            message: `onStartup() failed: ${errorMessage(err)}`,
            hint: isInstance(err, PluginTimeoutError) ? "make onStartup settle faster or do slow work lazily" : "the plugin was not registered",
          },
          { cause: err },
        );
      }
      entry.state = "active";
      this.activeSetChanged();
    });
  }

  private reporterFor(entry: Entry): ProxyReporter {
    return {
      success: () => {
        entry.consecutive = 0;
      },
      failure: (err, hook, fatal) => {
        this.fail(entry, err, hook);
        if (fatal === true) this.disable(entry, "its worker stopped");
      },
    };
  }

  /**
   * Removes the plugin: it stops receiving events at once; pending deliveries get up to
   * `timeoutMs` to settle, then `onShutdown` is called (also bounded by `timeoutMs`).
   * Resolves `undefined` when no plugin has that id.
   */
  unregister(id: string, timeoutMs: number = this.shutdownTimeoutMs): Promise<PluginShutdownResult | undefined> {
    return this.serialize(async () => {
      const entry = this.entries.get(id);
      if (entry === undefined) return undefined;
      const report = await this.stop([entry], checkLimit("timeoutMs", timeoutMs, this.shutdownTimeoutMs));
      return report.plugins[0];
    });
  }

  /** Same as {@link shutdown}: removes every plugin, calling each `onShutdown`. */
  clear(timeoutMs: number = this.shutdownTimeoutMs): Promise<ShutdownReport> {
    return this.shutdown(timeoutMs);
  }

  /**
   * Marks an event source (the engine calls it once per run) as active until the returned
   * function is called (calling it again does nothing). {@link shutdown} lets active sources
   * finish, and plugins keep receiving their events, for up to half of its timeout; sources
   * still active after that are reported in {@link ShutdownReport.sourcesInFlight}, and their
   * later events in the plugins' `undelivered` counts.
   */
  hold(): () => void {
    this.holds++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.holds--;
      if (this.holds === 0) for (const listener of [...this.holdListeners]) listener();
    };
  }

  /** Event sources currently holding the registry open (see {@link hold}). */
  get activeSources(): number {
    return this.holds;
  }

  /**
   * Stops every plugin, and resolves within `timeoutMs` whatever plugins do (a worker stuck in
   * a loop is terminated without waiting for it past the deadline). Phases, each bounded by an
   * absolute deadline:
   * 1. event sources (runs, see {@link hold}) still active get until half the timeout to finish;
   *    plugins keep receiving their events meanwhile;
   * 2. dispatch stops; pending async deliveries (and worker queues) get until three quarters of it;
   * 3. every `onShutdown` runs concurrently until the end; workers still busy are terminated.
   *
   * Never rejects. The report is honest: `complete` is false when anything was dropped, left
   * undelivered, abandoned or failed to shut down, or a run was still in flight; `ok` is false
   * when any plugin failed at all; `requiredFailed` when one of them was required.
   * The registry stays usable (new plugins may be registered afterwards).
   */
  shutdown(timeoutMs: number = this.shutdownTimeoutMs): Promise<ShutdownReport> {
    let ms: number;
    try {
      ms = checkLimit("timeoutMs", timeoutMs, this.shutdownTimeoutMs);
    } catch (err) {
      return Promise.reject(err);
    }
    const start = performance.now();
    return this.serialize(async () => {
      await this.waitForSources(start + ms / 2);
      return this.stop([...this.entries.values()], ms, start);
    });
  }

  /**
   * Waits until every pending async delivery has settled and every worker plugin has
   * acknowledged what it was sent, or until `timeoutMs`. Resolves true when all settled.
   */
  async flush(timeoutMs: number = this.shutdownTimeoutMs): Promise<boolean> {
    const results = await Promise.all([...this.entries.values()].map((e) => this.drain(e, timeoutMs)));
    return results.every(Boolean);
  }

  private waitForSources(deadline: number): Promise<void> {
    if (this.holds === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.holdListeners.delete(listener);
        resolve();
      };
      const listener = (): void => done();
      // Not unref()ed: shutdown() is awaited, and the deadline bounds how long it keeps the process alive.
      const timer = setTimeout(done, Math.max(0, deadline - performance.now()));
      this.holdListeners.add(listener);
    });
  }

  private async stop(entries: readonly Entry[], ms: number, start: number = performance.now()): Promise<ShutdownReport> {
    const drainDeadline = start + (ms * 3) / 4;
    const end = start + ms;
    const sourcesInFlight = this.holds;
    const wasDisabled = entries.map((e) => e.state === "disabled");
    for (const entry of entries) {
      this.entries.delete(entry.id);
      entry.state = "stopping";
    }
    this.stopping = this.stopping.length === 0 ? entries : [...this.stopping, ...entries];
    this.activeSetChanged();
    const drained = await Promise.all(entries.map((e) => this.drain(e, Math.max(0, drainDeadline - performance.now()))));
    const results = await Promise.all(
      entries.map(async (entry, i): Promise<PluginShutdownResult> => {
        const abandoned = entry.pending.size + (entry.proxy?.inFlight() ?? 0);
        if (entry.pending.size > 0) {
          entry.pending.clear();
          this.tracked.delete(entry);
        }
        let shutdown: PluginShutdownResult["shutdown"] = "ok";
        let error: string | undefined;
        let terminated = false;
        const plugin = entry.plugin;
        try {
          if (entry.proxy === undefined && entry.missed > 0) this.reportMissed(entry);
          const onShutdown = readSafely(plugin, "onShutdown");
          if (typeof onShutdown === "function") {
            const left = Math.max(0, end - performance.now());
            if ((await callGuarded(() => Reflect.apply(onShutdown, plugin, []) as unknown, left, "onShutdown")) === "timeout") {
              shutdown = "timeout";
              error = `onShutdown did not settle within the shutdown timeout (${ms} ms)`;
            }
          }
        } catch (err) {
          shutdown = "failed";
          error = errorMessage(err);
          entry.failed++;
          entry.lastError = `onShutdown: ${error}`;
        }
        if (entry.proxy !== undefined && (shutdown !== "ok" || !drained[i] || wasDisabled[i] === true)) {
          terminated = true;
          // Never wait for a thread past the deadline: termination continues in the background.
          await raceDeadline(entry.proxy.terminate().catch(() => undefined), end);
        }
        entry.state = "stopped";
        if (entry.suppressed > 0) {
          this.log("error", `plugin "${entry.id}": ${entry.suppressed} more failure log lines were suppressed`, { pluginId: entry.id, suppressed: entry.suppressed });
          entry.suppressed = 0;
        }
        const isDrained = drained[i] === true;
        return {
          id: entry.id,
          drained: isDrained,
          abandoned,
          shutdown,
          terminated,
          ...(error === undefined ? {} : { error }),
          required: entry.required,
          // Recomputed below once undelivered counts are final.
          ok: false,
          stats: statsOf(entry),
        };
      }),
    );
    this.stopping = this.stopping.filter((e) => !entries.includes(e));
    if (this.tracked.size === 0 && this.sweepTimer !== undefined) {
      clearInterval(this.sweepTimer);
      this.sweepTimer = undefined;
    }
    const plugins: PluginShutdownResult[] = [];
    const failures: PluginFailure[] = [];
    let dropped = 0;
    let undelivered = 0;
    for (let i = 0; i < results.length; i++) {
      const entry = entries[i]!;
      const r = results[i]!;
      const stats = statsOf(entry);
      dropped += stats.dropped;
      undelivered += stats.undelivered;
      const reasons = failureReasons(r, stats, ms);
      const result: PluginShutdownResult = Object.freeze({ ...r, ok: reasons.length === 0, stats });
      plugins.push(result);
      if (reasons.length > 0) {
        const reason = reasons.join("; ");
        failures.push(Object.freeze({ id: r.id, required: r.required, reason }));
        this.log(r.required ? "error" : "warn", `plugin "${r.id}"${r.required ? " (required)" : ""} did not shut down cleanly: ${reason}`, {
          pluginId: r.id,
          required: r.required,
          abandoned: r.abandoned,
          shutdown: r.shutdown,
          terminated: r.terminated,
          dropped: stats.dropped,
          undelivered: stats.undelivered,
        });
      }
    }
    const unfinished = plugins.filter((r) => !r.drained || r.shutdown !== "ok").map((r) => r.id);
    const complete = unfinished.length === 0 && dropped === 0 && undelivered === 0 && sourcesInFlight === 0;
    if (sourcesInFlight > 0) {
      this.log("warn", `plugins were shut down while ${sourcesInFlight} run(s) were still in flight: their remaining events reach no plugin`, { sourcesInFlight });
    }
    return Object.freeze({
      complete,
      ok: complete && failures.length === 0,
      requiredFailed: failures.some((f) => f.required),
      failures: Object.freeze(failures),
      plugins: Object.freeze(plugins),
      unfinished: Object.freeze(unfinished),
      dropped,
      undelivered,
      sourcesInFlight,
    });
  }

  /** Resolves true once `entry` has no pending delivery, false at the deadline. */
  private async drain(entry: Entry, timeoutMs: number): Promise<boolean> {
    const proxyDrained = entry.proxy === undefined ? Promise.resolve(true) : entry.proxy.drain(timeoutMs).catch(() => false);
    const inlineDrained =
      entry.pending.size === 0
        ? Promise.resolve(true)
        : new Promise<boolean>((resolve) => {
            const done = (value: boolean): void => {
              clearTimeout(timer);
              this.settleListeners.delete(listener);
              resolve(value);
            };
            const listener = (): void => {
              if (entry.pending.size === 0) done(true);
            };
            const timer = setTimeout(() => done(entry.pending.size === 0), timeoutMs);
            this.settleListeners.add(listener);
          });
    const [a, b] = await Promise.all([proxyDrained, inlineDrained]);
    return a && b;
  }

  private serialize<T>(op: () => Promise<T>): Promise<T> {
    const run = this.lifecycle.then(op, op);
    this.lifecycle = run.catch(() => undefined);
    return run;
  }

  // ---------------------------------------------------------------- queries

  /** The registered plugin with this id (starting, active or disabled), if any. */
  get(id: string): Plugin | undefined {
    return this.entries.get(id)?.plugin;
  }

  /** True when a plugin with this id is registered. */
  has(id: string): boolean {
    return this.entries.has(id);
  }

  /** Ids of registered plugins, in registration (and dispatch) order. */
  list(): readonly string[] {
    return Object.freeze([...this.entries.keys()]);
  }

  /** Number of registered plugins. */
  get size(): number {
    return this.entries.size;
  }

  /** Counters of every registered plugin, in registration order; or of one plugin when `id` is given. */
  stats(): readonly PluginStats[];
  stats(id: string): PluginStats | undefined;
  stats(id?: string): readonly PluginStats[] | PluginStats | undefined {
    if (id !== undefined) {
      const entry = this.entries.get(id);
      return entry === undefined ? undefined : statsOf(entry);
    }
    return Object.freeze([...this.entries.values()].map(statsOf));
  }
}

function newEntry(id: string, plugin: Plugin, matcher: TypeMatcher, events: readonly string[] | undefined, maxFailures: number, required: boolean): Entry {
  return {
    id,
    plugin,
    matcher,
    events,
    maxFailures,
    required,
    proxy: proxyInternals(plugin),
    state: "starting",
    undelivered: 0,
    delivered: 0,
    failed: 0,
    timedOut: 0,
    dropped: 0,
    consecutive: 0,
    lastError: undefined,
    pending: new Map(),
    missed: 0,
    logWindowStart: -Infinity,
    logCount: 0,
    suppressed: 0,
    suppressedTotal: 0,
  };
}

function statsOf(entry: Entry): PluginStats {
  return Object.freeze({
    id: entry.id,
    state: entry.state,
    isolation: entry.proxy === undefined ? "inline" : "worker",
    events: entry.events,
    delivered: entry.delivered,
    failed: entry.failed,
    timedOut: entry.timedOut,
    dropped: entry.dropped,
    pending: entry.pending.size + (entry.proxy?.inFlight() ?? 0),
    consecutiveFailures: entry.consecutive,
    lastError: entry.lastError,
    suppressedLogLines: entry.suppressedTotal,
    required: entry.required,
    undelivered: entry.undelivered,
    rejectedMessages: entry.proxy?.rejectedMessages() ?? 0,
  });
}

/** Why a plugin's shutdown result is not ok; empty when it is. */
function failureReasons(r: Omit<PluginShutdownResult, "stats" | "ok">, stats: PluginStats, ms: number): string[] {
  const reasons: string[] = [];
  if (stats.failed > 0) reasons.push(`${stats.failed} failures (last: ${stats.lastError ?? "unknown"})`);
  if (stats.rejectedMessages > 0) reasons.push(`${stats.rejectedMessages} worker messages rejected`);
  if (stats.dropped > 0) reasons.push(`${stats.dropped} events dropped`);
  if (stats.undelivered > 0) reasons.push(`${stats.undelivered} events undelivered (dispatched during shutdown)`);
  if (!r.drained) reasons.push(`${r.abandoned} pending deliveries abandoned within ${ms} ms`);
  if (r.shutdown !== "ok") reasons.push(`onShutdown ${r.shutdown === "timeout" ? "timed out" : "failed"}${r.error ? `: ${r.error}` : ""}`);
  if (r.terminated) reasons.push("worker terminated");
  return reasons;
}

/** Resolves when `p` settles or at `deadline` (a `performance.now()` time), whichever is first. */
async function raceDeadline(p: Promise<unknown>, deadline: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const left = Math.max(0, deadline - performance.now());
  await Promise.race([p, new Promise<void>((resolve) => (timer = setTimeout(resolve, left)))]);
  clearTimeout(timer);
}

/**
 * Calls a hook; resolves "ok", or "timeout" when what it returned is still pending after
 * `timeoutMs`; rejects with what it threw or rejected with. A returned thenable is observed
 * once (never adopted), so a self-resolving thenable cannot spin the microtask queue.
 */
async function callGuarded(fn: () => unknown, timeoutMs: number, hook: string): Promise<"ok" | "timeout"> {
  const result = fn();
  const then = thenOf(result);
  if (then === undefined) return "ok";
  const settled = settledBy(result, then).then(
    () => "ok" as const,
    (err: unknown) => {
      throw err ?? new Error(`${hook} rejected without a reason`);
    },
  );
  if (!Number.isFinite(timeoutMs)) return settled;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"timeout">((resolve) => {
    // Not unref()ed: the caller awaits this, and the timeout bounds how long it keeps the process alive.
    timer = setTimeout(() => resolve("timeout"), timeoutMs);
  });
  try {
    return await Promise.race([settled, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function checkLimit(name: string, value: number | undefined, fallback: number, min = 0): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || Number.isNaN(value) || value < min) {
    throw new RangeError(`${name} must be a number >= ${min}, got ${describeValue(value)}`);
  }
  return value;
}
