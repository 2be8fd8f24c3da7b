/**
 * The plugin contract: {@link PluginBase} for class plugins, {@link definePlugin} for object
 * plugins, and the structural {@link Plugin} interface the registry actually relies on.
 *
 * Plugins are read-only observers. They receive each engine event (one shared, deeply frozen
 * object) and their own frozen config; they never get a reference to the engine, the registry,
 * the router or any task.
 *
 * @module
 */
import type { EngineEvent } from "../telemetry/events.js";

/** What a plugin hook may return: nothing, or a promise the registry tracks (never awaits in dispatch). */
export type HookResult = void | Promise<void>;

/**
 * Facts about where a plugin was declared, passed as the third constructor argument by the
 * plugins.yaml loader. Holds no engine object. Plugins built in code get `{}` unless they pass one.
 */
export interface PluginContext {
  /** Absolute path of the config directory holding plugins.yaml; resolve relative paths in `config` against it. */
  readonly configDir?: string;
  /** `worker` when the plugin runs inside a worker thread (`isolation: worker`). */
  readonly isolation?: "inline" | "worker";
}

/**
 * The structural shape the {@link PluginRegistry} accepts. {@link PluginBase} implements it; any
 * object with a string `pluginId` and an `onEvent` method also does, so plugins compiled against
 * another copy of agent-engine still work.
 */
export interface Plugin {
  /** Unique id (the `id` in plugins.yaml). */
  readonly pluginId: string;
  /** Called synchronously for every subscribed event, in `seq` order. */
  onEvent(event: Readonly<EngineEvent>): HookResult;
  /** Called once by `register()`; the plugin receives events only after it settles. */
  onStartup?(): HookResult;
  /** Called once by `unregister()`, `clear()` or `shutdown()`, after pending deliveries settle or time out. */
  onShutdown?(): HookResult;
  /**
   * Called when deliveries were dropped for this plugin (worker queue full, or too many pending
   * async deliveries), with how many, before the next delivered event and at shutdown.
   */
  onMissed?(count: number): HookResult;
}

/**
 * Base class of class-style plugins. Override {@link onEvent}; optionally {@link onStartup},
 * {@link onShutdown} and {@link onMissed}. Every hook may be async; exceptions and rejections are
 * caught, logged and counted by the registry, never seen by the engine or other plugins.
 *
 * `config` is a deep, frozen copy of what was passed (plain objects and arrays are copied; other
 * values such as functions are kept by reference).
 *
 * @typeParam C - shape of this plugin's `config`.
 *
 * @example
 * ```ts
 * import { PluginBase, type EngineEvent } from "agent-engine";
 *
 * export class SlowNodeReporter extends PluginBase<{ thresholdMs?: number }> {
 *   private slow = 0;
 *   onEvent(event: Readonly<EngineEvent>): void {
 *     if (event.type === "node.completed" && event.payload.durationMs > (this.config.thresholdMs ?? 1000)) this.slow++;
 *   }
 *   override onShutdown(): void {
 *     console.error(`${this.pluginId}: ${this.slow} slow nodes`);
 *   }
 * }
 * // plugins.yaml:  - { id: slow, module: ./plugins/slow.js#SlowNodeReporter, config: { thresholdMs: 500 } }
 * // or in code:    Engine.fromConfigDir(dir, { plugins: [new SlowNodeReporter("slow", { thresholdMs: 500 })] })
 * ```
 */
export abstract class PluginBase<C extends Record<string, unknown> = Record<string, unknown>> implements Plugin {
  /** Unique id (the `id` in plugins.yaml). */
  readonly pluginId: string;
  /** A deep frozen copy of the config given to the constructor. */
  readonly config: Readonly<C>;
  /** Where the plugin was declared; `{}` for plugins built in code. */
  readonly context: PluginContext;

  constructor(pluginId: string, config: C = {} as C, context: PluginContext = {}) {
    if (typeof pluginId !== "string" || pluginId.length === 0) throw new TypeError(`pluginId must be a non-empty string, got ${describeValue(pluginId)}`);
    this.pluginId = pluginId;
    this.config = frozenCopy(config ?? {}) as Readonly<C>;
    this.context = Object.freeze({ ...context });
  }

