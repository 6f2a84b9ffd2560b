import assert from "node:assert/strict";
import { AvxError, Condvar, Mutex } from "../mod.ts";
import { delay } from "./helpers.ts";

Deno.test("Condvar: wait is woken by notifyOne and holds the lock again", async () => {
  using m = new Mutex();
  using cv = new Condvar();
  let ready = false;
  const waiter = (async () => {
    using g = await m.lock();
    while (!ready) await cv.wait(g);
    assert.equal(m.locked, true);
    return "woken";
  })();
  await delay(10);
  {
    using _g = await m.lock();
    ready = true;
    assert.equal(cv.notifyOne(), 1);
  }
  assert.equal(await waiter, "woken");
  assert.equal(m.locked, false);
});

Deno.test("Condvar: notifyAll wakes every waiter", async () => {
  using m = new Mutex();
  using cv = new Condvar();
  let go = false;
  const waiters = Array.from({ length: 5 }, async () => {
    using g = await m.lock();
    while (!go) await cv.wait(g);
  });
  await delay(10);
  {
    using _g = m.lockSync();
    go = true;
    assert.equal(cv.notifyAll(), 5);
  }
  await Promise.all(waiters);
});

Deno.test("Condvar: timeout rejects holding the lock; waitSync times out", async () => {
  using m = new Mutex();
  using cv = new Condvar();
  const g = await m.lock();
  await assert.rejects(cv.wait(g, { timeout: 10 }), (e) => e instanceof AvxError && e.code === "TIMEOUT");
  assert.equal(m.locked, true);
  assert.equal(g.held, true);
  assert.throws(() => cv.waitSync(g, { timeout: 5 }), (e) => e instanceof AvxError && e.code === "TIMEOUT");
  assert.equal(m.locked, true);
  const ac = new AbortController();
  const p = cv.wait(g, { signal: ac.signal });
  ac.abort();
  await assert.rejects(p, (e) => e instanceof AvxError && e.code === "ABORTED");
  assert.equal(m.locked, true);
  g.unlock();
  assert.equal(m.locked, false);
});
