/**
 * Memory per idle keep-alive HTTP connection: the growth of a server
 * process's resident set (VmRSS of /proc/<pid>/status) while this script
 * holds `connections` open connections to it, each having made one
 * request, for
 *
 * - avx: `serve` with bench/peers/http_hello.ts on `workers` worker
 *   isolates (default 2);
 * - Deno.serve: `() => new Response("Hello, World!")`.
 *
 * Per round and server: a fresh server process (bench/peers/net_server.ts);
 * its answers checked; a warm-up of 2,000 requests over 20 connections,
 * then closed; a pause; the baseline (RSS and open file descriptors); then
 * `connections` connections opened (`batch` at a time), each sending one
 * GET and reading its (checked) answer, and kept open; a pause; the second
 * sample. The server's count of open file descriptors must have grown by
 * at least `connections` (it really holds them), or the script fails.
 * Reported: the median over `rounds` rounds, the order of the servers
 * turning each round, of (RSS after - RSS before) / connections, and
 * avx's ratio (> 1x means avx uses less).
 *
 *   deno run --allow-run --allow-read --allow-env --allow-net=127.0.0.1 --allow-write=bench/out \
 *     bench/idle_memory.ts [--connections=5000] [--rounds=3] [--workers=2] [--settle=1000] [--batch=100]
 *
 * Each flag can also come from the environment: BENCH_IDLE_CONNECTIONS,
 * BENCH_IDLE_ROUNDS, BENCH_IDLE_WORKERS, BENCH_IDLE_SETTLE_MS,
 * BENCH_IDLE_BATCH. The client connections live in this process and the
 * server's in its own, so each needs `connections` + a few descriptors
 * under `ulimit -n`. Linux only (/proc). Needs the library built
 * (`deno task build`). Results go to bench/out/idle_memory.json.
 *
 * @module
 */
import { type Row, row, save } from "./harness.ts";
import { assertHello, checkHello, GET, ResponseReader, writeAll } from "./peers/http_client.ts";
import type { ServerKind } from "./peers/net_server.ts";
import { median, numberOption, openFds, procStatusKiB, type ServerProcess, startServer } from "./peers/subprocess.ts";

const CONNECTIONS = numberOption("connections", "BENCH_IDLE_CONNECTIONS", 5000);
const ROUNDS = numberOption("rounds", "BENCH_IDLE_ROUNDS", 3);
const WORKERS = numberOption("workers", "BENCH_IDLE_WORKERS", 2);
const SETTLE_MS = numberOption("settle", "BENCH_IDLE_SETTLE_MS", 1000);
const BATCH = numberOption("batch", "BENCH_IDLE_BATCH", 100);
const WARM_CONNECTIONS = 20;
const WARM_REQUESTS = 100;

/** A server of the comparison. */
interface Impl {
  name: string;
  kind: ServerKind;
}

const AVX: Impl = { name: "avx serve", kind: "avx-serve" };
const DENO_SERVE: Impl = { name: "Deno.serve", kind: "deno-serve" };
const IMPLS = [AVX, DENO_SERVE];

/** One round's samples of one server. */
interface Sample {
  rssBeforeKiB: number;
  rssAfterKiB: number;
  fdsBefore: number;
  fdsAfter: number;
  kibPerConnection: number;
}

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Open a connection to `port`, make one request, check its answer; the connection stays open. */
async function openOne(port: number, who: string): Promise<Deno.Conn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await writeAll(conn, GET);
    assertHello(await new ResponseReader(conn).read(), who);
    return conn;
  } catch (e) {
    conn.close();
    throw e;
  }
}

/** `requests` sequential requests on one connection, then close it. */
async function warm(port: number, who: string, requests: number): Promise<void> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const reader = new ResponseReader(conn);
    for (let i = 0; i < requests; i++) {
      await writeAll(conn, GET);
      assertHello(await reader.read(), who);
    }
  } finally {
    conn.close();
  }
}

