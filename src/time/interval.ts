/**
 * Drift-free periodic ticks on the native wheel.
 *
 * @module
 */
import { lib } from "../ffi/library.ts";
import { completionQueue } from "../ffi/queue.ts";
import { AvxError, checkOptions, invalidArgument } from "../errors.ts";
import { abortError, checkDelay, now } from "./clock.ts";

/** Options of {@link interval}. */
export interface IntervalOptions {
  /**
   * Stop the ticks: a pending `next()` rejects with code `ABORTED` and the
   * native timer is cancelled.
   */
  signal?: AbortSignal;
}

type Result = IteratorResult<number, undefined>;

const DONE: Result = { value: undefined, done: true };

interface Waiting {
  token: number;
  resolve: (r: Result) => void;
  onAbort: (() => void) | undefined;
}

class Ticks implements AsyncIterableIterator<number, undefined> {
  readonly #ms: number;
  readonly #start: number;
  readonly #signal: AbortSignal | undefined;
  #tick = 0;
  #done = false;
  #waiting: Waiting | undefined;

  constructor(ms: number, signal: AbortSignal | undefined) {
    this.#ms = ms;
    this.#signal = signal;
    this.#start = now();
  }

  next(): Promise<Result> {
    if (this.#done) return Promise.resolve(DONE);
    if (this.#waiting !== undefined) {
      return Promise.reject(new AvxError("INVALID_STATE", "interval: next() called while a tick is pending"));
    }
    const signal = this.#signal;
    if (signal?.aborted) {
      this.#done = true;
      return Promise.reject(abortError(signal, "interval"));
    }
    const q = completionQueue();
    const k = this.#tick + 1;
    const r = lib().avx_timer_until_async(this.#start + k * this.#ms, q.id);
    if (r < 0) {
      this.#done = true;
      return Promise.reject(AvxError.fromStatus(r, "interval"));
    }
    if (r === 0) {
      // The consumer is late: tick `k` is already due. Yield the latest
      // tick due by now at once and skip those in between (no burst); the
      // next tick stays on the start + k·ms grid.
      this.#tick = Math.max(k, Math.floor((now() - this.#start) / this.#ms));
      return Promise.resolve({ value: this.#tick, done: false });
    }
    return new Promise<Result>((resolve, reject) => {
      const onAbort = signal === undefined ? undefined : () => {
        this.#stop();
        reject(abortError(signal, "interval"));
      };
      this.#waiting = { token: r, resolve, onAbort };
      if (onAbort) signal!.addEventListener("abort", onAbort, { once: true });
      q.add(r, () => {
        if (onAbort) signal!.removeEventListener("abort", onAbort);
        this.#waiting = undefined;
        this.#tick = k;
        resolve({ value: k, done: false });
      });
    });
  }

  return(): Promise<Result> {
    const waiting = this.#waiting;
    this.#stop();
    // A `next()` still pending ends too.
    waiting?.resolve(DONE);
    return Promise.resolve(DONE);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  /** Done; cancel the pending timer, if any. */
  #stop(): void {
    this.#done = true;
    const waiting = this.#waiting;
    if (waiting === undefined) return;
    this.#waiting = undefined;
    completionQueue().cancel(waiting.token);
    if (waiting.onAbort) this.#signal!.removeEventListener("abort", waiting.onAbort);
  }
}

/**
 * Tick every `ms` milliseconds, on the native wheel, without drift: the
 * k-th tick is due at `start + k·ms` (start = when `interval` was called),
 * however long each iteration took. Each tick yields its number k (1, 2,
 * ...).
 *
 * Missed ticks are skipped, not bunched up: when the consumer asks for the
 * next tick after one or more are already due, it gets the latest due tick
 * at once, and the one after it stays on the grid (tokio's
 * `MissedTickBehavior::Skip`). A jump in the numbers (3, then 6) says how
 * many were missed.
 *
 * Nothing is armed until the first `next()`. `break`, `return()` or an
 * abort cancels the pending timer; an abort rejects the pending `next()`
 * with `ABORTED`. Throws `INVALID_ARGUMENT` unless `ms` is a number above
 * 0 and at most {@link MAX_DELAY}.
 *
 * @example
 * ```ts
 * import { interval } from "@avx/runtime";
 *
 * for await (const tick of interval(100)) {
 *   console.log("tick", tick);
 *   if (tick === 5) break; // the pending timer is cancelled
 * }
 * ```
 */
export function interval(ms: number, options?: IntervalOptions): AsyncIterableIterator<number, undefined> {
  checkDelay(ms, "interval");
  if (ms === 0) throw new AvxError("INVALID_ARGUMENT", "interval: ms must be above 0, got 0");
  // The signal's type is checked now; an aborted one ends the first next().
  const signal: unknown = checkOptions<IntervalOptions>(options, "interval")?.signal;
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw invalidArgument("interval", "signal", "an AbortSignal or undefined", signal);
  }
  return new Ticks(ms, signal);
}
