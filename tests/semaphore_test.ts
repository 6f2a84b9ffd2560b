import assert from "node:assert/strict";
import { AvxError, Semaphore } from "../mod.ts";
import { delay } from "./helpers.ts";

Deno.test("Semaphore: acquire, tryAcquire, release", async () => {
  using s = new Semaphore(3);
  const a = await s.acquire(2);
  assert.equal(s.available, 1);
  assert.equal(s.tryAcquire(2), null);
  const b = s.tryAcquire();
  assert.ok(b);
  assert.equal(s.available, 0);
  a.release();
  a.release(); // no-op
  b[Symbol.dispose]();
  assert.equal(s.available, 3);
  s.release(2);
  assert.equal(s.available, 5);
});

Deno.test("Semaphore: concurrency never exceeds the permits", async () => {
  using s = new Semaphore(3);
  let inside = 0;
  let most = 0;
  await Promise.all(Array.from({ length: 50 }, async (_, i) => {
    using _p = await s.acquire(1 + (i % 2));
    inside += 1 + (i % 2);
    most = Math.max(most, inside);
    await delay(1);
    inside -= 1 + (i % 2);
  }));
  assert.ok(most <= 3, `at most 3 permits out, saw ${most}`);
  assert.equal(s.available, 3);
});

Deno.test("Semaphore: a large request at the head is not overtaken", async () => {
  using s = new Semaphore(2);
  const held = s.acquireSync(2);
  const order: string[] = [];
  const big = s.acquire(2).then((p) => {
    order.push("big");
    p.release();
  });
  const small = s.acquire(1).then((p) => {
    order.push("small");
    p.release();
  });
  held.release();
  await Promise.all([big, small]);
  assert.deepEqual(order, ["big", "small"]);
});

Deno.test("Semaphore: timeouts, aborts and bad counts", async () => {
  using s = new Semaphore(0);
  await assert.rejects(s.acquire(1, { timeout: 10 }), (e) => e instanceof AvxError && e.code === "TIMEOUT");
  const ac = new AbortController();
  const p = s.acquire(1, { signal: ac.signal });
  ac.abort();
  await assert.rejects(p, (e) => e instanceof AvxError && e.code === "ABORTED");
  assert.throws(() => s.acquireSync(1, { timeout: 1 }), (e) => e instanceof AvxError && e.code === "TIMEOUT");
  assert.throws(() => s.tryAcquire(-1), (e) => e instanceof AvxError && e.code === "INVALID_ARGUMENT");
  assert.throws(() => s.release(1.5), (e) => e instanceof AvxError && e.code === "INVALID_ARGUMENT");
  assert.throws(() => new Semaphore(-1), (e) => e instanceof AvxError && e.code === "INVALID_ARGUMENT");
  s.release(2 ** 31 - 1);
  // A limit of the semaphore, not a bad argument.
  assert.throws(() => s.release(1), (e) => e instanceof AvxError && e.code === "LIMIT");
  assert.equal(s.available, 2 ** 31 - 1);
  // Aborted waiters took nothing.
  assert.ok(s.tryAcquire(2 ** 31 - 1));
});
