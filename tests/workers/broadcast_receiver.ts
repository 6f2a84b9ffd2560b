/// <reference lib="deno.worker" />
// Subscribes to a broadcast channel and reports the sum of the values seen.
import { BroadcastSender } from "../../mod.ts";

self.onmessage = async (e: MessageEvent) => {
  using tx = BroadcastSender.from<number>(e.data.tx, { codec: "json" });
  using rx = tx.subscribe();
  tx[Symbol.dispose](); // Keep only the receiver: the channel ends when main closes.
  self.postMessage("subscribed");
  let sum = 0;
  let count = 0;
  for await (const v of rx) {
    sum += v;
    count++;
  }
  self.postMessage({ sum, count });
};
