/**
 * JoinHandle: the spawner's side of a task.
 *
 * @module
 */
import { lib } from "../ffi/library.ts";
import { completionQueue } from "../ffi/queue.ts";
import { readMessage } from "../ffi/scratch.ts";
import { AvxError } from "../errors.ts";
import { decodeError, decodeResult } from "./payload.ts";

/** Task outcomes, as numbered by native/rt/task.zig. @internal */
export const Outcome = {
  pending: 0,
  ok: 1,
  thrown: 2,
  aborted: 3,
  workerLost: 4,
  cancelled: 5,
} as const;

// A handle dropped without being awaited or disposed gives its reference
// back when it is collected.
const finalizer = new FinalizationRegistry<number>((handle) => {
  lib().avx_handle_release(handle);
});

const constructing = Symbol("JoinHandle");

/**
 * A spawned task: await it for its result, or `abort()` it.
 *
 * Awaiting resolves with the task's return value, or rejects with:
 * - {@link TaskError} (code `TASK_FAILED`) when the task threw, carrying
 *   the error's name, message and stack;
 * - `AvxError` `ABORTED` after `abort()`;
 * - `AvxError` `WORKER_LOST` when the worker isolate running it died;
 * - `AvxError` `CLOSED` when the runtime shut down before it ended;
 * - the task's own `AvxError` code when it failed with one (for example
 *   `INVALID_ARGUMENT` for an unknown module or export).
 *
 * @example
 * ```ts
 * import { Runtime } from "@avx/runtime";
 *
 * await using rt = await Runtime.create();
 * const handle = rt.spawn(new URL("./tasks.ts", import.meta.url).href, "fib", 30);
 * console.log(handle.id, await handle);
 * ```
 */
export class JoinHandle<T> implements PromiseLike<T>, Disposable {
  /** The task's id: unique among the tasks of the process. */
  readonly id: number;
  #handle: number;
  #released = false;
  #promise: Promise<T> | undefined;
  #token = 0;
  #abortReason: unknown;

  /** @internal Made by `Runtime.spawn`. */
  constructor(key: symbol, handle: number) {
    if (key !== constructing) throw new TypeError("JoinHandle: use Runtime.spawn");
    this.id = handle;
    this.#handle = handle;
    finalizer.register(this, handle, this);
  }

  /**
   * Attach callbacks, as with a promise: `await handle` waits for the task.
   *
   * @example
   * ```ts
   * import { Runtime } from "@avx/runtime";
   *
   * await using rt = await Runtime.create();
   * rt.spawn(new URL("./tasks.ts", import.meta.url).href, "noop").then(() => console.log("done"));
   * ```
   */
  then<R1 = T, R2 = never>(
    onfulfilled?: ((value: T) => R1 | PromiseLike<R1>) | null,
    onrejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null,
  ): Promise<R1 | R2> {
    return this.#join().then(onfulfilled, onrejected);
  }

  /**
   * Attach a rejection handler, as with a promise.
   *
   * @example
   * ```ts
   * import { Runtime } from "@avx/runtime";
   *
   * await using rt = await Runtime.create();
   * await rt.spawn(new URL("./tasks.ts", import.meta.url).href, "fails").catch((e) => console.log(e.message));
   * ```
   */
  catch<R = never>(onrejected?: ((reason: unknown) => R | PromiseLike<R>) | null): Promise<T | R> {
    return this.#join().catch(onrejected);
  }

  /**
   * Run `onfinally` when the task settles, as with a promise.
   *
   * @example
   * ```ts
   * import { Runtime } from "@avx/runtime";
   *
   * await using rt = await Runtime.create();
   * await rt.spawn(new URL("./tasks.ts", import.meta.url).href, "noop").finally(() => console.log("settled"));
   * ```
   */
  finally(onfinally?: (() => void) | null): Promise<T> {
    return this.#join().finally(onfinally);
  }

