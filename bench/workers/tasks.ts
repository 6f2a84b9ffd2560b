/**
 * Task functions for the task benchmarks: the one module that avx's
 * `Runtime.spawn` and the worker-pool peers all run, by export name.
 *
 * @module
 */

/** Does nothing: the cost of a task is all overhead. */
export function noop(): void {}

/** The `n`th Fibonacci number, computed the slow recursive way (CPU-bound). */
export function fib(n: number): number {
  return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

/** `a + b`: a task with arguments and a result. */
export function sum(a: number, b: number): number {
  return a + b;
}

/** Keep the thread busy for `ms` milliseconds; returns the loop count. */
export function spin(ms: number): number {
  const end = performance.now() + ms;
  let loops = 0;
  while (performance.now() < end) loops++;
  return loops;
}
