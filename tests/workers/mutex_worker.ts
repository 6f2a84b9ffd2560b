/// <reference lib="deno.worker" />
// Increments a plain (non-atomic) shared integer under an avx Mutex, or
// holds the lock for a while on request.
import { Mutex } from "../../mod.ts";

self.onmessage = async (e: MessageEvent) => {
  const msg = e.data;
  const m = Mutex.from(msg.mutex);
  if (msg.op === "increment") {
    const cell = new Int32Array(msg.sab);
    for (let i = 0; i < msg.iterations; i++) {
      using _g = i % 2 === 0 ? m.lockSync() : await m.lock();
      // A read, a yield point for other threads, and a write: without the
      // lock, increments are lost.
      const v = cell[0];
      cell[0] = v + 1;
    }
    self.postMessage("done");
  } else if (msg.op === "hold") {
    const g = m.lockSync();
    const flag = new Int32Array(msg.sab);
    self.postMessage("locked");
    await new Promise((r) => setTimeout(r, msg.ms));
    flag[0] = 1; // Written before the unlock: the waiter must see it.
    g.unlock();
    self.postMessage("unlocked");
  }
  m[Symbol.dispose]();
};
