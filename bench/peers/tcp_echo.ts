/**
 * The handler module of avx's `serve({ protocol: "tcp" })` side of
 * bench/compare_echo.ts: each connection, a `TcpStream`, gets back what it
 * sends until it closes (the server closes the stream after the handler).
 *
 * @module
 */
import type { TcpStream } from "../../mod.ts";

/** Bytes read per call: one 64 KiB message of the benchmark at most. */
export const ECHO_CHUNK = 64 * 1024;

/** Echo `conn` until the peer closes it. */
export default async function echo(conn: TcpStream): Promise<void> {
  conn.setNoDelay(true);
  const buf = new Uint8Array(ECHO_CHUNK);
  for (;;) {
    const n = await conn.read(buf);
    if (n === null) return;
    await conn.writeAll(buf.subarray(0, n));
  }
}
