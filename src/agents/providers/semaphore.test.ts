import { test } from "node:test";
import assert from "node:assert/strict";
import { Semaphore } from "./semaphore.js";

test("at most `limit` holders; waiters served first come first served", async () => {
  const s = new Semaphore(2);
  const order: number[] = [];
  const r1 = await s.acquire();
  const r2 = await s.acquire();
  const waiting = [3, 4, 5].map((n) => s.acquire().then((release) => (order.push(n), release)));
  assert.equal(s.inUse, 2);
  r1();
  r1(); // idempotent
  const r3 = await waiting[0]!;
  assert.equal(s.inUse, 2);
  r2();
  r3();
  const [r4, r5] = await Promise.all([waiting[1]!, waiting[2]!]);
  assert.deepEqual(order, [3, 4, 5]);
  r4!();
  r5!();
  assert.equal(s.inUse, 0);
});

test("an aborted waiter leaves the queue and rejects with the reason", async () => {
  const s = new Semaphore(1);
  const r1 = await s.acquire();
  const ac = new AbortController();
  const w = s.acquire(ac.signal);
  const next = s.acquire();
  ac.abort(new Error("stop"));
  await assert.rejects(w, /stop/);
  r1();
  const r = await next;
  assert.equal(s.inUse, 1);
  r();
  assert.equal(s.inUse, 0);
  await assert.rejects(s.acquire(AbortSignal.abort(new Error("early"))), /early/);
});
