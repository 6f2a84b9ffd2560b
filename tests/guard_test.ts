/**
 * Guards and permits outlive the wrapper they came from: disposing a
 * Mutex, RwLock or Semaphore wrapper while one of its guards is held must
 * leave the guard releasable (for every isolate), and the native object
 * alive until then.
 */
import assert from "node:assert/strict";
import { liveHandles, Mutex, type MutexGuard, Permit, RwLock, type RwLockGuard, Semaphore } from "../mod.ts";
import { nextMessage, withWorkers } from "./helpers.ts";

type Kind = "mutex" | "rwlock" | "semaphore";

function make(kind: Kind): Mutex | RwLock | Semaphore {
  return kind === "mutex" ? new Mutex() : kind === "rwlock" ? new RwLock() : new Semaphore(2);
}

/** Take the lock in the ways a guard can come to exist. */
async function take(lock: Mutex | RwLock | Semaphore, how: "sync" | "async" | "try"): Promise<Disposable> {
  if (lock instanceof Mutex) {
    return how === "sync" ? lock.lockSync() : how === "async" ? await lock.lock() : lock.tryLock()!;
  }
  if (lock instanceof RwLock) {
    return how === "sync" ? lock.writeSync() : how === "async" ? await lock.write() : lock.tryWrite()!;
  }
  return how === "sync" ? lock.acquireSync(2) : how === "async" ? await lock.acquire(2) : lock.tryAcquire(2)!;
}

function release(guard: Disposable): void {
  if (guard instanceof Permit) guard.release();
  else (guard as MutexGuard | RwLockGuard).unlock();
}

for (const kind of ["mutex", "rwlock", "semaphore"] as const) {
  Deno.test(`guards: a ${kind} guard is released for every isolate after its wrapper is disposed`, async () => {
    await withWorkers("guard_worker.ts", 1, async ([w]) => {
      for (const how of ["sync", "async", "try"] as const) {
        const lock = make(kind);
        w.postMessage({ op: "attach", kind, handle: lock.handle });
        assert.equal(await nextMessage(w), "attached");
        const guard = await take(lock, how);
        w.postMessage({ op: "try", n: 2 });
        assert.equal(await nextMessage(w), false, "held: the worker cannot take it");
        lock[Symbol.dispose]();
        release(guard); // Throws CLOSED without the fix.
        w.postMessage({ op: "try", n: 2 });
        assert.equal(await nextMessage(w), true, `${how}: released for the other isolate`);
        w.postMessage({ op: "detach" });
        assert.equal(await nextMessage(w), "detached");
      }
    });
  });

  Deno.test(`guards: a ${kind} guard keeps its object alive until it is released`, async () => {
    const before = liveHandles();
    const lock = make(kind);
    const guard = await take(lock, "async");
    const other = make(kind); // Another object, released the usual way first.
    release(await take(other, "try"));
    other[Symbol.dispose]();
    lock[Symbol.dispose](); // The last wrapper: the object must stay for the guard.
    assert.equal(liveHandles(), before + 1, "kept alive by the held guard");
    guard[Symbol.dispose]();
    guard[Symbol.dispose](); // A second release does nothing.
    assert.equal(liveHandles(), before, "freed with the guard");
  });
}

Deno.test("guards: new operations on a disposed wrapper still fail with CLOSED", () => {
  const m = new Mutex();
  const g = m.lockSync();
  m[Symbol.dispose]();
  assert.throws(() => m.tryLock(), (e: unknown) => (e as { code?: string }).code === "CLOSED");
  g.unlock();
});
