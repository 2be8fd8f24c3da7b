/**
 * `isolation: worker` for node handlers: each handler module gets a bounded pool of
 * `worker_threads` workers; a call runs in one worker at a time, and the worker is terminated when
 * the stage's signal aborts (its `timeout_ms`, or the run's cancellation), so even a
 * `while (true) {}` is pre-empted. The next call gets a fresh worker. A worker that has had no call
 * for the node's `worker.idle_timeout_ms` is terminated too (an unref'd timer), so a long-lived
 * engine does not keep a burst's threads; the next call starts a fresh one.
 *
 * The pool is reached only through the handler function it makes ({@link HandlerPool.handler}):
 * the stage executor treats it like any async handler (it races it against the timeout and the
 * run's signal, seals and checks what it returns), so nothing of this runs for inline handlers.
 *
 * @internal
 * @module
 */
import { availableParallelism } from "node:os";
import { Worker, type ResourceLimits } from "node:worker_threads";
import type { HandlerWorkerSettings } from "../dag/types.js";
import { EngineError, StageError, errorMessage, type ErrorCode } from "../errors.js";
import { isInstance, readCode, readSafely } from "../guard.js";
import { sealJson, type JsonValue } from "../json.js";
import { relayLines, workerExecArgv, type LineLimiter } from "../workerThreads.js";
import { MEMORY_RULES, type MemoryRules } from "./memory.js";
import { InterruptSignal } from "./task.js";
import type { HandlerContext, NodeHandler } from "./types.js";
import { parseFromHandlerWorker, type FromHandlerWorker, type HandlerWorkerData, type ToHandlerWorker, type WireError } from "./worker/protocol.js";

/** V8 limits of a handler worker unless the node's `worker.resource_limits` says otherwise. */
export const DEFAULT_HANDLER_RESOURCE_LIMITS: Readonly<ResourceLimits> = Object.freeze({ maxOldGenerationSizeMb: 256, stackSizeMb: 4 });

/** How long importing a handler module in its first worker may take at load time. */
export const HANDLER_LOAD_TIMEOUT_MS = 30_000;

/** Lines of worker output re-emitted per second per pool (the rest counted and summarized). */
const OUTPUT_LINES_PER_SECOND = 100;

let live = 0;

/**
 * Handler worker threads started and not yet exited, over every engine of this process.
 * For tests (no leaked workers after `engine.shutdown()`).
 *
 * @internal
 */
export function liveHandlerWorkers(): number {
  return live;
}

/** A handler module that could not be imported in its worker. */
export class HandlerLoadProblem extends Error {
  constructor(
    message: string,
    readonly hint?: string,
    /** True when importing the module threw (`message` is what it threw); false when the worker failed otherwise. */
    readonly threw = false,
  ) {
    super(message);
    this.name = "HandlerLoadProblem";
  }
}

interface Job {
  readonly id: number;
  readonly exportName: string;
  readonly nodeId: string;
  readonly input: JsonValue;
  readonly ctx: HandlerContext;
  readonly answers: readonly JsonValue[];
  readonly signal: AbortSignal;
  readonly resolve: (value: unknown) => void;
  readonly reject: (reason: unknown) => void;
  readonly onAbort: () => void;
  worker: PoolWorker | undefined;
  done: boolean;
}

interface PoolWorker {
  readonly thread: Worker;
  /** `starting`: importing the module; `idle`; `busy`: a call was posted; `dead`: terminated or exited (counted until its `exit`). */
  state: "starting" | "idle" | "busy" | "dead";
  job: Job | undefined;
  /** Set exactly while the worker is `idle` without a job: terminates it at `idleTimeoutMs` (unref'd). */
  idleTimer: NodeJS.Timeout | undefined;
  readonly exited: Promise<void>;
}

/** The pools of one engine, one per handler module and worker settings; closed at `engine.shutdown()`. */
export class HandlerWorkers {
  private readonly pools = new Map<string, HandlerPool>();

  /** The pool for `url` with `settings` (created on first use). `label` names the module in messages and output. */
  pool(url: string, label: string, settings: HandlerWorkerSettings): HandlerPool {
    const key = JSON.stringify([url, [...settings.env].sort(), settings.resourceLimits, settings.maxWorkers ?? null, settings.idleTimeoutMs]);
    let pool = this.pools.get(key);
    if (pool === undefined) {
      pool = new HandlerPool(url, label, settings);
      this.pools.set(key, pool);
    }
    return pool;
  }

  /** Terminates every worker (calls in flight fail `ABORTED`) and waits until they have exited. */
  async close(): Promise<void> {
    await Promise.all([...this.pools.values()].map((p) => p.close()));
  }
}

