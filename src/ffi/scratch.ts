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

function copyOut(n: number, from = 0): Uint8Array {
  if (n > POOL_MAX) return scratch.slice(from, from + n);
  if (poolUsed + n > POOL_SIZE) {
    pool = new Uint8Array(POOL_SIZE);
    poolUsed = 0;
  }
  const at = poolUsed;
  pool.set(scratch.subarray(from, from + n), at);
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

/**
 * Receive one message straight into the pool: `readAt(buf, off, cap)`
 * writes at `off`. A message too large for the pool's free space goes
 * through `read` and the growable receive buffer instead. Saves the
 * receive buffer's copy and a view per message. @internal
 */
export function readPooled(
  readAt: (buf: Uint8Array, off: number, cap: number) => number,
  read: (buf: Uint8Array, cap: number) => number,
): Uint8Array | number {
  if (POOL_SIZE - poolUsed < POOL_MAX) {
    pool = new Uint8Array(POOL_SIZE);
    poolUsed = 0;
  }
  const at = poolUsed;
  const n = readAt(pool, at, POOL_SIZE - at);
  if (n >= 0) {
    poolUsed = (at + n + 7) & ~7;
    return pool.subarray(at, at + n);
  }
  if (n !== Status.BUFFER_TOO_SMALL) return n;
  return readMessage(read, false);
}

/**
 * Receive a batch: `read(buf, cap)` returns how many records
 * (`[u32 LE length][bytes]`) it wrote, or a negative status. Each message
 * goes to `take`, as a copy or (with `borrow`) as a view valid only during
 * that call. Returns the count, or the negative status. @internal
 */
export function readBatch(
  read: (buf: Uint8Array, cap: number) => number,
  borrow: boolean,
  take: (bytes: Uint8Array) => void,
): number {
  for (let attempt = 0; attempt < 4; attempt++) {
    const n = read(scratch, scratch.length);
    if (n >= 0) {
      const view = new DataView(scratch.buffer, scratch.byteOffset, scratch.byteLength);
      let at = 0;
      for (let i = 0; i < n; i++) {
        const len = view.getUint32(at, true);
        at += 4;
        take(borrow ? scratch.subarray(at, at + len) : copyOut(len, at));
        at += len;
      }
      return n;
    }
    if (n !== Status.BUFFER_TOO_SMALL) return n;
    const need = lib().avx_last_value();
    scratch = new Uint8Array(Math.max(need, scratch.length * 2));
  }
  throw new AvxError("INVALID_STATE", "message kept growing while being received");
}

let packed = new Uint8Array(64 * 1024);

/**
 * Pack messages as records `[u32 LE length][bytes]` into a reused buffer.
 * Returns the buffer and each record's start offset (plus the end). The
 * buffer is only valid until the next call. @internal
 */
export function packBatch(messages: readonly Uint8Array[]): { buf: Uint8Array; offsets: number[] } {
  let total = 0;
  for (const m of messages) total += 4 + m.length;
  if (total > packed.length) packed = new Uint8Array(Math.max(total, packed.length * 2));
  const view = new DataView(packed.buffer);
  const offsets: number[] = [];
  let at = 0;
  for (const m of messages) {
    offsets.push(at);
    view.setUint32(at, m.length, true);
    packed.set(m, at + 4);
    at += 4 + m.length;
  }
  offsets.push(at);
  return { buf: packed, offsets };
}
