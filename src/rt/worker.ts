/**
 * The module every worker isolate of a runtime runs: attach to a worker
 * slot of the native scheduler, then loop.
 *
 * - `next` hands over a task: run it. A synchronous task is completed at
 *   once; an async one when its promise settles (the loop goes on).
 * - The budget is spent (`yield`): let the event loop turn once, so
 *   timers, completions and messages of this isolate run.
 * - Nothing to do (`idle`): with no JavaScript pending, park in a blocking
 *   native call (a futex: woken in microseconds); with async tasks or
 *   waits pending, park through the completion queue so the event loop
 *   keeps running.
 * - `shutdown`: detach and leave.
 *
 * @module
 */
import { lib } from "../ffi/library.ts";
import { completionQueue } from "../ffi/queue.ts";
import { isThenable, quiesceIsolate, turnEventLoop } from "../ffi/isolate.ts";
import { Kind } from "../ffi/symbols.ts";
import { RtComplete, RtNext } from "../ffi/abi.gen.ts";
import { AvxError } from "../errors.ts";
import { decodeArgs, encodeError, encodeResult } from "./payload.ts";
import { knownFunction, loadFunction, type TaskFunction } from "./functions.ts";
import { RunningTask, setRunning } from "./context.ts";
import { enterWorker } from "./runtime.ts";
import { releasePendingJoins } from "./join.ts";

import type { WorkerReport, WorkerStart } from "./messages.ts";

const { IDLE: NEXT_IDLE, TASK: NEXT_TASK, YIELD: NEXT_YIELD, SHUTDOWN: NEXT_SHUTDOWN } = RtNext;
const { OK: COMPLETE_OK, THROWN: COMPLETE_THROWN } = RtComplete;
/** A blocking park lasts at most this long before the event loop turns once. */
const PARK_SLICE_MS = 100;

interface Scope {
  onmessage: ((e: MessageEvent<WorkerStart>) => void) | null;
  postMessage(message: WorkerReport): void;
  close(): void;
}
const scope = globalThis as unknown as Scope;

scope.onmessage = (e) => {
  scope.onmessage = null;
  main(e.data).catch((err) => console.error("avx worker: failed:", err));
};

// A worker that ends on its own says so first, so that the owner notices
// and starts a replacement at once. An uncaught error, an unhandled
// rejection, a task calling `close()` or `Deno.exit()` makes it give its
// slot up (its running tasks end WORKER_LOST, its queue moves to the other
// workers), close its completion queue, tell the owner and only then close
// for real. (Ending without this is safe too: nothing native calls into
// it, and its thread's exit closes its queue.)
let leaving: string | undefined;
let wakeLoop: (() => void) | undefined;
const realClose = scope.close.bind(scope);

function leave(reason: string): void {
  if (leaving !== undefined) return;
  leaving = reason;
  wakeLoop?.();
}

globalThis.addEventListener("error", (e) => {
  e.preventDefault();
  console.error(`avx worker ${(globalThis as { name?: string }).name}: uncaught error:`, e.error ?? e.message);
  leave(`uncaught error: ${e.message}`);
});
globalThis.addEventListener("unhandledrejection", (e) => {
  e.preventDefault();
  console.error(`avx worker ${(globalThis as { name?: string }).name}: unhandled rejection:`, e.reason);
  leave(`unhandled rejection: ${e.reason}`);
});
scope.close = () => leave("close() was called");
// In a Worker, Deno.exit() ends only that Worker, silently: the owner
// would never learn of it.
Deno.exit = ((code?: number) => leave(`Deno.exit(${code ?? 0}) was called`)) as typeof Deno.exit;

async function main(start: WorkerStart): Promise<void> {
  const l = lib();
  const { runtime, index } = start;
  let q: ReturnType<typeof completionQueue>;
  try {
    q = completionQueue();
  } catch (e) {
    scope.postMessage({ type: "failed", message: `worker ${index}: ${(e as Error).message}` });
    return;
  }
  const retained = l.avx_handle_retain(runtime, Kind.runtime);
  if (retained < 0) {
    scope.postMessage({ type: "failed", message: AvxError.fromStatus(retained, "worker attach").message });
    return;
  }
  const epoch = l.avx_rt_attach(runtime, index, q.id);
  if (epoch < 0) {
    l.avx_handle_release(runtime);
    scope.postMessage({ type: "failed", message: AvxError.fromStatus(epoch, "worker attach").message });
    return;
  }
  enterWorker(runtime, start.workers);
  scope.postMessage({ type: "ready", queue: q.id });
  try {
    await new Loop(runtime, index, epoch).run();
  } catch (e) {
    leave(`the worker loop failed: ${e}`);
  }
  if (leaving === undefined) l.avx_rt_detach(runtime, index, epoch);
  else l.avx_rt_leave(runtime, index, epoch);
  l.avx_handle_release(runtime);
  // Subtasks this isolate spawned and never collected: their references go
  // now (their handles will never settle here).
  releasePendingJoins();
  quiesceIsolate();
  scope.postMessage(leaving === undefined ? { type: "exited" } : { type: "left", reason: leaving });
  realClose();
}

