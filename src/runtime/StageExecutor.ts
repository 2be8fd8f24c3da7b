/**
 * Executes one stage: cancellation and timeout, context assembly, schema checks, invoking the
 * handler or agent, sealing the output. Knows nothing about order, routing or merges; returns
 * synchronously when the handler does. Internal.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { dirname } from "node:path";
import { AgentOutputError } from "../agents/AgentRunner.js";
import type { GraphNode, WorkflowGraph } from "../dag/types.js";
import { EngineError, StageError, errorMessage, errorStack } from "../errors.js";
import { isInstance } from "../guard.js";
import { NotJsonError, sealJson, type JsonValue } from "../json.js";
import type { ErrorInfo } from "../telemetry/events.js";
import { isoNow } from "../telemetry/clock.js";
import type { TelemetryBus } from "../telemetry/TelemetryBus.js";
import { isToolAllowed } from "../tools/allowList.js";
import { MEMORY_RULES, NO_MEMORY, StageMemory, type KvEntry, type MemoryAccess, type MemoryRules, type RunMemory } from "./memory.js";
import { info, InterruptSignal, NEVER, Outcome, StageScope, type Stage, type StageOutcome } from "./task.js";
import type { HandlerContext, NodeHandler } from "./types.js";

/** Services a run needs from the engine. Internal. */
export interface RunServices {
  readonly graph: WorkflowGraph;
  readonly bus: TelemetryBus;
  readonly handlers: ReadonlyMap<string, NodeHandler>;
  /** Runs an agent node; emits agent events through `scope`. `resume`: the answer to its `interrupt: before` (`{{resume}}`). */
  callAgent(node: GraphNode, input: JsonValue, context: JsonValue, scope: StageScope, resume: JsonValue | undefined): Promise<JsonValue>;
  /** Invokes a tool for a node (allow-list already checked); emits tool events through `scope`. */
  callTool(node: GraphNode, toolId: string, args: unknown, scope: StageScope): Promise<JsonValue>;
  /** Assembles the node's context, or returns null for `none`. Throws with an ErrorInfo-like error. */
  assembleContext(node: GraphNode, input: JsonValue): JsonValue;
  /** The kv stores a context profile names (undefined: none; its context is then static). */
  contextStores?(profile: string): readonly string[] | undefined;
  /** Assembles a profile that names kv stores, with their entries as the stage sees them. */
  assembleWithMemory?(profile: string, entries: ReadonlyMap<string, readonly KvEntry[]>): JsonValue;
  /** New root task id. */
  newTaskId(): string;
  /** At most this many stages execute at once (Infinity: all). */
  readonly maxConcurrency: number;
}

const ENGINE_DIR = dirname(dirname(fileURLToPath(import.meta.url)));

function isPromiseLike(v: unknown): v is PromiseLike<unknown> {
  try {
    return v !== null && (typeof v === "object" || typeof v === "function") && typeof (v as { then?: unknown }).then === "function";
  } catch {
    return false; // a hostile getter: not a thenable we will adopt
  }
}

/** Reads a foreign error's own `code` without ever throwing. */
function foreignCode(err: unknown): string | undefined {
  try {
    if (err === null || typeof err !== "object") return undefined;
    const c = (err as { code?: unknown }).code;
    return typeof c === "string" && c.length > 0 && c.length <= 200 ? c : typeof c === "number" && Number.isFinite(c) ? String(c) : undefined;
  } catch {
    return undefined;
  }
}

/** Frames of the user's code in a stack (engine and Node-internal frames dropped). */
function userStack(err: unknown): string | undefined {
  const stack = errorStack(err);
  if (stack === undefined) return undefined;
  const frames = stack.split("\n").filter((l) => l.startsWith("    at ") && !l.includes(ENGINE_DIR) && !l.includes("node:internal") && !l.includes("(<anonymous>)"));
  return frames.length > 0 ? frames.slice(0, 10).join("\n") : undefined;
}

/**
 * The record of a thrown value: engine errors keep their code; anything else gets `fallback`,
 * its own code kept as `originalCode`. Total: never throws for hostile values.
 */
