/**
 * Demo: count the primes below a limit on every core, with live metrics.
 *
 * One task covers the whole range and splits it in two, recursively, until
 * the pieces are small: every subtask is spawned inside a worker isolate,
 * lands in that worker's queue, and idle workers steal half of it. Pieces
 * report progress on an AtomicCounter and their largest prime gap in an
 * AtomicBox (compare-and-swap). Main prints the scheduler's metrics every
 * 250 ms from a timer on the native wheel.
 *
 *   deno task demo [limit]
 *
 * @module
 */
import { AtomicBox, AtomicCounter, interval, Runtime } from "../mod.ts";
import type { Gap } from "./tasks.ts";

const limit = Number(Deno.args[0] ?? 1_000_000_000);
const piece = 1_000_000;
const pieces = Math.ceil(limit / piece);
const tasks = new URL("./tasks.ts", import.meta.url).href;

await using rt = await Runtime.create();
using done = new AtomicCounter(0);
using best = new AtomicBox<Gap>({ gap: 0, after: 0 }, { codec: "json" });

console.log(
  `avx demo: primes below ${limit.toLocaleString()} in ${pieces} pieces on ${rt.workerThreads} worker isolates`,
);
const started = performance.now();
const root = rt.spawn<number>(tasks, "countPrimes", 0, limit, piece, done.handle, best.handle);

const stop = new AbortController();
root.finally(() => stop.abort()).catch(() => {});
const line = () => {
  const m = rt.metrics();
  const pct = Math.round((done.load() / pieces) * 100);
  const bar = "#".repeat(Math.floor(pct / 5)).padEnd(20, ".");
  const ran = m.workers.map((w) => w.polled).join("/");
  return `  [${bar}] ${String(pct).padStart(3)}%  tasks ${m.tasks.spawned} spawned, ran ${ran} per worker, ` +
    `stolen ${m.totals.stolen} in ${m.totals.stealBatches} steals, parks ${m.totals.parks}, ` +
    `timers fired ${m.timers.fired}`;
};
try {
  for await (const _ of interval(250, { signal: stop.signal })) console.log(line());
} catch (e) {
  if (!stop.signal.aborted) throw e;
}
const primes = await root;
const elapsed = performance.now() - started;
console.log(line());
const gap = best.load();
console.log(`primes below ${limit.toLocaleString()}: ${primes.toLocaleString()} in ${elapsed.toFixed(0)} ms`);
console.log(`largest gap between consecutive primes inside a piece: ${gap.gap} (after ${gap.after.toLocaleString()})`);