/**
 * A bounded pool of workers running one handler module. At most `maxWorkers` threads exist at
 * once (terminated ones count until they have exited); calls beyond that wait in FIFO order.
 * A worker idle for `idleTimeoutMs` is terminated; an idle pool may have no thread at all.
 */
export class HandlerPool {
  /** Threads that exist (until their `exit`), whatever their state. */
  private readonly workers = new Set<PoolWorker>();
  /** Workers without a call: idle, or still importing. */
  private readonly available: PoolWorker[] = [];
  private readonly queue: Job[] = [];
  private readonly limiter: LineLimiter = { windowStart: -Infinity, count: 0, suppressed: 0 };
  private readonly maxWorkers: number;
  private loading: { promise: Promise<Readonly<Record<string, string>>>; resolve: (e: Readonly<Record<string, string>>) => void; reject: (p: HandlerLoadProblem) => void } | undefined;
  private loaded: Readonly<Record<string, string>> | HandlerLoadProblem | undefined;
  private nextId = 0;
  private closed = false;

  constructor(
    private readonly url: string,
    private readonly label: string,
    private readonly settings: HandlerWorkerSettings,
  ) {
    this.maxWorkers = settings.maxWorkers ?? Math.max(1, availableParallelism());
  }

  /**
   * Imports the module in a worker (which then stays, idle, for the first call or until its idle
   * timeout) and returns the `typeof` of each export. Rejects with a {@link HandlerLoadProblem}
   * when the import throws, the worker dies, or it takes longer than `timeoutMs`.
   */
  exports(timeoutMs = HANDLER_LOAD_TIMEOUT_MS): Promise<Readonly<Record<string, string>>> {
    if (this.loaded !== undefined) return this.loaded instanceof HandlerLoadProblem ? Promise.reject(this.loaded) : Promise.resolve(this.loaded);
    if (this.loading === undefined) {
      let resolve!: (e: Readonly<Record<string, string>>) => void;
      let reject!: (p: HandlerLoadProblem) => void;
      const promise = new Promise<Readonly<Record<string, string>>>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      const timer = setTimeout(() => {
        this.loadFailed(new HandlerLoadProblem(`importing the module in its worker did not finish within ${timeoutMs} ms`, "a handler module must not block or wait forever while it is imported"));
        for (const w of [...this.workers]) if (w.state === "starting") this.kill(w, "did not finish importing the module");
      }, timeoutMs);
      this.loading = {
        promise,
        resolve: (e) => {
          clearTimeout(timer);
          resolve(e);
        },
        reject: (p) => {
          clearTimeout(timer);
          reject(p);
        },
      };
      if (this.workers.size === 0) {
        const w = this.spawn();
        if (w !== undefined) this.available.push(w);
      }
    }
    return this.loading.promise;
  }

  /** The node handler that runs export `exportName` of this module in the pool. */
  handler(exportName: string): NodeHandler {
    return (input, ctx) => this.run(exportName, input, ctx);
  }

  private run(exportName: string, input: JsonValue, ctx: HandlerContext): Promise<unknown> {
    // Reading the signal makes the stage executor create it (timeout + the run's cancellation).
    const signal = ctx.signal;
    const answers = answersOf(ctx);
    return new Promise<unknown>((resolve, reject) => {
      if (this.closed) return reject(shutDown());
      if (signal.aborted) return reject(abortError(signal.reason));
      const job: Job = { id: ++this.nextId, exportName, nodeId: ctx.nodeId, input, ctx, answers, signal, resolve, reject, onAbort: () => this.abort(job), worker: undefined, done: false };
      signal.addEventListener("abort", job.onAbort, { once: true });
      this.queue.push(job);
      this.pump();
    });
  }

  /** Gives waiting calls to available workers, starting new ones up to the bound. */
  private pump(): void {
    while (this.queue.length > 0 && !this.closed) {
      let w = this.available.pop();
      if (w === undefined) {
        if (this.workers.size >= this.maxWorkers) return;
        w = this.spawn();
        if (w === undefined) {
          const job = this.queue.shift()!;
          this.settle(job, false, new StageError("HANDLER_WORKER_CRASHED", `node "${job.nodeId}": cannot start a worker thread for the handler module ${this.label}`));
          continue;
        }
      }
      const job = this.queue.shift()!;
      this.stopIdleTimer(w);
      w.job = job;
      job.worker = w;
      w.thread.ref();
      if (w.state === "idle") this.post(w, job);
    }
  }

