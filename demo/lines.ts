/**
 * Line-oriented I/O on an avx `TcpStream`, shared by the chat server and
 * its clients: {@link readLines} splits what a peer sends into lines,
 * {@link LineWriter} queues lines and writes them in order, coalescing
 * what piles up while a write is in flight into one syscall.
 *
 * @module
 */
import type { TcpStream } from "../mod.ts";

const encoder = new TextEncoder();

/** Anything with `read` like `TcpStream`'s or `Deno.stdin`'s. */
export interface Reader {
  /** Read into `p`: the number of bytes read, or `null` at end of stream. */
  read(p: Uint8Array): Promise<number | null>;
}

/**
 * The lines `conn` (a `TcpStream`, `Deno.stdin`...) sends, without their
 * `\n` or `\r\n`, until the peer closes (a last line without a newline is
 * yielded too). A line longer than `maxLength` characters (default: no
 * limit; a server should set one) throws a `RangeError`. Read errors (a
 * reset, the server closing the connection) reject as they come.
 *
 * @example
 * ```ts
 * import { connect } from "../mod.ts";
 * import { readLines } from "./lines.ts";
 *
 * using conn = await connect({ hostname: "127.0.0.1", port: 7000 });
 * for await (const line of readLines(conn)) console.log(line);
 * ```
 */
export async function* readLines(conn: Reader, maxLength = Infinity): AsyncGenerator<string, void> {
  const decoder = new TextDecoder();
  const buf = new Uint8Array(16 * 1024);
  let partial = "";
  for (;;) {
    const n = await conn.read(buf);
    if (n === null) break;
    partial += decoder.decode(buf.subarray(0, n), { stream: true });
    let start = 0;
    for (let nl = partial.indexOf("\n"); nl >= 0; nl = partial.indexOf("\n", start)) {
      const end = nl > start && partial.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
      if (end - start > maxLength) throw tooLong(maxLength);
      yield partial.slice(start, end);
      start = nl + 1;
    }
    partial = partial.slice(start);
    if (partial.length > maxLength) throw tooLong(maxLength);
  }
  partial += decoder.decode();
  if (partial.length > 0) yield partial;
}

function tooLong(maxLength: number): RangeError {
  return new RangeError(`a line longer than ${maxLength} characters`);
}

/**
 * Writes lines to a connection in the order they are queued. `send` never
 * waits: lines queue up while a write is in flight and go out together in
 * the next one. Watch {@link LineWriter.backlog} (and await
 * {@link LineWriter.drained}) to stop producing for a peer that does not
 * read. After a failed write (the peer went away) lines are dropped and
 * {@link LineWriter.failed} is true.
 *
 * @example
 * ```ts
 * import { connect } from "../mod.ts";
 * import { LineWriter } from "./lines.ts";
 *
 * using conn = await connect({ hostname: "127.0.0.1", port: 7000 });
 * const out = new LineWriter(conn);
 * out.send("/nick ada");
 * out.send("hello");
 * await out.drained();
 * ```
 */
export class LineWriter {
  readonly #conn: TcpStream;
  readonly #onWritten: ((lines: number) => void) | undefined;
  #queue: string[] = [];
  #backlog = 0;
  #flushing: Promise<void> | undefined;
  #failed = false;

  /** `onWritten(n)` is called after each write with the number of lines it carried. */
  constructor(conn: TcpStream, onWritten?: (lines: number) => void) {
    this.#conn = conn;
    this.#onWritten = onWritten;
  }

  /** Queue one line (a `\n` is added). */
  send(line: string): void {
    if (this.#failed) return;
    this.#queue.push(line, "\n");
    this.#backlog += line.length + 1;
    this.#flushing ??= this.#flush();
  }

  /** Characters queued and not yet handed to the OS. */
  get backlog(): number {
    return this.#backlog;
  }

  /** Whether a write failed (later lines are dropped). */
  get failed(): boolean {
    return this.#failed;
  }

  /** Resolves once everything queued so far is written (or a write failed). */
  async drained(): Promise<void> {
    while (this.#flushing !== undefined) await this.#flushing;
  }

  async #flush(): Promise<void> {
    try {
      while (this.#queue.length > 0) {
        const lines = this.#queue.length / 2;
        const text = this.#queue.join("");
        this.#queue = [];
        await this.#conn.writeAll(encoder.encode(text));
        this.#backlog -= text.length;
        this.#onWritten?.(lines);
      }
    } catch {
      this.#failed = true;
      this.#queue = [];
      this.#backlog = 0;
    } finally {
      this.#flushing = undefined;
    }
  }
}
