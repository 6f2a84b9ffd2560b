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
