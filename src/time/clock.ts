/**
 * The timers' clock and counters, and the checks every timer API shares.
 *
 * @module
 */
import { lib } from "../ffi/library.ts";
import { AvxError, checkOptions, describeValue, invalidArgument } from "../errors.ts";

/**
 * The longest delay a timer accepts, in milliseconds: 2^42 (about 139
 * years).
 *
 * @example
 * ```ts
 * import { MAX_DELAY, sleep } from "@avx/runtime";
 * await sleep(Math.min(10, MAX_DELAY));
 * ```
 */
export const MAX_DELAY = 2 ** 42;

/**
 * Milliseconds on the timer wheel's monotonic clock, with sub-millisecond
 * precision; its origin is the first use of a timer (or of `now()`) in the
 * process. Unlike `performance.now()`, whose origin differs in every
 * Worker, this clock is the same in every isolate of the process, so a
 * point in time computed in one isolate (for {@link deadline}) means the
 * same in another.
 *
 * @example
 * ```ts
 * import { now } from "@avx/runtime";
 * const t0 = now();
 * // ... work ...
 * console.log(`took ${now() - t0} ms`);
 * ```
 */
export function now(): number {
  return lib().avx_timer_now_ms();
}

/** Counters of the process-wide timer wheel (every isolate's timers). */
export interface TimerMetrics {
  /** Timers ever armed. */
  armed: number;
  /** Timers that fired. */
  fired: number;
  /** Timers cancelled before they fired. */
  cancelled: number;
  /** Timers armed now: `armed - fired - cancelled`. */
  pending: number;
  /** Times the driver thread woke up (to fire timers or to re-plan). */
  driverWakeups: number;
}

const metricsOut = new Float64Array(5);

/**
 * The timer wheel's counters, process-wide.
 *
 * @example
 * ```ts
 * import { sleep, timerMetrics } from "@avx/runtime";
 * const before = timerMetrics();
 * await sleep(1);
 * console.log(timerMetrics().fired - before.fired); // 1 (or more, from other isolates)
 * ```
 */
export function timerMetrics(): TimerMetrics {
  const n = lib().avx_timer_metrics(metricsOut, metricsOut.length);
  if (n !== metricsOut.length) throw AvxError.fromStatus(n < 0 ? n : -16, "timerMetrics");
  return {
    armed: metricsOut[0],
    fired: metricsOut[1],
    cancelled: metricsOut[2],
    pending: metricsOut[3],
    driverWakeups: metricsOut[4],
  };
}

/** Throw INVALID_ARGUMENT unless `ms` is a delay the wheel takes. @internal */
export function checkDelay(ms: unknown, what: string): void {
  if (typeof ms !== "number" || !(ms >= 0 && ms <= MAX_DELAY)) {
    throw new AvxError(
      "INVALID_ARGUMENT",
      `${what}: ms must be a number of milliseconds in 0..2^42, got ${describeValue(ms)}`,
    );
  }
}

/** Throw INVALID_ARGUMENT unless `at` is a finite point on {@link now}'s clock. @internal */
export function checkInstant(at: unknown, what: string): void {
  if (typeof at !== "number" || !Number.isFinite(at)) {
    throw new AvxError("INVALID_ARGUMENT", `${what}: at must be a finite time from now(), got ${describeValue(at)}`);
  }
}

/** The error of an aborted wait. @internal */
/**
 * Check a timer's options (`{ signal }` or undefined) before anything
 * native starts: the signal, read once, must be an `AbortSignal`; an
 * aborted one is `ABORTED`. @internal
 */
export function checkTimerOptions(options: unknown, what: string): AbortSignal | undefined {
  const signal: unknown = checkOptions<{ signal?: AbortSignal }>(options, what)?.signal;
  if (signal === undefined) return undefined;
  if (!(signal instanceof AbortSignal)) throw invalidArgument(what, "signal", "an AbortSignal or undefined", signal);
  if (signal.aborted) throw abortError(signal, what);
  return signal;
}

export function abortError(signal: AbortSignal, what: string): AvxError {
  return new AvxError("ABORTED", `${what}: aborted`, { cause: signal.reason });
}
