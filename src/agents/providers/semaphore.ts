/**
 * A small FIFO semaphore for `max_concurrency`.
 *
 * @module
 */

interface Waiter {
  readonly grant: () => void;
  readonly signal: AbortSignal | undefined;
  readonly onAbort: () => void;
}

/** Hands out at most `limit` slots at a time, first come first served. */
export class Semaphore {
  private active = 0;
  private readonly waiting: Waiter[] = [];

  /** @param limit slots; `Infinity` for no limit. */
  constructor(readonly limit: number) {}

  /** Slots in use. */
  get inUse(): number {
    return this.active;
  }

  /**
   * Waits for a slot and resolves to its release function (idempotent). Rejects with the
   * signal's reason if `signal` aborts first; the waiter then leaves the queue.
   */
  acquire(signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) return Promise.reject(signal.reason as Error);
    if (this.active < this.limit) {
      this.active++;
      return Promise.resolve(this.releaser());
    }
    return new Promise<() => void>((resolve, reject) => {
      const waiter: Waiter = {
        grant: () => {
          signal?.removeEventListener("abort", waiter.onAbort);
          resolve(this.releaser());
        },
        signal,
        onAbort: () => {
          const i = this.waiting.indexOf(waiter);
          if (i >= 0) this.waiting.splice(i, 1);
          reject(signal?.reason as Error);
        },
      };
      signal?.addEventListener("abort", waiter.onAbort, { once: true });
      this.waiting.push(waiter);
    });
  }

  private releaser(): () => void {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const next = this.waiting.shift();
      if (next) next.grant(); // the slot passes straight to the next waiter
      else this.active--;
    };
  }
}
