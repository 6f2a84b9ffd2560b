/**
 * A readers-writer lock shared by every isolate of the process.
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
 * Many readers or one writer. Neither side starves: once anyone waits,
 * newcomers queue behind in arrival order; a writer is served alone, and
 * the run of readers queued after it goes in together when it leaves.
 *
 * @example
 * ```ts
 * import { RwLock } from "@avx/runtime";
 *
 * const l = new RwLock();
 * {
 *   using _r = await l.read(); // shared
 * }
 * {
 *   using _w = await l.write(); // exclusive
 * }
 * ```
 */
export class RwLock extends Resource {
  /** Guards of this wrapper still held: they outlive its disposal. */
  readonly #holds = new Holds();

  /**
   * Create a new lock.
   *
   * @example
   * ```ts
   * import { RwLock } from "@avx/runtime";
   * const l = new RwLock();
   * ```
   */
  constructor() {
    super(() => created(lib().avx_rwlock_new(), "new RwLock"));
  }

  /**
   * Attach to a lock created in another isolate.
   *
   * @example
   * ```ts
   * import { RwLock } from "@avx/runtime";
   * const l = RwLock.from(new RwLock().handle);
   * ```
   */
  static from(handle: Handle): RwLock {
    checkHandle(handle, "RwLock.from");
    return adopt(() => new RwLock(), handle, Kind.rwlock, "RwLock");
  }

  /**
   * Take a shared lock without blocking the event loop.
   *
   * @example
   * ```ts
   * import { RwLock } from "@avx/runtime";
   * using _r = await new RwLock().read();
   * ```
   */
  async read(options?: WaitOptions): Promise<RwLockGuard> {
    const o = checkWaitOptions(options, "RwLock.read");
    const h = this.live;
    const r = await submit((q) => lib().avx_rwlock_read_async(h, q), "RwLock.read", o, this);
    if (r !== 0) throw AvxError.fromStatus(r, "RwLock.read");
    return new RwLockGuard(this, "read");
  }

  /**
   * Take the exclusive lock without blocking the event loop.
   *
   * @example
   * ```ts
   * import { RwLock } from "@avx/runtime";
   * using _w = await new RwLock().write();
   * ```
   */
  async write(options?: WaitOptions): Promise<RwLockGuard> {
    const o = checkWaitOptions(options, "RwLock.write");
    const h = this.live;
    const r = await submit((q) => lib().avx_rwlock_write_async(h, q), "RwLock.write", o, this);
    if (r !== 0) throw AvxError.fromStatus(r, "RwLock.write");
    return new RwLockGuard(this, "write");
  }

  /**
   * Take a shared lock, blocking the calling thread.
   *
   * @example
   * ```ts
   * import { RwLock } from "@avx/runtime";
   * using _r = new RwLock().readSync({ timeout: 100 });
   * ```
   */
  readSync(options?: { timeout?: number }): RwLockGuard {
    const t = syncOptions(options, "RwLock.readSync");
    const r = lib().avx_rwlock_read(this.live, t);
    if (r !== 0) throw AvxError.fromStatus(r, "RwLock.readSync");
    return new RwLockGuard(this, "read");
  }

  /**
   * Take the exclusive lock, blocking the calling thread.
   *
   * @example
   * ```ts
   * import { RwLock } from "@avx/runtime";
   * using _w = new RwLock().writeSync();
   * ```
   */
  writeSync(options?: { timeout?: number }): RwLockGuard {
    const t = syncOptions(options, "RwLock.writeSync");
    const r = lib().avx_rwlock_write(this.live, t);
    if (r !== 0) throw AvxError.fromStatus(r, "RwLock.writeSync");
    return new RwLockGuard(this, "write");
  }

  /**
   * A shared lock if it can be had at once, else `null`.
   *
   * @example
   * ```ts
   * import { RwLock } from "@avx/runtime";
   * const g = new RwLock().tryRead();
   * g?.unlock();
   * ```
   */
  tryRead(): RwLockGuard | null {
    const r = lib().avx_rwlock_try_read(this.live);
    if (r === Status.WOULD_BLOCK) return null;
    if (r !== 0) throw AvxError.fromStatus(r, "RwLock.tryRead");
    return new RwLockGuard(this, "read");
  }

  /**
   * The exclusive lock if it can be had at once, else `null`.
   *
   * @example
   * ```ts
   * import { RwLock } from "@avx/runtime";
   * const g = new RwLock().tryWrite();
   * g?.unlock();
   * ```
   */
  tryWrite(): RwLockGuard | null {
    const r = lib().avx_rwlock_try_write(this.live);
    if (r === Status.WOULD_BLOCK) return null;
    if (r !== 0) throw AvxError.fromStatus(r, "RwLock.tryWrite");
    return new RwLockGuard(this, "write");
  }

  /** A guard was handed out. @internal */
  guardTaken(): void {
    this.#holds.taken(handleOf(this), Kind.rwlock, this.disposed);
  }

  /**
   * Unlock for a guard. Works after this wrapper was disposed: its guards
   * keep the object alive (see `Holds`). @internal
   */
  unlockRaw(mode: "read" | "write"): void {
    const h = handleOf(this);
    if (this.#holds.gone) return this.#holds.given(h); // The object, and its lock, are gone.
    const r = mode === "read" ? lib().avx_rwlock_unlock_read(h) : lib().avx_rwlock_unlock_write(h);
    this.#holds.given(h);
    if (r !== 0) throw AvxError.fromStatus(r, "RwLock.unlock");
  }

  /** Keep the object alive for guards still held. */
  protected override beforeDispose(): void {
    this.#holds.keep(handleOf(this), Kind.rwlock);
  }
}

/**
 * A held read or write lock; unlocks on `unlock()` or when disposed.
 *
 * @example
 * ```ts
 * import { RwLock } from "@avx/runtime";
 * const g = new RwLock().writeSync();
 * console.log(g.mode); // "write"
 * g.unlock();
 * ```
 */
export class RwLockGuard implements Disposable {
  /** The lock this guard holds. */
  readonly lock: RwLock;
  /** Shared (`"read"`) or exclusive (`"write"`). */
  readonly mode: "read" | "write";
  #held = true;

  /** @internal */
  constructor(lock: RwLock, mode: "read" | "write") {
    this.lock = lock;
    this.mode = mode;
    lock.guardTaken();
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
   * import { RwLock } from "@avx/runtime";
   * new RwLock().readSync().unlock();
   * ```
   */
  unlock(): void {
    if (!this.#held) return;
    this.#held = false;
    this.lock.unlockRaw(this.mode);
  }

  /** Unlocks (same as {@link RwLockGuard.unlock}). */
  [Symbol.dispose](): void {
    this.unlock();
  }
}
