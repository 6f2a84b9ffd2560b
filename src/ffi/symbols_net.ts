/**
 * FFI symbol definitions of the sockets (native/ffi/net.zig).
 *
 * @module
 */

const H = "f64" as const; // handle or queue id

/** Symbol definitions of the socket exports. @internal */
export const netSymbols = {
  avx_tcp_listen: { parameters: ["buffer", "u32", "u32", "u32", "u32"], result: "f64" },
  avx_udp_bind: { parameters: ["buffer", "u32", "u32", "u32"], result: "f64" },
  avx_tcp_connect_async: { parameters: ["buffer", "u32", "u32", H, "buffer"], result: "i32" },
  avx_tcp_accept: { parameters: [H, "buffer"], result: "f64" },
  avx_tcp_read: { parameters: [H, "buffer", "u32"], result: "i32" },
  avx_net_read_async: { parameters: [H, H], result: "i32" },
  avx_tcp_write: { parameters: [H, "buffer", "u32"], result: "i32" },
  avx_tcp_write_async: { parameters: [H, "buffer", "u32", H], result: "i32" },
  avx_tcp_close_write: { parameters: [H], result: "i32" },
  avx_net_close: { parameters: [H], result: "i32" },
  avx_net_address: { parameters: [H, "u32", "buffer"], result: "i32" },
  avx_net_set_option: { parameters: [H, "u32", "u32"], result: "i32" },
  avx_udp_recv: { parameters: [H, "buffer", "u32", "buffer"], result: "i32" },
  avx_udp_send: { parameters: [H, "buffer", "u32", "buffer", "u32", "u32"], result: "i32" },
  avx_udp_send_async: { parameters: [H, "buffer", "u32", "buffer", "u32", "u32", H], result: "i32" },
  avx_net_metrics: { parameters: ["buffer", "u32"], result: "i32" },
} as const;
