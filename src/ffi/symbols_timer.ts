/**
 * FFI symbol definitions of the timer wheel (native/ffi/timer.zig).
 *
 * @module
 */

/** Symbol definitions of the timer exports. @internal */
export const timerSymbols = {} as const;