export function toErrorInfo(err: unknown, fallback: string): ErrorInfo {
  // isInstance and the try: `instanceof` runs a Proxy's getPrototypeOf trap, and a Proxy posing
  // as an engine error may throw from any read; it is then recorded as a foreign value.
  if (isInstance(err, EngineError)) {
    try {
      const e = err as EngineError;
      const d = e.details[0];
      const base = info(e.code, d?.message ?? errorMessage(e));
      // AGENT_OUTPUT_INVALID carries the model's reply and the validation errors (CONTRACT §8).
      return isInstance(e, AgentOutputError) ? Object.freeze({ ...base, raw: (e as AgentOutputError).raw, validation: (e as AgentOutputError).validation }) : base;
    } catch {
      // fall through
    }
  }
  const message = errorMessage(err);
  const original = foreignCode(err);
  const stack = userStack(err);
  return Object.freeze({ code: fallback, message, ...(original === undefined ? {} : { originalCode: original }), ...(stack === undefined ? {} : { stack }) });
}

/** A context assembled ahead of the stage (profiles naming kv stores), or why it failed. */
type Preassembled = { readonly context: JsonValue } | { readonly error: unknown };

/** Runs stages; one per run. */
export class StageExecutor {
  constructor(
    private readonly services: RunServices,
    private readonly runSignal: AbortSignal,
    /** The run's kv memory, when memory.yaml declares kv stores. */
    private readonly memory?: RunMemory,
  ) {}

  get aborted(): boolean {
    return this.runSignal.aborted;
  }

  /**
   * Executes `stage`; synchronous when everything it calls is. Never throws or rejects. `pre`:
   * its context, when it names kv stores (assembled first, see {@link memoryContext}).
   */
  execute(stage: Stage, pre?: Preassembled): StageOutcome | Promise<StageOutcome> {
    const memory = this.memory;
    if (memory !== undefined && pre === undefined && stage.node.context !== "none" && stage.preFailed === undefined) {
      const stores = this.services.contextStores?.(stage.node.context);
      // A profile naming kv stores: their entries as of the stage's start (which may mean
      // waiting for earlier commits) become part of the context before the stage runs.
      if (stores !== undefined) return this.memoryContext(memory, stage, stores).then((p) => this.execute(stage, p));
    }

    const startedMs = performance.now();
    const startedAt = isoNow();
    stage.startedAt = startedAt;
    const node = stage.node;

    if (stage.preFailed) return outcome(false, stage.input, stage.preFailed, startedAt, startedMs, undefined);
    if (node.interrupt === "before" && stage.answers.length === 0) {
      return new Outcome(false, stage.input, undefined, startedAt, startedAt, 0, undefined, { kind: "before", payload: stage.input });
    }
    const runSignal = this.runSignal;
    if (runSignal.aborted) return outcome(false, stage.input, info("ABORTED", "the run was cancelled before this node started"), startedAt, startedMs, undefined);
    if (node.schemaIn) {
      const problems = node.schemaIn.validate(stage.input);
      if (problems.length > 0) return outcome(false, stage.input, info("SCHEMA_IN_FAILED", `input does not match schema_in "${node.schemaIn.name}": ${problems.join("; ")}`), startedAt, startedMs, undefined);
    }

    // The stage's signal: the run's, plus the node's timeout. Its AbortController is created on
    // first use (most deterministic handlers never look at it); no closure per stage.
    const timeoutMs = node.timeoutMs;
    const sig = new StageSignal(runSignal, timeoutMs !== undefined);
    const needsScope = node.kind === "agent" || node.tools.length > 0 || node.context !== "none";
    const scope = needsScope ? new StageScope(stage.task.id, node.id, sig.get()) : undefined;

    let context: JsonValue = null;
    if (node.context !== "none") {
      try {
        if (pre !== undefined && "error" in pre) throw pre.error;
        context = pre !== undefined ? pre.context : this.services.assembleContext(node, stage.input);
        scope!.emit("context.assembled", {
          profile: node.context,
          items: Array.isArray((context as { items?: unknown } | null)?.items) ? (context as { items: unknown[] }).items.length : 0,
          context,
        });
      } catch (err) {
        const e = toErrorInfo(err, "CONTEXT_FAILED");
        scope!.emit("context.failed", { profile: node.context, error: info("CONTEXT_FAILED", e.message) });
        sig.cleanup();
        return outcome(false, stage.input, info("CONTEXT_FAILED", e.message), startedAt, startedMs, scope);
      }
    }

    const fallback = node.kind === "agent" ? "AGENT_FAILED" : "HANDLER_FAILED";
    let raw: unknown;
    try {
      raw = this.invoke(stage, context, scope, sig);
    } catch (err) {
      sig.cleanup();
      // isInstance: `instanceof` runs a thrown Proxy's getPrototypeOf trap, which may throw.
      if (isInstance(err, InterruptSignal)) return suspended(stage, err as InterruptSignal, startedAt, startedMs, scope);
      return outcome(false, stage.input, toErrorInfo(err, fallback), startedAt, startedMs, scope);
    }
    if (!isPromiseLike(raw)) {
      sig.cleanup();
      // A synchronous handler cannot be pre-empted; one that overran its budget is still
      // reported as timed out, so a timeout means the same thing for every handler.
      if (timeoutMs !== undefined && performance.now() - startedMs > timeoutMs) {
        return outcome(false, stage.input, info("NODE_TIMEOUT", `node "${node.id}" ran synchronously for longer than timeout_ms ${timeoutMs} (a synchronous handler cannot be interrupted; make it async and watch ctx.signal)`), startedAt, startedMs, scope);
      }
      return this.finish(stage, raw, startedAt, startedMs, scope);
    }
    return this.race(stage, raw, sig, startedAt, startedMs, scope, fallback);
  }

