/**
 * TCP echo throughput, 64 KiB messages over 64 connections, in one run,
 * from three servers, each in its own `deno run` process
 * (bench/peers/net_server.ts), all driven by the same native load client:
 *
 * - avx serve: `serve({ protocol: "tcp" })` with the echo handler module
 *   bench/peers/tcp_echo.ts (`TcpStream.read` / `writeAll`) on `workers`
 *   worker isolates (default 2);
 * - avx listen: `listen` + `TcpStream` echo in one isolate;
 * - Deno.listen: `Deno.Conn` echo in one isolate.
 *
 * Every server sets TCP_NODELAY on its connections and reads 64 KiB at a
 * time. The client, zig-out/bin/avx-echo-client (`zig build echo-client`,
 * bench/native/echo_client.zig: one blocking thread per connection, no
 * avx), writes a message, reads it back whole and checks it byte for byte
 * (a per-connection pattern with a sequence number), for `duration`
 * seconds. A failed check, a reset or a stall of 10 s fails the script.
 * Each server gets a warm-up run, then `rounds` rounds of one run per
 * server, the order turning each round; the medians of MiB/s (message
 * bytes echoed back and checked, per second) are reported with avx's
 * ratios (> 1x means avx is ahead).
 *
 *   deno run --allow-run --allow-read --allow-env --allow-net=127.0.0.1 --allow-write=bench/out \
 *     bench/compare_echo.ts [--connections=64] [--size=65536] [--duration=10] [--warmup=2] \
 *     [--rounds=3] [--workers=2] [--client=PATH]
 *
 * Each flag can also come from the environment: BENCH_ECHO_CONNECTIONS,
 * BENCH_ECHO_SIZE (bytes), BENCH_ECHO_DURATION (seconds),
 * BENCH_ECHO_WARMUP, BENCH_ECHO_ROUNDS, BENCH_ECHO_WORKERS,
 * BENCH_ECHO_CLIENT. `--client=PATH` runs PATH as the client and skips its
 * build. Needs the library built (`deno task build`). Results go to
 * bench/out/echo.json.
 *
 * @module
 */
import { type Row, row, save } from "./harness.ts";
import type { ServerKind } from "./peers/net_server.ts";
import { median, numberOption, option, run, type ServerProcess, startServer, stopAll } from "./peers/subprocess.ts";

const CONNECTIONS = numberOption("connections", "BENCH_ECHO_CONNECTIONS", 64);
const SIZE = numberOption("size", "BENCH_ECHO_SIZE", 64 * 1024);
const DURATION = numberOption("duration", "BENCH_ECHO_DURATION", 10);
const WARMUP = numberOption("warmup", "BENCH_ECHO_WARMUP", 2);
const ROUNDS = numberOption("rounds", "BENCH_ECHO_ROUNDS", 3);
const WORKERS = numberOption("workers", "BENCH_ECHO_WORKERS", 2);
const CLIENT_FLAG = option("client", "BENCH_ECHO_CLIENT", "");

const root = new URL("../", import.meta.url);
const exe = Deno.build.os === "windows" ? ".exe" : "";
const CLIENT = CLIENT_FLAG || new URL(`zig-out/bin/avx-echo-client${exe}`, root).pathname;

/** A server of the comparison. */
interface Impl {
  name: string;
  kind: ServerKind;
}

const AVX_SERVE: Impl = { name: `avx serve (tcp, ${WORKERS} workers)`, kind: "avx-serve-tcp" };
const AVX_LISTEN: Impl = { name: "avx listen (1 isolate)", kind: "avx-listen-tcp" };
const DENO_LISTEN: Impl = { name: "Deno.listen", kind: "deno-listen-tcp" };
const IMPLS = [AVX_SERVE, AVX_LISTEN, DENO_LISTEN];

/** What the client prints. */
interface ClientResult {
  connections: number;
  message_bytes: number;
  seconds: number;
  round_trips: number;
  bytes: number;
  max_round_trip_ms: number;
  min_conn_round_trips: number;
  max_conn_round_trips: number;
  errors: number;
}

/** MiB of messages echoed per second. */
function mibPerSec(r: ClientResult): number {
  return r.bytes / 2 ** 20 / r.seconds;
}

