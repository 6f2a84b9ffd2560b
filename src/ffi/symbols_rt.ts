/**
 * FFI symbol definitions of the runtime (native/ffi/rt.zig).
 *
 * @module
 */

/** Symbol definitions of the runtime exports. @internal */
export const rtSymbols = {} as const;