  private async memoryContext(memory: RunMemory, stage: Stage, stores: readonly string[]): Promise<Preassembled> {
    try {
      const access = (stage.access ??= new StageMemory(memory, stage));
      const entries = new Map<string, readonly KvEntry[]>();
      for (const id of stores) entries.set(id, await access.entries(memory.plan.store(id, "list"), ""));
      return { context: this.services.assembleWithMemory!(stage.node.context, entries) };
    } catch (err) {
      return { error: err };
    }
  }

  /**
   * Async: races the handler against cancellation and the timeout, so a handler that ignores
   * its signal (or never settles) cannot hold the run hostage.
   */
  private race(stage: Stage, raw: PromiseLike<unknown>, sig: StageSignal, startedAt: string, startedMs: number, scope: StageScope | undefined, fallback: string): Promise<StageOutcome> {
    const node = stage.node;
    const timeoutMs = node.timeoutMs;
    const fail = (error: ErrorInfo): StageOutcome => outcome(false, stage.input, error, startedAt, startedMs, scope);
    return new Promise<StageOutcome>((resolve) => {
      let done = false;
      let timer: ReturnType<typeof setTimeout> | undefined;
      let s: AbortSignal = NEVER;
      const settle = (o: StageOutcome): void => {
        if (done) return;
        done = true;
        if (timer !== undefined) clearTimeout(timer);
        if (s !== NEVER) s.removeEventListener("abort", onAbort);
        sig.cleanup();
        resolve(o);
      };
      const onAbort = (): void => {
        const reason: unknown = s.reason;
        settle(fail(isTimeout(reason) ? reason : info("ABORTED", "the run was cancelled while this node was running")));
      };
      if (timeoutMs !== undefined) {
        const onTimeout = (): void => {
          // Time spent waiting for earlier commits (ctx.memory reads) does not count: under wave
          // scheduling the stage would simply have started later.
          const waited = stage.access !== undefined ? stage.access.waitedMs() : 0;
          if (waited > 0) {
            const left = timeoutMs - (performance.now() - startedMs - waited);
            if (left >= 1) {
              timer = setTimeout(onTimeout, left);
              return;
            }
          }
          const e = info("NODE_TIMEOUT", `node "${node.id}" exceeded timeout_ms ${timeoutMs}`);
          sig.abort(e);
          if (s === NEVER) settle(fail(e));
        };
        timer = setTimeout(onTimeout, timeoutMs);
      }
      s = sig.get();
      if (s !== NEVER) {
        if (s.aborted) onAbort();
        else s.addEventListener("abort", onAbort, { once: true });
      }
      try {
        // Adopted once, with our own callbacks: a hostile thenable can call them any number of
        // times (only the first counts) or never (the timeout ends the stage).
        raw.then(
          (value) => settle(this.finish(stage, value, startedAt, startedMs, scope)),
          (err: unknown) => settle(isInstance(err, InterruptSignal) ? suspended(stage, err as InterruptSignal, startedAt, startedMs, scope) : fail(toErrorInfo(err, fallback))),
        );
      } catch (err) {
        settle(fail(toErrorInfo(err, fallback)));
      }
    });
  }

