/**
 * {@link serve}: a server whose connections are accepted natively and
 * whose requests run a handler module in every worker isolate.
 *
 * @module
 */
import { lib } from "../ffi/library.ts";
import { AvxError } from "../errors.ts";
import { created, type Handle } from "../resource.ts";
import {
  ADDRESS_LEN,
  checkNetPermission,
  checkPort,
  decodeAddress,
  ipBytes,
  literalHost,
  type NetAddr,
} from "./addr.ts";
import type { ServeWorkerReport, ServeWorkerStart } from "./serve_worker.ts";
import { listen, type TcpListener } from "./tcp.ts";
import { AtomicCounter } from "../atomic/counter.ts";

/**
 * Options of {@link serve}.
 *
 * @example
 * ```ts
 * import type { ServeOptions } from "@avx/runtime";
 * const options: ServeOptions = { port: 8080, workers: 2 };
 * ```
 */
export interface ServeOptions {
  /** IP literal or `localhost`. Default `"0.0.0.0"`. */
  hostname?: string;
  /** Port; 0 (the default) picks a free one (see `server.addr`). */
  port?: number;
  /** `"http"` (HTTP/1.1, the default) or `"tcp"` (the handler gets each `TcpStream`). */
  protocol?: "http" | "tcp";
  /** Worker isolates. Default: one per CPU. */
  workers?: number;
  /** Largest request body in bytes (413 beyond). Default 1 MiB. */
  maxBodySize?: number;
  /** SO_REUSEPORT on the listener. */
  reusePort?: boolean;
  /** Shut the server down when aborted. */
  signal?: AbortSignal;
  /**
   * A value (structured-cloned) each worker passes to the handler as its
   * second argument: handles of shared channels, locks and counters, so
   * every worker uses the same ones.
   */
  context?: unknown;
}

/**
 * Counters of a server since it started. A raw TCP server (`protocol:
 * "tcp"`) counts `accepted` and `open` only.
 *
 * @example
 * ```ts
 * import type { ServeMetrics } from "@avx/runtime";
 * const show = (m: ServeMetrics) => console.log(m.requests, m.open);
 * ```
 */
export interface ServeMetrics {
  /** Connections accepted. */
  accepted: number;
  /** Requests parsed and handed to a handler. */
  requests: number;
  /** Responses written. */
  responses: number;
  /** Requests answered 4xx/5xx by the parser (malformed, too large). */
  rejected: number;
  /** Connections open now. */
  open: number;
  /** Responses whose connection had gone. */
  dropped: number;
}

const MAX_HEAD = 8192;
const MAX_FRAMING = 64 * 1024;
const DEFAULT_BODY = 1 << 20;

/**
 * Serve on every worker isolate: connections are accepted natively by the
 * reactor loop of whichever worker is idle, and each request (HTTP) or
 * connection (TCP) goes to the function `exportName` of `moduleUrl`,
 * running in that worker. Needs `--allow-net` for the address, plus the
 * read, env and ffi permissions the workers need to load avx.
 *
 * @example A hello server on all cores
 * ```ts
 * import { serve } from "@avx/runtime";
 *
 * // handler.ts: export default () => "Hello, World!";
 * await using server = await serve({ port: 0, hostname: "127.0.0.1" }, new URL("./handler.ts", import.meta.url));
 * console.log(`listening on http://127.0.0.1:${server.addr.port}/`);
 * ```
 */
export async function serve(options: ServeOptions, moduleUrl: string | URL, exportName = "default"): Promise<Server> {
  const what = "serve";
  const host = literalHost(options.hostname ?? "0.0.0.0", what);
  if (host === undefined) {
    throw new AvxError(
      "INVALID_ARGUMENT",
      `${what}: hostname must be an IP literal or localhost, got ${options.hostname}`,
    );
  }
  const port = checkPort(options.port ?? 0, what, true);
  const protocol = options.protocol ?? "http";
  if (protocol !== "http" && protocol !== "tcp") {
    throw new AvxError("INVALID_ARGUMENT", `${what}: protocol must be "http" or "tcp", got ${protocol}`);
  }
  const workers = options.workers ?? navigator.hardwareConcurrency ?? 1;
  if (!Number.isInteger(workers) || workers < 1 || workers > 64) {
    throw new AvxError("INVALID_ARGUMENT", `${what}: workers must be an integer in 1..64, got ${workers}`);
  }
  const maxBody = options.maxBodySize ?? DEFAULT_BODY;
  if (!Number.isInteger(maxBody) || maxBody < 0 || maxBody > 1 << 30) {
    throw new AvxError("INVALID_ARGUMENT", `${what}: maxBodySize must be an integer in 0..2^30, got ${maxBody}`);
  }
  let url: string;
  try {
    url = new URL(moduleUrl).href;
  } catch {
    throw new AvxError("INVALID_ARGUMENT", `${what}: the handler module must be an absolute URL, got ${moduleUrl}`);
  }
  if (typeof exportName !== "string" || exportName.length === 0) {
    throw new AvxError("INVALID_ARGUMENT", `${what}: exportName must be a non-empty string`);
  }
  checkNetPermission(host, port, what);
  let backend: Backend;
  let tcp: ServeWorkerStart["tcp"];
  if (protocol === "tcp") {
    const t = new TcpBackend(listen({ hostname: host, port, reusePort: options.reusePort }));
    backend = t;
    tcp = { listener: t.listener.handle, accepted: t.accepted.handle, open: t.open.handle };
  } else {
    const ip = ipBytes(host);
    backend = new NativeBackend(created(
      lib().avx_serve_new(ip, ip.length, port, 1024, options.reusePort ? 1 : 0, workers, maxBody || 1),
      what,
    ));
  }
  const server = new Server(backend, protocol);
  try {
    await server.start(workers, {
      server: backend instanceof NativeBackend ? backend.handle : 0,
      index: 0,
      moduleUrl: url,
      exportName,
      protocol,
      maxRequest: MAX_HEAD + (maxBody || 1) + MAX_FRAMING,
      context: options.context,
      tcp,
    });
  } catch (e) {
    await server.shutdown();
    throw e;
  }
  options.signal?.addEventListener("abort", () => server.shutdown(), { once: true });
  return server;
}