/** One client run of `seconds` against `server`, checked. */
async function drive(server: ServerProcess, impl: Impl, seconds: number): Promise<ClientResult> {
  const args = [String(server.port), String(CONNECTIONS), String(SIZE), String(seconds)];
  const out = await run(CLIENT, args);
  const line = out.stdout.trim().split("\n").at(-1) ?? "";
  if (out.code !== 0 || !line.startsWith("{")) {
    throw new Error(`${impl.name}: ${CLIENT} ${args.join(" ")} failed (exit ${out.code}):\n${out.stderr}${out.stdout}`);
  }
  const r = JSON.parse(line) as ClientResult;
  if (r.errors !== 0 || r.round_trips === 0 || r.bytes !== r.round_trips * SIZE || r.connections !== CONNECTIONS) {
    throw new Error(`${impl.name}: the client reported ${line}\n${out.stderr}`);
  }
  return r;
}

async function buildClient(): Promise<void> {
  const { success, code } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-run", "--allow-read", "--allow-env", "scripts/zig.ts", "build", "echo-client"],
    cwd: root,
  }).spawn().status;
  if (!success) throw new Error(`zig build echo-client failed (exit ${code})`);
}

async function main(): Promise<void> {
  if (!Number.isInteger(SIZE) || SIZE < 8) throw new Error(`--size must be an integer >= 8, got ${SIZE}`);
  if (CLIENT_FLAG === "") await buildClient();
  const servers = new Map<Impl, ServerProcess>();
  try {
    for (const impl of IMPLS) {
      const server = await startServer(impl.kind, WORKERS);
      servers.set(impl, server);
      console.log(`${impl.name.padEnd(26)} pid ${server.pid}, port ${server.port}`);
    }
    const load = `${CONNECTIONS} connections x ${SIZE / 1024} KiB messages`;
    const short = `${CONNECTIONS} conns x ${SIZE / 1024} KiB`;
    console.log(`warm-up (checks every echo too): ${WARMUP} s each; then ${ROUNDS} rounds of ${DURATION} s, ${load}`);
    for (const impl of IMPLS) await drive(servers.get(impl)!, impl, WARMUP);
    const samples = new Map(IMPLS.map((impl) => [impl, [] as ClientResult[]]));
    for (let r = 0; r < ROUNDS; r++) {
      for (let k = 0; k < IMPLS.length; k++) {
        const impl = IMPLS[(r + k) % IMPLS.length];
        const result = await drive(servers.get(impl)!, impl, DURATION);
        samples.get(impl)!.push(result);
        console.log(
          `  round ${r + 1} ${impl.name.padEnd(26)} ${mibPerSec(result).toFixed(1).padStart(8)} MiB/s` +
            `  (${result.round_trips} round trips in ${result.seconds.toFixed(2)} s,` +
            ` per connection ${result.min_conn_round_trips}..${result.max_conn_round_trips},` +
            ` slowest ${result.max_round_trip_ms.toFixed(1)} ms)`,
        );
      }
    }
    const mib = new Map(IMPLS.map((impl) => [impl, median(samples.get(impl)!.map(mibPerSec))]));
    const rows: Row[] = [AVX_SERVE, AVX_LISTEN].map((avx) =>
      row(`TCP echo, ${short}, ${avx.name}`, "MiB/s", mib.get(avx)!, DENO_LISTEN.name, mib.get(DENO_LISTEN)!, true)
    );

    const title = `TCP echo (${load}; Deno.listen in 1 isolate; median of ${ROUNDS} round${
      ROUNDS === 1 ? "" : "s"
    } of ${DURATION} s)`;
    console.log(`\n${title}`);
    for (const impl of IMPLS) {
      console.log(`${impl.name.padEnd(28)}${(mib.get(impl)!.toFixed(1) + " MiB/s").padStart(14)}`);
    }
    console.log("");
    for (const r of rows) {
      console.log(`${r.workload.padEnd(56)}${(r.ratio.toFixed(2) + "x").padStart(8)}  vs ${r.peerName}`);
    }
    await save("echo.json", {
      title,
      params: {
        connections: CONNECTIONS,
        size: SIZE,
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
