/**
 * Demo: count the primes below a limit on every core.
 *
 * Workers claim chunks from a shared AtomicCounter (a lock-free work
 * queue), report each chunk's result through one mpsc channel, keep the
 * largest prime gap in an AtomicBox updated by compare-and-swap, and stop
 * when main closes a broadcast channel. Main never blocks: it awaits the
 * channel and prints progress as results arrive.
 *
 *   deno task demo [limit]
 *
 * @module
 */
import { AtomicBox, AtomicCounter, broadcast, mpsc } from "../mod.ts";

export interface ChunkResult {
  worker: number;
  chunk: number;
  primes: number;
  ms: number;
}

export interface Gap {
  gap: number;
  after: number;
}

const limit = Number(Deno.args[0] ?? 200_000_000);
const chunkSize = 1_000_000;
const chunks = Math.ceil(limit / chunkSize);
const workers = navigator.hardwareConcurrency;

const next = new AtomicCounter(0);
const bestGap = new AtomicBox<Gap>({ gap: 0, after: 0 }, { codec: "json" });
const [resultsTx, results] = mpsc<ChunkResult>({ codec: "json", capacity: 256 });
const control = broadcast<string>({ codec: "string" });

console.log(`avx demo: primes below ${limit.toLocaleString()} in ${chunks} chunks on ${workers} Worker isolates`);
const started = performance.now();
const pool = Array.from({ length: workers }, (_, id) => {
  const w = new Worker(new URL("./worker.ts", import.meta.url), { type: "module" });
  w.postMessage({
    id,
    limit,
    chunkSize,
    chunks,
    next: next.handle,
    bestGap: bestGap.handle,
    results: resultsTx.handle,
    control: control.handle,
  });
  return w;
});
// Each worker says when it has attached; only then may our reference go
// (a handle whose last reference is released cannot be attached to).
await Promise.all(pool.map((w) => new Promise((resolve) => (w.onmessage = resolve))));
resultsTx[Symbol.dispose](); // The workers hold the senders now.

let primes = 0;
let done = 0;
const perWorker = new Array<number>(workers).fill(0);
for await (const r of results) {
  primes += r.primes;
  perWorker[r.worker]++;
  done++;
  if (done % Math.max(1, Math.floor(chunks / 10)) === 0 || done === chunks) {
    const pct = Math.round((done / chunks) * 100);
    const bar = "#".repeat(pct / 5).padEnd(20, ".");
    console.log(`  [${bar}] ${String(pct).padStart(3)}%  primes so far ${primes.toLocaleString()}`);
  }
  if (done === chunks) break;
}
const elapsed = performance.now() - started;
control.sendSync("stop");
control.close();
const gap = bestGap.load();
console.log(`primes below ${limit.toLocaleString()}: ${primes.toLocaleString()} in ${elapsed.toFixed(0)} ms`);
console.log(`largest gap between consecutive primes in a chunk: ${gap.gap} (after ${gap.after.toLocaleString()})`);
console.log(`chunks per worker: ${perWorker.join(", ")}`);
for (const w of pool) w.terminate();
results[Symbol.dispose]();