/** One round for one server, in a fresh server process. */
async function measure(impl: Impl): Promise<Sample> {
  let server: ServerProcess | undefined;
  const conns: Deno.Conn[] = [];
  try {
    server = await startServer(impl.kind, WORKERS);
    await checkHello(server.port, impl.name);
    await Promise.all(Array.from({ length: WARM_CONNECTIONS }, () => warm(server!.port, impl.name, WARM_REQUESTS)));
    await delay(SETTLE_MS);
    const rssBeforeKiB = await procStatusKiB(server.pid);
    const fdsBefore = await openFds(server.pid);
    for (let opened = 0; opened < CONNECTIONS;) {
      const n = Math.min(BATCH, CONNECTIONS - opened);
      const batch = await Promise.allSettled(Array.from({ length: n }, () => openOne(server!.port, impl.name)));
      for (const r of batch) if (r.status === "fulfilled") conns.push(r.value);
      const failed = batch.find((r) => r.status === "rejected");
      if (failed !== undefined) {
        throw new Error(`${impl.name}: connection ${conns.length + 1} of ${CONNECTIONS}: ${failed.reason}`);
      }
      opened += n;
    }
    await delay(SETTLE_MS);
    const rssAfterKiB = await procStatusKiB(server.pid);
    const fdsAfter = await openFds(server.pid);
    if (fdsAfter - fdsBefore < CONNECTIONS) {
      throw new Error(
        `${impl.name}: the server holds ${fdsAfter - fdsBefore} more descriptors, not ${CONNECTIONS}: ` +
          `it did not keep the connections open`,
      );
    }
    return {
      rssBeforeKiB,
      rssAfterKiB,
      fdsBefore,
      fdsAfter,
      kibPerConnection: (rssAfterKiB - rssBeforeKiB) / CONNECTIONS,
    };
  } finally {
    for (const c of conns) c.close();
    await server?.stop();
  }
}

async function main(): Promise<void> {
  if (Deno.build.os !== "linux") throw new Error("idle_memory reads /proc: Linux only");
  const samples = new Map(IMPLS.map((impl) => [impl, [] as Sample[]]));
  for (let r = 0; r < ROUNDS; r++) {
    for (let k = 0; k < IMPLS.length; k++) {
      const impl = IMPLS[(r + k) % IMPLS.length];
      const s = await measure(impl);
      samples.get(impl)!.push(s);
      console.log(
        `  round ${r + 1} ${impl.name.padEnd(12)} RSS ${(s.rssBeforeKiB / 1024).toFixed(1)} -> ` +
          `${(s.rssAfterKiB / 1024).toFixed(1)} MiB, fds ${s.fdsBefore} -> ${s.fdsAfter}: ` +
          `${s.kibPerConnection.toFixed(2)} KiB per connection`,
      );
    }
  }
  const perConn = new Map(IMPLS.map((impl) => [impl, median(samples.get(impl)!.map((s) => s.kibPerConnection))]));
  const workload = `idle keep-alive HTTP connection (${CONNECTIONS.toLocaleString()} open), server RSS`;
  // A ratio of growths means nothing unless both grew.
  const comparable = perConn.get(AVX)! > 0 && perConn.get(DENO_SERVE)! > 0;
  const rows: Row[] = comparable
    ? [row(workload, "KiB/conn", perConn.get(AVX)!, DENO_SERVE.name, perConn.get(DENO_SERVE)!, false)]
    : [];
  const title =
    `Memory per idle keep-alive connection (avx serve on ${WORKERS} workers; ${CONNECTIONS.toLocaleString()} ` +
    `connections; median of ${ROUNDS} round${ROUNDS === 1 ? "" : "s"})`;
  console.log(`\n${title}`);
  for (const impl of IMPLS) {
    console.log(`${impl.name.padEnd(14)}${(perConn.get(impl)!.toFixed(2) + " KiB per connection").padStart(26)}`);
  }
  console.log(
    comparable
      ? `avx vs Deno.serve: ${rows[0].ratio.toFixed(2)}x (> 1x means avx uses less)`
      : "avx vs Deno.serve: no ratio (an RSS that did not grow); try more connections",
  );
  await save("idle_memory.json", {
    title,
    params: { connections: CONNECTIONS, rounds: ROUNDS, workers: WORKERS, settleMs: SETTLE_MS, batch: BATCH },
    samples: Object.fromEntries(IMPLS.map((impl) => [impl.name, samples.get(impl)!])),
    rows,
  });
}

if (import.meta.main) await main();
