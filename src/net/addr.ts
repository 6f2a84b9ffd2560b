/**
 * Socket addresses: the `NetAddr` shape of `Deno.NetAddr`, host names
 * turned into IP literals, and the 19-byte form native code writes
 * (family 4 or 6, port big-endian, 16 address bytes).
 *
 * @module
 */
import { AvxError, describeValue } from "../errors.ts";
import { ADDRESS_LEN } from "../ffi/abi.gen.ts";
import { lib } from "../ffi/library.ts";

/**
 * A TCP or UDP address, shaped like `Deno.NetAddr`.
 *
 * @example
 * ```ts
 * import type { NetAddr } from "@avx/runtime";
 * const a: NetAddr = { transport: "tcp", hostname: "127.0.0.1", port: 8080 };
 * console.log(`${a.hostname}:${a.port}`);
 * ```
 */
export interface NetAddr {
  /** `"tcp"` or `"udp"`. */
  transport: "tcp" | "udp";
  /** An IP literal: `"127.0.0.1"`, `"::1"`. */
  hostname: string;
  /** The port, 0 to 65535. */
  port: number;
}

/** Bytes of an encoded address (generated from native/ffi/net.zig). @internal */
export { ADDRESS_LEN };

const encoder = new TextEncoder();
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/** Whether `host` is an IPv4 or IPv6 literal. @internal */
export function isIpLiteral(host: string): boolean {
  return IPV4.test(host) || (host.includes(":") && /^[0-9a-fA-F:.]+$/.test(host));
}

/** Check a port number; `allowZero` for binding to any free port. @internal */
export function checkPort(port: unknown, what: string, allowZero: boolean): number {
  if (
    typeof port !== "number" || !Number.isInteger(port) || port < (allowZero ? 0 : 1) || port > 65535 ||
    Object.is(port, -0) // Native code would refuse it as an unsigned integer.
  ) {
    throw new AvxError(
      "INVALID_ARGUMENT",
      `${what}: port must be an integer in ${allowZero ? 0 : 1}..65535, got ${describeValue(port)}`,
    );
  }
  return port;
}

/**
 * An IP literal for `hostname`: literals as they are, `localhost` as
 * 127.0.0.1, other names through `Deno.resolveDns` (A, then AAAA).
 * @internal
 */
export async function resolveHost(hostname: string, what: string): Promise<string> {
  const literal = literalHost(hostname, what);
  if (literal !== undefined) return literal;
  let found: string[] = [];
  try {
    found = await Deno.resolveDns(hostname, "A");
  } catch { /* try AAAA */ }
  if (found.length === 0) {
    try {
      found = await Deno.resolveDns(hostname, "AAAA");
    } catch (e) {
      throw new AvxError("INVALID_ARGUMENT", `${what}: cannot resolve ${hostname}: ${(e as Error).message}`);
    }
  }
  if (found.length === 0) throw new AvxError("INVALID_ARGUMENT", `${what}: ${hostname} has no address`);
  return found[0];
}

/** `hostname` as an IP literal when that needs no lookup. @internal */
export function literalHost(hostname: string, what: string): string | undefined {
  if (typeof hostname !== "string" || hostname.length === 0 || hostname.length > 253) {
    throw new AvxError("INVALID_ARGUMENT", `${what}: hostname must be a non-empty string`);
  }
  if (hostname === "localhost") return "127.0.0.1";
  const bare = hostname.startsWith("[") && hostname.endsWith("]") ? hostname.slice(1, -1) : hostname;
  return isIpLiteral(bare) ? bare : undefined;
}

/** The UTF-8 bytes of an IP literal, for the native parser. @internal */
export function ipBytes(ip: string): Uint8Array {
  return encoder.encode(ip);
}

/**
 * Throw unless this isolate may use `host`:`port` the way `--allow-net`
 * would let `Deno.listen`/`Deno.connect` (FFI itself bypasses that check).
 * @internal
 */
export function checkNetPermission(host: string, port: number, what: string): void {
  const status = Deno.permissions.querySync({ name: "net", host: `${host}:${port}` });
  if (status.state !== "granted") {
    throw new AvxError(
      "PERMISSION_DENIED",
      `${what}: network access to ${host}:${port} is not granted (run with --allow-net or --allow-net=${host}:${port})`,
    );
  }
}

/** Decode the native form. @internal */
export function decodeAddress(bytes: Uint8Array, transport: "tcp" | "udp"): NetAddr {
  const port = (bytes[1] << 8) | bytes[2];
  if (bytes[0] === 4) {
    return { transport, hostname: `${bytes[3]}.${bytes[4]}.${bytes[5]}.${bytes[6]}`, port };
  }
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push((bytes[3 + 2 * i] << 8) | bytes[4 + 2 * i]);
  return { transport, hostname: formatIpv6(groups), port };
}

/** RFC 5952 text: lower case, the longest run of zero groups as `::`. */
function formatIpv6(groups: number[]): string {
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(":");
  const head = hex.slice(0, bestStart).join(":");
  const tail = hex.slice(bestStart + bestLen).join(":");
  return `${head}::${tail}`;
}

const scratchAddr = new Uint8Array(ADDRESS_LEN);

/** A socket's local (`which` 0) or peer (1) address. @internal */
export function socketAddress(handle: number, which: 0 | 1, transport: "tcp" | "udp", what: string): NetAddr {
  const r = lib().avx_net_address(handle, which, scratchAddr);
  if (r < 0) throw AvxError.fromStatus(r, what);
  return decodeAddress(scratchAddr, transport);
}
