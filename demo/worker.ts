/// <reference lib="deno.worker" />
/**
 * Demo worker: claims chunks until none are left, then waits for "stop".
 *
 * @module
 */
import { AtomicBox, AtomicCounter, BroadcastSender, Sender } from "../mod.ts";
import type { ChunkResult, Gap } from "./main.ts";

function sieveChunk(from: number, to: number): { primes: number; gap: Gap } {
  const size = to - from;
  const composite = new Uint8Array(size);
  const root = Math.floor(Math.sqrt(to));
  const small = new Uint8Array(root + 1);
  for (let p = 2; p <= root; p++) {
    if (small[p]) continue;
    for (let m = p * p; m <= root; m += p) small[m] = 1;
    for (let m = Math.max(p * p, Math.ceil(from / p) * p); m < to; m += p) composite[m - from] = 1;
  }
  let primes = 0;
  let last = -1;
  const gap: Gap = { gap: 0, after: 0 };
  for (let i = 0; i < size; i++) {
    const n = from + i;
    if (n < 2 || composite[i]) continue;
    primes++;
    if (last >= 0 && n - last > gap.gap) {
      gap.gap = n - last;
      gap.after = last;
    }
    last = n;
  }
  return { primes, gap };
}

self.onmessage = async (e: MessageEvent) => {
  const { id, limit, chunkSize, chunks } = e.data;
  using next = AtomicCounter.from(e.data.next);
  using best = AtomicBox.from<Gap>(e.data.bestGap, { codec: "json" });
  using results = Sender.from<ChunkResult>(e.data.results, { codec: "json" });
  using control = BroadcastSender.from<string>(e.data.control, { codec: "string" });
  using stop = control.subscribe();
  self.postMessage("attached");
  for (;;) {
    const chunk = next.add(1) - 1;
    if (chunk >= chunks) break;
    const t = performance.now();
    const from = chunk * chunkSize;
    const r = sieveChunk(from, Math.min(limit, from + chunkSize));
    for (;;) {
      const { value, version } = best.loadVersioned();
      if (r.gap.gap <= value.gap || best.compareAndSwap(version, r.gap)) break;
    }
    await results.send({ worker: id, chunk, primes: r.primes, ms: performance.now() - t });
  }
  await stop.recv();
};
