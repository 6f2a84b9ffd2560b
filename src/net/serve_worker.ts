/**
 * The module every worker isolate of a {@link serve} server runs: drive one
 * native station (its own reactor loop) and call the handler for what it
 * hands over.
 *
 * @module
 */
import { lib } from "../ffi/library.ts";
import { Kind } from "../ffi/symbols.ts";
import { AvxError, Status } from "../errors.ts";
import { completionQueue } from "../ffi/queue.ts";
import { isThenable, quiesceIsolate, turnEventLoop } from "../ffi/isolate.ts";
import { TcpListener, type TcpStream } from "./tcp.ts";
import { AtomicCounter } from "../atomic/counter.ts";
import { asciiString, type HttpHandler, type HttpReply, type HttpReplyInit, HttpRequest, methodName } from "./http.ts";

/** What the owner posts to start a worker. @internal */
export interface ServeWorkerStart {
  server: number;
  index: number;
  moduleUrl: string;
  exportName: string;
  protocol: "http" | "tcp";
  maxRequest: number;
  context: unknown;
  /** Raw TCP: the shared listener, and the accepted / open counters. */
  tcp?: { listener: number; accepted: number; open: number };
}

/** What a worker posts back. @internal */
export type ServeWorkerReport =
  | { type: "ready"; queue: number }
  | { type: "failed"; message: string }
  | { type: "exited" };

const encoder = new TextEncoder();
const TEXT_PLAIN = [["content-type", "text/plain;charset=UTF-8"]] as [string, string][];
const OCTETS = [["content-type", "application/octet-stream"]] as [string, string][];
const NONE: [string, string][] = [];

/** A header block in the record format, for the fixed header lists above. */
function block(pairs: [string, string][]): Uint8Array {
  const parts: number[] = [];
  for (const [k, v] of pairs) {
    const kb = encoder.encode(k);
    const vb = encoder.encode(v);
    parts.push(kb.length & 0xff, kb.length >> 8, vb.length & 0xff, vb.length >> 8, ...kb, ...vb);
  }
  return new Uint8Array(parts);
}
const FIXED_BLOCKS = new Map<[string, string][], Uint8Array>([
  [TEXT_PLAIN, block(TEXT_PLAIN)],
  [OCTETS, block(OCTETS)],
  [NONE, block(NONE)],
]);

interface Scope {
  onmessage: ((e: MessageEvent<ServeWorkerStart>) => void) | null;
  postMessage(message: ServeWorkerReport): void;
  close(): void;
}
const scope = globalThis as unknown as Scope;

scope.onmessage = (e) => {
  scope.onmessage = null;
  main(e.data).catch((err) => {
    console.error("avx serve worker: failed:", err);
    scope.postMessage({ type: "failed", message: String(err) });
  });
};

/**
 * Raw TCP: accept from the shared listener (whichever worker waits gets
 * the connection) and run the handler on each connection. The isolate
 * never blocks in a native call, so its sockets complete through its
 * completion queue like any other.
 */
async function serveTcp(
  start: ServeWorkerStart,
  tcp: NonNullable<ServeWorkerStart["tcp"]>,
  handler: (...args: never[]) => unknown,
): Promise<void> {
  const listener = TcpListener.from(tcp.listener);
  const accepted = AtomicCounter.from(tcp.accepted);
  const open = AtomicCounter.from(tcp.open);
  const conns = new Set<TcpStream>();
  const running = new Set<Promise<void>>();
  scope.postMessage({ type: "ready", queue: completionQueue().id });
  try {
    for await (const conn of listener) {
      accepted.add(1);
      open.add(1);
      conns.add(conn);
      const p: Promise<void> = Promise.resolve()
        .then(() => (handler as unknown as (c: TcpStream, context: unknown) => unknown)(conn, start.context))
        .then(() => {}, (e) => console.error("avx serve: connection handler failed:", e))
        .finally(() => {
          conns.delete(conn);
          running.delete(p);
          conn.close();
          open.add(-1);
        });
      running.add(p);
    }
  } finally {
    // The listener was closed: the server is shutting down.
    for (const c of conns) c.close();
    await Promise.race([Promise.all(running), new Promise((r) => setTimeout(r, 1000))]);
    listener.close();
    accepted[Symbol.dispose]();
    open[Symbol.dispose]();
    quiesceIsolate();
    scope.postMessage({ type: "exited" });
    scope.close();
  }
}

