import assert from "node:assert/strict";
import {
  AtomicBox,
  AtomicCounter,
  AvxError,
  broadcast,
  BroadcastReceiver,
  Condvar,
  liveHandles,
  mpsc,
  Mutex,
  oneshot,
  RwLock,
  Semaphore,
  Sender,
} from "../mod.ts";

const code = (c: string) => (e: unknown) => e instanceof AvxError && e.code === c;

Deno.test("bad input: forged handles are refused", () => {
  for (const forged of [0, -1, 1.5, NaN, Infinity, 2 ** 53, 12345, 2 ** 40 + 7]) {
    assert.throws(() => Mutex.from(forged), code("INVALID_HANDLE"), String(forged));
  }
  assert.throws(() => Mutex.from("1" as unknown as number), code("INVALID_HANDLE"));
  assert.throws(() => Mutex.from(undefined as unknown as number), code("INVALID_HANDLE"));
});

Deno.test("bad input: stale handles are refused after the last reference goes", () => {
  const m = new Mutex();
  const h = m.handle;
  m[Symbol.dispose]();
  assert.throws(() => Mutex.from(h), code("INVALID_HANDLE"));
  // The slot is reused under a new generation: the old handle stays dead.
  using m2 = new Mutex();
  assert.notEqual(m2.handle, h);
  assert.throws(() => Mutex.from(h), code("INVALID_HANDLE"));
});

Deno.test("bad input: wrong-kind handles are refused", () => {
  using c = new AtomicCounter();
  using s = new Semaphore(1);
  const [tx, rx] = mpsc();
  assert.throws(() => Mutex.from(c.handle), code("WRONG_KIND"));
  assert.throws(() => RwLock.from(s.handle), code("WRONG_KIND"));
  assert.throws(() => Condvar.from(tx.handle), code("WRONG_KIND"));
  assert.throws(() => Sender.from(rx.handle), code("WRONG_KIND"));
  assert.throws(() => BroadcastReceiver.from(rx.handle), code("WRONG_KIND"));
  tx[Symbol.dispose]();
  rx[Symbol.dispose]();
});

Deno.test("bad input: use after dispose, and double dispose, are harmless", () => {
  const m = new Mutex();
  const other = Mutex.from(m.handle);
  m[Symbol.dispose]();
  m[Symbol.dispose](); // Does not release the other isolate's/wrapper's reference.
  assert.throws(() => m.tryLock(), code("CLOSED"));
  const g = other.tryLock();
  assert.ok(g, "the other reference still works");
  g.unlock();
  other[Symbol.dispose]();
  const [tx, rx] = mpsc();
  rx[Symbol.dispose]();
  rx[Symbol.dispose]();
  assert.throws(() => rx.tryRecv(), code("CLOSED"));
  assert.throws(() => tx.trySend(new Uint8Array(1)), code("CLOSED"), "receiver gone: sends fail");
  tx[Symbol.dispose]();
});

Deno.test("bad input: send after close fails with CLOSED", async () => {
  const [tx, rx] = mpsc();
  rx.close();
  assert.throws(() => tx.trySend(new Uint8Array(1)), code("CLOSED"));
  await assert.rejects(tx.send(new Uint8Array(1)), code("CLOSED"));
  assert.throws(() => tx.sendSync(new Uint8Array(1)), code("CLOSED"));
  tx[Symbol.dispose]();
  rx[Symbol.dispose]();
  using b = broadcast();
  b.close();
  assert.throws(() => b.sendSync(new Uint8Array(1)), code("CLOSED"));
  const [otx, orx] = oneshot();
  otx.close();
  assert.throws(() => otx.send(new Uint8Array(1)), (e) => e instanceof AvxError);
  otx[Symbol.dispose]();
  orx[Symbol.dispose]();
});

Deno.test("bad input: unencodable values are a TypeError before anything is sent", async () => {
  const [tx, rx] = mpsc<unknown>({ codec: "json" });
  assert.throws(() => tx.trySend(10n), TypeError);
  assert.throws(() => tx.trySend(undefined), TypeError);
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  await assert.rejects(tx.send(cyclic), TypeError);
  const [stx, srx] = mpsc<unknown>({ codec: "structured" });
  assert.throws(() => stx.trySend(() => 1), TypeError);
  assert.throws(() => stx.trySend(Symbol("x")), TypeError);
  const [btx, brx] = mpsc();
  assert.throws(() => btx.trySend("not bytes" as unknown as Uint8Array), TypeError);
  assert.equal(rx.length + srx.length + brx.length, 0, "nothing was sent");
  assert.throws(() => new AtomicBox(1n, { codec: "json" }), TypeError);
  for (const r of [tx, rx, stx, srx, btx, brx]) r[Symbol.dispose]();
});

