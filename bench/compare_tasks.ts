/**
 * Tasks on worker isolates, avx's `Runtime` against a hand-written
 * postMessage pool and the npm package `poolifier-web-worker`, all running
 * bench/workers/tasks.ts, in one run:
 *
 * - throughput: `tasks` empty tasks spawned at once, then all awaited, on
 *   `workers` workers;
 * - a CPU-bound batch, 64 x fib(27), on 1 and on 2 workers: wall time and
 *   speed-up (the median of the rounds' speed-ups);
 * - memory: `cycles` spawn/complete cycles in batches of 10,000, after a
 *   warm-up of 100,000; the growth of the RSS over all of them and over
 *   their second half (a leak keeps growing, heaps settling into their size
 *   do not), measured in a fresh process per implementation (with
 *   `--expose-gc`, the main isolate collected before each sample; Worker
 *   heaps collect on their own).
 *
 * Every round makes a fresh runtime or pool, warms it up, then times it;
 * rounds alternate between implementations and medians are reported. When
 * avx's Runtime cannot start (the native library not built, say), the avx
 * side is skipped and the peers' figures are reported alone.
 *
 *   deno run --allow-read --allow-env --allow-ffi --allow-sys=cpus --allow-run --allow-write=bench/out \
 *     bench/compare_tasks.ts [tasks] [workers] [rounds] [cycles]
 *
 * (`--allow-sys=cpus`: poolifier reads the CPU list when it loads.)
 *
 * @module
 */
import type { Runtime } from "../mod.ts";
import { type Row, row, save } from "./harness.ts";
import { poolifierPool } from "./peers/poolifier.ts";
import { PostMessagePool } from "./peers/postmessage_pool.ts";
import { fib } from "./workers/tasks.ts";

/** Set in the child process that measures one implementation's memory. */
const MEMORY_OF = Deno.args[0] === "--memory" ? Deno.args[1] : undefined;
const ARGS = MEMORY_OF === undefined ? Deno.args : Deno.args.slice(2);
const TASKS = Number(ARGS[0] ?? 100_000);
const WORKERS = Number(ARGS[1] ?? 2);
const ROUNDS = Number(ARGS[2] ?? 5);
const CYCLES = Number(ARGS[3] ?? 1_000_000);
const WARMUP = 10_000;
const FIB = 27;
const FIBS = 64;
const BATCH = 10_000;
const WARM_CYCLES = 100_000;

const MODULE = new URL("./workers/tasks.ts", import.meta.url).href;

/** What every implementation offers: run an export of the task module, close. */
interface Pool {
  run(exportName: string, ...args: unknown[]): PromiseLike<unknown>;
  close(): unknown;
}

interface Impl {
  name: string;
  open(workers: number): Promise<Pool>;
}

/**
 * avx's Runtime, or why it cannot run: loaded at run time and tried once,
 * so that the peers still run while the native side is not built.
 */
