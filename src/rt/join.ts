/**
 * JoinHandle: the spawner's side of a task.
 *
 * A JoinHandle is a real `Promise` (so `await`, `Promise.all` and friends
 * take their fast paths) carrying the task's `id` and an `abort` method.
 * Spawning registers the spawner as a joiner at once; when the task ends,
 * the completion arrives through this isolate's completion queue and one
 * native call collects the outcome and gives the task's reference back.
 * Nothing is left to a finalizer, and a handle nobody awaits costs nothing
 * more than the task itself.
 *
 * @module
 */
import { lib } from "../ffi/library.ts";
import { completionQueue } from "../ffi/queue.ts";
import { AvxError, Status } from "../errors.ts";
import { TOKEN_SLOT_BITS } from "../ffi/abi.gen.ts";
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

/**
 * A spawned task: a promise of its result, with an id and `abort()`.
 *
 * It resolves with the task's return value, or rejects with:
 * - {@link TaskError} (code `TASK_FAILED`) when the task threw, carrying
 *   the error's name, message and stack;
 * - `AvxError` `ABORTED` after `abort()`;
 * - `AvxError` `WORKER_LOST` when the worker isolate running it died;
 * - `AvxError` `CLOSED` when the runtime shut down before it ended;
 * - the task's own `AvxError` code when it failed with one (for example
 *   `INVALID_ARGUMENT` for an unknown module or export).
 *
 * A failure nobody handles is reported like any unhandled promise
 * rejection: Deno fires `unhandledrejection` and, unless a listener calls
 * `preventDefault()`, prints it and exits. To drop a handle whose failure
 * you do not care about (detach the task), attach a handler:
 * `handle.catch(() => {})`. Endings you caused are never reported:
 * `ABORTED` after `abort()`, and `CLOSED` when the runtime shut down before
 * the task ended.
 *
 * @example
 * ```ts
 * import { Runtime } from "@avx/runtime";
 *
 * await using rt = await Runtime.create();
 * const handle = rt.spawn<number>(new URL("./tasks.ts", import.meta.url).href, "fib", 30);
 * console.log(handle.id, await handle);
 * ```
 */
export interface JoinHandle<T> extends Promise<T> {
  /** The task's id: unique among the tasks of the process. */
  readonly id: number;
  /**
   * Abort the task. A queued task never runs; a running one sees its
   * `currentTask().signal` abort (JavaScript cannot be interrupted: the
   * task decides when to stop). Either way the handle rejects with
   * `ABORTED` and any later result is dropped. Returns false when the task
   * had already ended.
   */
  abort(reason?: unknown): boolean;
}

const abortReasons = new Map<number, unknown>();

function abort(this: JoinHandle<unknown>, reason?: unknown): boolean {
  // After the handle settled its reference is gone: the lookup fails.
  const r = lib().avx_task_abort(this.id);
  if (r !== 1) return false;
  abortReasons.set(this.id, reason);
  return true;
}

function ignore(): void {}

/**
 * Errors of endings the spawner caused (`abort()`, shutdown): a handle
 * nobody awaits does not report them. Every other failure is left to
 * Deno's unhandled-rejection tracking, like any promise's.
 */
const quiet = new WeakSet<Error>();

function quietError(e: AvxError): AvxError {
  quiet.add(e);
  return e;
}

/** Reject `promise`; mark it handled only for an ending the spawner caused. */
function rejectJoin(promise: Promise<unknown>, reject: (reason: unknown) => void, e: unknown): void {
  if (quiet.has(e as Error)) promise.catch(ignore);
  reject(e);
}

// Results are read into this buffer, then copied out at their size.
const resultBuffer = new Uint8Array(64 * 1024);

/** Tokens are `slot | generation << TOKEN_SLOT_BITS` (native/core/cq.zig). */
const SLOT_MASK = (1 << TOKEN_SLOT_BITS) - 1;

/**
 * Joins waiting for their completion, by token slot: one shared settle
 * function instead of a closure per task.
 */
const joins = {
  handles: new Float64Array(1024),
  promises: new Array<Promise<unknown> | undefined>(1024).fill(undefined),
  resolves: new Array<((value: unknown) => void) | undefined>(1024).fill(undefined),
  rejects: new Array<((reason: unknown) => void) | undefined>(1024).fill(undefined),
};

function growJoins(slot: number): void {
  let n = joins.handles.length;
  while (n <= slot) n *= 2;
  const handles = new Float64Array(n);
  handles.set(joins.handles);
  joins.handles = handles;
  const promises = new Array<Promise<unknown> | undefined>(n).fill(undefined);
  const resolves = new Array<((value: unknown) => void) | undefined>(n).fill(undefined);
  const rejects = new Array<((reason: unknown) => void) | undefined>(n).fill(undefined);
  for (let i = 0; i < joins.resolves.length; i++) {
    promises[i] = joins.promises[i];
    resolves[i] = joins.resolves[i];
    rejects[i] = joins.rejects[i];
  }
  joins.promises = promises;
  joins.resolves = resolves;
  joins.rejects = rejects;
}