class Loop {
  readonly #rt: number;
  readonly #index: number;
  readonly #epoch: number;
  readonly #info = new Float64Array(3);
  #args = new Uint8Array(16 * 1024);
  /** Async tasks started here and not settled. */
  #pending = 0;

  constructor(rt: number, index: number, epoch: number) {
    this.#rt = rt;
    this.#index = index;
    this.#epoch = epoch;
  }

  async run(): Promise<void> {
    const l = lib();
    const q = completionQueue();
    let parkedIdle = false;
    for (;;) {
      if (leaving !== undefined) return;
      const r = l.avx_rt_next(this.#rt, this.#index, this.#epoch, this.#info, this.#args, this.#args.length);
      if (r === NEXT_TASK) {
        parkedIdle = false;
        const loading = this.#start();
        // First task of a function here: its module loads before this
        // worker takes another task (which other workers may steal).
        if (loading !== undefined) await loading;
      } else if (r === NEXT_YIELD) {
        await turnEventLoop();
      } else if (r === NEXT_IDLE) {
        if (this.#pending === 0 && q.pending === 0) {
          if (parkedIdle) {
            // A whole slice passed idle: let stray timers of tasks run.
            parkedIdle = false;
            await turnEventLoop();
            continue;
          }
          l.avx_rt_park(this.#rt, this.#index, this.#epoch, PARK_SLICE_MS);
          parkedIdle = true;
        } else {
          const token = l.avx_rt_park_async(this.#rt, this.#index, this.#epoch, q.id);
          if (token > 0) {
            await new Promise<void>((resolve) => {
              wakeLoop = resolve;
              q.add(token, () => resolve());
            });
            wakeLoop = undefined;
          } else if (token < 0) return;
        }
      } else {
        // NEXT_SHUTDOWN, or a negative status: a stale epoch, a runtime gone.
        if (r !== NEXT_SHUTDOWN && r >= 0) throw new AvxError("INVALID_STATE", `worker loop: unexpected step ${r}`);
        return;
      }
    }
  }

  /** Start the task `next` gave; a promise while its module loads. */
  #start(): Promise<void> | undefined {
    const handle = this.#info[0];
    const fnId = this.#info[1];
    const len = this.#info[2];
    let args: Uint8Array;
    if (len <= this.#args.length) {
      // A copy: V8's deserializer may keep views of its input.
      args = len === 0 ? this.#args.subarray(0, 0) : this.#args.slice(0, len);
    } else {
      args = new Uint8Array(len);
      const n = lib().avx_task_args(handle, args, len);
      if (n < 0) {
        complete(handle, undefined, COMPLETE_THROWN, AvxError.fromStatus(n, "reading task arguments"));
        return;
      }
    }
    const fn = knownFunction(fnId);
    if (fn !== undefined) {
      this.#call(handle, fn, args);
      return;
    }
    return loadFunction(fnId).then(
      (f) => this.#call(handle, f, args),
      (e) => complete(handle, undefined, COMPLETE_THROWN, e),
    );
  }

  #call(handle: number, fn: TaskFunction, bytes: Uint8Array): void {
    let args: unknown[];
    try {
      args = decodeArgs(bytes);
    } catch (e) {
      return complete(handle, undefined, COMPLETE_THROWN, e);
    }
    const task = new RunningTask(handle);
    setRunning(task);
    let result: unknown;
    try {
      result = fn(...args);
    } catch (e) {
      setRunning(undefined);
      return complete(handle, task, COMPLETE_THROWN, e);
    }
    setRunning(undefined);
    if (!isThenable(result)) return complete(handle, task, COMPLETE_OK, result);
    this.#pending++;
    Promise.resolve(result).then(
      (value) => complete(handle, task, COMPLETE_OK, value),
      (e) => complete(handle, task, COMPLETE_THROWN, e),
    ).finally(() => this.#pending--);
  }
}

function complete(handle: number, task: RunningTask | undefined, outcome: number, value: unknown): void {
  task?.end();
  let bytes: Uint8Array;
  if (outcome === COMPLETE_OK) {
    try {
      bytes = encodeResult(value);
    } catch (e) {
      outcome = COMPLETE_THROWN;
      bytes = encodeError(
        new AvxError("INVALID_ARGUMENT", `task result cannot be sent back: ${(e as Error).message}`),
      );
    }
  } else {
    bytes = encodeError(value);
  }
  // A negative result means the task had ended already (aborted, or the
  // runtime finished it): its result is dropped, as documented.
  lib().avx_task_complete(handle, outcome, bytes, bytes.length);
}
