/**
 * UDP on avx's reactor: {@link bindUdp} and {@link UdpSocket}.
 *
 * @module
 */
import { lib } from "../ffi/library.ts";
import { Kind } from "../ffi/symbols.ts";
import { checkWaitOptions, submit, type WaitOptions } from "../ffi/queue.ts";
import { AvxError, checkBytes, checkHandle, checkOptions, describeValue, Status } from "../errors.ts";
import { adopt, created, type Handle, handleOf, Resource, wrapOwned } from "../resource.ts";
import {
  ADDRESS_LEN,
  checkNetPermission,
  checkPort,
  decodeAddress,
  ipBytes,
  literalHost,
  type NetAddr,
  socketAddress,
} from "./addr.ts";

/**
 * Options of {@link bindUdp}.
 *
 * @example
 * ```ts
 * import type { UdpBindOptions } from "@avx/runtime";
 * const options: UdpBindOptions = { hostname: "127.0.0.1", port: 0 };
 * ```
 */
export interface UdpBindOptions {
  /** IP literal or `localhost`. Default `"0.0.0.0"`. */
  hostname?: string;
  /** Port; 0 (the default) picks a free one. */
  port?: number;
  /** SO_REUSEPORT. */
  reusePort?: boolean;
  /** Allow sending to broadcast addresses. */
  broadcast?: boolean;
}

/**
 * Where a datagram goes: an IP literal (or `localhost`) and a port.
 *
 * @example
 * ```ts
 * import type { UdpTarget } from "@avx/runtime";
 * const to: UdpTarget = { hostname: "127.0.0.1", port: 9000 };
 * ```
 */
export interface UdpTarget {
  /** IP literal or `localhost`. */
  hostname: string;
  /** Port, 1 to 65535. */
  port: number;
}

const MAX_DATAGRAM = 65_507;

/**
 * Bind a UDP socket. Needs network permission for the address.
 *
 * @example
 * ```ts
 * import { bindUdp } from "@avx/runtime";
 *
 * using a = bindUdp({ hostname: "127.0.0.1" });
 * using b = bindUdp({ hostname: "127.0.0.1" });
 * await b.send(new TextEncoder().encode("ping"), a.addr);
 * const [data, from] = await a.recv();
 * console.log(new TextDecoder().decode(data), from.port === b.addr.port);
 * ```
 */
export function bindUdp(options: UdpBindOptions = {}): UdpSocket {
  const what = "bindUdp";
  options = checkOptions<UdpBindOptions>(options, what) ?? {};
  const host = literalHost(options.hostname ?? "0.0.0.0", what);
  if (host === undefined) {
    throw new AvxError(
      "INVALID_ARGUMENT",
      `${what}: hostname must be an IP literal or localhost, got ${options.hostname}`,
    );
  }
  const port = checkPort(options.port ?? 0, what, true);
  checkNetPermission(host, port, what);
  const ip = ipBytes(host);
  const flags = (options.reusePort ? 1 : 0) | (options.broadcast ? 2 : 0);
  const h = created(lib().avx_udp_bind(ip, ip.length, port, flags), what);
  return wrapOwned(() => new UdpSocket(), h);
}

/**
 * A UDP socket: `send` datagrams to addresses, `recv` them with their
 * sender, or iterate it.
 *
 * @example
 * ```ts
 * import { bindUdp } from "@avx/runtime";
 * using s = bindUdp({ hostname: "127.0.0.1" });
 * console.log(s.addr.port > 0);
 * ```
 */
export class UdpSocket extends Resource implements AsyncIterable<[Uint8Array, NetAddr]> {
  #addr: NetAddr | undefined;
  readonly #from = new Uint8Array(ADDRESS_LEN);

  /** @internal Use {@link bindUdp} or {@link UdpSocket.from}. */
  constructor() {
    super(() => {
      throw new TypeError("UdpSocket: use bindUdp() or UdpSocket.from(handle)");
    });
  }