const captured = {
  resolve: ignore as (value: unknown) => void,
  reject: ignore as (reason: unknown) => void,
};

function capture(resolve: (value: never) => void, reject: (reason: unknown) => void): void {
  captured.resolve = resolve as (value: unknown) => void;
  captured.reject = reject;
}

function settleJoin(_result: number, token: number): void {
  const slot = token & SLOT_MASK;
  const handle = joins.handles[slot];
  const promise = joins.promises[slot]!;
  const resolve = joins.resolves[slot]!;
  const reject = joins.rejects[slot]!;
  joins.promises[slot] = undefined;
  joins.resolves[slot] = undefined;
  joins.rejects[slot] = undefined;
  let value: unknown;
  try {
    value = collect(handle);
  } catch (e) {
    // Reported as unhandled if nobody handles it (a failure must not pass
    // silently), unless the spawner caused it. Handlers attached before or
    // after see it either way.
    rejectJoin(promise, reject, e);
    return;
  }
  resolve(value);
}

/**
 * Wrap a fresh task handle (one reference, owned by us): join it now and
 * return its JoinHandle. @internal
 */
export function joinHandle<T>(handle: number): JoinHandle<T> {
  const q = completionQueue();
  const token = lib().avx_task_join_async(handle, q.id);
  let promise: Promise<T>;
  if (token > 0) {
    // A shared executor: no closure and no withResolvers object per task.
    const p = new Promise<T>(capture);
    const slot = token & SLOT_MASK;
    if (slot >= joins.handles.length) growJoins(slot);
    joins.handles[slot] = handle;
    joins.promises[slot] = p;
    joins.resolves[slot] = captured.resolve;
    joins.rejects[slot] = captured.reject;
    q.add(token, settleJoin);
    promise = p;
  } else {
    let failure: unknown;
    let value: T | undefined;
    try {
      if (token === 0) value = collect<T>(handle);
      else failure = joinFailed(handle, token);
    } catch (e) {
      failure = e;
    }
    if (failure === undefined) {
      promise = Promise.resolve(value as T);
    } else {
      // As a completion's: unhandled unless the spawner caused it.
      promise = Promise.reject(failure);
      if (quiet.has(failure as Error)) promise.catch(ignore);
    }
  }
  const h = promise as JoinHandle<T> & { id: number };
  h.id = handle;
  h.abort = abort;
  return h;
}

function joinFailed(handle: number, status: number): AvxError {
  lib().avx_handle_release(handle);
  return AvxError.fromStatus(status, `task ${handle}`);
}

/** The ended task's outcome, collected in one call that also releases it. */
function collect<T>(handle: number): T {
  const l = lib();
  let buf = resultBuffer;
  let outcome = l.avx_task_finish(handle, buf, buf.length);
  if (outcome === Status.BUFFER_TOO_SMALL) {
    buf = new Uint8Array(l.avx_last_value());
    outcome = l.avx_task_finish(handle, buf, buf.length);
  }
  if (outcome < 0) throw joinFailed(handle, outcome);
  switch (outcome) {
    case Outcome.ok: {
      const len = l.avx_last_value();
      // A copy: V8's deserializer may keep views of its input.
      return (len === 0 ? undefined : decodeResult(buf.slice(0, len))) as T;
    }
    case Outcome.thrown:
      throw decodeError(buf.slice(0, l.avx_last_value()));
    case Outcome.aborted: {
      const cause = abortReasons.get(handle);
      abortReasons.delete(handle);
      throw quietError(new AvxError("ABORTED", `task ${handle}: aborted`, { cause }));
    }
    case Outcome.workerLost:
      throw new AvxError("WORKER_LOST", `task ${handle}: the worker isolate running it died`);
    case Outcome.cancelled:
      throw quietError(new AvxError("CLOSED", `task ${handle}: the runtime shut down before it ended`));
    default:
      throw new AvxError("INVALID_STATE", `task ${handle}: unexpected outcome ${outcome}`);
  }
}

/**
 * This isolate is going away: give back the references of the tasks it
 * spawned and never collected (their handles will never settle). @internal
 */
export function releasePendingJoins(): void {
  const l = lib();
  for (let slot = 0; slot < joins.resolves.length; slot++) {
    if (joins.resolves[slot] === undefined) continue;
    l.avx_handle_release(joins.handles[slot]);
    joins.promises[slot] = undefined;
    joins.resolves[slot] = undefined;
    joins.rejects[slot] = undefined;
  }
}
