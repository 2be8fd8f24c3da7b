/**
 * Entry point of a handler worker thread (`isolation: worker` on a node): imports the handler
 * module once, reports its exports, then runs one call at a time, as the engine's thread would:
 * the input and context deeply frozen, a returned thenable adopted once, the output sealed
 * (sealJson) before it is sent back, a thrown value described by message, code and stack.
 * `ctx.callTool()` is a round trip to the main thread, which runs the tool as for any handler;
 * `ctx.interrupt()` returns the answers the stage already has and otherwise suspends the stage.
 * `ctx.signal` never fires: at the node's timeout or on cancellation the main thread terminates
 * this worker instead, which stops the handler wherever it is.
 *
 * Compiled to `dist/src/runtime/worker/handlerWorker.js`; started by `HandlerWorkers`.
 *
 * @internal
 * @module
 */
import { parentPort, workerData } from "node:worker_threads";
import { EngineError, StageError, errorMessage, errorStack, type ErrorCode } from "../../errors.js";
import { isInstance, readCode } from "../../guard.js";
import { NotJsonError, sealJson, type JsonValue } from "../../json.js";
import { importFailureHint } from "../../modules.js";
import { checkDelete, checkKey, checkPut, checkStore, NO_MEMORY, type KvEntry, type MemoryAccess, type MemoryRules } from "../memory.js";
import type { HandlerContext } from "../types.js";
import { MAX_EXPORTS, parseWireError, type FromHandlerWorker, type HandlerWorkerData, type ToHandlerWorker, type WireError } from "./protocol.js";

const port = parentPort;
if (port === null) throw new Error("handlerWorker.js must run in a worker thread");
const data = workerData as HandlerWorkerData;

function post(message: FromHandlerWorker): void {
  port!.postMessage(message);
}

/** Thrown by `ctx.interrupt()` in a worker; carries the sealed payload to the main thread. */
class WorkerInterrupt extends Error {
  constructor(readonly payload: JsonValue) {
    super("the run is suspended until ctx.interrupt() gets an answer (do not catch this)");
    this.name = "InterruptSignal";
  }
}

/** Handlers get frozen values, as in the engine's thread (where they are sealed). */
function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/** Same rule as the engine's thread: a `then` getter that throws makes the value a plain value. */
function isPromiseLike(v: unknown): v is PromiseLike<unknown> {
  try {
    return v !== null && (typeof v === "object" || typeof v === "function") && typeof (v as { then?: unknown }).then === "function";
  } catch {
    return false;
  }
}

/** A thrown value as the main thread records it. Total. */
function describe(err: unknown): WireError {
  if (isInstance(err, EngineError)) {
    try {
      const e = err as EngineError;
      return { engineCode: e.code, message: e.details[0]?.message ?? errorMessage(e) };
    } catch {
      // a Proxy posing as an engine error: described as a foreign value
    }
  }
  const code = readCode(err);
  const stack = errorStack(err);
  return { message: errorMessage(err), ...(code === undefined ? {} : { code }), ...(stack === undefined ? {} : { stack }) };
}

/** A tool error from the main thread, as the handler sees it: an engine error keeps its class. */
function toolError(e: WireError): Error {
  if (e.engineCode !== undefined) return new StageError(e.engineCode as ErrorCode, e.message);
  return Object.assign(new Error(e.message), e.code === undefined ? {} : { code: e.code });
}

let mod: Record<string, unknown> | undefined;
try {
  mod = (await import(data.url)) as Record<string, unknown>;
} catch (err) {
  // Reported; nothing else runs, and with no listener this thread ends on its own.
  post({ t: "load-error", message: errorMessage(err), hint: importFailureHint(err) });
}

/** The call being run (one at a time) and its tool calls and memory reads waiting for an answer. */
let current = 0;
let toolCalls = 0;
let memoryCalls = 0;
const pendingTools = new Map<number, { resolve: (v: unknown) => void; reject: (e: unknown) => void }>();
const pendingMemory = new Map<number, { resolve: (v: unknown) => void; reject: (e: unknown) => void }>();

/**
 * `ctx.memory` in a worker: calls are checked here with the engine's rules (so `put` and `delete`
 * throw the same coded errors, synchronously) and carried out by the stage's `ctx.memory` in the
 * engine's thread: reads as of the stage's start, puts and deletes applied with its outcome.
 */