  /** Handles one event. The event is deeply frozen and shared with other plugins: read, never write. */
  abstract onEvent(event: Readonly<EngineEvent>): HookResult;

  /** Called once when registered. Throwing (or rejecting) fails registration. */
  onStartup(): HookResult {}

  /** Called once when unregistered or at engine shutdown. Flush and close resources here. */
  onShutdown(): HookResult {}
}

/** Hooks of an object-style plugin; `this` and the last argument are the plugin instance. */
export interface PluginDefinition<C extends Record<string, unknown> = Record<string, unknown>> {
  /** Class name given to the generated class (shows in logs). Default `DefinedPlugin`. */
  readonly name?: string;
  onEvent(this: DefinedPlugin<C>, event: Readonly<EngineEvent>, plugin: DefinedPlugin<C>): HookResult;
  onStartup?(this: DefinedPlugin<C>, plugin: DefinedPlugin<C>): HookResult;
  onShutdown?(this: DefinedPlugin<C>, plugin: DefinedPlugin<C>): HookResult;
  onMissed?(this: DefinedPlugin<C>, count: number, plugin: DefinedPlugin<C>): HookResult;
}

/** Instance of a class made by {@link definePlugin}: a {@link PluginBase} with a private mutable `state` bag. */
export interface DefinedPlugin<C extends Record<string, unknown> = Record<string, unknown>> extends PluginBase<C> {
  /** Per-instance scratch space for the hooks (each instance has its own). */
  readonly state: Record<string, unknown>;
  onMissed(count: number): HookResult;
}

/** The class {@link definePlugin} returns: construct it like any plugin class. */
export interface DefinedPluginClass<C extends Record<string, unknown> = Record<string, unknown>> {
  new (pluginId: string, config?: C, context?: PluginContext): DefinedPlugin<C>;
  /** The definition the class was made from. */
  readonly definition: PluginDefinition<C>;
}

/**
 * Makes a plugin class from plain hook functions. The result can be exported and named in
 * plugins.yaml (`module: ./audit.js#audit`) or instantiated in code (`new audit("audit", {})`).
 *
 * @example
 * ```ts
 * import { definePlugin } from "agent-engine";
 *
 * export const failures = definePlugin<{ label?: string }>({
 *   name: "FailureCounter",
 *   onStartup(p) { p.state.count = 0; },
 *   onEvent(event, p) { if (event.type.endsWith(".failed")) p.state.count = (p.state.count as number) + 1; },
 *   onShutdown(p) { console.error(`${p.config.label ?? p.pluginId}: ${String(p.state.count)} failures`); },
 * });
 * // plugins.yaml:  - { id: failures, module: ./plugins.js#failures, events: ["*.failed"] }
 * ```
 */
export function definePlugin<C extends Record<string, unknown> = Record<string, unknown>>(definition: PluginDefinition<C>): DefinedPluginClass<C> {
  if (definition === null || typeof definition !== "object" || typeof definition.onEvent !== "function") {
    throw new TypeError(`definePlugin() needs an object with an onEvent function, got ${describeValue(definition)}`);
  }
  const def = Object.freeze({ ...definition });
  class Defined extends PluginBase<C> {
    static readonly definition = def;
    readonly state: Record<string, unknown> = {};
    onEvent(event: Readonly<EngineEvent>): HookResult {
      return def.onEvent.call(this, event, this);
    }
    override onStartup(): HookResult {
      return def.onStartup?.call(this, this);
    }
    override onShutdown(): HookResult {
      return def.onShutdown?.call(this, this);
    }
    onMissed(count: number): HookResult {
      return def.onMissed?.call(this, count, this);
    }
  }
  Object.defineProperty(Defined, "name", { value: def.name ?? "DefinedPlugin" });
  return Defined;
}

/**
 * True when `value` is a plugin instance: an object with a non-empty string `pluginId` and an
 * `onEvent` method. Total: a hostile object (throwing getters, a Proxy) is simply not a plugin.
 */
