/**
 * What an HTTP handler of {@link serve} receives and returns.
 *
 * A handler module exports a function `(req: HttpRequest) => HttpReply |
 * Promise<HttpReply>`; it runs in every worker isolate of the server.
 * Requests arrive parsed natively, in batches; a reply is encoded straight
 * into a native buffer. `Response` objects work too, at the cost of reading
 * their body asynchronously.
 *
 * @module
 */

const METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"];
const decoder = new TextDecoder();

/** Latin-1/ASCII bytes to a string without a decoder call (targets, names). */
function ascii(bytes: Uint8Array, start: number, end: number): string {
  let s = "";
  for (let i = start; i < end; i++) s += String.fromCharCode(bytes[i]);
  return s;
}

/**
 * A request, as the native parser saw it. Its fields are copies: keep it
 * as long as you like.
 *
 * @example A handler module
 * ```ts
 * import type { HttpReply, HttpRequest } from "@avx/runtime";
 *
 * export default function handle(req: HttpRequest): HttpReply {
 *   if (req.path === "/") return "hello\n";
 *   return { status: 404, body: `no ${req.path}\n` };
 * }
 * ```
 */
export class HttpRequest {
  /** `GET`, `POST`, ... as sent. */
  readonly method: string;
  /** The request target as sent: path and query (`/a?b=1`). */
  readonly path: string;
  /** The body (empty when there is none; chunked bodies arrive decoded). */
  readonly body: Uint8Array;
  /** HTTP/1.0 or 1.1. */
  readonly httpVersion: "1.0" | "1.1";
  /** The connection stays open after this request. */
  readonly keepAlive: boolean;
  /**
   * The header block: a view of the server's batch buffer while the
   * handler runs synchronously, a copy once the request outlives that
   * (`detach`), so a synchronous handler costs no allocation for it.
   */
  #head: Uint8Array;
  readonly #count: number;
  #headers: Headers | undefined;

  /** @internal Built by the server from a native record. */
  constructor(method: string, path: string, head: Uint8Array, count: number, body: Uint8Array, flags: number) {
    this.method = method;
    this.path = path;
    this.#head = head;
    this.#count = count;
    this.body = body;
    this.keepAlive = (flags & 1) !== 0;
    this.httpVersion = (flags & 2) !== 0 ? "1.0" : "1.1";
  }

  /** @internal Copy what still points into the batch buffer. */
  detach(): void {
    if (this.#headers === undefined) this.#head = this.#head.slice();
  }

  /** The header fields (built on first use). */
  get headers(): Headers {
    if (this.#headers === undefined) {
      const h = new Headers();
      const b = this.#head;
      let p = 0;
      for (let i = 0; i < this.#count; i++) {
        const nl = b[p] | (b[p + 1] << 8);
        const vl = b[p + 2] | (b[p + 3] << 8);
        p += 4;
        h.append(ascii(b, p, p + nl), decoder.decode(b.subarray(p + nl, p + nl + vl)));
        p += nl + vl;
      }
      this.#headers = h;
    }
    return this.#headers;
  }

  /** The URL path without the query. */
  get pathname(): string {
    const q = this.path.indexOf("?");
    return q < 0 ? this.path : this.path.slice(0, q);
  }

  /** The body as UTF-8 text. */
  text(): string {
    return decoder.decode(this.body);
  }

  /** The body parsed as JSON. */
  json(): unknown {
    return JSON.parse(this.text());
  }
}

/**
 * A reply: a string (200, text/plain), bytes (200,
 * application/octet-stream), a `Response`, or the parts.
 *
 * @example
 * ```ts
 * import type { HttpReply } from "@avx/runtime";
 * const ok: HttpReply = "ok\n";
 * const missing: HttpReply = { status: 404, headers: { "content-type": "text/plain" }, body: "missing\n" };
 * ```
 */
export type HttpReply = string | Uint8Array | Response | HttpReplyInit;

/**
 * The parts of a reply.
 *
 * @example
 * ```ts
 * import type { HttpReplyInit } from "@avx/runtime";
 * const r: HttpReplyInit = { status: 201, headers: [["location", "/items/1"]], body: "" };
 * ```
 */
export interface HttpReplyInit {
  /** Status code, 100 to 999. Default 200. */
  status?: number;
  /** Header fields; `content-length` is always computed by the server. */
  headers?: Record<string, string> | [string, string][] | Headers;
  /** The body. Default empty. */
  body?: string | Uint8Array;
  /** Close the connection after this reply. */
  close?: boolean;
}

/**
 * The function a handler module exports for {@link serve} (HTTP). `context`
 * is the server's `context` option, cloned into this worker.
 *
 * @example
 * ```ts
 * import type { HttpHandler } from "@avx/runtime";
 * export const hello: HttpHandler = () => "Hello, World!";
 * ```
 */
export type HttpHandler = (req: HttpRequest, context?: unknown) => HttpReply | Promise<HttpReply>;

/** Method names by native id. @internal */
export function methodName(id: number, bytes: Uint8Array, start: number, len: number): string {
  return id < METHODS.length ? METHODS[id] : ascii(bytes, start, start + len);
}

/** @internal */
export { ascii as asciiString };