Deno.test("bad input: oversize values are refused with TOO_LARGE", () => {
  const [tx, rx] = mpsc();
  const huge = new Uint8Array(2 ** 30 + 1); // Zero pages: not touched by the check.
  assert.throws(() => tx.trySend(huge), code("TOO_LARGE"));
  assert.equal(rx.length, 0);
  using b = broadcast();
  assert.throws(() => b.sendSync(huge), code("TOO_LARGE"));
  tx[Symbol.dispose]();
  rx[Symbol.dispose]();
});

Deno.test("bad input: invalid options", async () => {
  assert.throws(() => mpsc({ capacity: -1 }), code("INVALID_ARGUMENT"));
  assert.throws(() => mpsc({ capacity: 1.5 }), code("INVALID_ARGUMENT"));
  assert.throws(() => broadcast({ capacity: 0 }), code("INVALID_ARGUMENT"));
  using m = new Mutex();
  assert.throws(() => m.lockSync({ timeout: -1 }), code("INVALID_ARGUMENT"));
  await assert.rejects(m.lock({ timeout: NaN }), code("INVALID_ARGUMENT"));
  assert.throws(() => mpsc({ codec: {} as never }), TypeError);
});

Deno.test("bad input: every object created here was freed", () => {
  const before = liveHandles();
  {
    using _m = new Mutex();
    using _c = new AtomicCounter();
    const [tx, rx] = mpsc();
    tx.trySend(new Uint8Array(100));
    tx[Symbol.dispose]();
    rx[Symbol.dispose]();
    using b = broadcast();
    using _r = b.subscribe();
    const [o1, o2] = oneshot();
    o1[Symbol.dispose]();
    o2[Symbol.dispose]();
  }
  assert.equal(liveHandles(), before);
});

/** A typed error naming `name`: an AvxError of `c`, or a TypeError. */
const typed = (c: string, name: string) => (e: unknown) =>
  ((e instanceof AvxError && e.code === c) || (c === "TypeError" && e instanceof TypeError)) &&
  (e as Error).message.includes(name);

Deno.test("bad input: a bad signal never leaves a waiter behind (the lock is not lost)", async () => {
  using m = new Mutex();
  const held = m.lockSync();
  await assert.rejects(m.lock({ signal: {} as AbortSignal }), typed("INVALID_ARGUMENT", "signal"));
  await assert.rejects(m.lock({ signal: {} as AbortSignal, timeout: 5 }), typed("INVALID_ARGUMENT", "signal"));
  held.unlock();
  const g = m.tryLock();
  assert.ok(g, "nobody else got the lock");
  g.unlock();
  using l = new RwLock();
  const w = l.writeSync();
  await assert.rejects(l.read({ signal: "x" as unknown as AbortSignal }), typed("INVALID_ARGUMENT", "signal"));
  await assert.rejects(l.write({ timeout: -1 }), typed("INVALID_ARGUMENT", "timeout"));
  w.unlock();
  l.tryWrite()!.unlock();
  using s = new Semaphore(0);
  await assert.rejects(s.acquire(1, { signal: 1 as unknown as AbortSignal }), typed("INVALID_ARGUMENT", "signal"));
  s.release(1);
  assert.ok(s.tryAcquire(1), "the permit was not handed to an orphan");
  using cv = new Condvar();
  const cg = m.lockSync();
  await assert.rejects(cv.wait(cg, { signal: {} as AbortSignal }), typed("INVALID_ARGUMENT", "signal"));
  assert.ok(cg.held && m.locked, "the guard still holds its mutex");
  cg.unlock();
  assert.equal(cv.notifyAll(), 0, "no waiter was registered");
});