export function isPlugin(value: unknown): value is Plugin {
  if (typeof value !== "object" || value === null) return false;
  try {
    const id = (value as { pluginId?: unknown }).pluginId;
    return typeof id === "string" && id.length > 0 && typeof (value as { onEvent?: unknown }).onEvent === "function";
  } catch {
    return false;
  }
}

/** A constructor the loader can instantiate: `new (pluginId, config, context)`. */
export type PluginClass = new (pluginId: string, config?: Record<string, unknown>, context?: PluginContext) => Plugin;

/**
 * True when `value` is a plugin class: a constructor whose prototype has an `onEvent` method
 * (a {@link PluginBase} subclass, a {@link definePlugin} result, or any duck-typed class).
 */
export function isPluginClass(value: unknown): value is PluginClass {
  if (typeof value !== "function") return false;
  const proto = (value as { prototype?: unknown }).prototype;
  return typeof proto === "object" && proto !== null && typeof (proto as { onEvent?: unknown }).onEvent === "function";
}

/**
 * True when `value` is a plain plugin definition object (`{ onEvent() {...} }`) that is not
 * itself a plugin instance; the loader wraps such exports with {@link definePlugin}.
 */
export function isPluginDefinition(value: unknown): value is PluginDefinition {
  return typeof value === "object" && value !== null && typeof (value as { onEvent?: unknown }).onEvent === "function" && !isPlugin(value);
}

/**
 * Returns a deep copy of `value` in which every plain object and array is frozen. Other objects
 * (class instances, functions) are kept by reference. Cycles are preserved.
 */
export function frozenCopy<T>(value: T): T {
  return copy(value, new Map()) as T;
}

function copy(value: unknown, seen: Map<object, unknown>): unknown {
  if (typeof value !== "object" || value === null) return value;
  const done = seen.get(value);
  if (done !== undefined) return done;
  if (Array.isArray(value)) {
    const out: unknown[] = [];
    seen.set(value, out);
    for (const item of value) out.push(copy(item, seen));
    return Object.freeze(out);
  }
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) return value;
  const out: Record<string, unknown> = {};
  seen.set(value, out);
  for (const key of Object.keys(value)) {
    const v = copy((value as Record<string, unknown>)[key], seen);
    // An own "__proto__" key is data; plain assignment would set the copy's prototype instead.
    if (key === "__proto__") Object.defineProperty(out, key, { value: v, enumerable: true, writable: true, configurable: true });
    else out[key] = v;
  }
  return Object.freeze(out);
}

/**
 * Short human description of any value, for error messages ("a number (42)", "a class Foo").
 * Total: a value that cannot be inspected (a Proxy whose traps throw) is described as such.
 */
export function describeValue(value: unknown): string {
  try {
    return describe(value);
  } catch {
    return "a value that cannot be inspected (a Proxy or an object with throwing getters)";
  }
}

function describe(value: unknown): string {
  if (value === undefined) return "undefined";
  if (value === null) return "null";
  switch (typeof value) {
    case "string":
      return `a string (${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value)})`;
    case "number":
    case "boolean":
    case "bigint":
      return `a ${typeof value} (${String(value)})`;
    case "symbol":
      return "a symbol";
    case "function": {
      const src = Function.prototype.toString.call(value);
      const name = (value as { name?: string }).name;
      if (src.startsWith("class")) return `a class${name ? ` ${name}` : ""} without an onEvent method`;
      return `a function${name ? ` ${name}` : ""} (not a class; export the class, a definePlugin() result, or an object with onEvent)`;
    }
    default: {
      if (Array.isArray(value)) return `an array (length ${value.length})`;
      const ctor = (value as { constructor?: { name?: string } }).constructor?.name;
      const keys = Object.keys(value).slice(0, 8);
      const shape = keys.length > 0 ? ` with keys ${keys.join(", ")}` : " with no keys";
      if (ctor && ctor !== "Object") return `an instance of ${ctor}${shape}`;
      return `an object${shape}`;
    }
  }
}
