/**
 * FFI symbol definitions of the timer wheel (native/ffi/timer.zig).
 *
 * @module
 */

/** Symbol definitions of the timer exports. @internal */
export const timerSymbols = {
  avx_timer_sleep_async: { parameters: ["f64", "f64"], result: "i32" },
  avx_timer_until_async: { parameters: ["f64", "f64"], result: "i32" },
  avx_timer_now_ms: { parameters: [], result: "f64" },
  avx_timer_metrics: { parameters: ["buffer", "u32"], result: "i32" },
} as const;
