import assert from "node:assert/strict";
import { AvxError, liveHandles, Mutex } from "../mod.ts";
import { delay, nextMessage, withWorkers } from "./helpers.ts";

Deno.test("Mutex: lock, tryLock, unlock and guards", async () => {
  using m = new Mutex();
  assert.equal(m.locked, false);
  const g = await m.lock();
  assert.equal(m.locked, true);
  assert.equal(m.tryLock(), null);
  g.unlock();
  g.unlock(); // second unlock is a no-op
  assert.equal(m.locked, false);
  {
    using _g = m.lockSync();
    assert.equal(m.locked, true);
  }
  assert.equal(m.locked, false);
  const t = m.tryLock();
  assert.ok(t);
  t[Symbol.dispose]();
  assert.equal(m.locked, false);
});

Deno.test("Mutex: four Workers incrementing under one mutex give an exact total", async () => {
  using m = new Mutex();
  const sab = new SharedArrayBuffer(4);
  const iterations = 20_000;
  await withWorkers("mutex_worker.ts", 4, async (ws) => {
    const done = ws.map((w) => nextMessage(w));
    for (const w of ws) w.postMessage({ op: "increment", mutex: m.handle, sab, iterations });
    await Promise.all(done);
  });
  assert.equal(new Int32Array(sab)[0], 4 * iterations);
});

Deno.test("Mutex: an async lock on main resolves when a Worker unlocks", async () => {
  using m = new Mutex();
  const sab = new SharedArrayBuffer(4);
  await withWorkers("mutex_worker.ts", 1, async ([w]) => {
    const locked = nextMessage(w);
    w.postMessage({ op: "hold", mutex: m.handle, sab, ms: 100 });
    assert.equal(await locked, "locked");
    // The event loop stays free while we wait: a timer still fires.
    let ticked = false;
    setTimeout(() => (ticked = true), 10);
    const start = performance.now();
    using _g = await m.lock();
    assert.equal(new Int32Array(sab)[0], 1, "the worker's write before unlock is visible");
    assert.ok(ticked, "timers ran while waiting");
    assert.ok(performance.now() - start >= 50);
  });
});

Deno.test("Mutex: timeout and abort reject with their codes and leave the lock usable", async () => {
  using m = new Mutex();
  const held = m.lockSync();
  await assert.rejects(m.lock({ timeout: 20 }), (e) => e instanceof AvxError && e.code === "TIMEOUT");
  const ac = new AbortController();
  const p = m.lock({ signal: ac.signal });
  await delay(5);
  ac.abort(new Error("stop"));
  await assert.rejects(p, (e) => e instanceof AvxError && e.code === "ABORTED");
  const pre = new AbortController();
  pre.abort();
  await assert.rejects(m.lock({ signal: pre.signal }), (e) => e instanceof AvxError && e.code === "ABORTED");
  assert.throws(() => m.lockSync({ timeout: 5 }), (e) => e instanceof AvxError && e.code === "TIMEOUT");
  held.unlock();
  // Abandoned waiters did not keep the lock.
  using _g = await m.lock({ timeout: 1000 });
});

Deno.test("Mutex: an abort racing the grant does not leak the lock", async () => {
  using m = new Mutex();
  for (let i = 0; i < 200; i++) {
    const held = m.lockSync();
    const ac = new AbortController();
    const p = m.lock({ signal: ac.signal }).then((g) => g.unlock(), () => {});
    // Unlock hands the lock to the waiter; the abort comes right after.
    held.unlock();
    ac.abort();
    await p;
    using _g = m.lockSync({ timeout: 1000 });
  }
});

Deno.test("Mutex: waiters are served in FIFO order", async () => {
  using m = new Mutex();
  const held = m.lockSync();
  const order: number[] = [];
  const ps = [0, 1, 2, 3, 4].map((i) =>
    m.lock().then((g) => {
      order.push(i);
      g.unlock();
    })
  );
  held.unlock();
  await Promise.all(ps);
  assert.deepEqual(order, [0, 1, 2, 3, 4]);
});

Deno.test("Mutex: disposing the last wrapper while lock() waits rejects it; the guard frees the mutex", async () => {
  const before = liveHandles();
  const m = new Mutex();
  const held = m.lockSync();
  const p = m.lock();
  m[Symbol.dispose]();
  await assert.rejects(p, (e) => e instanceof AvxError && e.code === "CLOSED");
  assert.equal(liveHandles(), before + 1, "the held guard keeps the mutex");
  held.unlock(); // Guards outlive their wrapper (tests/guard_test.ts).
  assert.equal(liveHandles(), before);
});
