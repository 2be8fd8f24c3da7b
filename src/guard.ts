/**
 * Total operations on foreign values: what plugins, handlers, tools and LLM providers return or
 * throw. Every function here never throws and never hands a foreign value to
 * `Promise.resolve`/`await`, which would re-adopt a self-resolving thenable forever (spinning the
 * microtask queue, so no timer, timeout included, would ever fire again).
 *
 * @internal
 * @module
 */

/** A function to call as `then.call(value, onFulfilled, onRejected)`. */
export type ThenFn = (this: unknown, onFulfilled: (value: unknown) => void, onRejected: (reason: unknown) => void) => unknown;

/**
 * The `then` method of `value` when it is a thenable, read exactly once (a getter may answer
 * differently on each read). When reading `then` throws, returns a `then` that throws the same
 * error, so the value counts as a thenable that rejects (a failure of the hook, never of ours).
 * Cheap for the common `undefined` result.
 */
export function thenOf(value: unknown): ThenFn | undefined {
  if (value === undefined || value === null) return undefined;
  const t = typeof value;
  if (t !== "object" && t !== "function") return undefined;
  try {
    const then = (value as { then?: unknown }).then;
    return typeof then === "function" ? (then as ThenFn) : undefined;
  } catch (err) {
    // A `then` getter that throws: the value is treated as a thenable that rejects with that error.
    return () => {
      throw err;
    };
  }
}

/**
 * Observes a thenable once: calls its `then` a single time with two callbacks, and calls
 * `onSettle` at most once, with `failed` and the rejection reason. The fulfilment value is
 * ignored (never adopted), so a thenable that resolves with itself, calls back several times,
 * calls back synchronously, or throws from `then` is harmless. A thenable that never calls back
 * never settles: callers bound the wait with their own timer.
 */
export function observeOnce(value: unknown, then: ThenFn, onSettle: (failed: boolean, reason: unknown) => void): void {
  let done = false;
  const fulfilled = (): void => {
    if (done) return;
    done = true;
    onSettle(false, undefined);
  };
  const rejected = (reason: unknown): void => {
    if (done) return;
    done = true;
    onSettle(true, reason);
  };
  try {
    Reflect.apply(then, value, [fulfilled, rejected]);
  } catch (err) {
    rejected(err);
  }
}

/** A promise (ours) that settles as `value` does, without ever adopting `value` itself. */
export function settledBy(value: unknown, then: ThenFn): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    observeOnce(value, then, (failed, reason) => (failed ? reject(reason === undefined ? new Error("promise rejected without a reason") : (reason as Error)) : resolve()));
  });
}

/** `value instanceof ctor`, false instead of throwing (a Proxy's `getPrototypeOf` trap may throw). */
export function isInstance(value: unknown, ctor: abstract new (...args: never[]) => unknown): boolean {
  try {
    return value instanceof ctor;
  } catch {
    return false;
  }
}

/** Reads `obj[key]`, or `undefined` when the read throws. */
export function readSafely(obj: unknown, key: PropertyKey): unknown {
  if (obj === null || (typeof obj !== "object" && typeof obj !== "function")) return undefined;
  try {
    return (obj as Record<PropertyKey, unknown>)[key];
  } catch {
    return undefined;
  }
}

/**
 * Waits for `value` as `await` would, without its danger: a thenable's `then` is read and called
 * once, the first callback wins, and the fulfilment value is handed back boxed, never adopted (a
 * thenable resolving with itself, or with another thenable, cannot spin the microtask queue). A
 * thenable that never calls back never settles: bound the wait with a timer. A `then` getter
 * that throws rejects with what it threw.
 *
 * @example
 * ```ts
 * const { value } = await settleOnce(tool(args, ctx));
 * ```
 */
export function settleOnce(value: unknown): Promise<{ readonly value: unknown }> {
  const then = thenOf(value);
  if (then === undefined) return Promise.resolve({ value });
  return new Promise((resolve, reject) => {
    let done = false;
    const fulfilled = (v: unknown): void => {
      if (done) return;
      done = true;
      resolve({ value: v });
    };
    const rejected = (reason: unknown): void => {
      if (done) return;
      done = true;
      reject(reason);
    };
    try {
      Reflect.apply(then, value, [fulfilled, rejected]);
    } catch (err) {
      rejected(err);
    }
  });
}

/** `(value as any)[key]` as a string or finite number (a foreign error's `code`), else undefined. Total. */
export function readCode(value: unknown): string | number | undefined {
  const c = readSafely(value, "code");
  return typeof c === "string" || (typeof c === "number" && Number.isFinite(c)) ? c : undefined;
}
