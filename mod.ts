/**
 * avx: locks, channels and atomics shared by every isolate of a Deno
 * process (the main thread and its Workers), backed by a native Zig
 * library.
 *
 * Objects are native; JavaScript holds handles. Post `obj.handle` to a
 * Worker and call the class's static `from(handle)` there to use the same
 * object. Waiting operations come in three forms: `await x()` (never
 * blocks the event loop; takes `{ signal, timeout }`), `xSync()` (blocks
 * the thread, for Workers) and `tryX()` (never waits).
 *
 * Run with `--allow-ffi` (the library is loaded with `Deno.dlopen`) and,
 * to use the `AVX_LIB_PATH` override, `--allow-env`.
 *
 * @example A counter shared with a Worker
 * ```ts
 * import { AtomicCounter, Mutex } from "@avx/runtime";
 *
 * const hits = new AtomicCounter();
 * const lock = new Mutex();
 * const worker = new Worker(new URL("./worker.ts", import.meta.url), { type: "module" });
 * worker.postMessage({ hits: hits.handle, lock: lock.handle });
 * // worker.ts: const hits = AtomicCounter.from(e.data.hits); hits.add(1); ...
 * ```
 *
 * @module
 */
export { AvxError, type AvxErrorCode, LaggedError, type OsErrorCode, TaskError } from "./src/errors.ts";
export type { WaitOptions } from "./src/ffi/queue.ts";
export { type Handle, Resource } from "./src/resource.ts";
export { bytesCodec, type Codec, type CodecName, jsonCodec, stringCodec, structuredCodec } from "./src/codec.ts";
export { Mutex, MutexGuard } from "./src/sync/mutex.ts";
export { RwLock, RwLockGuard } from "./src/sync/rwlock.ts";
export { MAX_PERMITS, Permit, Semaphore } from "./src/sync/semaphore.ts";
export { Condvar } from "./src/sync/condvar.ts";
export { AtomicCounter } from "./src/atomic/counter.ts";
export { AtomicFlag } from "./src/atomic/flag.ts";
export { AtomicBox, type AtomicBoxOptions, type Versioned } from "./src/atomic/box.ts";
export {
  type AttachOptions,
  MAX_BATCH,
  MAX_CAPACITY,
  mpsc,
  type MpscOptions,
  Receiver,
  Sender,
} from "./src/chan/mpsc.ts";
export {
  broadcast,
  type BroadcastOptions,
  BroadcastReceiver,
  BroadcastSender,
  DEFAULT_BROADCAST_CAPACITY,
} from "./src/chan/broadcast.ts";
export { oneshot, type OneshotOptions, OneshotReceiver, OneshotSender } from "./src/chan/oneshot.ts";
export { liveHandles } from "./src/diagnostics.ts";
export { Runtime, type RuntimeConfig, type ShutdownOptions } from "./src/rt/runtime.ts";
export type { JoinHandle } from "./src/rt/join.ts";
export { currentTask, type TaskContext } from "./src/rt/context.ts";
export type { RuntimeMetrics, WorkerMetrics } from "./src/rt/metrics.ts";
export { MAX_DELAY, now, type TimerMetrics, timerMetrics } from "./src/time/clock.ts";
export { deadline, sleep, timeout, type TimerOptions } from "./src/time/sleep.ts";
export { interval, type IntervalOptions } from "./src/time/interval.ts";
export { after, TimerHandle } from "./src/time/timer.ts";
export {
  connect,
  listen,
  type TcpConnectOptions,
  TcpListener,
  type TcpListenOptions,
  TcpStream,
} from "./src/net/tcp.ts";
export { bindUdp, type UdpBindOptions, UdpSocket, type UdpTarget } from "./src/net/udp.ts";
export type { NetAddr } from "./src/net/addr.ts";
export { serve, type ServeMetrics, type ServeOptions, Server } from "./src/net/serve.ts";
export { type HttpHandler, type HttpReply, type HttpReplyInit, HttpRequest } from "./src/net/http.ts";
