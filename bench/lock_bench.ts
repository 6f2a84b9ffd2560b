/**
 * Uncontended costs seen from JavaScript, beside an empty FFI call.
 * Each iteration runs the operation 1,000 times: divide by 1,000 for one.
 *
 *   deno bench --allow-ffi --allow-env --allow-read bench/lock_bench.ts
 *
 * @module
 */
import { AtomicCounter, Mutex, RwLock, Semaphore } from "../mod.ts";
import { lib } from "../src/ffi/library.ts";

const K = 1000;
const l = lib();
const m = new Mutex();
const rw = new RwLock();
const sem = new Semaphore(1);
const counter = new AtomicCounter();
const sab = new Int32Array(new SharedArrayBuffer(4));

Deno.bench("empty FFI call x1000", { group: "uncontended", baseline: true }, () => {
  for (let i = 0; i < K; i++) l.avx_nop();
});

Deno.bench("Mutex lockSync + unlock x1000", { group: "uncontended" }, () => {
  for (let i = 0; i < K; i++) m.lockSync().unlock();
});

Deno.bench("Mutex tryLock + unlock x1000", { group: "uncontended" }, () => {
  for (let i = 0; i < K; i++) m.tryLock()!.unlock();
});

Deno.bench("Mutex await lock + unlock x1000", { group: "uncontended" }, async () => {
  for (let i = 0; i < K; i++) (await m.lock()).unlock();
});

Deno.bench("RwLock readSync + unlock x1000", { group: "uncontended" }, () => {
  for (let i = 0; i < K; i++) rw.readSync().unlock();
});

Deno.bench("Semaphore acquireSync + release x1000", { group: "uncontended" }, () => {
  for (let i = 0; i < K; i++) sem.acquireSync().release();
});

Deno.bench("AtomicCounter.add x1000", { group: "uncontended" }, () => {
  for (let i = 0; i < K; i++) counter.add(1);
});

Deno.bench("Atomics.add on a SharedArrayBuffer x1000 (reference)", { group: "uncontended" }, () => {
  for (let i = 0; i < K; i++) Atomics.add(sab, 0, 1);
});
