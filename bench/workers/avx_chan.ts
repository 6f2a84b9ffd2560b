/// <reference lib="deno.worker" />
// Benchmark worker for avx channels: producer, consumer or ponger.
import { Receiver, Sender } from "../../mod.ts";

self.onmessage = (e: MessageEvent) => {
  const { role, n, size } = e.data;
  if (role === "produce") {
    // Not `using`: the sender must outlive this handler.
    const tx = Sender.from(e.data.tx);
    const msg = new Uint8Array(size);
    self.postMessage("ready");
    self.onmessage = () => {
      for (let i = 0; i < n; i++) tx.sendSync(msg);
      self.postMessage("sent");
    };
  } else if (role === "produceMany") {
    const tx = Sender.from(e.data.tx);
    const batch = Array.from({ length: e.data.batch }, () => new Uint8Array(size));
    self.postMessage("ready");
    self.onmessage = () => {
      for (let i = 0; i < n; i += batch.length) tx.sendManySync(batch);
      self.postMessage("sent");
    };
  } else if (role === "consumeMany") {
    using rx = Receiver.from(e.data.rx);
    self.postMessage("ready");
    let bytes = 0;
    let got = 0;
    while (got < n) {
      for (const m of rx.recvManySync(e.data.batch)) {
        bytes += m.length;
        got++;
      }
    }
    self.postMessage({ bytes });
  } else if (role === "consume") {
    using rx = Receiver.from(e.data.rx);
    self.postMessage("ready");
    let bytes = 0;
    for (let i = 0; i < n; i++) bytes += rx.recvSync()!.length;
    self.postMessage({ bytes });
  } else if (role === "pong") {
    using rx = Receiver.from(e.data.rx);
    using tx = Sender.from(e.data.tx);
    self.postMessage("ready");
    for (let i = 0; i < n; i++) tx.sendSync(rx.recvSync()!);
  } else if (role === "ping") {
    const rx = Receiver.from(e.data.rx);
    const tx = Sender.from(e.data.tx);
    const msg = new Uint8Array(size);
    self.postMessage("ready");
    self.onmessage = () => {
      const t = performance.now();
      for (let i = 0; i < n; i++) {
        tx.sendSync(msg);
        rx.recvSync();
      }
      self.postMessage({ ms: performance.now() - t });
    };
  }
};
