/**
 * Mutex workloads, avx against the npm package `multithreading`, in one
 * run: lock + increment + unlock in one Worker (uncontended) and in two
 * Workers at once (contended). Each checks the shared total.
 *
 *   deno run -A bench/compare_locks.ts [pairs]
 *
 * @module
 */
import { Mutex } from "../mod.ts";
import { next, report, type Row, row, worker } from "./harness.ts";

const N = Number(Deno.args[0] ?? 200_000);

async function run(impl: "avx" | "mt", workers: number): Promise<number> {
  const sab = new SharedArrayBuffer(4);
  const lockSab = new SharedArrayBuffer(4);
  using m = new Mutex();
  const ws = Array.from({ length: workers }, () => worker("locks.ts"));
  for (const w of ws) w.postMessage({ impl, n: N, sab, lockSab, handle: m.handle });
  await Promise.all(ws.map((w) => next(w)));
  const done = ws.map((w) => next(w));
  const t = performance.now();
  for (const w of ws) w.postMessage("go");
  await Promise.all(done);
  const ms = performance.now() - t;
  for (const w of ws) w.terminate();
  const total = new Int32Array(sab)[0];
  if (total !== N * workers) throw new Error(`${impl}: total ${total}, expected ${N * workers}`);
  return (ms * 1e6) / (N * workers);
}

const rows: Row[] = [];
rows.push(
  row(
    "Mutex lock+unlock, 1 Worker (uncontended)",
    "ns",
    await run("avx", 1),
    "multithreading",
    await run("mt", 1),
    false,
  ),
);
rows.push(
  row(
    "Mutex lock+unlock, 2 Workers (contended)",
    "ns",
    await run("avx", 2),
    "multithreading",
    await run("mt", 2),
    false,
  ),
);
await report(`Mutex across Workers (${N.toLocaleString()} pairs per Worker)`, rows, "locks.json");
