/**
 * TCP on avx's reactor: {@link listen}, {@link connect}, {@link TcpListener}
 * and {@link TcpStream}, shaped like `Deno.listen` / `Deno.Listener` /
 * `Deno.Conn` so existing code ports by changing an import.
 *
 * A read or write first tries its syscall directly (one fast FFI call);
 * only when it would block does it wait, through the shared I/O thread and
 * this isolate's completion queue. Sockets are process-wide objects: post
 * `stream.handle` to a Worker and `TcpStream.from(handle)` it there.
 *
 * @module
 */
import { lib } from "../ffi/library.ts";
import { Kind } from "../ffi/symbols.ts";
import { checkWaitOptions, completionQueue, submit, type WaitOptions } from "../ffi/queue.ts";
import { AvxError, checkBytes, checkHandle, checkInteger, checkOptions, Status } from "../errors.ts";
import { adopt, created, type Handle, handleOf, Resource, wrapOwned } from "../resource.ts";
import {
  checkNetPermission,
  checkPort,
  ipBytes,
  literalHost,
  type NetAddr,
  resolveHost,
  socketAddress,
} from "./addr.ts";

/**
 * Options of {@link listen}.
 *
 * @example
 * ```ts
 * import { listen, type TcpListenOptions } from "@avx/runtime";
 * const options: TcpListenOptions = { hostname: "127.0.0.1", port: 0 };
 * using l = listen(options);
 * ```
 */
export interface TcpListenOptions {
  /** IP literal or `localhost` to bind to. Default `"0.0.0.0"`. */
  hostname?: string;
  /** Port; 0 (the default) picks a free one (see `addr.port`). */
  port?: number;
  /** Let several listeners bind the same port (SO_REUSEPORT; Linux, BSD). */
  reusePort?: boolean;
  /** Pending-connection backlog. Default 1024. */
  backlog?: number;
}

/**
 * Options of {@link connect}.
 *
 * @example
 * ```ts
 * import type { TcpConnectOptions } from "@avx/runtime";
 * const options: TcpConnectOptions = { hostname: "127.0.0.1", port: 8080 };
 * ```
 */
export interface TcpConnectOptions {
  /** Host to connect to: an IP literal, `localhost` or a name to resolve. Default `"127.0.0.1"`. */
  hostname?: string;
  /** Port, 1 to 65535. */
  port: number;
  /** Give up connecting. */
  signal?: AbortSignal;
}

const handleOut = new Float64Array(1);

/**
 * Listen for TCP connections (synchronous, like `Deno.listen`). Needs
 * network permission for the address (`--allow-net`).
 *
 * @example An echo server
 * ```ts
 * import { listen } from "@avx/runtime";
 *
 * using listener = listen({ hostname: "127.0.0.1", port: 0 });
 * console.log("listening on", listener.addr.port);
 * // for await (const conn of listener) conn.readable.pipeTo(conn.writable);
 * ```
 */
export function listen(options: TcpListenOptions = {}): TcpListener {
  const what = "listen";
  options = checkOptions<TcpListenOptions>(options, what) ?? {};
  const host = literalHost(options.hostname ?? "0.0.0.0", what);
  if (host === undefined) {
    throw new AvxError(
      "INVALID_ARGUMENT",
      `${what}: hostname must be an IP literal or localhost, got ${options.hostname}`,
    );
  }
  const port = checkPort(options.port ?? 0, what, true);
  const backlog = checkInteger(options.backlog ?? 1024, what, "backlog", 1, 65535);
  checkNetPermission(host, port, what);
  const ip = ipBytes(host);
  const h = created(lib().avx_tcp_listen(ip, ip.length, port, backlog, options.reusePort ? 1 : 0), what);
  return wrapOwned(() => new TcpListener(), h);
}

/**
 * Connect to a TCP server. Needs network permission for the address.
 *
 * @example
 * ```ts
 * import { connect, listen } from "@avx/runtime";
 *
 * using server = listen({ hostname: "127.0.0.1", port: 0 });
 * using conn = await connect({ hostname: "127.0.0.1", port: server.addr.port });
 * await conn.write(new TextEncoder().encode("hello"));
 * ```
 */
export async function connect(options: TcpConnectOptions): Promise<TcpStream> {
  const what = "connect";
  const o = checkOptions<TcpConnectOptions>(options, what);
  const port = checkPort(o?.port, what, false);
  // The signal is checked before anything starts (a DNS query, a socket).
  const signal = checkWaitOptions({ signal: o!.signal }, what)?.signal;
  const host = await resolveHost(options.hostname ?? "127.0.0.1", what);
  checkNetPermission(options.hostname ?? host, port, what);
  const ip = ipBytes(host);
  const q = completionQueue();
  const token = lib().avx_tcp_connect_async(ip, ip.length, port, q.id, handleOut);
  if (token < 0) throw AvxError.fromStatus(token, `${what} ${host}:${port}`);
  const stream = wrapOwned(() => new TcpStream(), handleOut[0]);
  try {
    const r = await submit(() => token, `${what} ${host}:${port}`, { signal }, stream);
    if (r < 0) throw AvxError.fromStatus(r, `${what} ${host}:${port}`);
  } catch (e) {
    stream.close();
    throw e;
  }
  return stream;
}

