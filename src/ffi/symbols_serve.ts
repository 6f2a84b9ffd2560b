/**
 * FFI symbol definitions of the native server (native/ffi/serve.zig).
 *
 * @module
 */

const H = "f64" as const; // handle

/** Symbol definitions of the server exports. @internal */
export const serveSymbols = {
  avx_serve_new: { parameters: ["buffer", "u32", "u32", "u32", "u32", "u32", "u32"], result: "f64" },
  avx_serve_address: { parameters: [H, "buffer"], result: "i32" },
  avx_serve_start: { parameters: [H, "u32"], result: "i32" },
  avx_serve_next: { parameters: [H, "u32", "buffer", "u32", "f64", H], result: "i32" },
  avx_serve_respond: { parameters: [H, "u32", "buffer", "u32"], result: "i32" },
  avx_serve_stop: { parameters: [H, "u32"], result: "i32" },
  avx_serve_close: { parameters: [H], result: "i32" },
  avx_serve_metrics: { parameters: [H, "buffer", "u32"], result: "i32" },
} as const;