  private post(w: PoolWorker, job: Job): void {
    w.state = "busy";
    const rules = (job.ctx as { readonly [MEMORY_RULES]?: MemoryRules | undefined })[MEMORY_RULES];
    const msg: ToHandlerWorker =
      rules === undefined
        ? { t: "call", id: job.id, export: job.exportName, input: job.input, context: job.ctx.context, taskId: job.ctx.taskId, nodeId: job.nodeId, answers: job.answers }
        : { t: "call", id: job.id, export: job.exportName, input: job.input, context: job.ctx.context, taskId: job.ctx.taskId, nodeId: job.nodeId, answers: job.answers, memory: rules };
    try {
      w.thread.postMessage(msg);
    } catch (err) {
      this.kill(w, `could not be sent the call (${errorMessage(err)})`);
    }
  }

  private spawn(): PoolWorker | undefined {
    const env: Record<string, string> = {};
    for (const name of this.settings.env) {
      const value = process.env[name];
      if (value !== undefined) env[name] = value;
    }
    let thread: Worker;
    try {
      thread = new Worker(new URL("./worker/handlerWorker.js", import.meta.url), {
        workerData: { url: this.url } satisfies HandlerWorkerData,
        env,
        stdout: true,
        stderr: true,
        resourceLimits: { ...DEFAULT_HANDLER_RESOURCE_LIMITS, ...this.settings.resourceLimits },
        execArgv: workerExecArgv(),
      });
    } catch (err) {
      this.loadFailed(new HandlerLoadProblem(`cannot start a worker thread: ${errorMessage(err)}`));
      return undefined;
    }
    live++;
    let exited!: () => void;
    const w: PoolWorker = { thread, state: "starting", job: undefined, idleTimer: undefined, exited: new Promise<void>((r) => (exited = r)) };
    this.workers.add(w);
    thread.on("message", (msg: unknown) => this.onMessage(w, msg));
    thread.on("messageerror", () => this.kill(w, "sent a message that could not be deserialized"));
    thread.on("error", (err) => this.kill(w, crashReason(err, { ...DEFAULT_HANDLER_RESOURCE_LIMITS, ...this.settings.resourceLimits })));
    thread.once("exit", (code) => {
      live--;
      this.kill(w, `exited with code ${code} (process.exit() in the handler, or in a module it uses?)`);
      this.workers.delete(w);
      exited();
      this.pump();
    });
    const prefix = `[handler ${this.label}] `;
    relayLines(thread.stdout, prefix, this.limiter, OUTPUT_LINES_PER_SECOND);
    relayLines(thread.stderr, prefix, this.limiter, OUTPUT_LINES_PER_SECOND);
    return w;
  }

  /** Host side of the boundary: checks one message and acts on it. Never throws. */
  private onMessage(w: PoolWorker, raw: unknown): void {
    if (w.state === "dead") return;
    const msg = parseFromHandlerWorker(raw);
    if (typeof msg === "string") return this.kill(w, `sent a malformed message (${msg}) and was terminated`);
    switch (msg.t) {
      case "ready":
        if (w.state !== "starting") return this.kill(w, 'sent an unexpected "ready" message and was terminated');
        if (this.loaded === undefined) this.loaded = Object.freeze(msg.exports);
        this.loading?.resolve(msg.exports);
        if (w.job !== undefined) this.post(w, w.job);
        else this.becomeIdle(w);
        return;
      case "load-error": {
        if (w.state !== "starting") return this.kill(w, 'sent an unexpected "load-error" message and was terminated');
        this.loadFailed(new HandlerLoadProblem(msg.message, msg.hint, true));
        return this.kill(w, `could not import the handler module: ${msg.message}`);
      }
      case "tool": {
        const job = w.job;
        // A tool call of a call that already ended (not awaited by the handler) gets no answer.
        if (w.state !== "busy" || job === undefined || job.id !== msg.id) return;
        this.callTool(w, job, msg);
        return;
      }
      case "memory": {
        const job = w.job;
        // Memory use of a call that already ended changes nothing and gets no answer.
        if (w.state !== "busy" || job === undefined || job.id !== msg.id) return;
        this.useMemory(w, job, msg);
        return;
      }
      default: {
        const job = w.job;
        if (w.state !== "busy" || job === undefined || job.id !== msg.id) return this.kill(w, `sent a "${msg.t}" message for a call it is not running, and was terminated`);
        w.job = undefined;
        this.becomeIdle(w);
        this.available.push(w);
        this.complete(job, msg);
        this.pump();
      }
    }
  }

