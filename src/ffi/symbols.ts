/**
 * The native library's exports as Deno FFI symbol definitions. Kept in one
 * place so the ABI the TypeScript side expects is easy to compare with
 * native/README.md.
 *
 * @module
 */

import { timerSymbols } from "./symbols_timer.ts";
import { rtSymbols } from "./symbols_rt.ts";
import { netSymbols } from "./symbols_net.ts";
import { serveSymbols } from "./symbols_serve.ts";

const H = "f64" as const; // handle or queue id
const MS = "f64" as const; // timeout in milliseconds

/** Symbol definitions of libavx. @internal */
export const symbols = {
  ...timerSymbols,
  ...rtSymbols,
  ...netSymbols,
  ...serveSymbols,
  avx_init: { parameters: [], result: "i32" },
  avx_nop: { parameters: [], result: "i32" },
  avx_last_value: { parameters: [], result: "f64" },
  avx_last_error: { parameters: [], result: "i32" },
  avx_handle_retain: { parameters: [H, "u32"], result: "i32" },
  avx_handle_release: { parameters: [H], result: "i32" },
  avx_handle_dispose: { parameters: [H, "u32"], result: "i32" },
  avx_handle_lend: { parameters: [H], result: "i32" },
  avx_handle_claim: { parameters: [H, "u32"], result: "i32" },
  avx_handle_grace: { parameters: ["f64"], result: "f64" },
  avx_handle_orphans: { parameters: [], result: "i32" },
  avx_handle_kind: { parameters: [H], result: "i32" },
  avx_live_handles: { parameters: [], result: "i32" },
  avx_cq_open: { parameters: [], result: "i32" },
  avx_cq_close: { parameters: [H], result: "i32" },
  avx_cq_arm: { parameters: [H], result: "i32" },
  avx_cq_drain: { parameters: [H, "buffer", "u32"], result: "i32" },
  avx_cq_cancel: { parameters: [H, "u32"], result: "i32" },
  avx_cq_pending: { parameters: [H], result: "i32" },
  avx_cq_registered: { parameters: [H], result: "i32" },
  avx_cq_rings: { parameters: [H], result: "f64" },
  avx_cq_open_count: { parameters: [], result: "i32" },
  avx_bell_nonce: { parameters: [], result: "i32" },
  avx_bell_claim: { parameters: [], result: "i32" },
  avx_bell_ready: { parameters: [], result: "i32" },
  avx_bell_announce: { parameters: [H], result: "i32" },
  avx_bell_unregistered: { parameters: [], result: "i32" },
  avx_bell_kick: { parameters: [], result: "void" },

  avx_mutex_new: { parameters: [], result: "f64" },
  avx_mutex_try_lock: { parameters: [H], result: "i32" },
  avx_mutex_lock: { parameters: [H, MS], result: "i32" },
  avx_mutex_lock_async: { parameters: [H, H], result: "i32" },
  avx_mutex_unlock: { parameters: [H], result: "i32" },
  avx_mutex_is_locked: { parameters: [H], result: "i32" },
  avx_rwlock_new: { parameters: [], result: "f64" },
  avx_rwlock_try_read: { parameters: [H], result: "i32" },
  avx_rwlock_try_write: { parameters: [H], result: "i32" },
  avx_rwlock_read: { parameters: [H, MS], result: "i32" },
  avx_rwlock_write: { parameters: [H, MS], result: "i32" },
  avx_rwlock_read_async: { parameters: [H, H], result: "i32" },
  avx_rwlock_write_async: { parameters: [H, H], result: "i32" },
  avx_rwlock_unlock_read: { parameters: [H], result: "i32" },
  avx_rwlock_unlock_write: { parameters: [H], result: "i32" },
  avx_semaphore_new: { parameters: ["f64"], result: "f64" },
  avx_semaphore_try_acquire: { parameters: [H, "u32"], result: "i32" },
  avx_semaphore_acquire: { parameters: [H, "u32", MS], result: "i32" },
  avx_semaphore_acquire_async: { parameters: [H, "u32", H], result: "i32" },
  avx_semaphore_release: { parameters: [H, "u32"], result: "i32" },
  avx_semaphore_available: { parameters: [H], result: "i32" },
  avx_condvar_new: { parameters: [], result: "f64" },
  avx_condvar_wait: { parameters: [H, H, MS], result: "i32" },
  avx_condvar_wait_async: { parameters: [H, H, H], result: "i32" },
  avx_condvar_notify_one: { parameters: [H], result: "i32" },
  avx_condvar_notify_all: { parameters: [H], result: "i32" },

  avx_counter_new: { parameters: ["f64"], result: "f64" },
  avx_counter_load: { parameters: [H], result: "f64" },
  avx_counter_store: { parameters: [H, "f64"], result: "i32" },
  avx_counter_add: { parameters: [H, "f64"], result: "f64" },
  avx_counter_cas: { parameters: [H, "f64", "f64"], result: "f64" },
  avx_flag_new: { parameters: ["u32"], result: "f64" },
  avx_flag_load: { parameters: [H], result: "i32" },
  avx_flag_set: { parameters: [H], result: "i32" },
  avx_flag_clear: { parameters: [H], result: "i32" },
  avx_box_new: { parameters: ["buffer", "u32"], result: "f64" },
  avx_box_load: { parameters: [H, "buffer", "u32"], result: "i32" },
  avx_box_version: { parameters: [H], result: "f64" },
  avx_box_store: { parameters: [H, "buffer", "u32"], result: "f64" },
  avx_box_swap: { parameters: [H, "buffer", "u32", "buffer", "u32"], result: "i32" },
  avx_box_cas: { parameters: [H, "f64", "buffer", "u32"], result: "i32" },

  avx_mpsc_new: { parameters: ["u32", "buffer"], result: "i32" },
  avx_mpsc_clone_sender: { parameters: [H], result: "f64" },
  avx_mpsc_try_send: { parameters: [H, "buffer", "u32"], result: "i32" },
  avx_mpsc_send: { parameters: [H, "buffer", "u32", MS], result: "i32" },
  avx_mpsc_send_async: { parameters: [H, H], result: "i32" },
  avx_mpsc_try_recv: { parameters: [H, "buffer", "u32"], result: "i32" },
  avx_mpsc_recv: { parameters: [H, "buffer", "u32", MS], result: "i32" },
  avx_mpsc_try_recv_at: { parameters: [H, "buffer", "u32", "u32"], result: "i32" },
  avx_mpsc_recv_at: { parameters: [H, "buffer", "u32", "u32", MS], result: "i32" },
  avx_mpsc_recv_async: { parameters: [H, H], result: "i32" },
  avx_mpsc_try_recv_many: { parameters: [H, "buffer", "u32", "u32"], result: "i32" },
  avx_mpsc_recv_many: { parameters: [H, "buffer", "u32", "u32", MS], result: "i32" },
  avx_mpsc_try_send_many: { parameters: [H, "buffer", "u32", "u32"], result: "i32" },
  avx_mpsc_close: { parameters: [H], result: "i32" },
  avx_mpsc_len: { parameters: [H], result: "i32" },
  avx_broadcast_new: { parameters: ["u32"], result: "f64" },
  avx_broadcast_clone_sender: { parameters: [H], result: "f64" },
  avx_broadcast_subscribe: { parameters: [H], result: "f64" },
  avx_broadcast_send: { parameters: [H, "buffer", "u32"], result: "i32" },
  avx_broadcast_try_recv: { parameters: [H, "buffer", "u32"], result: "i32" },
  avx_broadcast_recv: { parameters: [H, "buffer", "u32", MS], result: "i32" },
  avx_broadcast_recv_async: { parameters: [H, H], result: "i32" },
  avx_broadcast_close: { parameters: [H], result: "i32" },
  avx_oneshot_new: { parameters: ["buffer"], result: "i32" },
  avx_oneshot_send: { parameters: [H, "buffer", "u32"], result: "i32" },
  avx_oneshot_try_recv: { parameters: [H, "buffer", "u32"], result: "i32" },
  avx_oneshot_recv: { parameters: [H, "buffer", "u32", MS], result: "i32" },
  avx_oneshot_recv_async: { parameters: [H, H], result: "i32" },
  avx_oneshot_close: { parameters: [H], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;

/** The bound library. @internal */
export type Lib = Deno.DynamicLibrary<typeof symbols>["symbols"];

/** Handle kinds, as numbered by native/core/handles.zig. @internal */
export const Kind = {
  mutex: 1,
  rwlock: 2,
  semaphore: 3,
  condvar: 4,
  counter: 5,
  flag: 6,
  box: 7,
  mpscSender: 8,
  mpscReceiver: 9,
  broadcastSender: 10,
  broadcastReceiver: 11,
  oneshotSender: 12,
  oneshotReceiver: 13,
  runtime: 14,
  task: 15,
  tcpListener: 16,
  tcpStream: 17,
  udpSocket: 18,
  server: 19,
} as const;

/** ABI version this binding expects (native/ffi/core.zig). @internal */
export const ABI_VERSION = 2;
