/// <reference lib="deno.worker" />
// Adds to a shared counter and increments a JSON box with a CAS loop.
import { AtomicBox, AtomicCounter } from "../../mod.ts";

self.onmessage = (e: MessageEvent) => {
  using c = AtomicCounter.from(e.data.counter);
  using b = AtomicBox.from<number>(e.data.box, { codec: "json" });
  for (let i = 0; i < e.data.n; i++) {
    c.add(1);
    for (;;) {
      const { value, version } = b.loadVersioned();
      if (b.compareAndSwap(version, value + 1)) break;
    }
  }
  self.postMessage("done");
};
