/**
 * Process-wide facts about the native library, for tests and monitoring.
 *
 * @module
 */
import { lib } from "./ffi/library.ts";

/**
 * How many native objects are alive in the process (all isolates). A
 * number that keeps growing means wrappers are not being disposed.
 *
 * @example
 * ```ts
 * import { liveHandles, Mutex } from "@avx/runtime";
 * const before = liveHandles();
 * new Mutex()[Symbol.dispose]();
 * console.log(liveHandles() === before); // true
 * ```
 */
export function liveHandles(): number {
  return lib().avx_live_handles();
}

/**
 * How many native objects are alive only because their handle was read
 * (`.handle`) and every wrapper of theirs was garbage-collected before any
 * isolate attached with `from`. Each is freed by the first attach, or
 * after the grace period (see {@link transitGrace}).
 *
 * @example
 * ```ts
 * import { orphanedHandles } from "./diagnostics.ts";
 * console.log(orphanedHandles()); // 0 in a program that attaches every handle it posts
 * ```
 */
export function orphanedHandles(): number {
  return lib().avx_handle_orphans();
}

/**
 * The grace period in ms: how long an object whose wrappers were all
 * garbage-collected stays alive for a `from` to attach to it, when its
 * handle was read. Sets it when `ms` is given (process-wide; tests use a
 * short one) and returns the previous value.
 *
 * @example
 * ```ts
 * import { transitGrace } from "./diagnostics.ts";
 * const previous = transitGrace(100);
 * transitGrace(previous);
 * ```
 */
export function transitGrace(ms?: number): number {
  if (ms !== undefined && !(Number.isFinite(ms) && ms >= 0)) {
    throw new RangeError(`transitGrace: ms must be a finite number >= 0, got ${ms}`);
  }
  return lib().avx_handle_grace(ms ?? -1);
}
