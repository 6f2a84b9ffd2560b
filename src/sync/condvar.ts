/**
 * A condition variable used with {@link Mutex}.
 *
 * @module
 */
import { lib } from "../ffi/library.ts";
import { Kind } from "../ffi/symbols.ts";
import { checkWaitOptions, submit, syncOptions, type WaitOptions } from "../ffi/queue.ts";
import { AvxError, checkHandle, describeValue } from "../errors.ts";
import { adopt, created, type Handle, handleOf, Resource } from "../resource.ts";
import { MutexGuard } from "./mutex.ts";

function checkGuard(guard: unknown, what: string): MutexGuard {
  if (!(guard instanceof MutexGuard)) {
    throw new AvxError("INVALID_ARGUMENT", `${what}: guard must be a MutexGuard, got ${describeValue(guard)}`);
  }
  if (!guard.held) throw new AvxError("NOT_LOCKED", `${what}: the guard no longer holds its mutex`);
  // Another wait gave this guard's mutex up: this one would unlock a mutex
  // we do not hold and then block re-locking it (a deadlock, found by the
  // fuzzer).
  if (guard.parked) throw new AvxError("INVALID_STATE", `${what}: another Condvar wait owns this guard`);
  return guard;
}

/**
 * Wait for a condition under a {@link Mutex}. `wait(guard)` gives the lock
 * up and sleeps in one step (no notification can slip in between); it
 * returns holding the lock again. Spurious wake-ups do not happen, but
 * other waiters may run first: re-check the condition in a loop.
 *
 * @example
 * ```ts
 * import { Condvar, Mutex, AtomicFlag } from "@avx/runtime";
 *
 * const m = new Mutex();
 * const cv = new Condvar();
 * const ready = new AtomicFlag();
 * setTimeout(() => {
 *   using _g = m.lockSync();
 *   ready.set();
 *   cv.notifyAll();
 * }, 10);
 * using g = await m.lock();
 * while (!ready.load()) await cv.wait(g);
 * ```
 */
export class Condvar extends Resource {
  /**
   * Create a condition variable.
   *
   * @example
   * ```ts
   * import { Condvar } from "@avx/runtime";
   * const cv = new Condvar();
   * ```
   */
  constructor() {
    super(() => created(lib().avx_condvar_new(), "new Condvar"));
  }

  /**
   * Attach to a condition variable created in another isolate.
   *
   * @example
   * ```ts
   * import { Condvar } from "@avx/runtime";
   * const cv = Condvar.from(new Condvar().handle);
   * ```
   */
  static from(handle: Handle): Condvar {
    checkHandle(handle, "Condvar.from");
    return adopt(() => new Condvar(), handle, Kind.condvar, "Condvar");
  }

  /**
   * Unlock `guard`'s mutex, wait for a notification, lock it again. On
   * timeout or abort it rejects (`TIMEOUT`, `ABORTED`) after the mutex is
   * held again, so the guard stays valid either way.
   *
   * @example
   * ```ts
   * import { Condvar, Mutex } from "@avx/runtime";
   * const m = new Mutex();
   * const cv = new Condvar();
   * using g = await m.lock();
   * await cv.wait(g, { timeout: 10 }).catch(() => {});
   * ```
   */
  async wait(guard: MutexGuard, options?: WaitOptions): Promise<void> {
    // Everything is checked before the mutex is pinned or given up.
    checkGuard(guard, "Condvar.wait");
    const o = checkWaitOptions(options, "Condvar.wait");
    const h = this.live;
    const mutex = guard.mutex;
    const m = handleOf(mutex);
    // The waiter moves onto the mutex when notified: keep the mutex alive
    // for the whole wait even if its wrapper is disposed meanwhile.
    const pinned = lib().avx_handle_retain(m, Kind.mutex);
    if (pinned !== 0) throw AvxError.fromStatus(pinned, "Condvar.wait");
    guard.park(true);
    // Whether native code took the wait (and so gave the mutex up).
    let started = false;
    try {
      const r = await submit(
        (q) => {
          const s = lib().avx_condvar_wait_async(h, m, q);
          started = s >= 0;
          return s;
        },
        "Condvar.wait",
        o,
        this,
      );
      if (r !== 0) throw AvxError.fromStatus(r, "Condvar.wait");
    } catch (e) {
      if (started && e instanceof AvxError && ["TIMEOUT", "ABORTED", "CLOSED"].includes(e.code)) {
        // The wait was abandoned: native code gave the mutex back, or the
        // waiter never got it. Take it again so the guard stays truthful.
        const r = await submit((q) => lib().avx_mutex_lock_async(m, q), "Condvar.wait", undefined, mutex);
        if (r !== 0) throw AvxError.fromStatus(r, "Condvar.wait (relock)");
      }
      throw e;
    } finally {
      guard.park(false);
      lib().avx_handle_release(m);
    }
  }

  /**
   * Like {@link Condvar.wait}, blocking the calling thread. Throws
   * `TIMEOUT` (holding the lock again) when `timeout` ms pass.
   *
   * @example
   * ```ts
   * import { Condvar, Mutex } from "@avx/runtime";
   * const m = new Mutex();
   * const cv = new Condvar();
   * using g = m.lockSync();
   * try { cv.waitSync(g, { timeout: 5 }); } catch {
   *   // timed out
   * }
   * ```
   */
  waitSync(guard: MutexGuard, options?: { timeout?: number }): void {
    checkGuard(guard, "Condvar.waitSync");
    const t = syncOptions(options, "Condvar.waitSync");
    const h = this.live;
    guard.park(true);
    try {
      const r = lib().avx_condvar_wait(h, handleOf(guard.mutex), t);
      if (r !== 0) throw AvxError.fromStatus(r, "Condvar.waitSync");
    } finally {
      guard.park(false);
    }
  }

  /**
   * Wake one waiter; returns how many were woken (0 or 1).
   *
   * @example
   * ```ts
   * import { Condvar } from "@avx/runtime";
   * new Condvar().notifyOne();
   * ```
   */
  notifyOne(): number {
    const r = lib().avx_condvar_notify_one(this.live);
    if (r < 0) throw AvxError.fromStatus(r, "Condvar.notifyOne");
    return r;
  }

  /**
   * Wake every waiter; returns how many were woken.
   *
   * @example
   * ```ts
   * import { Condvar } from "@avx/runtime";
   * new Condvar().notifyAll();
   * ```
   */
  notifyAll(): number {
    const r = lib().avx_condvar_notify_all(this.live);
    if (r < 0) throw AvxError.fromStatus(r, "Condvar.notifyAll");
    return r;
  }
}
