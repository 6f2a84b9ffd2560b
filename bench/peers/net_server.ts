/**
 * The servers of the networking benchmarks, one per process: the
 * comparison scripts start this module with `deno run` (through
 * bench/peers/subprocess.ts), once per server, so that each server has a
 * process of its own (its own CPU time, RSS and file descriptors).
 *
 *   deno run <permissions> bench/peers/net_server.ts <kind> [--workers=N] [--port=P]
 *
 * Kinds, all on 127.0.0.1:
 * - `avx-serve`: avx `serve` (HTTP/1.1) with bench/peers/http_hello.ts on N workers (default 2);
 * - `deno-serve`: `Deno.serve` answering `new Response("Hello, World!")`;
 * - `deno-listen`: a minimal HTTP/1.1 server on `Deno.listen` (see {@link listenHttp});
 * - `avx-serve-tcp`: avx `serve({ protocol: "tcp" })` with the echo handler bench/peers/tcp_echo.ts on N workers;
 * - `avx-listen-tcp`: avx `listen` + `TcpStream` echo in this one isolate;
 * - `deno-listen-tcp`: `Deno.listen` + `Deno.Conn` echo in this one isolate.
 *
 * Permissions: `--allow-net=127.0.0.1`, plus `--allow-ffi --allow-read
 * --allow-env` for the avx kinds (avx is imported only by them, so the Deno
 * peers' processes never load it).
 *
 * Once listening it prints one JSON line, `{"kind","port","pid"}`, and
 * serves until its stdin closes (the parent exited or let it go) or it is
 * killed.
 *
 * @module
 */
import { HELLO } from "./http_hello.ts";

/** The kinds of server this module starts. */
export const KINDS = [
  "avx-serve",
  "deno-serve",
  "deno-listen",
  "avx-serve-tcp",
  "avx-listen-tcp",
  "deno-listen-tcp",
] as const;

/** One of {@link KINDS}. */
export type ServerKind = typeof KINDS[number];

/** The line a server prints once it listens. */
export interface Ready {
  kind: ServerKind;
  port: number;
  pid: number;
}

const HOST = "127.0.0.1";
const encoder = new TextEncoder();

/** The fixed reply of the `Deno.listen` HTTP server; `date` refreshed every second. */
function helloResponse(): Uint8Array {
  return encoder.encode(
    "HTTP/1.1 200 OK\r\ncontent-type: text/plain;charset=UTF-8\r\n" +
      `content-length: ${encoder.encode(HELLO).length}\r\ndate: ${new Date().toUTCString()}\r\n\r\n${HELLO}`,
  );
}

/** Write all of `p` to a Deno connection. */
async function writeAll(conn: Deno.Conn, p: Uint8Array): Promise<void> {
  let off = 0;
  while (off < p.length) off += await conn.write(off === 0 ? p : p.subarray(off));
}

/**
 * A minimal HTTP/1.1 server on `Deno.listen`: keep-alive; every request
 * head (up to its `\r\n\r\n`, found by a matcher that carries its state
 * across reads) is answered with the same fixed response, the responses to
 * the requests of one read written at once, in order (pipelining-safe).
 * Requests with a body are not supported (wrk sends none).
 */
function listenHttp(port: number): number {
  let response = helloResponse();
  const batches = new Map<number, Uint8Array>();
  setInterval(() => {
    response = helloResponse();
    batches.clear();
  }, 1000);
  const repeated = (count: number): Uint8Array => {
    if (count === 1) return response;
    let out = batches.get(count);
    if (out === undefined) {
      out = new Uint8Array(response.length * count);
      for (let i = 0; i < count; i++) out.set(response, i * response.length);
      if (count <= 64) batches.set(count, out);
    }
    return out;
  };
  const connection = async (conn: Deno.TcpConn) => {
    conn.setNoDelay(true);
    const buf = new Uint8Array(64 * 1024);
    // Bytes of "\r\n\r\n" matched so far (even: expect \r, odd: expect \n).
    let matched = 0;
    try {
      for (;;) {
        const n = await conn.read(buf);
        if (n === null) break;
        let count = 0;
        for (let i = 0; i < n; i++) {
          const c = buf[i];
          if (c === ((matched & 1) === 0 ? 13 : 10)) {
            if (++matched === 4) {
              count++;
              matched = 0;
            }
          } else {
            matched = c === 13 ? 1 : 0;
          }
        }
        if (count > 0) await writeAll(conn, repeated(count));
      }
    } catch {
      // Reset by the client: done with it.
    } finally {
      try {
        conn.close();
      } catch {
        // Already closed.
      }
    }
  };
  const listener = Deno.listen({ hostname: HOST, port });
  (async () => {
    for await (const conn of listener) connection(conn);
  })();
  return listener.addr.port;
}

/** Echo one Deno connection until the peer closes it. */
async function denoEcho(conn: Deno.TcpConn): Promise<void> {
  conn.setNoDelay(true);
  const buf = new Uint8Array(64 * 1024);
  try {
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      await writeAll(conn, buf.subarray(0, n));
    }
  } catch {
    // Reset by the client: done with it.
  } finally {
    try {
      conn.close();
    } catch {
      // Already closed.
    }
  }
}

/** Start the server `kind`; resolves with its port once it listens. */
async function start(kind: ServerKind, workers: number, port: number): Promise<number> {
  switch (kind) {
    case "avx-serve":
    case "avx-serve-tcp": {
      const { serve } = await import("../../mod.ts");
      const tcp = kind === "avx-serve-tcp";
      const server = await serve(
        { hostname: HOST, port, workers, protocol: tcp ? "tcp" : "http" },
        new URL(tcp ? "./tcp_echo.ts" : "./http_hello.ts", import.meta.url),
      );
      return server.addr.port;
    }
    case "avx-listen-tcp": {
      const { listen } = await import("../../mod.ts");
      const echo = (await import("./tcp_echo.ts")).default;
      const listener = listen({ hostname: HOST, port });
      (async () => {
        for await (const conn of listener) {
          echo(conn).catch(() => {/* reset by the client */}).finally(() => conn.close());
        }
      })();
      return listener.addr.port;
    }
    case "deno-serve": {
      const server = Deno.serve({ hostname: HOST, port, onListen() {} }, () => new Response(HELLO));
      return server.addr.port;
    }
    case "deno-listen":
      return listenHttp(port);
    case "deno-listen-tcp": {
      const listener = Deno.listen({ hostname: HOST, port });
      (async () => {
        for await (const conn of listener) denoEcho(conn);
      })();
      return listener.addr.port;
    }
  }
}

if (import.meta.main) {
  const kind = Deno.args[0] as ServerKind;
  if (!KINDS.includes(kind)) {
    console.error(`net_server: unknown kind ${Deno.args[0]}; one of ${KINDS.join(", ")}`);
    Deno.exit(2);
  }
  const flag = (name: string) => Deno.args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  const port = await start(kind, Number(flag("workers") ?? 2), Number(flag("port") ?? 0));
  const ready: Ready = { kind, port, pid: Deno.pid };
  console.log(JSON.stringify(ready));
  // Serve until the parent closes our stdin (or exits, which closes it).
  for await (const _ of Deno.stdin.readable) {
    // Nothing is ever sent.
  }
  Deno.exit(0);
}
