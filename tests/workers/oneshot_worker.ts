/// <reference lib="deno.worker" />
// Replies to a request through a oneshot channel, or drops the sender.
import { OneshotSender } from "../../mod.ts";

self.onmessage = (e: MessageEvent) => {
  using tx = OneshotSender.from<{ doubled: number }>(e.data.tx, { codec: "json" });
  if (e.data.drop) tx.close();
  else tx.send({ doubled: e.data.n * 2 });
  self.postMessage("done");
};
