/**
 * What every worker isolate avx starts (runtime workers, server workers)
 * needs: turning its event loop from a loop of its own, and leaving
 * promptly.
 *
 * @module
 */
import { completionQueue } from "./queue.ts";

// A macrotask without setTimeout's clamping of nested timers.
const channel = new MessageChannel();
let resume: (() => void) | undefined;
channel.port1.onmessage = () => resume?.();

/** Let the event loop run once (timers, completions, messages). @internal */
export function turnEventLoop(): Promise<void> {
  return new Promise((r) => {
    resume = r;
    channel.port2.postMessage(0);
  });
}

/**
 * Before this isolate closes: close its completion queue (cancelling what
 * still waits) and the channel of `turnEventLoop`. Ending without this is
 * safe too (the thread's exit closes the queue natively); this only makes
 * it prompt. @internal
 */
export function quiesceIsolate(): void {
  completionQueue().close();
  channel.port1.close();
}

/** Whether `v` is a promise or promise-like. @internal */
export function isThenable(v: unknown): v is PromiseLike<unknown> {
  return v !== null && (typeof v === "object" || typeof v === "function") &&
    typeof (v as { then?: unknown }).then === "function";
}
