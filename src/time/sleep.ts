/**
 * Promise timers on the native wheel: `sleep`, `timeout`, `deadline`.
 *
 * @module
 */
import { lib } from "../ffi/library.ts";
import { completionQueue } from "../ffi/queue.ts";
import { AvxError, Status } from "../errors.ts";
import { abortError, checkDelay, checkInstant, checkTimerOptions, MAX_DELAY } from "./clock.ts";

/** Options of {@link sleep}, {@link timeout} and {@link deadline}. */
export interface TimerOptions {
  /**
   * Abort the wait: the promise rejects with code `ABORTED` and the native
   * timer is cancelled.
   */
  signal?: AbortSignal;
}

type Queue = ReturnType<typeof completionQueue>;

/**
 * Resolve after `ms` milliseconds, on the native timer wheel: 1 ms
 * resolution, never early (the timer fires at the first tick at or after
 * the deadline). Works the same on the main thread and in Workers. Like
 * `setTimeout`, a pending sleep keeps the event loop alive. `sleep(0)`
 * resolves at once (in a microtask).
 *
 * Rejects with `INVALID_ARGUMENT` when `ms` is negative, NaN, not a
 * number, infinite or above {@link MAX_DELAY}; with `ABORTED` when
 * `options.signal` aborts (the timer is cancelled natively).
 *
 * @example
 * ```ts
 * import { sleep } from "@avx/runtime";
 *
 * await sleep(50);
 * const ac = new AbortController();
 * setTimeout(() => ac.abort(), 10);
 * await sleep(60_000, { signal: ac.signal }).catch((e) => console.log(e.code)); // "ABORTED"
 * ```
 */
export function sleep(ms: number, options?: TimerOptions): Promise<void> {
  let signal: AbortSignal | undefined;
  try {
    checkDelay(ms, "sleep");
    signal = checkTimerOptions(options, "sleep");
  } catch (e) {
    return Promise.reject(e);
  }
  const q = completionQueue();
  const r = lib().avx_timer_sleep_async(ms, q.id);
  if (r === 0) return Promise.resolve();
  if (r < 0) return Promise.reject(AvxError.fromStatus(r, "sleep"));
  return new Promise<void>((resolve, reject) => {
    if (signal === undefined) {
      q.add(r, () => resolve());
      return;
    }
    const onAbort = () => {
      q.cancel(r);
      reject(abortError(signal, "sleep"));
    };
    signal.addEventListener("abort", onAbort, { once: true });
    q.add(r, () => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    });
  });
}

/**
 * Settle like `promise`, or reject with `TIMEOUT` if it has not settled
 * within `ms` milliseconds. The timer is cancelled as soon as `promise`
 * settles. The work behind `promise` is not stopped: give it a signal of
 * its own for that. A promise already settled wins against a zero delay.
 *
 * Rejects with `INVALID_ARGUMENT` for a bad `ms` (as {@link sleep}) and
 * with `ABORTED` when `options.signal` aborts first.
 *
 * @example
 * ```ts
 * import { timeout } from "@avx/runtime";
 *
 * const res = await timeout(fetch("https://example.com"), 5_000);
 * ```
 */
export function timeout<T>(promise: PromiseLike<T>, ms: number, options?: TimerOptions): Promise<T> {
  let signal: AbortSignal | undefined;
  try {
    checkDelay(ms, "timeout");
    signal = checkTimerOptions(options, "timeout");
  } catch (e) {
    return Promise.reject(e);
  }
  const q = completionQueue();
  const r = lib().avx_timer_sleep_async(ms, q.id);
  if (r < 0) return Promise.reject(AvxError.fromStatus(r, "timeout"));
  return race(q, r, promise, signal, "timeout", `timed out after ${ms} ms`);
}

/**
 * Settle like `promise`, or reject with `TIMEOUT` if it has not settled
 * when {@link now} reaches `at`. The point in time is absolute, so a
 * deadline computed once holds across several operations (and across
 * isolates: {@link now} is process-wide). A deadline already past rejects
 * at once, unless `promise` has already settled.
 *
 * Rejects with `INVALID_ARGUMENT` when `at` is not a finite number or is
 * more than {@link MAX_DELAY} ms ahead, and with `ABORTED` when
 * `options.signal` aborts first.
 *
 * @example
 * ```ts
 * import { deadline, now, sleep } from "@avx/runtime";
 *
 * const at = now() + 1_000; // one budget for both steps
 * await deadline(sleep(10), at);
 * await deadline(sleep(10), at);
 * ```
 */
export function deadline<T>(promise: PromiseLike<T>, at: number, options?: TimerOptions): Promise<T> {
  let signal: AbortSignal | undefined;
  try {
    checkInstant(at, "deadline");
    signal = checkTimerOptions(options, "deadline");
  } catch (e) {
    return Promise.reject(e);
  }
  const q = completionQueue();
  const r = lib().avx_timer_until_async(at, q.id);
  if (r === Status.INVALID_ARGUMENT) {
    return Promise.reject(
      new AvxError("INVALID_ARGUMENT", `deadline: at must be at most 2^42 ms (${MAX_DELAY}) after now(), got ${at}`),
    );
  }
  if (r < 0) return Promise.reject(AvxError.fromStatus(r, "deadline"));
  return race(q, r, promise, signal, "deadline", "deadline passed");
}

/** `promise` against the timer `token` (0: already expired). */
function race<T>(
  q: Queue,
  token: number,
  promise: PromiseLike<T>,
  signal: AbortSignal | undefined,
  what: string,
  message: string,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let pending = token;
    let settled = false;
    const finish = () => {
      settled = true;
      if (pending > 0) q.cancel(pending);
      pending = 0;
      signal?.removeEventListener("abort", onAbort);
    };
    const onAbort = () => {
      if (settled) return;
      finish();
      reject(abortError(signal!, what));
    };
    const onTimer = () => {
      pending = 0;
      if (settled) return;
      finish();
      reject(new AvxError("TIMEOUT", `${what}: ${message}`));
    };
    Promise.resolve(promise).then(
      (value) => {
        if (settled) return;
        finish();
        resolve(value);
      },
      (error) => {
        if (settled) return;
        finish();
        reject(error);
      },
    );
    // Queued after the `then` above: a promise already settled wins.
    if (token === 0) queueMicrotask(onTimer);
    else q.add(token, onTimer);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
