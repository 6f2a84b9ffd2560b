/**
 * A counting semaphore shared by every isolate of the process.
 *
 * @module
 */
import { lib } from "../ffi/library.ts";
import { Kind } from "../ffi/symbols.ts";
import { checkWaitOptions, submit, syncOptions, type WaitOptions } from "../ffi/queue.ts";
import { AvxError, checkHandle, checkInteger, Status } from "../errors.ts";
import { adopt, created, type Handle, handleOf, Resource } from "../resource.ts";
import { Holds } from "./holds.ts";

/** The most permits a semaphore can hold. */
export const MAX_PERMITS = 2 ** 31 - 1;

function checkCount(n: number, what: string): number {
  return checkInteger(n, what, "permits", 0, MAX_PERMITS);
}

/** `avx_semaphore_release`'s status: `invalid_argument` means above MAX_PERMITS. */
function releaseFailed(r: number, what: string): AvxError {
  if (r === Status.INVALID_ARGUMENT) {
    return new AvxError("LIMIT", `${what}: the semaphore would hold more than ${MAX_PERMITS} permits`);
  }
  return AvxError.fromStatus(r, what);
}

/**
 * A semaphore: `acquire(n)` waits until `n` permits are free and takes
 * them. Waiters are served in arrival order, so a large request is not
 * overtaken forever by small ones.
 *
 * @example Bounding concurrency
 * ```ts
 * import { Semaphore } from "@avx/runtime";
 *
 * const sem = new Semaphore(4);
 * async function job() {
 *   using _permit = await sem.acquire();
 *   // at most 4 jobs run here at once, across every isolate
 * }
 * await Promise.all([job(), job(), job()]);
 * ```
 */
export class Semaphore extends Resource {
  /** Permits of this wrapper still held: they outlive its disposal. */
  readonly #holds = new Holds();

  /**
   * Create a semaphore with `permits` free permits.
   *
   * @example
   * ```ts
   * import { Semaphore } from "@avx/runtime";
   * const sem = new Semaphore(2);
   * ```
   */
  constructor(permits: number) {
    checkCount(permits, "new Semaphore");
    super(() => created(lib().avx_semaphore_new(permits), "new Semaphore"));
  }

  /**
   * Attach to a semaphore created in another isolate.
   *
   * @example
   * ```ts
   * import { Semaphore } from "@avx/runtime";
   * const s = Semaphore.from(new Semaphore(1).handle);
   * ```
   */
  static from(handle: Handle): Semaphore {
    checkHandle(handle, "Semaphore.from");
    return adopt(() => new Semaphore(0), handle, Kind.semaphore, "Semaphore");
  }

  /**
   * Take `n` permits (default 1), waiting without blocking the event loop.
   *
   * @example
   * ```ts
   * import { Semaphore } from "@avx/runtime";
   * const sem = new Semaphore(3);
   * using _p = await sem.acquire(2, { timeout: 500 });
   * ```
   */
  async acquire(n = 1, options?: WaitOptions): Promise<Permit> {
    checkCount(n, "Semaphore.acquire");
    const o = checkWaitOptions(options, "Semaphore.acquire");
    const h = this.live;
    const r = await submit((q) => lib().avx_semaphore_acquire_async(h, n, q), "Semaphore.acquire", o, this);
    if (r !== 0) throw AvxError.fromStatus(r, "Semaphore.acquire");
    return new Permit(this, n);
  }

  /**
   * Take `n` permits, blocking the calling thread.
   *
   * @example
   * ```ts
   * import { Semaphore } from "@avx/runtime";
   * using _p = new Semaphore(1).acquireSync(1, { timeout: 10 });
   * ```
   */
  acquireSync(n = 1, options?: { timeout?: number }): Permit {
    checkCount(n, "Semaphore.acquireSync");
    const t = syncOptions(options, "Semaphore.acquireSync");
    const r = lib().avx_semaphore_acquire(this.live, n, t);
    if (r !== 0) throw AvxError.fromStatus(r, "Semaphore.acquireSync");
    return new Permit(this, n);
  }

  /**
   * Take `n` permits if they are free now (and nobody queues before us);
   * `null` otherwise.
   *
   * @example
   * ```ts
   * import { Semaphore } from "@avx/runtime";
   * const p = new Semaphore(1).tryAcquire();
   * p?.release();
   * ```
   */
  tryAcquire(n = 1): Permit | null {
    checkCount(n, "Semaphore.tryAcquire");
    const r = lib().avx_semaphore_try_acquire(this.live, n);
    if (r === Status.WOULD_BLOCK) return null;
    if (r !== 0) throw AvxError.fromStatus(r, "Semaphore.tryAcquire");
    return new Permit(this, n);
  }

  /**
   * Add `n` permits (default 1). Usually you release a {@link Permit}
   * instead; this is for semaphores used as counters of events. Throws
   * `LIMIT` if the semaphore would hold more than {@link MAX_PERMITS}.
   *
   * @example
   * ```ts
   * import { Semaphore } from "@avx/runtime";
   * const s = new Semaphore(0);
   * s.release(2);
   * console.log(s.available); // 2
   * ```
   */
  release(n = 1): void {
    checkCount(n, "Semaphore.release");
    const r = lib().avx_semaphore_release(this.live, n);
    if (r !== 0) throw releaseFailed(r, "Semaphore.release");
  }

  /** A permit was handed out. @internal */
  permitTaken(): void {
    this.#holds.taken(handleOf(this), Kind.semaphore, this.disposed);
  }

  /**
   * Give a permit's `n` back. Works after this wrapper was disposed: its
   * permits keep the object alive (see `Holds`). @internal
   */
  releaseRaw(n: number): void {
    const h = handleOf(this);
    if (this.#holds.gone) return this.#holds.given(h); // The object, and its lock, are gone.
    const r = lib().avx_semaphore_release(h, n);
    this.#holds.given(h);
    if (r !== 0) throw releaseFailed(r, "Permit.release");
  }

  /** Keep the object alive for permits still held. */
  protected override beforeDispose(): void {
    this.#holds.keep(handleOf(this), Kind.semaphore);
  }

  /**
   * Permits free right now.
   *
   * @example
   * ```ts
   * import { Semaphore } from "@avx/runtime";
   * console.log(new Semaphore(5).available); // 5
   * ```
   */
  get available(): number {
    const r = lib().avx_semaphore_available(this.live);
    if (r < 0) throw AvxError.fromStatus(r, "Semaphore.available");
    return r;
  }
}

/**
 * Permits taken from a {@link Semaphore}; given back by `release()` or when
 * disposed.
 *
 * @example
 * ```ts
 * import { Semaphore } from "@avx/runtime";
 * const p = new Semaphore(2).acquireSync(2);
 * console.log(p.count); // 2
 * p.release();
 * ```
 */
export class Permit implements Disposable {
  /** The semaphore these permits belong to. */
  readonly semaphore: Semaphore;
  /** How many permits this holds. */
  readonly count: number;
  #held = true;

  /** @internal */
  constructor(semaphore: Semaphore, count: number) {
    this.semaphore = semaphore;
    this.count = count;
    semaphore.permitTaken();
  }

  /**
   * Give the permits back. A second call does nothing.
   *
   * @example
   * ```ts
   * import { Semaphore } from "@avx/runtime";
   * new Semaphore(1).acquireSync().release();
   * ```
   */
  release(): void {
    if (!this.#held) return;
    this.#held = false;
    this.semaphore.releaseRaw(this.count);
  }

  /** Releases (same as {@link Permit.release}). */
  [Symbol.dispose](): void {
    this.release();
  }
}