async function loadRuntime(): Promise<typeof Runtime | string> {
  try {
    const { Runtime } = await import("../mod.ts");
    await (await Runtime.create({ workerThreads: 1 })).shutdown();
    return Runtime;
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
}

// A peer's memory run leaves avx's library unloaded.
const runtime = MEMORY_OF === undefined || MEMORY_OF === "avx" ? await loadRuntime() : "not needed";
const impls: Impl[] = [];
if (typeof runtime !== "string") {
  impls.push({
    name: "avx",
    async open(workers) {
      const rt = await runtime.create({ workerThreads: workers });
      return {
        run: (exportName, ...args) => rt.spawn(MODULE, exportName, ...args),
        close: () => rt.shutdown({ timeout: 1000 }),
      };
    },
  });
} else if (MEMORY_OF === undefined) {
  console.log(`avx skipped: ${runtime}`);
}
impls.push({
  name: "postMessage pool",
  async open(workers) {
    const pool = await PostMessagePool.create(workers, MODULE);
    return { run: (exportName, ...args) => pool.run(exportName, ...args), close: () => pool.close() };
  },
}, {
  name: "poolifier",
  async open(workers) {
    const pool = await poolifierPool(workers);
    return { run: (exportName, ...args) => pool.execute(args, exportName), close: () => pool.destroy() };
  },
});

/** Spawn `n` tasks, then await them all. */
function batch(pool: Pool, n: number, exportName: string, ...args: unknown[]): Promise<unknown[]> {
  const handles = new Array<PromiseLike<unknown>>(n);
  for (let i = 0; i < n; i++) handles[i] = pool.run(exportName, ...args);
  return Promise.all(handles);
}

/** Open a pool of `workers`, run `body` on it, close it whatever happens. */
async function withPool<T>(impl: Impl, workers: number, body: (pool: Pool) => Promise<T>): Promise<T> {
  const pool = await impl.open(workers);
  try {
    return await body(pool);
  } finally {
    await pool.close();
  }
}

/** Tasks per second: TASKS empty tasks spawned, then all awaited. */
function throughput(impl: Impl): Promise<number> {
  return withPool(impl, WORKERS, async (pool) => {
    await batch(pool, WARMUP, "noop");
    const t = performance.now();
    await batch(pool, TASKS, "noop");
    return TASKS / ((performance.now() - t) / 1000);
  });
}

const expected = fib(FIB);

/** Milliseconds for FIBS x fib(FIB) on `workers` workers. */
function cpu(impl: Impl, workers: number): Promise<number> {
  return withPool(impl, workers, async (pool) => {
    await batch(pool, 2 * workers, "fib", FIB);
    const t = performance.now();
    const results = await batch(pool, FIBS, "fib", FIB);
    const ms = performance.now() - t;
    if (results.some((r) => r !== expected)) throw new Error(`${impl.name}: wrong fib(${FIB})`);
    return ms;
  });
}

/** RSS samples in MiB: after warm-up, then halfway through and at the end of CYCLES spawn/complete cycles. */
interface Rss {
  warm: number;
  half: number;
  end: number;
}

/** RSS samples over CYCLES spawn/complete cycles; run in a fresh process. */
function memory(impl: Impl): Promise<Rss> {
  const gc = (globalThis as { gc?: () => void }).gc;
  const rss = () => {
    gc?.();
    return Deno.memoryUsage().rss / 2 ** 20;
  };
  return withPool(impl, WORKERS, async (pool) => {
    for (let i = 0; i < WARM_CYCLES; i += BATCH) await batch(pool, BATCH, "noop");
    const warm = rss();
    for (let i = 0; i < CYCLES / 2; i += BATCH) await batch(pool, BATCH, "noop");
    const half = rss();
    for (let i = 0; i < CYCLES / 2; i += BATCH) await batch(pool, BATCH, "noop");
    return { warm, half, end: rss() };
  });
}

/** `memory(impl)` in a child process of this script, so that earlier rounds leave nothing behind. */
async function memoryInChild(impl: Impl): Promise<Rss> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-read",
      "--allow-env",
      "--allow-ffi",
      "--allow-sys=cpus",
      "--v8-flags=--expose-gc",
      import.meta.filename!,
      "--memory",
      impl.name,
      ...[TASKS, WORKERS, ROUNDS, CYCLES].map(String),
    ],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  if (!out.success) throw new Error(`${impl.name}: the memory run failed`);
  return JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").at(-1)!);
}

if (MEMORY_OF !== undefined) {
  const impl = impls.find((impl) => impl.name === MEMORY_OF);
  if (impl === undefined) throw new Error(`no implementation ${MEMORY_OF}`);
  console.log(JSON.stringify(await memory(impl)));
  Deno.exit(0);
}

function median(xs: number[]): number {
  return xs.toSorted((x, y) => x - y)[Math.floor(xs.length / 2)];
}

/**
 * Per implementation, the median of each of the figures `measure` returns,
 * over ROUNDS rounds, the order of the implementations turning each round.
 */
async function medians(measure: (impl: Impl) => Promise<number[]>): Promise<Map<Impl, number>[]> {
  const samples = new Map(impls.map((impl) => [impl, [] as number[][]]));
  for (let r = 0; r < ROUNDS; r++) {
    for (let k = 0; k < impls.length; k++) {
      const impl = impls[(r + k) % impls.length];
      samples.get(impl)!.push(await measure(impl));
    }
  }
  const figures = samples.get(impls[0])![0].length;
  return Array.from(
    { length: figures },
    (_, i) => new Map([...samples].map(([impl, rounds]) => [impl, median(rounds.map((xs) => xs[i]))])),
  );
}

