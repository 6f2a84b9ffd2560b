/**
 * Helpers shared by the Deno tests: spawning Workers and waiting for
 * their messages.
 *
 * @module
 */

/** Start a module Worker from tests/workers/. */
export function spawnWorker(name: string): Worker {
  return new Worker(new URL(`./workers/${name}`, import.meta.url), { type: "module" });
}

/** The next message from `w` (rejects on a worker error). */
export function nextMessage<T = unknown>(w: Worker): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (e: MessageEvent) => {
      cleanup();
      resolve(e.data as T);
    };
    const onError = (e: ErrorEvent) => {
      e.preventDefault();
      cleanup();
      reject(new Error(`worker error: ${e.message}`));
    };
    const cleanup = () => {
      w.removeEventListener("message", onMessage);
      w.removeEventListener("error", onError);
    };
    w.addEventListener("message", onMessage);
    w.addEventListener("error", onError);
  });
}

/** Run `body` with `n` workers of `name`, terminating them afterwards. */
export async function withWorkers<T>(name: string, n: number, body: (ws: Worker[]) => Promise<T>): Promise<T> {
  const ws = Array.from({ length: n }, () => spawnWorker(name));
  try {
    return await body(ws);
  } finally {
    for (const w of ws) w.terminate();
  }
}

/** Resolve after `ms` milliseconds. */
export function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
