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
