/**
 * A small HTTP/1.1 client on `Deno.connect` for the networking benchmarks:
 * reads responses framed by `content-length` off a keep-alive connection,
 * checks that a server answers the benchmark's "hello" correctly, and keeps
 * idle connections open for bench/idle_memory.ts.
 *
 * @module
 */
import { HELLO } from "./http_hello.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The request the checks and the idle connections send. */
export const GET = encoder.encode("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");

/** One response as read off the wire. */
export interface WireResponse {
  status: number;
  /** Header names lower-cased. */
  headers: Map<string, string>;
  body: string;
}

/** Reads successive responses from one connection. */
export class ResponseReader {
  readonly #conn: Deno.Conn;
  #buf = new Uint8Array(0);

  /** Read responses from `conn`. */
  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  async #more(): Promise<void> {
    const chunk = new Uint8Array(16 * 1024);
    const n = await this.#conn.read(chunk);
    if (n === null) throw new Error("the server closed the connection before a whole response");
    const next = new Uint8Array(this.#buf.length + n);
    next.set(this.#buf);
    next.set(chunk.subarray(0, n), this.#buf.length);
    this.#buf = next;
  }

  /** The next whole response (it must have a `content-length`). */
  async read(): Promise<WireResponse> {
    let end: number;
    while ((end = headEnd(this.#buf)) < 0) await this.#more();
    const lines = decoder.decode(this.#buf.subarray(0, end)).split("\r\n");
    const m = lines[0].match(/^HTTP\/1\.[01] (\d{3})/);
    if (m === null) throw new Error(`not an HTTP/1.x status line: ${JSON.stringify(lines[0])}`);
    const headers = new Map<string, string>();
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(":");
      if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
    }
    const length = Number(headers.get("content-length"));
    if (!Number.isInteger(length) || length < 0) {
      throw new Error(`a response without a usable content-length: ${JSON.stringify(lines.join("\n"))}`);
    }
    while (this.#buf.length < end + 4 + length) await this.#more();
    const body = decoder.decode(this.#buf.subarray(end + 4, end + 4 + length));
    this.#buf = this.#buf.slice(end + 4 + length);
    return { status: Number(m[1]), headers, body };
  }
}

/** Index of the `\r\n\r\n` ending a response head, or -1. */
function headEnd(b: Uint8Array): number {
  for (let i = 0; i + 3 < b.length; i++) {
    if (b[i] === 13 && b[i + 1] === 10 && b[i + 2] === 13 && b[i + 3] === 10) return i;
  }
  return -1;
}

/** Write all of `p` to `conn`. */
export async function writeAll(conn: Deno.Conn, p: Uint8Array): Promise<void> {
  let off = 0;
  while (off < p.length) off += await conn.write(off === 0 ? p : p.subarray(off));
}

/** Throw unless `r` is the benchmark's hello: 200, text/plain, `Hello, World!`. */
export function assertHello(r: WireResponse, who: string): void {
  const type = r.headers.get("content-type") ?? "";
  if (r.status !== 200 || r.body !== HELLO || !type.startsWith("text/plain")) {
    throw new Error(
      `${who}: wrong answer: status ${r.status}, content-type ${JSON.stringify(type)}, body ${JSON.stringify(r.body)}`,
    );
  }
}

/**
 * Check that the server on `port` answers hello correctly on a keep-alive
 * connection: two pipelined requests, then a third on the same
 * connection. Throws (within 10 s) otherwise.
 */
export async function checkHello(port: number, who: string): Promise<void> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const timer = setTimeout(() => conn.close(), 10_000);
  try {
    const reader = new ResponseReader(conn);
    const two = new Uint8Array(GET.length * 2);
    two.set(GET);
    two.set(GET, GET.length);
    await writeAll(conn, two);
    assertHello(await reader.read(), `${who} (pipelined request 1)`);
    assertHello(await reader.read(), `${who} (pipelined request 2)`);
    await writeAll(conn, GET);
    assertHello(await reader.read(), `${who} (keep-alive request 3)`);
  } catch (e) {
    throw new Error(`${who}: the hello check failed: ${e instanceof Error ? e.message : e}`);
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch {
      // Closed by the timer.
    }
  }
}
