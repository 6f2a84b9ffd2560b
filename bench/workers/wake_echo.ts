/// <reference lib="deno.worker" />
// Echoes every message of one channel onto another, waiting with `await`
// (so this isolate is idle between messages and must be woken each time),
// or echoes postMessage for the peer.
import { Receiver, Sender } from "../../mod.ts";

self.onmessage = async (e: MessageEvent<{ mode: string; ping?: number; pong?: number }>) => {
  const { mode } = e.data;
  if (mode === "post") {
    self.onmessage = (m) => self.postMessage(m.data);
    self.postMessage("ready");
    return;
  }
  const rx = Receiver.from<number>(e.data.ping!, { codec: "json" });
  const tx = Sender.from<number>(e.data.pong!, { codec: "json" });
  self.postMessage("ready");
  for (;;) {
    const v = await rx.recv();
    if (v === null) break;
    tx.trySend(v);
  }
};