Deno.test("bad input: channel waits check their options before receiving or sending anything", async () => {
  const [tx, rx] = mpsc<string>({ codec: "string" });
  tx.trySend("kept");
  await assert.rejects(rx.recv({ timeout: -1 }), typed("INVALID_ARGUMENT", "timeout"));
  await assert.rejects(rx.recv({ signal: {} as AbortSignal }), typed("INVALID_ARGUMENT", "signal"));
  await assert.rejects(rx.recvMany(8, { signal: {} as AbortSignal }), typed("INVALID_ARGUMENT", "signal"));
  assert.throws(() => rx.recvSync(5 as never), typed("INVALID_ARGUMENT", "options"));
  assert.equal(rx.length, 1, "the message is still queued");
  await assert.rejects(tx.send("no", { signal: {} as AbortSignal }), typed("INVALID_ARGUMENT", "signal"));
  await assert.rejects(tx.sendMany(["no"], { timeout: NaN }), typed("INVALID_ARGUMENT", "timeout"));
  assert.throws(() => tx.sendSync("no", { timeout: Symbol() as never }), typed("INVALID_ARGUMENT", "timeout"));
  assert.equal(rx.length, 1, "nothing was sent");
  using b = broadcast<string>({ codec: "string" });
  using br = b.subscribe();
  b.sendSync("kept");
  await assert.rejects(br.recv({ signal: {} as AbortSignal }), typed("INVALID_ARGUMENT", "signal"));
  assert.equal(br.tryRecv(), "kept");
  const [otx, orx] = oneshot<string>({ codec: "string" });
  otx.send("kept");
  await assert.rejects(orx.recv({ signal: {} as AbortSignal }), typed("INVALID_ARGUMENT", "signal"));
  assert.equal(orx.tryRecv(), "kept");
  for (const r of [tx, rx, otx, orx]) r[Symbol.dispose]();
});

Deno.test("bad input: timers check their options before arming anything", async () => {
  const { sleep, timeout, deadline, interval, now, timerMetrics } = await import("../mod.ts");
  const armed = timerMetrics().armed;
  await assert.rejects(sleep(1, { signal: {} as AbortSignal }), typed("INVALID_ARGUMENT", "signal"));
  await assert.rejects(
    timeout(Promise.resolve(1), 1, { signal: {} as AbortSignal }),
    typed("INVALID_ARGUMENT", "signal"),
  );
  await assert.rejects(
    deadline(Promise.resolve(1), now() + 1, { signal: 5 as never }),
    typed("INVALID_ARGUMENT", "signal"),
  );
  assert.throws(() => interval(10, { signal: {} as AbortSignal }), typed("INVALID_ARGUMENT", "signal"));
  await assert.rejects(sleep(Symbol() as never), typed("INVALID_ARGUMENT", "ms"));
  assert.equal(timerMetrics().armed, armed, "no timer was armed");
});

Deno.test("bad input: wrong types are typed errors naming the argument", async () => {
  using m = new Mutex();
  using cv = new Condvar();
  await assert.rejects(cv.wait({} as never), typed("INVALID_ARGUMENT", "guard"));
  await assert.rejects(cv.wait(undefined as never), typed("INVALID_ARGUMENT", "guard"));
  assert.throws(() => cv.waitSync({} as never), typed("INVALID_ARGUMENT", "guard"));
  assert.equal(m.locked, false);
  const [tx, rx] = mpsc();
  assert.throws(() => tx.trySendMany(5 as never), typed("INVALID_ARGUMENT", "values"));
  await assert.rejects(tx.sendMany("ab" as never), typed("INVALID_ARGUMENT", "values"));
  assert.throws(() => tx.sendManySync(null as never), typed("INVALID_ARGUMENT", "values"));
  for (const bad of [-0, 1.5, NaN, Symbol(), "1", 2 ** 53]) {
    assert.throws(() => rx.tryRecvMany(bad as number), typed("INVALID_ARGUMENT", "max"), String(typeof bad));
    assert.throws(() => mpsc({ capacity: bad as number }), typed("INVALID_ARGUMENT", "capacity"));
    assert.throws(() => broadcast({ capacity: bad as number }), typed("INVALID_ARGUMENT", "capacity"));
    assert.throws(() => new Semaphore(bad as number), typed("INVALID_ARGUMENT", "permits"));
  }
  using s = new Semaphore(1);
  await assert.rejects(s.acquire(-0), typed("INVALID_ARGUMENT", "permits"));
  assert.throws(() => new AtomicCounter(Symbol() as never), typed("INVALID_ARGUMENT", "safe integer"));
  assert.throws(() => mpsc({ codec: null as never }), TypeError);
  assert.throws(() => mpsc(5 as never), typed("INVALID_ARGUMENT", "options"));
  assert.throws(() => m.lockSync({ timeout: Symbol() as never }), typed("INVALID_ARGUMENT", "timeout"));
  const ab = new ArrayBuffer(4);
  const view = new Uint8Array(ab);
  structuredClone(ab, { transfer: [ab] }); // Detaches `view`'s buffer.
  assert.throws(() => tx.trySend(view), TypeError);
  assert.equal(rx.length, 0, "a detached buffer is not sent as an empty message");
  tx[Symbol.dispose]();
  rx[Symbol.dispose]();
});