/** What a Server runs on: the native stations (HTTP) or a shared listener (TCP). */
interface Backend {
  addr(): NetAddr;
  metrics(out: Float64Array): void;
  close(): void;
  release(): void;
}

class NativeBackend implements Backend {
  constructor(readonly handle: Handle) {}

  addr(): NetAddr {
    const out = new Uint8Array(ADDRESS_LEN);
    const r = lib().avx_serve_address(this.handle, out);
    if (r < 0) throw AvxError.fromStatus(r, "Server.addr");
    return decodeAddress(out, "tcp");
  }

  metrics(out: Float64Array): void {
    lib().avx_serve_metrics(this.handle, out, out.length);
  }

  close(): void {
    lib().avx_serve_close(this.handle);
  }

  release(): void {
    lib().avx_handle_release(this.handle);
  }
}

class TcpBackend implements Backend {
  readonly accepted = new AtomicCounter(0);
  readonly open = new AtomicCounter(0);

  constructor(readonly listener: TcpListener) {}

  addr(): NetAddr {
    return this.listener.addr;
  }

  metrics(out: Float64Array): void {
    out[0] = this.accepted.load();
    out[4] = this.open.load();
  }

  close(): void {
    // Every worker's accept rejects CLOSED: they close their connections.
    this.listener.close();
  }

  release(): void {
    this.accepted[Symbol.dispose]();
    this.open[Symbol.dispose]();
  }
}

/**
 * A running server made by {@link serve}.
 *
 * @example
 * ```ts
 * import { serve } from "@avx/runtime";
 * const server = await serve({ port: 0 }, new URL("./handler.ts", import.meta.url));
 * console.log(server.addr.port, server.metrics().requests);
 * await server.shutdown();
 * ```
 */
export class Server implements AsyncDisposable {
  readonly #backend: Backend;
  readonly #protocol: "http" | "tcp";
  readonly #workers: Worker[] = [];
  readonly #exited: Promise<void>[] = [];
  #addr: NetAddr | undefined;
  #shutdown: Promise<void> | undefined;
  readonly #finished = Promise.withResolvers<void>();

  /** @internal Use {@link serve}. */
  constructor(backend: Backend, protocol: "http" | "tcp") {
    this.#backend = backend;
    this.#protocol = protocol;
  }

  /** @internal Start the workers; resolves when all are ready. */
  async start(count: number, base: ServeWorkerStart): Promise<void> {
    const ready: Promise<void>[] = [];
    for (let i = 0; i < count; i++) {
      const w = new Worker(new URL("./serve_worker.ts", import.meta.url), { type: "module", name: `avx-serve-${i}` });
      this.#workers.push(w);
      const readyP = Promise.withResolvers<void>();
      const exited = Promise.withResolvers<void>();
      w.onmessage = (e: MessageEvent<ServeWorkerReport>) => {
        if (e.data.type === "ready") {
          readyP.resolve();
        } else if (e.data.type === "failed") {
          readyP.reject(new AvxError("INVALID_ARGUMENT", `serve: worker ${i}: ${e.data.message}`));
          exited.resolve();
        } else exited.resolve();
      };
      w.onerror = (e) => {
        e.preventDefault();
        readyP.reject(new AvxError("INVALID_STATE", `serve: worker ${i} failed: ${e.message}`));
        exited.resolve();
      };
      this.#exited.push(exited.promise);
      w.postMessage({ ...base, index: i });
      ready.push(readyP.promise);
    }
    await Promise.all(ready);
  }

  /** The address it listens on. */
  get addr(): NetAddr {
    return this.#addr ??= this.#backend.addr();
  }

  /** `"http"` or `"tcp"`. */
  get protocol(): "http" | "tcp" {
    return this.#protocol;
  }

  /** Resolves once the server has shut down. */
  get finished(): Promise<void> {
    return this.#finished.promise;
  }

  /** Counters since the server started. */
  metrics(): ServeMetrics {
    const out = new Float64Array(6);
    if (this.#shutdown === undefined) this.#backend.metrics(out);
    return { accepted: out[0], requests: out[1], responses: out[2], rejected: out[3], open: out[4], dropped: out[5] };
  }

  /**
   * Stop accepting, close every connection (replies in progress get a
   * moment to finish), stop the workers. Calling it again waits for the
   * same shutdown.
   */
  shutdown(): Promise<void> {
    return this.#shutdown ??= this.#stop();
  }

  async #stop(): Promise<void> {
    this.#backend.close();
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.all(this.#exited),
      new Promise<void>((r) => timer = setTimeout(r, 2000)),
    ]);
    clearTimeout(timer);
    // Workers that did not leave by themselves are terminated: nothing
    // native calls into them, and their threads' exit closes their queues.
    for (const w of this.#workers) w.terminate();
    this.#backend.release();
    this.#finished.resolve();
  }

  /** `await using server = await serve(...)` shuts it down at scope exit. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.shutdown();
  }
}
