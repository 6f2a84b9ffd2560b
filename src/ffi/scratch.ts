/**
 * The receive buffer shared by every channel of this isolate: native code
 * copies a message into it, we copy it out into a fresh Uint8Array. It
 * grows when a message does not fit (the native side reports the size and
 * leaves the message in place).
 *
 * @module
 */
import { lib } from "./library.ts";
import { AvxError, Status } from "../errors.ts";

const INITIAL = 64 * 1024;
let buf = new Uint8Array(INITIAL);

/**
 * Run `read(buf, cap)` until the message fits; returns the message bytes,
 * or the negative status it ended with. @internal
 */
export function readMessage(read: (buf: Uint8Array, cap: number) => number): Uint8Array | number {
  for (let attempt = 0; attempt < 4; attempt++) {
    const n = read(buf, buf.length);
    if (n >= 0) return buf.slice(0, n);
    if (n !== Status.BUFFER_TOO_SMALL) return n;
    const need = lib().avx_last_value();
    buf = new Uint8Array(Math.max(need, buf.length * 2));
  }
  throw new AvxError("INVALID_STATE", "message kept growing while being received");
}
