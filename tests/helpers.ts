/**
 * Helpers shared by the Deno tests: spawning Workers, waiting for their
 * messages, and expecting AvxErrors.
 *
 * @module
 */
import assert from "node:assert/strict";
import { AvxError } from "../src/errors.ts";

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

/** Expect `p` to reject with an AvxError of `code`; returns the error. */
export async function rejectsWith(p: PromiseLike<unknown>, code: string): Promise<AvxError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof AvxError, `expected an AvxError, got ${e}`);
    assert.equal(e.code, code, e.message);
    return e;
  }
  assert.fail(`expected a rejection with ${code}`);
}

/** Expect `f` to throw an AvxError of `code`. */
export function throwsWith(f: () => unknown, code: string): void {
  assert.throws(f, (e: unknown) => e instanceof AvxError && e.code === code);
}

/**
 * Open socket descriptors of this process (Linux: `ls -l /proc/PID/fd`;
 * reading /proc/self directly needs --allow-all). Sockets only: the pipes
 * of the `ls` child itself are closed by Deno a little later, at no fixed
 * time.
 */
export async function openSockets(): Promise<number> {
  const out = await new Deno.Command("ls", { args: ["-l", `/proc/${Deno.pid}/fd`], stdout: "piped" }).output();
  return new TextDecoder().decode(out.stdout).split("\n").filter((l) => l.includes("socket:")).length;
}

/**
 * Wait until the bell relay runs and its start-up has settled (it holds a
 * few descriptors for a moment while it boots): descriptor counts taken
 * after this are stable.
 */
export async function bellSettled(): Promise<void> {
  const { lib } = await import("../src/ffi/library.ts");
  for (let i = 0; i < 500 && lib().avx_bell_ready() !== 1; i++) await delay(10);
  assert.equal(lib().avx_bell_ready(), 1, "the bell relay did not start");
  if (Deno.build.os !== "linux") return;
  // Stable: the same count three times 100 ms apart (bounded).
  let last = -1;
  for (let same = 0, i = 0; same < 3 && i < 50; i++) {
    const n = await openSockets();
    same = n === last ? same + 1 : 0;
    last = n;
    await delay(100);
  }
}
