/**
 * Task functions the runtime tests spawn.
 *
 * @module
 */
import { AtomicCounter, AtomicFlag, currentTask, Runtime } from "../../mod.ts";

const self = import.meta.url;

/** Does nothing. */
export function noop(): void {}

/** a + b. */
export function add(a: number, b: number): number {
  return a + b;
}

/** Returns its argument (structured clone both ways). */
export function echo<T>(value: T): T {
  return value;
}

/** An async task: doubles `x` after a timer. */
export async function doubleLater(x: number): Promise<number> {
  await new Promise((r) => setTimeout(r, 1));
  return 2 * x;
}

/** Throws a TypeError. */
export function throwsType(message: string): never {
  throw new TypeError(message);
}

/** Rejects asynchronously. */
export async function rejectsLater(message: string): Promise<never> {
  await Promise.resolve();
  throw new RangeError(message);
}

/** Busy for `ms` milliseconds; returns the worker's name. */
export function spin(ms: number): string {
  const end = performance.now() + ms;
  while (performance.now() < end) { /* busy */ }
  return (globalThis as { name?: string }).name ?? "";
}

/** The number of leaves of a binary tree of depth `depth`, one task per node. */
export async function tree(depth: number): Promise<number> {
  if (depth === 0) return 1;
  const rt = Runtime.current()!;
  const [a, b] = await Promise.all([
    rt.spawn<number>(self, "tree", depth - 1),
    rt.spawn<number>(self, "tree", depth - 1),
  ]);
  return a + b;
}

/** Spawns `n` `spin(ms)` children from this one task and awaits them. */
export async function fanOut(n: number, ms: number): Promise<string[]> {
  const rt = Runtime.current()!;
  const handles = [];
  for (let i = 0; i < n; i++) handles.push(rt.spawn<string>(self, "spin", ms));
  return await Promise.all(handles);
}

/** Waits for its abort signal; sets `flag` when it fires. */
export function waitForAbort(flag: number): Promise<string> {
  const { signal } = currentTask()!;
  const seen = AtomicFlag.from(flag);
  return new Promise((resolve) => {
    signal.addEventListener("abort", () => {
      seen.set();
      seen[Symbol.dispose]();
      resolve("aborted");
    }, { once: true });
  });
}

/** Kills its worker isolate with an uncaught error; never settles. */
export function crash(): Promise<never> {
  setTimeout(() => {
    throw new Error("worker crash on purpose");
  }, 0);
  return new Promise(() => {});
}

/** Closes its worker isolate (`self.close()`); never settles. */
export function closeWorker(): Promise<never> {
  (globalThis as unknown as { close(): void }).close();
  return new Promise(() => {});
}

/** Ends its worker isolate with `Deno.exit()`; never settles. */
export function exitWorker(): Promise<never> {
  Deno.exit(3);
  return new Promise(() => {});
}

/** Sets `flag` after `ms` milliseconds of a Deno timer. */
export async function setAfter(flag: number, ms: number): Promise<void> {
  const f = AtomicFlag.from(flag);
  await new Promise((r) => setTimeout(r, ms));
  f.set();
  f[Symbol.dispose]();
}

/**
 * Respawns itself (to this worker's LIFO slot) until `stop` is set,
 * counting runs in `runs`: a task that never lets go of its worker.
 */
export function hog(stop: number, runs: number): void {
  const flag = AtomicFlag.from(stop);
  const count = AtomicCounter.from(runs);
  count.add(1);
  if (!flag.load()) Runtime.current()!.spawn(self, "hog", stop, runs);
  flag[Symbol.dispose]();
  count[Symbol.dispose]();
}

/** Not a function. */
export const notAFunction = 42;

/** Returns a value that cannot be cloned. */
export function unclonable(): () => void {
  return () => {};
}