Deno.test("bad input: from() refuses any non-handle with INVALID_HANDLE", () => {
  const throwing = {
    toString: () => {
      throw new Error("toString ran");
    },
  };
  for (const bad of [Symbol(), Object.create(null), throwing, {}, [], 10n, null]) {
    for (const C of [Mutex, RwLock, Semaphore, Condvar, AtomicCounter, AtomicBox, Sender, BroadcastReceiver]) {
      assert.throws(() => (C.from as (h: unknown) => unknown)(bad), code("INVALID_HANDLE"), C.name);
    }
  }
});

Deno.test("bad input: limits surface as LIMIT", () => {
  using c = new AtomicCounter(2 ** 53 - 1);
  assert.throws(() => c.add(1), code("LIMIT"));
  using s = new Semaphore(2 ** 31 - 1);
  assert.throws(() => s.release(1), code("LIMIT"));
});

Deno.test("bad input: a detached buffer is refused by UDP and TCP instead of sent as nothing", async () => {
  const { bindUdp, listen, connect } = await import("../mod.ts");
  using a = bindUdp({ hostname: "127.0.0.1" });
  using b = bindUdp({ hostname: "127.0.0.1" });
  const ab = new ArrayBuffer(8);
  const view = new Uint8Array(ab);
  structuredClone(ab, { transfer: [ab] });
  await assert.rejects(a.send(view, b.addr), typed("TypeError", "data"));
  await assert.rejects(a.send(5 as never, b.addr), typed("TypeError", "data"));
  await assert.rejects(a.send(new Uint8Array(1), null as never), typed("INVALID_ARGUMENT", "to"));
  await assert.rejects(b.recv(view), typed("TypeError", "buffer"));
  await assert.rejects(b.recv(new Uint8Array(4), { signal: {} as AbortSignal }), typed("INVALID_ARGUMENT", "signal"));
  // Nothing went out: the next datagram b sees is this one.
  await a.send(new Uint8Array([7]), b.addr);
  const [got] = await b.recv();
  assert.deepEqual([...got], [7]);
  assert.throws(() => bindUdp(null as never), typed("INVALID_ARGUMENT", "options"));
  assert.throws(() => listen(null as never), typed("INVALID_ARGUMENT", "options"));
  using l = listen({ hostname: "127.0.0.1" });
  await assert.rejects(l.accept({ signal: {} as AbortSignal }), typed("INVALID_ARGUMENT", "signal"));
  await assert.rejects(connect({ port: l.addr.port, signal: {} as AbortSignal }), typed("INVALID_ARGUMENT", "signal"));
  using c = await connect({ hostname: "127.0.0.1", port: l.addr.port });
  using s = await l.accept();
  await assert.rejects(c.write(view), typed("TypeError", "p"));
  await assert.rejects(s.read(view), typed("TypeError", "p"));
  await c.write(new Uint8Array([1, 2]));
  const into = new Uint8Array(8);
  assert.equal(await s.read(into), 2, "only the real write arrived");
});

Deno.test("bad input: a guard already in a Condvar wait is refused by a second wait", async () => {
  using m = new Mutex();
  using cv = new Condvar();
  const g = m.lockSync();
  const first = cv.wait(g);
  // Without the check, waitSync unlocks a mutex this thread no longer holds
  // and then blocks forever re-locking it.
  assert.throws(() => cv.waitSync(g, { timeout: 1 }), code("INVALID_STATE"));
  await assert.rejects(cv.wait(g, { timeout: 1 }), code("INVALID_STATE"));
  cv.notifyAll();
  await first;
  assert.ok(g.held);
  g.unlock();
});