/** One line of results: a figure per implementation. */
interface Line {
  workload: string;
  unit: string;
  higherIsBetter: boolean;
  /** A ratio against avx would mean nothing (a growth near zero). */
  noRatio?: boolean;
  values: Map<Impl, number>;
}

const lines: Line[] = [];
const [tps] = await medians(async (impl) => [await throughput(impl)]);
lines.push({
  workload: `${TASKS.toLocaleString()} empty tasks, spawn all, await all`,
  unit: "task/s",
  higherIsBetter: true,
  values: tps,
});
// 1 and 2 workers in the same round, so that the speed-up of a round compares like with like.
const [cpu1, cpu2, speedUp] = await medians(async (impl) => {
  const one = await cpu(impl, 1);
  const two = await cpu(impl, 2);
  return [one, two, one / two];
});
lines.push({ workload: `${FIBS} x fib(${FIB}), 1 worker`, unit: "ms", higherIsBetter: false, values: cpu1 });
lines.push({ workload: `${FIBS} x fib(${FIB}), 2 workers`, unit: "ms", higherIsBetter: false, values: cpu2 });
lines.push({ workload: "speed-up, 1 -> 2 workers (median)", unit: "x", higherIsBetter: true, values: speedUp });
const rss = new Map<Impl, Rss>();
for (const impl of impls) rss.set(impl, await memoryInChild(impl));
lines.push({
  workload: `RSS growth, ${CYCLES.toLocaleString()} cycles of ${BATCH.toLocaleString()}`,
  unit: "MiB",
  higherIsBetter: false,
  noRatio: true,
  values: new Map([...rss].map(([impl, { warm, end }]) => [impl, end - warm])),
});
// A leak keeps growing; a heap settling into its size does not.
lines.push({
  workload: "  of which in the second half",
  unit: "MiB",
  higherIsBetter: false,
  noRatio: true,
  values: new Map([...rss].map(([impl, { half, end }]) => [impl, end - half])),
});

function fmt(n: number): string {
  if (Math.abs(n) >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (Math.abs(n) >= 1e3) return `${(n / 1e3).toFixed(1)} k`;
  return n.toFixed(Math.abs(n) < 10 ? 2 : 1);
}

// Rows against avx, the shape of the other comparisons' JSON.
const avx = impls.find((impl) => impl.name === "avx");
const rows: Row[] = [];
if (avx !== undefined) {
  for (const line of lines.filter((l) => !l.noRatio)) {
    for (const peer of impls.filter((impl) => impl !== avx)) {
      rows.push(
        row(line.workload, line.unit, line.values.get(avx)!, peer.name, line.values.get(peer)!, line.higherIsBetter),
      );
    }
  }
}

const title = `Tasks on ${WORKERS} workers (median of ${ROUNDS}; in brackets, > 1x means avx is ahead)`;
console.log(`\n${title}`);
console.log(`${"workload".padEnd(44)}${impls.map((impl) => impl.name.padStart(26)).join("")}`);
for (const line of lines) {
  const cells = impls.map((impl) => {
    const v = line.values.get(impl)!;
    let cell = `${fmt(v)} ${line.unit}`;
    if (avx !== undefined && impl !== avx && !line.noRatio) {
      const r = row(line.workload, line.unit, line.values.get(avx)!, impl.name, v, line.higherIsBetter);
      cell += ` (${r.ratio.toFixed(2)}x)`;
    }
    return cell.padStart(26);
  });
  console.log(`${line.workload.padEnd(44)}${cells.join("")}`);
}

await save("tasks.json", {
  title,
  params: { tasks: TASKS, workers: WORKERS, rounds: ROUNDS, cycles: CYCLES, batch: BATCH, fib: FIB, fibs: FIBS },
  avx: typeof runtime === "string" ? `skipped: ${runtime}` : "ran",
  results: lines.map((line) => ({
    workload: line.workload,
    unit: line.unit,
    higherIsBetter: line.higherIsBetter,
    values: Object.fromEntries([...line.values].map(([impl, v]) => [impl.name, v])),
  })),
  rssMiB: Object.fromEntries([...rss].map(([impl, sample]) => [impl.name, sample])),
  rows,
});