  /**
   * Use a socket another isolate bound (its `handle`, posted here).
   *
   * @example
   * ```ts
   * import { UdpSocket } from "@avx/runtime";
   * self.onmessage = (e) => {
   *   using s = UdpSocket.from(e.data);
   *   console.log(s.addr);
   * };
   * ```
   */
  static from(handle: Handle): UdpSocket {
    checkHandle(handle, "UdpSocket.from");
    return adopt(() => new UdpSocket(), handle, Kind.udpSocket, "UdpSocket");
  }

  /** The bound address. */
  get addr(): NetAddr {
    return this.#addr ??= socketAddress(this.live, 0, "udp", "UdpSocket.addr");
  }

  /** Send one datagram to `to`; resolves with its length. */
  async send(data: Uint8Array, to: UdpTarget, options?: WaitOptions): Promise<number> {
    const what = "UdpSocket.send";
    // Every argument is checked before the first native call. A detached
    // buffer reads as empty: it would go out as an empty datagram.
    checkBytes(data, what, "data");
    const o = checkWaitOptions(options, what);
    if (to === null || typeof to !== "object") {
      throw new AvxError("INVALID_ARGUMENT", `${what}: to must be { hostname, port }, got ${describeValue(to)}`);
    }
    if (data.length > MAX_DATAGRAM) {
      throw new AvxError("TOO_LARGE", `${what}: a datagram holds at most ${MAX_DATAGRAM} bytes`);
    }
    const host = literalHost(to?.hostname, what);
    if (host === undefined) {
      throw new AvxError("INVALID_ARGUMENT", `${what}: hostname must be an IP literal or localhost`);
    }
    const port = checkPort(to.port, what, false);
    checkNetPermission(host, port, what);
    const ip = ipBytes(host);
    const l = lib();
    for (;;) {
      const n = l.avx_udp_send(this.live, data, data.length, ip, ip.length, port);
      if (n >= 0) return n;
      if (n !== Status.WOULD_BLOCK) throw AvxError.fromStatus(n, what);
      const r = await submit(
        (q) => l.avx_udp_send_async(this.live, data, data.length, ip, ip.length, port, q),
        what,
        o,
        this,
      );
      if (r > 0 || (r === 0 && data.length === 0)) return r;
      if (r < 0) throw AvxError.fromStatus(r, what);
    }
  }

  /**
   * The next datagram and its sender. `buffer` (default: a new 64 KiB
   * array) receives it; a longer datagram is truncated.
   */
  async recv(buffer?: Uint8Array, options?: WaitOptions): Promise<[Uint8Array, NetAddr]> {
    const what = "UdpSocket.recv";
    const buf = buffer === undefined ? new Uint8Array(65_536) : checkBytes(buffer, what, "buffer");
    if (buf.length === 0) throw new AvxError("INVALID_ARGUMENT", `${what}: buffer must not be empty`);
    const o = checkWaitOptions(options, what);
    const l = lib();
    for (;;) {
      const n = l.avx_udp_recv(this.live, buf, buf.length, this.#from);
      if (n >= 0) return [buf.subarray(0, n), decodeAddress(this.#from, "udp")];
      if (n !== Status.WOULD_BLOCK) throw AvxError.fromStatus(n, "UdpSocket.recv");
      const r = await submit((q) => l.avx_net_read_async(this.live, q), "UdpSocket.recv", o, this);
      if (r < 0) throw AvxError.fromStatus(r, "UdpSocket.recv");
    }
  }

  /** Close the socket; pending receives reject with `CLOSED`. */
  close(): void {
    this[Symbol.dispose]();
  }

  /** Close the socket natively before the reference goes (other isolates' handles then see `CLOSED`). */
  protected override beforeDispose(): void {
    lib().avx_net_close(handleOf(this));
  }

  /** Datagrams (each in a new array) until the socket is closed. */
  async *[Symbol.asyncIterator](): AsyncIterator<[Uint8Array, NetAddr]> {
    for (;;) {
      try {
        yield await this.recv();
      } catch (e) {
        if (this.disposed || (e instanceof AvxError && e.code === "CLOSED")) return;
        throw e;
      }
    }
  }
}