  private invoke(stage: Stage, context: JsonValue, scope: StageScope | undefined, sig: StageSignal): unknown {
    const { node, input } = stage;
    if (node.kind === "agent") return this.services.callAgent(node, input, context, scope!, stage.answers.length > 0 ? stage.answers[stage.answers.length - 1] : undefined);
    const handler = this.services.handlers.get(node.id);
    if (handler === undefined) return input;
    return handler(input, new StageContext(stage, context, scope, sig, this.services, this.memory));
  }

  private finish(stage: Stage, value: unknown, startedAt: string, startedMs: number, scope: StageScope | undefined): StageOutcome {
    const { node } = stage;
    let output: JsonValue;
    try {
      output = sealJson(value);
    } catch (err) {
      const msg = err instanceof NotJsonError ? err.message : errorMessage(err);
      return outcome(false, stage.input, info("OUTPUT_NOT_JSON", `node "${node.id}" returned a non-JSON value: ${msg}`), startedAt, startedMs, scope);
    }
    if (node.schemaOut) {
      const problems = node.schemaOut.validate(output);
      if (problems.length > 0) {
        return outcome(false, stage.input, info("SCHEMA_OUT_FAILED", `output does not match schema_out "${node.schemaOut.name}": ${problems.join("; ")}`), startedAt, startedMs, scope);
      }
    }
    const done = outcome(true, output, undefined, startedAt, startedMs, scope);
    // Memory writes go with a successful outcome only: a failed stage's are discarded.
    if (stage.access !== undefined) done.writes = stage.access.takeWrites();
    return done;
  }
}

function suspended(stage: Stage, signal: InterruptSignal, startedAt: string, startedMs: number, scope: StageScope | undefined): StageOutcome {
  return new Outcome(false, stage.input, undefined, startedAt, isoNow(), performance.now() - startedMs, scope, { kind: "handler", payload: signal.payload });
}

function isTimeout(reason: unknown): reason is ErrorInfo {
  return reason !== null && typeof reason === "object" && (reason as ErrorInfo).code === "NODE_TIMEOUT";
}

function outcome(ok: boolean, output: JsonValue, error: ErrorInfo | undefined, startedAt: string, startedMs: number, scope: StageScope | undefined): Outcome {
  return new Outcome(ok, output, error, startedAt, isoNow(), performance.now() - startedMs, scope, undefined);
}

/**
 * A stage's cancellation: the run's signal, plus the node's timeout when it has one. The
 * AbortController is created on first use; a stage must not leave a listener on the run's
 * signal (Node warns past 10, and a long run has thousands of stages) or a timer behind.
 */
class StageSignal {
  private controller: AbortController | undefined = undefined;
  private forward: (() => void) | undefined = undefined;
  constructor(
    private readonly runSignal: AbortSignal,
    private readonly timed: boolean,
  ) {}

  get(): AbortSignal {
    if (this.controller === undefined) {
      const runSignal = this.runSignal;
      if (!this.timed && runSignal === NEVER) return NEVER;
      const c = new AbortController();
      this.controller = c;
      if (runSignal !== NEVER) {
        if (runSignal.aborted) c.abort(runSignal.reason);
        else {
          this.forward = () => c.abort(runSignal.reason);
          runSignal.addEventListener("abort", this.forward, { once: true });
        }
      }
    }
    return this.controller.signal;
  }

