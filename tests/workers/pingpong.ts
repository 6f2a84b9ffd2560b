/// <reference lib="deno.worker" />
// Answers every message on one channel with the same bytes on another,
// receiving with recvSync (a blocking native wait).
import { Receiver, Sender } from "../../mod.ts";

self.onmessage = (e: MessageEvent) => {
  using rx = Receiver.from(e.data.rx);
  using tx = Sender.from(e.data.tx);
  self.postMessage("ready");
  for (;;) {
    const m = rx.recvSync();
    if (m === null) break;
    tx.sendSync(m);
  }
  self.postMessage("done");
};