  private complete(job: Job, msg: Extract<FromHandlerWorker, { t: "result" | "not-json" | "error" | "interrupt" }>): void {
    switch (msg.t) {
      case "result":
        return this.settle(job, true, msg.value);
      case "not-json":
        return this.settle(job, false, new StageError("OUTPUT_NOT_JSON", `node "${job.nodeId}" returned a non-JSON value: ${msg.message}`));
      case "error":
        return this.settle(job, false, fromWire(msg.error));
      case "interrupt": {
        let payload: JsonValue;
        try {
          payload = sealJson(msg.payload);
        } catch (err) {
          return this.settle(job, false, new StageError("HANDLER_FAILED", `ctx.interrupt() payload must be JSON data: ${errorMessage(err)}`));
        }
        return this.settle(job, false, new InterruptSignal(payload));
      }
    }
  }

  private callTool(w: PoolWorker, job: Job, msg: Extract<FromHandlerWorker, { t: "tool" }>): void {
    let result: Promise<JsonValue>;
    try {
      result = job.ctx.callTool(msg.toolId, msg.args);
    } catch (err) {
      result = Promise.reject(err);
    }
    const answer = (reply: ToHandlerWorker): void => {
      if (w.job !== job || w.state !== "busy") return; // the call ended (timeout, cancellation) meanwhile
      try {
        w.thread.postMessage(reply);
      } catch (err) {
        this.kill(w, `could not be sent a tool result (${errorMessage(err)})`);
      }
    };
    result.then(
      (value) => answer({ t: "tool-result", id: job.id, n: msg.n, value }),
      (err: unknown) => answer({ t: "tool-error", id: job.id, n: msg.n, error: toWire(err) }),
    );
  }

  /**
   * A `ctx.memory` call of the handler in the worker, made on the stage's own `ctx.memory` (so it
   * reads as of the stage's start and its puts and deletes go with the stage's outcome). Messages
   * come in order, so a put or delete is applied before a later get of the same handler is
   * answered.
   */
  private useMemory(w: PoolWorker, job: Job, msg: Extract<FromHandlerWorker, { t: "memory" }>): void {
    const memory = job.ctx.memory;
    if (msg.op === "put" || msg.op === "delete") {
      try {
        if (msg.op === "put") memory.put(msg.store, msg.key!, msg.value);
        else memory.delete(msg.store, msg.key!);
      } catch (err) {
        // The worker checked the call with the same rules; what is left (the value not JSON after
        // all, the stage ended meanwhile) ends the call the way a throw in the handler would.
        this.kill(w, `sent a ctx.memory.${msg.op} the engine refused (${errorMessage(err)})`);
      }
      return;
    }
    let result: Promise<unknown>;
    try {
      result = msg.op === "get" ? memory.get(msg.store, msg.key!) : memory.list(msg.store, msg.prefix);
    } catch (err) {
      result = Promise.reject(err);
    }
    const answer = (reply: ToHandlerWorker): void => {
      if (w.job !== job || w.state !== "busy") return; // the call ended (timeout, cancellation) meanwhile
      try {
        w.thread.postMessage(reply);
      } catch (err) {
        this.kill(w, `could not be sent a memory read (${errorMessage(err)})`);
      }
    };
    result.then(
      (value) => answer({ t: "memory-result", id: job.id, n: msg.n, value }),
      (err: unknown) => answer({ t: "memory-error", id: job.id, n: msg.n, error: toWire(err) }),
    );
  }

  /** The stage's signal aborted: a waiting call leaves the queue, a running one's worker is terminated. */
  private abort(job: Job): void {
    if (job.done) return;
    const i = this.queue.indexOf(job);
    if (i >= 0) this.queue.splice(i, 1);
    const w = job.worker;
    if (w !== undefined && w.job === job) {
      w.job = undefined;
      if (w.state === "busy") this.kill(w, "was terminated (timeout or cancellation)");
      else this.available.push(w); // still importing: it will serve the next call
    }
    this.settle(job, false, abortError(job.signal.reason));
  }

  /**
   * `w` has no call (it finished one, or imported the module with none waiting): it stays for the
   * next call, and is terminated if none comes within `idleTimeoutMs`. The timer is unref'd. (The
   * thread is unref'd too, but on Node 20 a worker whose stdout is read still holds the event
   * loop: `Worker.unref()` leaves its internal stdio port referenced.)
   */
  private becomeIdle(w: PoolWorker): void {
    w.state = "idle";
    w.thread.unref();
    this.stopIdleTimer(w);
    if (this.closed) return;
    const timer = setTimeout(() => {
      w.idleTimer = undefined;
      // A worker given a call has had its timer cleared; checked again all the same.
      if (w.state === "idle" && w.job === undefined) this.kill(w, "was stopped after idle_timeout_ms without a call");
    }, this.settings.idleTimeoutMs);
    timer.unref();
    w.idleTimer = timer;
  }