async function main(start: ServeWorkerStart): Promise<void> {
  const l = lib();
  let handler: (...args: never[]) => unknown;
  try {
    const mod = await import(start.moduleUrl);
    handler = mod[start.exportName];
    if (typeof handler !== "function") {
      throw new TypeError(`${start.moduleUrl} has no function export ${start.exportName}`);
    }
  } catch (e) {
    scope.postMessage({ type: "failed", message: (e as Error).message });
    return;
  }
  if (start.tcp !== undefined) return await serveTcp(start, start.tcp, handler);
  const retained = l.avx_handle_retain(start.server, Kind.server);
  if (retained < 0) {
    scope.postMessage({ type: "failed", message: AvxError.fromStatus(retained, "serve worker").message });
    return;
  }
  const started = l.avx_serve_start(start.server, start.index);
  if (started < 0) {
    l.avx_handle_release(start.server);
    scope.postMessage({ type: "failed", message: AvxError.fromStatus(started, "serve worker").message });
    return;
  }
  scope.postMessage({ type: "ready", queue: completionQueue().id });
  try {
    await new Station(start, handler).run();
  } finally {
    l.avx_serve_stop(start.server, start.index);
    l.avx_handle_release(start.server);
    quiesceIsolate();
    scope.postMessage({ type: "exited" });
    scope.close();
  }
}

class Station {
  readonly #server: number;
  readonly #index: number;
  readonly #handler: (...args: never[]) => unknown;
  readonly #context: unknown;
  readonly #batch: Uint8Array;
  readonly #batchView: DataView;
  #out = new Uint8Array(64 * 1024);
  #outView = new DataView(this.#out.buffer);
  #outLen = 0;
  #pending = 0;

  constructor(start: ServeWorkerStart, handler: (...args: never[]) => unknown) {
    this.#server = start.server;
    this.#index = start.index;
    this.#handler = handler;
    this.#context = start.context;
    this.#batch = new Uint8Array(start.maxRequest + 64 * 1024);
    this.#batchView = new DataView(this.#batch.buffer);
  }

  async run(): Promise<void> {
    const l = lib();
    const q = completionQueue();
    let sinceTurn = 0;
    for (;;) {
      // Completions of this isolate's other waits (sockets of raw TCP
      // handlers, timers, channels) are drained here with one fast call,
      // since the bell only wakes the event loop when it is idle, which a
      // busy station loop seldom is. What they resolved runs
      // before the next poll blocks.
      if (q.pending > 0) {
        const before = q.pending;
        q.drain();
        if (q.pending !== before) {
          await turnEventLoop();
          this.#flush();
        }
      }
      // With replies pending, poll briefly so promises waiting on Deno's
      // own I/O and timers get the event loop; otherwise block until
      // something arrives.
      const timeout = this.#pending > 0 ? 20 : 50;
      // A completion posted to this isolate's queue ends the wait too.
      const n = l.avx_serve_next(this.#server, this.#index, this.#batch, this.#batch.length, timeout, q.id);
      if (n === Status.CLOSED) break;
      if (n < 0) throw AvxError.fromStatus(n, "serve: next");
      this.#dispatch(n);
      this.#flush();
      if (n === 0 || this.#pending > 0 || ++sinceTurn >= 64) {
        sinceTurn = 0;
        await turnEventLoop();
        this.#flush();
      }
    }
    // Replies still coming: give them a moment (they are dropped natively
    // if their connections are gone).
    for (let i = 0; i < 100 && this.#pending > 0; i++) await turnEventLoop();
    this.#flush();
  }

  #dispatch(n: number): void {
    const b = this.#batch;
    const v = this.#batchView;
    let off = 0;
    for (let i = 0; i < n; i++) {
      const kind = b[off];
      const len = v.getUint32(off + 8, true);
      if (kind === 1) {
        const id = v.getUint32(off + 4, true);
        const methodLen = v.getUint16(off + 12, true);
        const targetLen = v.getUint16(off + 14, true);
        const headerCount = v.getUint16(off + 16, true);
        const headersLen = v.getUint32(off + 20, true);
        const bodyLen = v.getUint32(off + 24, true);
        let p = off + 40;
        const method = methodName(b[off + 1], b, p, methodLen);
        p += methodLen;
        const path = asciiString(b, p, p + targetLen);
        p += targetLen;
        const head = b.subarray(p, p + headersLen);
        p += headersLen;
        const body = bodyLen === 0 ? EMPTY : b.slice(p, p + bodyLen);
        this.#request(id, new HttpRequest(method, path, head, headerCount, body, b[off + 2]));
      }
      off += len;
    }
  }

  #request(id: number, req: HttpRequest): void {
    let reply: unknown;
    try {
      reply = (this.#handler as unknown as HttpHandler)(req, this.#context);
    } catch (e) {
      return this.#fail(id, e);
    }
    if (isThenable(reply) || reply instanceof Response) {
      // The request outlives this batch: its header view must not see the
      // next batch written over it.
      req.detach();
      this.#pending++;
      Promise.resolve(reply).then(async (r) => {
        if (r instanceof Response) {
          const body = new Uint8Array(await r.arrayBuffer());
          this.#reply(id, { status: r.status, headers: r.headers, body });
        } else {
          this.#reply(id, r as HttpReply);
        }
      }).catch((e) => this.#fail(id, e)).finally(() => {
        this.#pending--;
      });
      return;
    }
    try {
      this.#reply(id, reply as HttpReply);
    } catch (e) {
      this.#fail(id, e);
    }
  }

