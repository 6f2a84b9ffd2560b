import assert from "node:assert/strict";
import { AtomicBox, AtomicCounter, AtomicFlag, AvxError } from "../mod.ts";
import { nextMessage, withWorkers } from "./helpers.ts";

Deno.test("AtomicCounter: add, sub, store, compareExchange, range", () => {
  using c = new AtomicCounter(5);
  assert.equal(c.add(3), 8);
  assert.equal(c.sub(), 7);
  assert.equal(c.compareExchange(7, 1), 7);
  assert.equal(c.compareExchange(7, 2), 1);
  c.store(Number.MAX_SAFE_INTEGER);
  // A limit of the counter (its range), not a bad argument.
  assert.throws(() => c.add(1), (e) => e instanceof AvxError && e.code === "LIMIT");
  assert.equal(c.load(), Number.MAX_SAFE_INTEGER);
  assert.throws(() => c.add(0.5), (e) => e instanceof AvxError && e.code === "INVALID_ARGUMENT");
});

Deno.test("AtomicFlag: test-and-set", () => {
  using f = new AtomicFlag();
  assert.equal(f.testAndSet(), false);
  assert.equal(f.testAndSet(), true);
  assert.equal(f.load(), true);
  assert.equal(f.clear(), true);
  assert.equal(f.load(), false);
});

Deno.test("AtomicBox: load, store, swap, compareAndSwap by version", () => {
  using b = new AtomicBox({ n: 1 }, { codec: "json" });
  assert.deepEqual(b.loadVersioned(), { value: { n: 1 }, version: 1 });
  assert.equal(b.store({ n: 2 }), 2);
  assert.deepEqual(b.swap({ n: 3 }), { n: 2 });
  assert.equal(b.compareAndSwap(1, { n: 9 }), false);
  assert.equal(b.compareAndSwap(3, { n: 4 }), true);
  assert.deepEqual(b.load(), { n: 4 });
  const big = new Uint8Array(300_000).map((_, i) => i & 0xff);
  using raw = new AtomicBox(big);
  assert.deepEqual(raw.load(), big);
  assert.deepEqual(raw.swap(new Uint8Array([1])), big);
});

Deno.test("Atomics shared with Workers: counter adds and box CAS loops are exact", async () => {
  using c = new AtomicCounter();
  using b = new AtomicBox(0, { codec: "json" });
  const per = 5_000;
  await withWorkers("atomics_worker.ts", 4, async (ws) => {
    const done = ws.map((w) => nextMessage(w));
    for (const w of ws) w.postMessage({ counter: c.handle, box: b.handle, n: per });
    await Promise.all(done);
  });
  assert.equal(c.load(), 4 * per);
  assert.equal(b.load(), 4 * per);
});
