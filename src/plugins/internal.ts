/**
 * Internal protocol between the registry and engine-made plugin proxies (worker isolation).
 * The symbol is module-private (not `Symbol.for`), so user plugins cannot implement or reach it
 * by accident. Not exported from the package.
 *
 * @internal
 * @module
 */

/** Key under which a proxy exposes {@link ProxyInternals}. */
export const PROXY_INTERNALS: unique symbol = Symbol("agent-engine.plugin-proxy");

/** Callbacks the registry hands to a proxy on registration, to report out-of-band outcomes. */
export interface ProxyReporter {
  /** A delivery (or hook) finished without error. */
  success(): void;
  /** A delivery or hook failed; `fatal` means the plugin cannot continue (worker died). */
  failure(error: unknown, hook: string, fatal?: boolean): void;
}

/** What a proxy plugin exposes to the registry. */
export interface ProxyInternals {
  /** Called once when registered, before `onStartup`. */
  attach(reporter: ProxyReporter): void;
  /**
   * Hands one event to the plugin without waiting. Returns false when it was dropped (queue
   * full, or the plugin is not running); the proxy itself tells the plugin how many it missed.
   */
  offer(event: object): boolean;
  /** Resolves true once every delivery handed over so far is acknowledged; false at the deadline. */
  drain(timeoutMs: number): Promise<boolean>;
  /** Deliveries handed over and not acknowledged yet. */
  inFlight(): number;
  /** Forcefully stops the plugin (terminates the worker). */
  terminate(): Promise<void>;
  /** Messages from the plugin that were malformed, unexpected or over its rate limit. */
  rejectedMessages(): number;
}

/** Returns the proxy internals of `plugin`, if it is an engine-made proxy. */
export function proxyInternals(plugin: object): ProxyInternals | undefined {
  return (plugin as { [PROXY_INTERNALS]?: ProxyInternals })[PROXY_INTERNALS];
}
