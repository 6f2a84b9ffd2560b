/**
 * HTTP/1.1 keep-alive "hello" (`Hello, World!`, text/plain) under wrk, in
 * one run, from three servers, each in its own `deno run` process
 * (bench/peers/net_server.ts) on its own port:
 *
 * - avx: `serve` with the handler module bench/peers/http_hello.ts on
 *   `workers` worker isolates (default 2);
 * - Deno.serve: `() => new Response("Hello, World!")`;
 * - Deno.listen: a minimal HTTP/1.1 server in TypeScript (keep-alive,
 *   finds each request's `\r\n\r\n`, answers a fixed response, the
 *   responses to one read written at once).
 *
 * Each server's answers are checked first (two pipelined requests and a
 * third on the same connection: status 200, text/plain, the exact body);
 * a wrong server fails the script. Then each gets a warm-up wrk run, then
 * `rounds` rounds of one wrk run per server, the order turning each round.
 * Reported: the medians of requests/s and of the p99 latency (wrk
 * `--latency`), and avx's ratios (> 1x means avx is ahead). A wrk run with
 * socket errors or non-2xx answers fails the script.
 *
 *   deno run --allow-run --allow-read --allow-env --allow-net=127.0.0.1 --allow-write=bench/out \
 *     bench/compare_http.ts [--threads=1] [--connections=50] [--duration=10] [--warmup=3] \
 *     [--rounds=3] [--workers=2] [--wrk=wrk]
 *
 * Each flag can also come from the environment: BENCH_HTTP_THREADS,
 * BENCH_HTTP_CONNECTIONS, BENCH_HTTP_DURATION (seconds), BENCH_HTTP_WARMUP,
 * BENCH_HTTP_ROUNDS, BENCH_HTTP_WORKERS, WRK. Needs the library built
 * (`deno task build`) and wrk on PATH. Results go to bench/out/http.json.
 *
 * @module
 */
import { type Row, row, save } from "./harness.ts";
import { checkHello } from "./peers/http_client.ts";
import type { ServerKind } from "./peers/net_server.ts";
import { median, numberOption, option, run, type ServerProcess, startServer, stopAll } from "./peers/subprocess.ts";

const THREADS = numberOption("threads", "BENCH_HTTP_THREADS", 1);
const CONNECTIONS = numberOption("connections", "BENCH_HTTP_CONNECTIONS", 50);
const DURATION = numberOption("duration", "BENCH_HTTP_DURATION", 10);
const WARMUP = numberOption("warmup", "BENCH_HTTP_WARMUP", 3);
const ROUNDS = numberOption("rounds", "BENCH_HTTP_ROUNDS", 3);
const WORKERS = numberOption("workers", "BENCH_HTTP_WORKERS", 2);
const WRK = option("wrk", "WRK", "wrk");

/** A server of the comparison. */
interface Impl {
  name: string;
  kind: ServerKind;
}

const AVX: Impl = { name: "avx serve", kind: "avx-serve" };
const DENO_SERVE: Impl = { name: "Deno.serve", kind: "deno-serve" };
const DENO_LISTEN: Impl = { name: "Deno.listen", kind: "deno-listen" };
const IMPLS = [AVX, DENO_SERVE, DENO_LISTEN];
/** What avx must reach against each peer, in requests/s. */
const TARGETS = new Map([[DENO_SERVE, 1.0], [DENO_LISTEN, 1.2]]);

/** What one wrk run measured. */
interface WrkResult {
  requestsPerSec: number;
  p99Ms: number;
  requests: number;
}

const TIME_UNITS: Record<string, number> = { us: 1e-3, ms: 1, s: 1e3, m: 60e3, h: 3600e3 };

/** Parse wrk's report; throws on errors, non-2xx answers or a missing figure. */
export function parseWrk(text: string, who: string): WrkResult {
  const fail = (why: string): never => {
    throw new Error(`${who}: ${why}; wrk said:\n${text}`);
  };
  const errors = text.match(/Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/);
  if (errors !== null && errors.slice(1).some((n) => Number(n) > 0)) fail("wrk saw socket errors");
  const non2xx = text.match(/Non-2xx or 3xx responses: (\d+)/);
  if (non2xx !== null && Number(non2xx[1]) > 0) fail("wrk saw non-2xx answers");
  const rps = text.match(/^Requests\/sec:\s+([\d.]+)\s*$/m) ?? fail("no Requests/sec in the report");
  const p99 = text.match(/^\s+99(?:\.0+)?%\s+([\d.]+)(us|ms|s|m|h)\s*$/m) ?? fail("no 99% latency (--latency)");
  const total = text.match(/^\s+(\d+) requests in /m) ?? fail("no request count");
  const requests = Number(total[1]);
  if (requests === 0) fail("no request was answered");
  return { requestsPerSec: Number(rps[1]), p99Ms: Number(p99[1]) * TIME_UNITS[p99[2]], requests };
}

