/// <reference lib="deno.worker" />
// Benchmark worker for locks: uncontended pairs, or contended increments,
// with an avx Mutex or a `multithreading` Mutex.
import { Mutex as AvxMutex } from "../../mod.ts";
import { Mutex as MtMutex } from "../peers/multithreading.ts";

self.onmessage = (e: MessageEvent) => {
  const { impl, n, sab, lockSab } = e.data;
  const cell = new Int32Array(sab);
  self.postMessage("ready");
  self.onmessage = () => {
    const t = performance.now();
    if (impl === "avx") {
      using m = AvxMutex.from(e.data.handle);
      for (let i = 0; i < n; i++) {
        const g = m.lockSync();
        cell[0]++;
        g.unlock();
      }
    } else {
      const m = new MtMutex(cell, lockSab);
      for (let i = 0; i < n; i++) {
        const g = m.blockingLock();
        g.value[0]++;
        g[Symbol.dispose]();
      }
    }
    self.postMessage({ ms: performance.now() - t });
  };
};
