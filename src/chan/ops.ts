/**
 * The loops shared by every channel: try at once, and if that would block,
 * register a waiter and try again when it fires.
 *
 * @module
 */
import { Deadline, submit, type WaitOptions } from "../ffi/queue.ts";
import { readMessage } from "../ffi/scratch.ts";
import { Status } from "../errors.ts";
import type { Resource } from "../resource.ts";

/** Bytes, or the negative status the receive ended with. @internal */
export type Received = Uint8Array | number;

/**
 * Receive one message, waiting without blocking the event loop.
 * `read(buf, cap)` is the native try-receive; `wait(queue)` registers a
 * wake-up (0: something is ready now). `finish` turns what was read into
 * the result at once, before anything else can receive: with `borrow`,
 * the bytes it gets are only valid during that call. @internal
 */
export async function receive<R>(
  read: (buf: Uint8Array, cap: number) => number,
  wait: (queue: number) => number,
  what: string,
  options: WaitOptions | undefined,
  finish: (got: Received) => R,
  borrow: boolean,
  owner: Resource,
): Promise<R> {
  const first = readMessage(read, borrow);
  if (first !== Status.WOULD_BLOCK) return finish(first);
  const deadline = new Deadline(options?.timeout);
  for (;;) {
    const r = await submit(wait, what, deadline.options(options), owner);
    if (r < 0) return finish(r);
    const got = readMessage(read, borrow);
    if (got !== Status.WOULD_BLOCK) return finish(got);
  }
}

/**
 * Send, waiting for room without blocking the event loop. `trySend()` is
 * the native try-send; `wait(queue)` registers for room (0: room now).
 * Resolves with the final status (0 sent, or negative). @internal
 */
export async function send(
  trySend: () => number,
  wait: (queue: number) => number,
  what: string,
  options: WaitOptions | undefined,
  owner: Resource,
): Promise<number> {
  const first = trySend();
  if (first !== Status.WOULD_BLOCK) return first;
  const deadline = new Deadline(options?.timeout);
  for (;;) {
    const r = await submit(wait, what, deadline.options(options), owner);
    if (r < 0) return r;
    const s = trySend();
    if (s !== Status.WOULD_BLOCK) return s;
  }
}
