/**
 * The receive buffer shared by every channel of this isolate: native code
 * copies a message into it, then we either decode it in place (built-in
 * codecs, which copy as they decode) or copy it out.
 *
 * Copies of small messages are carved out of a pooled 16 KiB buffer, as
 * Node's `Buffer` pool does: a new ArrayBuffer per message costs ~200 ns in
 * V8, a view on a pool ~30 ns. Such a message's `byteOffset` may be
 * non-zero and its `.buffer` shared with other messages; large messages get
 * a buffer of their own.
 *
 * @module
 */
import { lib } from "./library.ts";
import { AvxError, Status } from "../errors.ts";

const INITIAL = 64 * 1024;
const POOL_SIZE = 16 * 1024;
const POOL_MAX = 1024;

let scratch = new Uint8Array(INITIAL);
let pool = new Uint8Array(POOL_SIZE);
let poolUsed = 0;

function copyOut(n: number): Uint8Array {
  if (n > POOL_MAX) return scratch.slice(0, n);
  if (poolUsed + n > POOL_SIZE) {
    pool = new Uint8Array(POOL_SIZE);
    poolUsed = 0;
  }
  const at = poolUsed;
  pool.set(scratch.subarray(0, n), at);
  // Keep views 8-byte aligned so typed-array views over them are possible.
  poolUsed = (at + n + 7) & ~7;
  return pool.subarray(at, at + n);
}

/**
 * Run `read(buf, cap)` until the message fits; returns the message bytes,
 * or the negative status it ended with. With `borrow`, the bytes are a view
 * of the receive buffer, valid only until the next receive. @internal
 */
export function readMessage(read: (buf: Uint8Array, cap: number) => number, borrow = false): Uint8Array | number {
  for (let attempt = 0; attempt < 4; attempt++) {
    const n = read(scratch, scratch.length);
    if (n >= 0) return borrow ? scratch.subarray(0, n) : copyOut(n);
    if (n !== Status.BUFFER_TOO_SMALL) return n;
    const need = lib().avx_last_value();
    scratch = new Uint8Array(Math.max(need, scratch.length * 2));
  }
  throw new AvxError("INVALID_STATE", "message kept growing while being received");
}