  #fail(id: number, e: unknown): void {
    console.error("avx serve: handler failed:", e);
    this.#reply(id, { status: 500, body: "Internal Server Error\n" });
  }

  /** Encode a reply record into the out buffer. */
  #reply(id: number, reply: HttpReply): void {
    let status = 200;
    let headers: HttpReplyInit["headers"] = NONE;
    let body: string | Uint8Array = "";
    let close = false;
    if (typeof reply === "string") {
      headers = TEXT_PLAIN;
      body = reply;
    } else if (reply instanceof Uint8Array) {
      headers = OCTETS;
      body = reply;
    } else if (reply !== null && typeof reply === "object") {
      const init = reply as HttpReplyInit;
      status = init.status ?? 200;
      headers = init.headers ?? (typeof init.body === "string" ? TEXT_PLAIN : NONE);
      body = init.body ?? "";
      close = init.close === true;
    } else if (reply !== undefined) {
      throw new TypeError(
        `serve: a handler returned ${typeof reply}; return a string, bytes, a Response or {status, headers, body}`,
      );
    }
    if (!Number.isInteger(status) || status < 100 || status > 999) status = 500;
    const fixed = FIXED_BLOCKS.get(headers as [string, string][]);
    if (fixed !== undefined) return this.#replyFixed(id, status, fixed, body, close);
    const pairs: Iterable<[string, string]> = headers instanceof Headers
      ? headers
      : Array.isArray(headers)
      ? headers
      : Object.entries(headers);
    // Worst case: every UTF-16 unit becomes 3 bytes.
    let need = 16 + 4;
    for (const [k, val] of pairs) need += 4 + 3 * (k.length + val.length);
    need += typeof body === "string" ? 3 * body.length : body.length;
    this.#reserve(need);
    const out = this.#out;
    const v = this.#outView;
    const at = this.#outLen;
    let p = at + 16;
    for (const [k, val] of pairs) {
      const nl = encoder.encodeInto(k, out.subarray(p + 4)).written;
      const vl = encoder.encodeInto(val, out.subarray(p + 4 + nl)).written;
      if (nl > 0xffff || vl > 0xffff) throw new TypeError("serve: a header is longer than 65535 bytes");
      v.setUint16(p, nl, true);
      v.setUint16(p + 2, vl, true);
      p += 4 + nl + vl;
    }
    const headersLen = p - at - 16;
    let bodyLen: number;
    if (typeof body === "string") {
      bodyLen = encoder.encodeInto(body, out.subarray(p)).written;
    } else {
      out.set(body, p);
      bodyLen = body.length;
    }
    v.setUint32(at, id, true);
    v.setUint16(at + 4, status, true);
    v.setUint16(at + 6, close ? 1 : 0, true);
    v.setUint32(at + 8, headersLen, true);
    v.setUint32(at + 12, bodyLen, true);
    this.#outLen = (p + bodyLen + 3) & ~3;
  }

  /** `#reply` for a header block encoded once (the common replies). */
  #replyFixed(id: number, status: number, headers: Uint8Array, body: string | Uint8Array, close: boolean): void {
    this.#reserve(16 + headers.length + (typeof body === "string" ? 3 * body.length : body.length) + 4);
    const out = this.#out;
    const v = this.#outView;
    const at = this.#outLen;
    out.set(headers, at + 16);
    const p = at + 16 + headers.length;
    let bodyLen: number;
    if (typeof body === "string") {
      bodyLen = encoder.encodeInto(body, out.subarray(p)).written;
    } else {
      out.set(body, p);
      bodyLen = body.length;
    }
    v.setUint32(at, id, true);
    v.setUint16(at + 4, status, true);
    v.setUint16(at + 6, close ? 1 : 0, true);
    v.setUint32(at + 8, headers.length, true);
    v.setUint32(at + 12, bodyLen, true);
    this.#outLen = (p + bodyLen + 3) & ~3;
  }

  #reserve(n: number): void {
    if (this.#outLen + n <= this.#out.length) return;
    this.#flush();
    if (n <= this.#out.length) return;
    let size = this.#out.length;
    while (size < n) size *= 2;
    this.#out = new Uint8Array(size);
    this.#outView = new DataView(this.#out.buffer);
  }

  #flush(): void {
    if (this.#outLen === 0) return;
    const r = lib().avx_serve_respond(this.#server, this.#index, this.#out, this.#outLen);
    this.#outLen = 0;
    if (r < 0) throw AvxError.fromStatus(r, "serve: respond");
  }
}

const EMPTY = new Uint8Array(0);
