/**
 * Callback timers on the native wheel: `after(ms, fn)` is `setTimeout`
 * with a handle, at the cost of two fast FFI calls.
 *
 * @module
 */
import { lib } from "../ffi/library.ts";
import { completionQueue } from "../ffi/queue.ts";
import { AvxError } from "../errors.ts";
import { checkDelay } from "./clock.ts";

// #token of a handle: > 0 the native timer's token; DUE for a zero delay
// whose callback is queued as a microtask; 0 once fired or cancelled.
const DUE = -1;

/**
 * A pending {@link after} timer. `cancel()` (or leaving a `using` block)
 * stops it; a cancelled timer's callback never runs.
 *
 * Arming and cancelling cost one native call each and no promise, so a
 * program can keep hundreds of thousands of timeouts armed and cancel
 * almost all of them (the usual fate of I/O timeouts).
 *
 * @example
 * ```ts
 * import { after } from "@avx/runtime";
 *
 * const t = after(5_000, () => console.log("too slow"));
 * // ... the work finished in time:
 * t.cancel();
 * ```
 */
export class TimerHandle implements Disposable {
  #token: number;
  #callback: (() => void) | undefined;

  /** @internal */
  constructor(token: number, callback: () => void) {
    this.#token = token;
    this.#callback = callback;
  }

  /**
   * Whether the callback is still to run.
   *
   * @example
   * ```ts
   * import { after } from "@avx/runtime";
   * const t = after(10, () => {});
   * console.log(t.pending); // true
   * ```
   */
  get pending(): boolean {
    return this.#token !== 0;
  }

  /**
   * Stop the timer. True if it was pending (its callback will not run);
   * false if it had fired or was cancelled already.
   *
   * @example
   * ```ts
   * import { after } from "@avx/runtime";
   * const t = after(10, () => console.log("never"));
   * console.log(t.cancel()); // true
   * console.log(t.cancel()); // false
   * ```
   */
  cancel(): boolean {
    const token = this.#token;
    if (token === 0) return false;
    this.#token = 0;
    this.#callback = undefined;
    if (token !== DUE) completionQueue().cancel(token);
    return true;
  }

  /**
   * Cancel the timer (see {@link TimerHandle.cancel}).
   *
   * @example
   * ```ts
   * import { after } from "@avx/runtime";
   * {
   *   using _t = after(1000, () => console.log("never"));
   * } // cancelled here
   * ```
   */
  [Symbol.dispose](): void {
    this.cancel();
  }

  /** Run the callback, unless cancelled. @internal */
  complete(): void {
    const callback = this.#callback;
    if (this.#token === 0 || callback === undefined) return;
    this.#token = 0;
    this.#callback = undefined;
    // It runs inside the completion queue's drain loop: an exception must
    // not escape into it. Report it as `setTimeout` would.
    try {
      callback();
    } catch (e) {
      reportError(e);
    }
  }
}

/**
 * Run `callback` once, `ms` milliseconds from now, on the native timer
 * wheel (1 ms resolution; never early). Returns a handle that cancels it.
 * Like `setTimeout`, a pending timer keeps the event loop alive; a zero
 * delay runs the callback in a microtask. An exception thrown by the
 * callback is reported like an uncaught one (`reportError`).
 *
 * Throws `INVALID_ARGUMENT` for a delay that is negative, NaN, not a
 * number, infinite or above {@link MAX_DELAY}, and `LIMIT` when the isolate
 * has too many operations pending (65,536).
 *
 * @example
 * ```ts
 * import { after } from "@avx/runtime";
 *
 * after(100, () => console.log("100 ms later"));
 * const never = after(100, () => console.log("never"));
 * never.cancel();
 * ```
 */
export function after(ms: number, callback: () => void): TimerHandle {
  checkDelay(ms, "after");
  if (typeof callback !== "function") {
    throw new AvxError("INVALID_ARGUMENT", `after: callback must be a function, got ${typeof callback}`);
  }
  const q = completionQueue();
  const r = lib().avx_timer_sleep_async(ms, q.id);
  if (r < 0) throw AvxError.fromStatus(r, "after");
  const handle = new TimerHandle(r === 0 ? DUE : r, callback);
  if (r === 0) queueMicrotask(() => handle.complete());
  else q.add(r, () => handle.complete());
  return handle;
}