  /**
   * Whether the task has ended (returned, thrown, aborted, lost or
   * cancelled).
   *
   * @example
   * ```ts
   * import { Runtime } from "@avx/runtime";
   *
   * await using rt = await Runtime.create();
   * const h = rt.spawn(new URL("./tasks.ts", import.meta.url).href, "noop");
   * await h;
   * console.log(h.finished); // true
   * ```
   */
  get finished(): boolean {
    if (this.#released) return true;
    const s = lib().avx_task_state(this.#handle);
    return s !== Outcome.pending;
  }

  /**
   * Abort the task. A queued task never runs; a running one sees its
   * `currentTask().signal` abort (JavaScript cannot be interrupted: the
   * task decides when to stop). Either way the handle rejects with
   * `ABORTED` at once and any later result is dropped. Returns false when
   * the task had already ended.
   *
   * @example
   * ```ts
   * import { Runtime } from "@avx/runtime";
   *
   * await using rt = await Runtime.create();
   * const h = rt.spawn(new URL("./tasks.ts", import.meta.url).href, "spin", 10_000);
   * h.abort("no longer needed");
   * await h.catch((e) => console.log(e.code)); // "ABORTED"
   * ```
   */
  abort(reason?: unknown): boolean {
    if (this.#released) return false;
    const r = lib().avx_task_abort(this.#handle);
    if (r < 0) throw AvxError.fromStatus(r, "JoinHandle.abort");
    if (r === 1) this.#abortReason = reason;
    return r === 1;
  }

  /**
   * Stop caring about the task: give its reference back. The task still
   * runs; awaiting the handle afterwards rejects with `CLOSED`.
   *
   * @example
   * ```ts
   * import { Runtime } from "@avx/runtime";
   *
   * await using rt = await Runtime.create();
   * using _h = rt.spawn(new URL("./tasks.ts", import.meta.url).href, "noop");
   * ```
   */
  [Symbol.dispose](): void {
    if (this.#released) return;
    if (this.#token !== 0) {
      completionQueue().cancel(this.#token);
      this.#token = 0;
    }
    this.#release();
  }

  #release(): void {
    this.#released = true;
    finalizer.unregister(this);
    lib().avx_handle_release(this.#handle);
  }

  #join(): Promise<T> {
    if (this.#promise !== undefined) return this.#promise;
    if (this.#released) {
      return this.#promise = Promise.reject(new AvxError("CLOSED", `task ${this.id}: handle was disposed`));
    }
    const q = completionQueue();
    const r = lib().avx_task_join_async(this.#handle, q.id);
    if (r === 0) {
      this.#promise = this.#settle();
    } else if (r < 0) {
      this.#promise = Promise.reject(AvxError.fromStatus(r, `task ${this.id}`));
    } else {
      this.#token = r;
      this.#promise = new Promise<T>((resolve, reject) => {
        q.add(r, () => {
          this.#token = 0;
          this.#settle().then(resolve, reject);
        });
      });
    }
    return this.#promise;
  }

  /** The outcome of the ended task; the reference goes back. */
  #settle(): Promise<T> {
    try {
      return Promise.resolve(this.#take());
    } catch (e) {
      return Promise.reject(e);
    } finally {
      if (!this.#released) this.#release();
    }
  }

  #take(): T {
    const h = this.#handle;
    const l = lib();
    const outcome = l.avx_task_state(h);
    switch (outcome) {
      case Outcome.ok:
        return decodeResult(this.#result()) as T;
      case Outcome.thrown:
        throw decodeError(this.#result());
      case Outcome.aborted:
        throw new AvxError("ABORTED", `task ${this.id}: aborted`, { cause: this.#abortReason });
      case Outcome.workerLost:
        throw new AvxError("WORKER_LOST", `task ${this.id}: the worker isolate running it died`);
      case Outcome.cancelled:
        throw new AvxError("CLOSED", `task ${this.id}: the runtime shut down before it ended`);
      default:
        throw outcome < 0
          ? AvxError.fromStatus(outcome, `task ${this.id}`)
          : new AvxError("INVALID_STATE", `task ${this.id}: unexpected outcome ${outcome}`);
    }
  }

  #result(): Uint8Array {
    const bytes = readMessage((buf, cap) => lib().avx_task_result(this.#handle, buf, cap));
    if (typeof bytes === "number") throw AvxError.fromStatus(bytes, `task ${this.id}: reading its result`);
    return bytes;
  }
}

/** Make a JoinHandle for a fresh task handle. @internal */
export function joinHandle<T>(handle: number): JoinHandle<T> {
  return new JoinHandle<T>(constructing, handle);
}