  private stopIdleTimer(w: PoolWorker): void {
    if (w.idleTimer === undefined) return;
    clearTimeout(w.idleTimer);
    w.idleTimer = undefined;
  }

  /** Marks `w` dead (its call, if any, fails) and terminates it; it leaves the pool at its `exit`. Idempotent. */
  private kill(w: PoolWorker, reason: string): void {
    this.stopIdleTimer(w);
    if (w.state === "dead") return;
    const wasStarting = w.state === "starting";
    w.state = "dead";
    const i = this.available.indexOf(w);
    if (i >= 0) this.available.splice(i, 1);
    const job = w.job;
    w.job = undefined;
    if (job !== undefined) {
      this.settle(
        job,
        false,
        this.closed ? shutDown() : new StageError("HANDLER_WORKER_CRASHED", `node "${job.nodeId}": the worker thread running its handler (${this.label}) ${reason}; the next call starts a new worker`),
      );
    }
    if (wasStarting && this.loaded === undefined) this.loadFailed(new HandlerLoadProblem(`the worker importing the module ${reason}`));
    w.thread.terminate().catch(() => undefined);
  }

  private loadFailed(problem: HandlerLoadProblem): void {
    if (this.loaded === undefined) this.loaded = problem;
    this.loading?.reject(problem);
  }

  private settle(job: Job, ok: boolean, value: unknown): void {
    if (job.done) return;
    job.done = true;
    job.signal.removeEventListener("abort", job.onAbort);
    if (ok) job.resolve(value);
    else job.reject(value);
  }

  /** Terminates every worker; waiting and running calls fail `ABORTED`. Resolves once every thread has exited. */
  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.queue.splice(0)) this.settle(job, false, shutDown());
    this.loadFailed(new HandlerLoadProblem("the engine shut down"));
    const threads = [...this.workers];
    for (const w of threads) this.kill(w, "was stopped: the engine shut down");
    await Promise.all(threads.map((w) => w.exited));
  }
}

/**
 * The answers a stage already has for `ctx.interrupt()` (they are sent to the worker, whose
 * `ctx.interrupt()` must return them synchronously). The engine's context hands them out one
 * call at a time and throws an {@link InterruptSignal} past the last; `resumeValue` (the last
 * answer, JSON, never `undefined`) is defined exactly when there is at least one.
 */
function answersOf(ctx: HandlerContext): JsonValue[] {
  const answers: JsonValue[] = [];
  if (ctx.resumeValue === undefined) return answers;
  for (;;) {
    try {
      answers.push(ctx.interrupt());
    } catch (err) {
      if (err instanceof InterruptSignal) return answers;
      throw err;
    }
  }
}

/** A thrown value from the worker, rebuilt so the stage records it as it would in this thread. */
function fromWire(e: WireError): Error {
  if (e.engineCode !== undefined) return new StageError(e.engineCode as ErrorCode, e.message);
  const err = new Error(e.message);
  // Only the worker's frames: the frames of this thread say nothing about the handler.
  err.stack = e.stack ?? "";
  if (e.code !== undefined) Object.assign(err, { code: e.code });
  return err;
}

/** An error of a tool call, for the handler in the worker. Total. */
function toWire(err: unknown): WireError {
  if (isInstance(err, EngineError)) {
    try {
      const e = err as EngineError;
      return { engineCode: e.code, message: e.details[0]?.message ?? errorMessage(e) };
    } catch {
      // described as a foreign value below
    }
  }
  const code = readCode(err);
  return { message: errorMessage(err), ...(code === undefined ? {} : { code }) };
}

function crashReason(err: unknown, limits: ResourceLimits): string {
  if (readCode(err) === "ERR_WORKER_OUT_OF_MEMORY") {
    return `ran out of memory (${errorMessage(err)}; worker.resource_limits.max_old_generation_mb is ${String(limits.maxOldGenerationSizeMb)})`;
  }
  return `died of an uncaught error: ${errorMessage(err)}`;
}

function abortError(reason: unknown): StageError {
  const code = readCode(reason);
  const message = readSafely(reason, "message");
  return code === "NODE_TIMEOUT" && typeof message === "string" ? new StageError("NODE_TIMEOUT", message) : new StageError("ABORTED", "the run was cancelled while this node was running");
}

function shutDown(): StageError {
  return new StageError("ABORTED", "the engine shut down while this node was running in a worker");
}