/**
 * A listening TCP socket. Iterate it for connections; `close` (or `using`)
 * stops listening and ends the iteration.
 *
 * @example
 * ```ts
 * import { listen } from "@avx/runtime";
 *
 * using listener = listen({ port: 0, hostname: "127.0.0.1" });
 * const ac = new AbortController();
 * setTimeout(() => ac.abort(), 10);
 * try {
 *   await listener.accept({ signal: ac.signal });
 * } catch { /* nobody came *\/ }
 * ```
 */
export class TcpListener extends Resource implements AsyncIterable<TcpStream> {
  #addr: NetAddr | undefined;

  /** @internal Use {@link listen} or {@link TcpListener.from}. */
  constructor() {
    super(() => {
      throw new TypeError("TcpListener: use listen() or TcpListener.from(handle)");
    });
  }

  /**
   * Use a listener another isolate opened (its `handle`, posted here).
   *
   * @example
   * ```ts
   * import { TcpListener } from "@avx/runtime";
   * self.onmessage = (e) => {
   *   using l = TcpListener.from(e.data);
   *   console.log(l.addr);
   * };
   * ```
   */
  static from(handle: Handle): TcpListener {
    checkHandle(handle, "TcpListener.from");
    return adopt(() => new TcpListener(), handle, Kind.tcpListener, "TcpListener");
  }

  /** The address it listens on (the real port when 0 was asked). */
  get addr(): NetAddr {
    return this.#addr ??= socketAddress(this.live, 0, "tcp", "TcpListener.addr");
  }

  /** The next connection. Rejects `CLOSED` once the listener is closed. */
  async accept(options?: WaitOptions): Promise<TcpStream> {
    const o = checkWaitOptions(options, "TcpListener.accept");
    const l = lib();
    for (;;) {
      const h = l.avx_tcp_accept(this.live, null);
      if (!Number.isNaN(h)) return wrapOwned(() => new TcpStream(), h);
      const status = l.avx_last_error();
      if (status !== Status.WOULD_BLOCK) throw AvxError.fromStatus(status, "TcpListener.accept");
      const r = await submit((q) => l.avx_net_read_async(this.live, q), "TcpListener.accept", o, this);
      if (r < 0) throw AvxError.fromStatus(r, "TcpListener.accept");
    }
  }

  /** Stop listening; pending accepts reject with `CLOSED`. */
  close(): void {
    this[Symbol.dispose]();
  }

  /** Close the socket natively before the reference goes (other isolates' handles then see `CLOSED`). */
  protected override beforeDispose(): void {
    lib().avx_net_close(handleOf(this));
  }

  /** Connections until the listener is closed. */
  async *[Symbol.asyncIterator](): AsyncIterator<TcpStream> {
    for (;;) {
      let conn: TcpStream;
      try {
        conn = await this.accept();
      } catch (e) {
        if (this.disposed || (e instanceof AvxError && e.code === "CLOSED")) return;
        throw e;
      }
      yield conn;
    }
  }
}

/**
 * A TCP connection, shaped like `Deno.Conn`: `read`/`write` on byte arrays,
 * or `readable`/`writable` Web Streams.
 *
 * @example
 * ```ts
 * import { connect, listen } from "@avx/runtime";
 *
 * using server = listen({ hostname: "127.0.0.1", port: 0 });
 * using client = await connect({ port: server.addr.port });
 * using peer = await server.accept();
 * await client.write(new Uint8Array([1, 2, 3]));
 * const buf = new Uint8Array(8);
 * console.log(await peer.read(buf)); // 3
 * ```
 */
export class TcpStream extends Resource {
  #readable: ReadableStream<Uint8Array> | undefined;
  #writable: WritableStream<Uint8Array> | undefined;
  #localAddr: NetAddr | undefined;
  #remoteAddr: NetAddr | undefined;

  /** @internal Use {@link connect}, {@link TcpListener.accept} or {@link TcpStream.from}. */
  constructor() {
    super(() => {
      throw new TypeError("TcpStream: use connect(), a listener, or TcpStream.from(handle)");
    });
  }

  /**
   * Use a connection another isolate holds (its `handle`, posted here).
   *
   * @example
   * ```ts
   * import { TcpStream } from "@avx/runtime";
   * self.onmessage = async (e) => {
   *   using conn = TcpStream.from(e.data);
   *   await conn.write(new TextEncoder().encode("hi from a worker\n"));
   * };
   * ```
   */
  static from(handle: Handle): TcpStream {
    checkHandle(handle, "TcpStream.from");
    return adopt(() => new TcpStream(), handle, Kind.tcpStream, "TcpStream");
  }

