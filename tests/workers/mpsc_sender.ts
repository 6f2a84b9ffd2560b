/// <reference lib="deno.worker" />
// Sends `count` 8-byte messages (worker id, sequence) into an mpsc channel.
// Protocol: attach, say "attached", wait for "go", send, say "done".
import { Sender } from "../../mod.ts";

self.onmessage = (e: MessageEvent) => {
  const { tx: handle, id, count, mode } = e.data;
  const tx = Sender.from(handle);
  self.postMessage("attached");
  self.onmessage = async () => {
    const msg = new Uint8Array(8);
    const view = new DataView(msg.buffer);
    view.setUint32(0, id, true);
    for (let seq = 0; seq < count; seq++) {
      view.setUint32(4, seq, true);
      if (mode === "async") await tx.send(msg);
      else tx.sendSync(msg);
    }
    tx[Symbol.dispose]();
    self.postMessage("done");
  };
};