function workerMemory(rules: MemoryRules, id: number, nodeId: string): MemoryAccess {
  const read = (op: "get" | "list", store: string, key: string | undefined, prefix: string | undefined): Promise<never> =>
    new Promise((resolve, reject) => {
      const n = ++memoryCalls;
      try {
        post({ t: "memory", id, n, op, store, ...(key === undefined ? {} : { key }), ...(prefix === undefined ? {} : { prefix }) });
      } catch (err) {
        reject(new Error(`ctx.memory.${op}: the call cannot be sent to the engine's thread: ${errorMessage(err)}`));
        return;
      }
      pendingMemory.set(n, { resolve: resolve as (v: unknown) => void, reject });
    });
  return Object.freeze({
    get(store: string, key: string): Promise<JsonValue | undefined> {
      try {
        checkStore(rules, store, "get");
        checkKey(key, "get");
      } catch (err) {
        return Promise.reject(err);
      }
      return read("get", store, key, undefined);
    },
    list(store: string, prefix?: string): Promise<readonly KvEntry[]> {
      try {
        checkStore(rules, store, "list");
        if (prefix !== undefined && typeof prefix !== "string") throw new StageError("MEMORY_KEY_INVALID", `ctx.memory.list: the prefix must be a string, got ${typeof prefix}`);
      } catch (err) {
        return Promise.reject(err);
      }
      return read("list", store, undefined, prefix);
    },
    put(store: string, key: string, value: unknown): void {
      const w = checkPut(rules, nodeId, store, key, value);
      post({ t: "memory", id, n: ++memoryCalls, op: "put", store: w.store, key: w.key, value: w.value });
    },
    delete(store: string, key: string): void {
      const d = checkDelete(rules, nodeId, store, key);
      post({ t: "memory", id, n: ++memoryCalls, op: "delete", store: d.store, key: d.key });
    },
  });
}

function run(call: Extract<ToHandlerWorker, { t: "call" }>): void {
  const id = call.id;
  current = id;
  pendingTools.clear();
  pendingMemory.clear();
  let done = false;
  const finish = (value: unknown): void => {
    if (done) return;
    done = true;
    let sealed: JsonValue;
    try {
      sealed = sealJson(value);
    } catch (err) {
      post({ t: "not-json", id, message: isInstance(err, NotJsonError) ? (err as NotJsonError).message : errorMessage(err) });
      return;
    }
    post({ t: "result", id, value: sealed });
  };
  const fail = (err: unknown): void => {
    if (done) return;
    done = true;
    if (isInstance(err, WorkerInterrupt)) post({ t: "interrupt", id, payload: (err as WorkerInterrupt).payload });
    else post({ t: "error", id, error: describe(err) });
  };

  const fn = mod![call.export];
  if (typeof fn !== "function") {
    fail(new Error(`export "${call.export}" is ${typeof fn}, not a function`));
    return;
  }
  const answers = call.answers.map((a) => deepFreeze(a) as JsonValue);
  let interrupts = 0;
  const ctx: HandlerContext = {
    taskId: call.taskId,
    nodeId: call.nodeId,
    signal: new AbortController().signal,
    context: deepFreeze(call.context) as JsonValue,
    memory: call.memory === undefined ? NO_MEMORY : workerMemory(call.memory as MemoryRules, id, call.nodeId),
    ...(answers.length > 0 ? { resumeValue: answers[answers.length - 1]! } : {}),
    interrupt(payload?: unknown): JsonValue {
      const i = interrupts++;
      if (i < answers.length) return answers[i]!;
      let sealed: JsonValue;
      try {
        sealed = sealJson(payload === undefined ? null : payload);
      } catch (err) {
        throw new StageError("HANDLER_FAILED", `ctx.interrupt() payload must be JSON data: ${errorMessage(err)}`);
      }
      throw new WorkerInterrupt(sealed);
    },
    callTool(toolId: string, args?: unknown): Promise<JsonValue> {
      const n = ++toolCalls;
      return new Promise<JsonValue>((resolve, reject) => {
        try {
          post({ t: "tool", id, n, toolId, args });
        } catch (err) {
          reject(new Error(`ctx.callTool("${String(toolId)}"): the arguments cannot be sent to the engine's thread: ${errorMessage(err)}`));
          return;
        }
        pendingTools.set(n, { resolve: resolve as (v: unknown) => void, reject });
      });
    },
  };

  let raw: unknown;
  try {
    raw = Reflect.apply(fn, undefined, [deepFreeze(call.input), ctx]);
  } catch (err) {
    fail(err);
    return;
  }
  if (!isPromiseLike(raw)) {
    finish(raw);
    return;
  }
  // Adopted once with our own callbacks, as in the engine's thread: a thenable that calls back
  // several times counts once; one that never calls back is ended by the node's timeout.
  try {
    raw.then(finish, fail);
  } catch (err) {
    fail(err);
  }
}

if (mod !== undefined) {
  const exportTypes: Record<string, string> = {};
  for (const name of Object.keys(mod).slice(0, MAX_EXPORTS)) exportTypes[name] = typeof mod[name];
  port.on("message", (msg: ToHandlerWorker) => {
    if (msg.t === "call") {
      run(msg);
      return;
    }
    if (msg.id !== current) return;
    if (msg.t === "memory-result" || msg.t === "memory-error") {
      const waiting = pendingMemory.get(msg.n);
      if (waiting === undefined) return;
      pendingMemory.delete(msg.n);
      // Values are sealed (frozen) in the engine's thread; keep them frozen here too.
      if (msg.t === "memory-result") waiting.resolve(deepFreeze(msg.value));
      else waiting.reject(toolError(parseWireError(msg.error) ?? { message: "the memory read failed" }));
      return;
    }
    const pending = pendingTools.get(msg.n);
    if (pending === undefined) return;
    pendingTools.delete(msg.n);
    // Tool results are sealed (frozen) in the engine's thread; keep them frozen here too.
    if (msg.t === "tool-result") pending.resolve(deepFreeze(msg.value));
    else pending.reject(toolError(parseWireError(msg.error) ?? { message: "the tool failed" }));
  });
  post({ t: "ready", exports: exportTypes });
}
