/**
 * A mutual-exclusion lock shared by every isolate of the process.
 *
 * @module
 */
import { lib } from "../ffi/library.ts";
import { Kind } from "../ffi/symbols.ts";
import { checkWaitOptions, submit, syncOptions, type WaitOptions } from "../ffi/queue.ts";
import { AvxError, checkHandle, Status } from "../errors.ts";
import { adopt, created, type Handle, handleOf, Resource } from "../resource.ts";
import { Holds } from "./holds.ts";

/**
 * A native mutex. Uncontended locking is one CAS; a contended lock spins
 * briefly, then queues: waiters are served in FIFO order and the lock is
 * handed directly to the next one, so nobody starves.
 *
 * `await lock()` never blocks the event loop; `lockSync()` blocks the
 * calling thread (meant for Workers).
 *
 * @example
 * ```ts
 * import { Mutex } from "@avx/runtime";
 *
 * const m = new Mutex();
 * {
 *   using _guard = await m.lock();
 *   // ... critical section ...
 * } // unlocked here
 * ```
 */
export class Mutex extends Resource {
  /** Guards of this wrapper still held: they outlive its disposal. */
  readonly #holds = new Holds();

  /**
   * Create a new mutex.
   *
   * @example
   * ```ts
   * import { Mutex } from "@avx/runtime";
   * const m = new Mutex();
   * ```
   */
  constructor() {
    super(() => created(lib().avx_mutex_new(), "new Mutex"));
  }

  /**
   * Attach to a mutex created in another isolate.
   *
   * @example
   * ```ts
   * import { Mutex } from "@avx/runtime";
   * self.onmessage = (e) => {
   *   const m = Mutex.from(e.data);
   *   using _g = m.lockSync();
   * };
   * ```
   */
  static from(handle: Handle): Mutex {
    checkHandle(handle, "Mutex.from");
    return adopt(() => new Mutex(), handle, Kind.mutex, "Mutex");
  }

  /**
   * Lock, waiting without blocking the event loop.
   *
   * @example
   * ```ts
   * import { Mutex } from "@avx/runtime";
   * const m = new Mutex();
   * using _g = await m.lock({ timeout: 1000 });
   * ```
   */
  async lock(options?: WaitOptions): Promise<MutexGuard> {
    // Every option is checked before a waiter exists natively.
    const o = checkWaitOptions(options, "Mutex.lock");
    const h = this.live;
    const r = await submit((q) => lib().avx_mutex_lock_async(h, q), "Mutex.lock", o, this);
    if (r !== 0) throw AvxError.fromStatus(r, "Mutex.lock");
    return new MutexGuard(this);
  }

  /**
   * Lock, blocking the calling thread (up to `timeout` ms).
   *
   * @example
   * ```ts
   * import { Mutex } from "@avx/runtime";
   * const m = new Mutex();
   * using _g = m.lockSync();
   * ```
   */
  lockSync(options?: { timeout?: number }): MutexGuard {
    const t = syncOptions(options, "Mutex.lockSync");
    const r = lib().avx_mutex_lock(this.live, t);
    if (r !== 0) throw AvxError.fromStatus(r, "Mutex.lockSync");
    return new MutexGuard(this);
  }

  /**
   * Lock if free; `null` if another holder has it.
   *
   * @example
   * ```ts
   * import { Mutex } from "@avx/runtime";
   * const m = new Mutex();
   * const g = m.tryLock();
   * if (g) g.unlock();
   * ```
   */
  tryLock(): MutexGuard | null {
    const r = lib().avx_mutex_try_lock(this.live);
    if (r === Status.WOULD_BLOCK) return null;
    if (r !== 0) throw AvxError.fromStatus(r, "Mutex.tryLock");
    return new MutexGuard(this);
  }

  /**
   * Whether some holder has the lock right now (a hint: it may change at
   * once).
   *
   * @example
   * ```ts
   * import { Mutex } from "@avx/runtime";
   * console.log(new Mutex().locked); // false
   * ```
   */
  get locked(): boolean {
    const r = lib().avx_mutex_is_locked(this.live);
    if (r < 0) throw AvxError.fromStatus(r, "Mutex.locked");
    return r === 1;
  }

  /** A guard was handed out. @internal */
  guardTaken(): void {
    this.#holds.taken(handleOf(this), Kind.mutex, this.disposed);
  }

  /**
   * Unlock for a guard. Works after this wrapper was disposed: its guards
   * keep the object alive (see `Holds`). @internal
   */
  unlockRaw(): void {
    const h = handleOf(this);
    if (this.#holds.gone) return this.#holds.given(h); // The object, and its lock, are gone.
    const r = lib().avx_mutex_unlock(h);
    this.#holds.given(h);
    if (r !== 0) throw AvxError.fromStatus(r, "Mutex.unlock");
  }

  /** Keep the object alive for guards still held. */
  protected override beforeDispose(): void {
    this.#holds.keep(handleOf(this), Kind.mutex);
  }
}

/**
 * Proof of holding a {@link Mutex}; unlocks on `unlock()` or when disposed.
 *
 * @example
 * ```ts
 * import { Mutex } from "@avx/runtime";
 * const m = new Mutex();
 * const g = await m.lock();
 * try {
 *   // ...
 * } finally {
 *   g.unlock();
 * }
 * ```
 */
export class MutexGuard implements Disposable {
  /** The mutex this guard holds. */
  readonly mutex: Mutex;
  #held = true;
  #parked = false;

  /** @internal */
  constructor(mutex: Mutex) {
    this.mutex = mutex;
    mutex.guardTaken();
  }

  /** Whether this guard still holds the lock. */
  get held(): boolean {
    return this.#held;
  }

  /**
   * Unlock. A second call does nothing.
   *
   * @example
   * ```ts
   * import { Mutex } from "@avx/runtime";
   * const g = new Mutex().lockSync();
   * g.unlock();
   * ```
   */
  unlock(): void {
    if (!this.#held) return;
    if (this.#parked) {
      throw new AvxError("INVALID_STATE", "MutexGuard.unlock: a Condvar wait owns this guard");
    }
    this.#held = false;
    this.mutex.unlockRaw();
  }

  /** Unlocks (same as {@link MutexGuard.unlock}). */
  [Symbol.dispose](): void {
    this.unlock();
  }

  /** Whether a Condvar wait owns this guard right now. @internal */
  get parked(): boolean {
    return this.#parked;
  }

  /** A Condvar wait gives the lock up and takes it back. @internal */
  park(parked: boolean): void {
    if (!this.#held) throw new AvxError("NOT_LOCKED", "Condvar.wait: the guard no longer holds its mutex");
    this.#parked = parked;
  }
}
