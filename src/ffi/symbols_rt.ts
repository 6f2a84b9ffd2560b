/**
 * FFI symbol definitions of the runtime (native/ffi/rt.zig).
 *
 * @module
 */

const H = "f64" as const; // handle or queue id

/** Symbol definitions of the runtime exports. @internal */
export const rtSymbols = {
  avx_fn_register: { parameters: ["buffer", "u32"], result: "i32" },
  avx_fn_name: { parameters: ["u32", "buffer", "u32"], result: "i32" },
  avx_rt_new: { parameters: ["u32", "u32", "u32", "u32", "f64"], result: "f64" },
  avx_rt_spawn: { parameters: [H, "u32", "buffer", "u32"], result: "f64" },
  avx_rt_attach: { parameters: [H, "u32", H], result: "i32" },
  avx_rt_detach: { parameters: [H, "u32", "u32"], result: "i32" },
  avx_rt_next: { parameters: [H, "u32", "u32", "buffer", "buffer", "u32"], result: "i32" },
  avx_rt_park: { parameters: [H, "u32", "u32", "f64"], result: "i32" },
  avx_rt_park_async: { parameters: [H, "u32", "u32", H], result: "i32" },
  avx_rt_lose: { parameters: [H, "u32", "u32"], result: "i32" },
  avx_rt_leave: { parameters: [H, "u32", "u32"], result: "i32" },
  avx_rt_close: { parameters: [H], result: "i32" },
  avx_rt_idle_async: { parameters: [H, H], result: "i32" },
  avx_rt_stop: { parameters: [H], result: "i32" },
  avx_rt_finish: { parameters: [H], result: "i32" },
  avx_rt_unfinished: { parameters: [H], result: "i32" },
  avx_rt_metrics: { parameters: [H, "buffer", "u32"], result: "i32" },
  avx_task_join_async: { parameters: [H, H], result: "i32" },
  avx_task_state: { parameters: [H], result: "i32" },
  avx_task_result: { parameters: [H, "buffer", "u32"], result: "i32" },
  avx_task_finish: { parameters: [H, "buffer", "u32"], result: "i32" },
  avx_task_args: { parameters: [H, "buffer", "u32"], result: "i32" },
  avx_task_abort: { parameters: [H], result: "i32" },
  avx_task_watch_abort_async: { parameters: [H, H], result: "i32" },
  avx_task_complete: { parameters: [H, "i32", "buffer", "u32"], result: "i32" },
} as const;
