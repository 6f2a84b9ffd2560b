/**
 * The native scheduler against Tokio's multi-thread runtime, no JavaScript
 * in the timed path: builds `avx-sched-bench` (`zig build sched-bench`) and
 * the Tokio peer (bench/peers/tokio_sched), then, per workload, alternates
 * `invocations` runs of each binary and reports the median of their
 * medians (each binary reports the median of its `rounds` rounds).
 *
 * - spawn: one task spawns n no-op tasks; the last to finish signals;
 * - chain: task k spawns task k+1, n tasks in all;
 * - pingpong: two tasks wake each other n times each.
 *
 * Both binaries take `<spawn|chain|pingpong|all> <n> <workers> <rounds>`
 * and print one JSON line per workload with `median_ns` and `ns_per_op`.
 *
 *   deno run --allow-run --allow-read --allow-env --allow-write=bench/out \
 *     bench/compare_sched_native.ts [n] [workers] [rounds] [invocations] [--avx=PATH]
 *
 * `--avx=PATH` runs PATH as the avx binary and skips the Zig build.
 *
 * @module
 */
import { report, type Row, row } from "./harness.ts";

const flags = Deno.args.filter((a) => a.startsWith("--"));
const args = Deno.args.filter((a) => !a.startsWith("--"));
const N = Number(args[0] ?? 1_000_000);
const WORKERS = Number(args[1] ?? 2);
const ROUNDS = Number(args[2] ?? 5);
const INVOCATIONS = Number(args[3] ?? 5);
const AVX_FLAG = flags.find((f) => f.startsWith("--avx="))?.slice("--avx=".length);

const WORKLOADS = {
  spawn: "spawn: n no-op tasks from one task",
  chain: "chain: task k spawns task k+1",
  pingpong: "pingpong: 2 tasks, per round trip",
} as const;
type Workload = keyof typeof WORKLOADS;

const root = new URL("../", import.meta.url);
const exe = Deno.build.os === "windows" ? ".exe" : "";
const AVX_BIN = AVX_FLAG ?? new URL(`zig-out/bin/avx-sched-bench${exe}`, root).pathname;
const TOKIO_DIR = new URL("bench/peers/tokio_sched/", root);
const TOKIO_BIN = new URL(`target/release/tokio-sched-bench${exe}`, TOKIO_DIR).pathname;

/** Run `cmd args` in the project root with inherited output; exits when it fails. */
async function build(cmd: string, args: string[]): Promise<void> {
  const { success, code } = await new Deno.Command(cmd, { args, cwd: root }).spawn().status;
  if (!success) {
    console.error(`compare_sched_native: ${cmd} ${args.join(" ")} failed (exit ${code})`);
    Deno.exit(code || 1);
  }
}

/** cargo from PATH, else from rustup's default home. */
async function cargo(): Promise<string> {
  const home = Deno.env.get("CARGO_HOME") ?? `${Deno.env.get("HOME") ?? ""}/.cargo`;
  for (const candidate of ["cargo", `${home}/bin/cargo${exe}`]) {
    try {
      await new Deno.Command(candidate, { args: ["--version"], stdout: "null", stderr: "null" }).output();
      return candidate;
    } catch {
      // Try the next one.
    }
  }
  throw new Error("cargo not found: install Rust (https://rustup.rs) to build the Tokio peer");
}

/** ns per operation reported by `bin` for `workload`: its median round over n. */
async function runOnce(bin: string, workload: Workload): Promise<number> {
  const out = await new Deno.Command(bin, {
    args: [workload, String(N), String(WORKERS), String(ROUNDS)],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  if (!out.success) throw new Error(`${bin} ${workload} failed (exit ${out.code})`);
  for (const line of new TextDecoder().decode(out.stdout).split("\n")) {
    if (!line.startsWith("{")) continue;
    const r = JSON.parse(line) as { workload: string; n: number; median_ns: number };
    if (r.workload === workload && r.n === N) return r.median_ns / N;
  }
  throw new Error(`${bin} printed no result for ${workload}`);
}

function median(xs: number[]): number {
  return xs.toSorted((x, y) => x - y)[Math.floor(xs.length / 2)];
}

if (AVX_FLAG === undefined) {
  await build(Deno.execPath(), [
    "run",
    "--allow-run",
    "--allow-read",
    "--allow-env",
    "scripts/zig.ts",
    "build",
    "sched-bench",
  ]);
}
await build(await cargo(), ["build", "--release", "--quiet", "--manifest-path", `${TOKIO_DIR.pathname}Cargo.toml`]);

const rows: (Row & { avxSamples: number[]; tokioSamples: number[] })[] = [];
for (const workload of Object.keys(WORKLOADS) as Workload[]) {
  const avx: number[] = [];
  const tokio: number[] = [];
  for (let i = 0; i < INVOCATIONS; i++) {
    // Alternate which goes first, so that neither always runs on a warmer machine.
    if (i % 2 === 0) {
      avx.push(await runOnce(AVX_BIN, workload));
      tokio.push(await runOnce(TOKIO_BIN, workload));
    } else {
      tokio.push(await runOnce(TOKIO_BIN, workload));
      avx.push(await runOnce(AVX_BIN, workload));
    }
  }
  rows.push({
    ...row(WORKLOADS[workload], "ns/op", median(avx), "tokio", median(tokio), false),
    avxSamples: avx,
    tokioSamples: tokio,
  });
}
await report(
  `Native scheduler vs Tokio (n = ${N.toLocaleString()}, ${WORKERS} workers, median of ${INVOCATIONS} runs x ${ROUNDS} rounds${
    AVX_FLAG === undefined ? "" : `; avx binary: ${AVX_FLAG}`
  })`,
  rows,
  "sched_native.json",
);