  /** This end's address. */
  get localAddr(): NetAddr {
    return this.#localAddr ??= socketAddress(this.live, 0, "tcp", "TcpStream.localAddr");
  }

  /** The peer's address. */
  get remoteAddr(): NetAddr {
    return this.#remoteAddr ??= socketAddress(this.live, 1, "tcp", "TcpStream.remoteAddr");
  }

  /**
   * Read into `p`: the number of bytes read, or `null` at end of stream.
   * OS errors reject with their name (`ECONNRESET`).
   */
  async read(p: Uint8Array, options?: WaitOptions): Promise<number | null> {
    checkBytes(p, "TcpStream.read", "p");
    const o = checkWaitOptions(options, "TcpStream.read");
    if (p.length === 0) return 0;
    const l = lib();
    for (;;) {
      const n = l.avx_tcp_read(this.live, p, p.length);
      if (n > 0) return n;
      if (n === 0) return null;
      if (n !== Status.WOULD_BLOCK) throw AvxError.fromStatus(n, "TcpStream.read");
      const r = await submit((q) => l.avx_net_read_async(this.live, q), "TcpStream.read", o, this);
      if (r < 0) throw AvxError.fromStatus(r, "TcpStream.read");
    }
  }

  /**
   * Write some of `p`: resolves with how many bytes the OS took (all of
   * them unless the socket buffer was full; at most 64 KiB when it had to
   * wait). Use {@link TcpStream.writeAll} for everything.
   */
  async write(p: Uint8Array, options?: WaitOptions): Promise<number> {
    checkBytes(p, "TcpStream.write", "p");
    const o = checkWaitOptions(options, "TcpStream.write");
    if (p.length === 0) return 0;
    const l = lib();
    for (;;) {
      const n = l.avx_tcp_write(this.live, p, p.length);
      if (n > 0) return n;
      if (n !== Status.WOULD_BLOCK) throw AvxError.fromStatus(n, "TcpStream.write");
      const r = await submit((q) => l.avx_tcp_write_async(this.live, p, p.length, q), "TcpStream.write", o, this);
      if (r > 0) return r;
      if (r < 0) throw AvxError.fromStatus(r, "TcpStream.write");
    }
  }

  /** Write all of `p`. */
  async writeAll(p: Uint8Array, options?: WaitOptions): Promise<void> {
    checkBytes(p, "TcpStream.writeAll", "p");
    const o = checkWaitOptions(options, "TcpStream.writeAll");
    let off = 0;
    while (off < p.length) off += await this.write(off === 0 ? p : p.subarray(off), o);
  }

  /** Half-close: the peer reads end of stream; reading goes on. */
  closeWrite(): Promise<void> {
    const r = lib().avx_tcp_close_write(this.live);
    if (r < 0) return Promise.reject(AvxError.fromStatus(r, "TcpStream.closeWrite"));
    return Promise.resolve();
  }

  /** Disable (or enable) Nagle's algorithm. */
  setNoDelay(noDelay = true): void {
    const r = lib().avx_net_set_option(this.live, 0, noDelay ? 1 : 0);
    if (r < 0) throw AvxError.fromStatus(r, "TcpStream.setNoDelay");
  }

  /** Enable (or disable) TCP keep-alive probes. */
  setKeepAlive(keepAlive = true): void {
    const r = lib().avx_net_set_option(this.live, 1, keepAlive ? 1 : 0);
    if (r < 0) throw AvxError.fromStatus(r, "TcpStream.setKeepAlive");
  }

  /** Close the connection; pending reads and writes reject with `CLOSED`. */
  close(): void {
    this[Symbol.dispose]();
  }

  /** Close the socket natively before the reference goes (other isolates' handles then see `CLOSED`). */
  protected override beforeDispose(): void {
    lib().avx_net_close(handleOf(this));
  }

  /** The bytes the peer sends, as a byte stream; cancelling it closes the connection. */
  get readable(): ReadableStream<Uint8Array> {
    return this.#readable ??= new ReadableStream({
      type: "bytes",
      autoAllocateChunkSize: 16 * 1024,
      pull: async (controller) => {
        const request = controller.byobRequest!;
        const view = request.view as Uint8Array;
        let n: number | null;
        try {
          n = await this.read(view);
        } catch (e) {
          if (this.disposed) n = null;
          else throw e;
        }
        if (n === null) {
          controller.close();
          request.respond(0);
        } else {
          request.respond(n);
        }
      },
      cancel: () => this.close(),
    });
  }

  /** A sink for the bytes to send; closing it half-closes, aborting it closes. */
  get writable(): WritableStream<Uint8Array> {
    return this.#writable ??= new WritableStream({
      write: (chunk) => this.writeAll(chunk),
      close: () => this.disposed ? undefined : this.closeWrite(),
      abort: () => this.close(),
    });
  }
}
