/// <reference lib="deno.worker" />
// Benchmark worker for the npm package `multithreading`: producer or
// consumer of its channel. Its payloads are JSON values; a 64-character
// string is its fastest 64-byte form, so that is what it sends, and the
// consumer copies it into a Uint8Array as avx's consumer gets one.
import { fromWire, Receiver, Sender } from "../peers/multithreading.ts";

self.onmessage = (e: MessageEvent) => {
  const { role, n, size, wire } = e.data;
  if (role === "produce") {
    const tx = fromWire<Sender<string>>(Sender, wire);
    const msg = "x".repeat(size);
    self.postMessage("ready");
    self.onmessage = () => {
      for (let i = 0; i < n; i++) {
        const r = tx.blockingSend(msg);
        if (!r.ok) throw r.error;
      }
      self.postMessage("sent");
    };
  } else {
    const rx = fromWire<Receiver<string>>(Receiver, wire);
    self.postMessage("ready");
    let bytes = 0;
    const out = new Uint8Array(size);
    for (let i = 0; i < n; i++) {
      const r = rx.blockingRecv();
      if (!r.ok) throw r.error;
      const s = r.value as string;
      for (let j = 0; j < s.length; j++) out[j] = s.charCodeAt(j);
      bytes += s.length;
    }
    self.postMessage({ bytes });
  }
};
