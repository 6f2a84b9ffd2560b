/**
 * The base of every native object's wrapper: a handle, one native
 * reference owned by this wrapper, and disposal.
 *
 * Sharing by handle (the rules are native/core/handles.zig's):
 *
 * - every wrapper owns one reference to its object;
 * - reading `.handle` is the moment a handle leaves its wrapper to travel,
 *   so it lends the object a transit reference (`avx_handle_lend`, at most
 *   255 outstanding per object), and the wrapper counts its lends: the
 *   wrapper may then be collected before the other isolate attaches, which
 *   is what people write ("create, post the handle, return"). The
 *   package's own native calls use the private handle and lend nothing;
 * - `from` claims a transit reference when one is outstanding
 *   (`avx_handle_claim`) and retains a new reference otherwise: attaching
 *   costs no net reference;
 * - `Symbol.dispose` gives the wrapper's reference back and takes back as
 *   many unclaimed transit references as it lent (`avx_handle_dispose`):
 *   a program that disposes its wrappers frees every object at its last
 *   dispose, deterministically;
 * - a wrapper that is garbage-collected gives back only its own reference
 *   (`avx_handle_release`): an object whose handle was never read dies at
 *   once, as before; one whose handle is in flight waits for a `from` up
 *   to the grace period (30 s), then dies.
 *
 * @module
 */
import { lib } from "./ffi/library.ts";
import { AvxError } from "./errors.ts";

/** A handle: a plain number naming a native object, postable to Workers. */
export type Handle = number;

// A wrapper that is garbage-collected without being disposed gives its
// reference back, so forgetting `dispose` leaks nothing; as a collected
// wrapper, so a handle read from it and posted somewhere still attaches.
const finalizer = new FinalizationRegistry<Handle>((handle) => {
  lib().avx_handle_release(handle);
});

let adopting: Handle | undefined;
let peek: (r: Resource) => Handle;

/**
 * The handle of `r` for this package's own native calls: unlike reading
 * `.handle`, it lends nothing (the handle does not leave the wrapper).
 * @internal
 */
export function handleOf(r: Resource): Handle {
  return peek(r);
}

/**
 * Attach to an existing native object: claim a reference to `handle`
 * (checking its kind; a transit reference lent by a `.handle` read when
 * one is outstanding) and build a wrapper around it without creating a
 * new object. @internal
 */
export function adopt<T>(make: () => T, handle: unknown, kind: number, what: string): T {
  if (typeof handle !== "number" || !Number.isSafeInteger(handle) || handle <= 0) {
    throw new AvxError("INVALID_HANDLE", `${what}.from: not a handle: ${String(handle)}`);
  }
  const r = lib().avx_handle_claim(handle, kind);
  if (r < 0) throw AvxError.fromStatus(r, `${what}.from(${handle})`);
  return wrapOwned(make, handle);
}

/**
 * Build a wrapper around a handle whose reference the caller already owns
 * (fresh from a native constructor such as `avx_mpsc_new`, or retained by
 * `adopt`), without creating a new object. @internal
 */
export function wrapOwned<T>(make: () => T, handle: Handle): T {
  adopting = handle;
  try {
    return make();
  } finally {
    adopting = undefined;
  }
}

/**
 * The `create` of a wrapper that has no public way to make a new object
 * (channel ends come from their factory): building one directly throws.
 * @internal
 */
export function factoryOnly(what: string, factory: string): () => Handle {
  return () => {
    throw new TypeError(`${what}: use ${factory} or ${what}.from(handle)`);
  };
}

/** Turn a constructor's f64 result into a handle, or throw. @internal */
export function created(h: number, what: string): Handle {
  if (Number.isNaN(h)) throw AvxError.fromStatus(lib().avx_last_error(), what);
  return h;
}

/**
 * A wrapper owning one reference to a native object.
 *
 * @example
 * ```ts
 * import { AtomicCounter } from "@avx/runtime";
 *
 * const c = new AtomicCounter();
 * const w = new Worker(new URL("./worker.ts", import.meta.url), { type: "module" });
 * w.postMessage(c.handle); // the worker calls AtomicCounter.from(handle)
 * ```
 */
export abstract class Resource implements Disposable {
  readonly #handle: Handle;
  #disposed = false;
  /** Transit references lent by reads of `.handle`, taken back by dispose. */
  #lent = 0;
  /** Async operations of this isolate waiting on the object: token -> abort. */
  #inflight: Map<number, () => void> | undefined;

  /**
   * Own one reference: a new object made by `create`, or the existing one
   * being adopted by a subclass's `from`.
   *
   * @param create makes a new native object; not called when adopting.
   */
  protected constructor(create: () => Handle) {
    const h = adopting ?? create();
    adopting = undefined;
    this.#handle = h;
    finalizer.register(this, h, this);
  }

  /**
   * The handle of the native object: post it to a Worker and call the
   * class's static `from` there to use the same object. This wrapper may
   * be dropped once the handle is posted: each read lends the object a
   * reference that one `from` anywhere takes over, so the object outlives
   * a garbage-collected wrapper until then (up to 30 s if nobody
   * attaches). Read it once per isolate you post it to. Disposing this
   * wrapper explicitly takes back what it lent and nobody claimed yet.
   *
   * @example
   * ```ts
   * import { mpsc } from "@avx/runtime";
   *
   * function start(worker: Worker) {
   *   const [tx, rx] = mpsc<string>({ codec: "string" });
   *   worker.postMessage(tx.handle); // the worker calls Sender.from(handle)
   *   return rx; // tx may be collected before the worker attaches
   * }
   * ```
   */
  get handle(): Handle {
    // A disposed wrapper owns nothing to lend from; the number is still
    // its handle (from() on it fails unless another owner keeps it).
    if (!this.#disposed && lib().avx_handle_lend(this.#handle) === 1) this.#lent++;
    return this.#handle;
  }

  static {
    peek = (r) => r.#handle;
  }

  /** Whether this wrapper has given its reference back. */
  get disposed(): boolean {
    return this.#disposed;
  }

  /** The handle for a call, or `CLOSED` if this wrapper was disposed. */
  protected get live(): Handle {
    if (this.#disposed) {
      throw new AvxError("CLOSED", `${this.constructor.name} was disposed`);
    }
    return this.#handle;
  }

  /** Runs once, before the reference is given back. */
  protected beforeDispose(): void {}

  /** Note an async operation waiting on this object. @internal */
  track(token: number, abort: () => void): void {
    (this.#inflight ??= new Map()).set(token, abort);
  }

  /** The operation settled. @internal */
  untrack(token: number): void {
    this.#inflight?.delete(token);
  }

  /**
   * Give this isolate's reference back. The object lives on while other
   * references (other isolates) exist. Calling it again does nothing.
   */
  [Symbol.dispose](): void {
    if (this.#disposed) return;
    this.beforeDispose();
    this.#disposed = true;
    // Our waiters must leave the object's queues before our reference goes:
    // it may be the last one, and the object be freed with them inside.
    if (this.#inflight) {
      for (const abort of [...this.#inflight.values()]) abort();
      this.#inflight = undefined;
    }
    finalizer.unregister(this);
    lib().avx_handle_dispose(this.#handle, this.#lent);
  }
}