  /** Aborts the stage's signal, if anyone has it. */
  abort(reason: unknown): void {
    this.controller?.abort(reason);
  }

  cleanup(): void {
    if (this.forward !== undefined) {
      this.runSignal.removeEventListener("abort", this.forward);
      this.forward = undefined;
    }
  }
}

/**
 * The `ctx` a handler receives. A class (one shape, no closures until a method is taken): it is
 * made for every stage. `signal`, `memory`, `interrupt` and `callTool` are accessors on the
 * prototype; the methods they return are bound, so `const { callTool } = ctx` works (`memory`'s
 * methods are those of an object: call them as `ctx.memory.get(...)`, or bind them).
 */
class StageContext implements HandlerContext {
  readonly taskId: string;
  readonly nodeId: string;
  readonly context: JsonValue;
  // True private fields: JSON.stringify(ctx) and Object.keys(ctx) see only the public data.
  readonly #stage: Stage;
  readonly #scope: StageScope | undefined;
  readonly #sig: StageSignal;
  readonly #services: RunServices;
  readonly #memory: RunMemory | undefined;
  #interrupts = 0;
  #boundInterrupt: ((payload?: unknown) => JsonValue) | undefined = undefined;
  #boundCallTool: ((toolId: string, args?: unknown) => Promise<JsonValue>) | undefined = undefined;
  constructor(stage: Stage, context: JsonValue, scope: StageScope | undefined, sig: StageSignal, services: RunServices, memory: RunMemory | undefined) {
    this.taskId = stage.task.id;
    this.nodeId = stage.node.id;
    this.context = context;
    this.#stage = stage;
    this.#scope = scope;
    this.#sig = sig;
    this.#services = services;
    this.#memory = memory;
  }

  get signal(): AbortSignal {
    return this.#sig.get();
  }

  get memory(): MemoryAccess {
    // Made on first use: stages that never touch memory allocate nothing for it.
    const memory = this.#memory;
    if (memory === undefined) return NO_MEMORY;
    const stage = this.#stage;
    return (stage.access ??= new StageMemory(memory, stage));
  }

  /** For the worker pool of an `isolation: worker` node: how its handler checks ctx.memory calls. */
  get [MEMORY_RULES](): MemoryRules | undefined {
    return this.#memory?.plan.rules;
  }

  get resumeValue(): JsonValue | undefined {
    const answers = this.#stage.answers;
    return answers.length > 0 ? answers[answers.length - 1] : undefined;
  }

  get interrupt(): (payload?: unknown) => JsonValue {
    return (this.#boundInterrupt ??= (payload?: unknown): JsonValue => {
      // The n-th call returns the n-th answer once the run was resumed with it; until then it
      // suspends the stage (the handler runs again from the start when the answer comes).
      const answers = this.#stage.answers;
      const i = this.#interrupts++;
      if (i < answers.length) return answers[i]!;
      let sealed: JsonValue;
      try {
        sealed = sealJson(payload === undefined ? null : payload);
      } catch (err) {
        throw new StageError("HANDLER_FAILED", `ctx.interrupt() payload must be JSON data: ${errorMessage(err)}`);
      }
      throw new InterruptSignal(sealed);
    });
  }

  get callTool(): (toolId: string, args?: unknown) => Promise<JsonValue> {
    return (this.#boundCallTool ??= (toolId: string, args?: unknown): Promise<JsonValue> => {
      const node = this.#stage.node;
      const scope = this.#scope;
      if (scope === undefined || !isToolAllowed(node.tools, toolId)) {
        const allowed = node.tools.length > 0 ? node.tools.join(", ") : "none";
        return Promise.reject(new StageError("TOOL_NOT_ALLOWED", `node "${node.id}" may not call tool "${toolId}"; add it to the node's tools: list in workflow.yaml (allowed: ${allowed})`));
      }
      return this.#services.callTool(node, toolId, args, scope);
    });
  }
}