/** One wrk run of `seconds` against `server`. */
async function wrk(server: ServerProcess, impl: Impl, seconds: number): Promise<WrkResult> {
  const args = [
    `-t${THREADS}`,
    `-c${CONNECTIONS}`,
    `-d${seconds}s`,
    "--latency",
    `http://127.0.0.1:${server.port}/`,
  ];
  let out;
  try {
    out = await run(WRK, args);
  } catch (e) {
    throw new Error(`cannot run ${WRK} (install wrk or pass --wrk=PATH): ${e instanceof Error ? e.message : e}`);
  }
  if (out.code !== 0) {
    throw new Error(`${impl.name}: ${WRK} ${args.join(" ")} failed (exit ${out.code}):\n${out.stderr}`);
  }
  return parseWrk(out.stdout, impl.name);
}

function fmt(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} k`;
  return n.toFixed(n < 10 ? 2 : 1);
}

async function main(): Promise<void> {
  const servers = new Map<Impl, ServerProcess>();
  try {
    for (const impl of IMPLS) {
      const server = await startServer(impl.kind, WORKERS);
      servers.set(impl, server);
      await checkHello(server.port, impl.name);
      console.log(`${impl.name.padEnd(12)} pid ${server.pid}, port ${server.port}: answers checked`);
    }
    const load = `wrk -t${THREADS} -c${CONNECTIONS} -d${DURATION}s`;
    console.log(`warm-up: ${WARMUP} s each; then ${ROUNDS} rounds of ${load}`);
    for (const impl of IMPLS) await wrk(servers.get(impl)!, impl, WARMUP);
    const samples = new Map(IMPLS.map((impl) => [impl, [] as WrkResult[]]));
    for (let r = 0; r < ROUNDS; r++) {
      for (let k = 0; k < IMPLS.length; k++) {
        const impl = IMPLS[(r + k) % IMPLS.length];
        const result = await wrk(servers.get(impl)!, impl, DURATION);
        samples.get(impl)!.push(result);
        console.log(
          `  round ${r + 1} ${impl.name.padEnd(12)} ${fmt(result.requestsPerSec).padStart(9)} req/s` +
            `  p99 ${result.p99Ms.toFixed(2)} ms`,
        );
      }
    }
    const rps = new Map(IMPLS.map((impl) => [impl, median(samples.get(impl)!.map((s) => s.requestsPerSec))]));
    const p99 = new Map(IMPLS.map((impl) => [impl, median(samples.get(impl)!.map((s) => s.p99Ms))]));

    const workload = `HTTP hello, keep-alive, ${load}`;
    const rows: (Row & { target?: number })[] = [];
    for (const peer of [DENO_SERVE, DENO_LISTEN]) {
      rows.push({
        ...row(workload, "req/s", rps.get(AVX)!, peer.name, rps.get(peer)!, true),
        target: TARGETS.get(peer),
      });
    }
    for (const peer of [DENO_SERVE, DENO_LISTEN]) {
      rows.push(row(`${workload}, p99 latency`, "ms", p99.get(AVX)!, peer.name, p99.get(peer)!, false));
    }

    const title = `HTTP/1.1 hello, keep-alive (avx serve on ${WORKERS} workers; ${load}; median of ${ROUNDS} round${
      ROUNDS === 1 ? "" : "s"
    })`;
    console.log(`\n${title}`);
    console.log(`${"server".padEnd(14)}${"req/s".padStart(12)}${"p99".padStart(12)}`);
    for (const impl of IMPLS) {
      console.log(
        `${impl.name.padEnd(14)}${fmt(rps.get(impl)!).padStart(12)}${(p99.get(impl)!.toFixed(2) + " ms").padStart(12)}`,
      );
    }
    console.log(`\n${"avx vs".padEnd(36)}${"ratio".padStart(8)}  (> 1x means avx is ahead)`);
    for (const r of rows) {
      const what = `${r.peerName}, ${r.unit === "ms" ? "p99 latency" : "requests/s"}`;
      const target = r.target === undefined
        ? ""
        : `  target >= ${r.target.toFixed(1)}x: ${r.ratio >= r.target ? "met" : "NOT met"}`;
      console.log(`${what.padEnd(36)}${(r.ratio.toFixed(2) + "x").padStart(8)}${target}`);
    }

    await save("http.json", {
      title,
      params: {
        threads: THREADS,
        connections: CONNECTIONS,
        duration: DURATION,
        warmup: WARMUP,
        rounds: ROUNDS,
        workers: WORKERS,
      },
      samples: Object.fromEntries(IMPLS.map((impl) => [impl.name, samples.get(impl)!])),
      rows,
    });
  } finally {
    await stopAll(servers.values());
  }
}

if (import.meta.main) await main();
