/**
 * What every worker isolate avx starts (runtime workers, server workers)
 * needs: turning its event loop from a loop of its own, and leaving
 * without its doorbell calling into it.
 *
 * @module
 */
import { lib } from "./library.ts";
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
 * Before this isolate closes: mute its doorbell, close its completion queue
 * (cancelling what still waits) and keep the event loop turning until the
 * doorbell thread has ended. A ring already in flight is delivered, none
 * starts after the mute; a doorbell calling into a closed isolate would
 * crash the process. Then no more turns are needed. @internal
 */
export async function quiesceIsolate(): Promise<void> {
  const l = lib();
  const q = completionQueue();
  l.avx_cq_quiesce(q.id);
  l.avx_cq_close(q.id);
  for (let turns = 0; turns < 10_000 && l.avx_cq_doorbell_alive(q.id) === 1; turns++) await turnEventLoop();
  channel.port1.close();
}

/** Whether `v` is a promise or promise-like. @internal */
export function isThenable(v: unknown): v is PromiseLike<unknown> {
  return v !== null && (typeof v === "object" || typeof v === "function") &&
    typeof (v as { then?: unknown }).then === "function";
}
