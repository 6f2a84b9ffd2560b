/**
 * The base of every native object's wrapper: a handle, one native
 * reference owned by this wrapper, and disposal.
 *
 * @module
 */
import { lib } from "./ffi/library.ts";
import { AvxError } from "./errors.ts";

/** A handle: a plain number naming a native object, postable to Workers. */
export type Handle = number;

// A wrapper that is garbage-collected without being disposed gives its
// reference back, so forgetting `dispose` leaks nothing.
const finalizer = new FinalizationRegistry<Handle>((handle) => {
  lib().avx_handle_release(handle);
});

let adopting: Handle | undefined;

/**
 * Attach to an existing native object: take a reference to `handle`
 * (checking its kind) and build a wrapper around it without creating a new
 * object. @internal
 */
export function adopt<T>(make: () => T, handle: unknown, kind: number, what: string): T {
  if (typeof handle !== "number" || !Number.isSafeInteger(handle) || handle <= 0) {
    throw new AvxError("INVALID_HANDLE", `${what}.from: not a handle: ${String(handle)}`);
  }
  const r = lib().avx_handle_retain(handle, kind);
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
   * class's static `from` there to use the same object.
   */
  get handle(): Handle {
    return this.#handle;
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
    lib().avx_handle_release(this.#handle);
  }
}
