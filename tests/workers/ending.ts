/// <reference lib="deno.worker" />
// A Worker that waits on avx in the way it is told, says "waiting", and is
// then ended from outside (terminate) or ends itself (close, throw) while
// the wait is pending. Used by tests/lifecycle_test.ts.
import { connect, mpsc, Mutex, Receiver, Semaphore, Sender, sleep, TcpListener } from "../../mod.ts";

type Start = { kind: string; end: "terminate" | "close" | "throw"; handle?: number; port?: number };

self.onmessage = (e: MessageEvent<Start>) => {
  const { kind, end, handle, port } = e.data;
  const waits: Promise<unknown>[] = [];
  switch (kind) {
    case "sleep":
      // A loop of short timers: rings keep coming while it ends.
      waits.push((async () => {
        for (;;) await sleep(1);
      })());
      break;
    case "lock":
      waits.push(Mutex.from(handle!).lock());
      break;
    case "permit":
      waits.push(Semaphore.from(handle!).acquire(1));
      break;
    case "recv":
      waits.push(Receiver.from<string>(handle!, { codec: "string" }).recv());
      break;
    case "send": {
      const tx = Sender.from<string>(handle!, { codec: "string" });
      waits.push((async () => {
        for (;;) await tx.send("x");
      })());
      break;
    }
    case "accept":
      waits.push(TcpListener.from(handle!).accept());
      break;
    case "read":
      waits.push(connect({ hostname: "127.0.0.1", port: port! }).then((c) => c.read(new Uint8Array(16))));
      break;
    default:
      throw new Error(`unknown kind ${kind}`);
  }
  // A wait of every kind at once besides: the queue has many operations.
  const [, rx] = mpsc<string>({ codec: "string" });
  waits.push(rx.recv());
  setTimeout(() => {
    self.postMessage("waiting");
    if (end === "close") setTimeout(() => self.close(), Math.random() * 5);
    if (end === "throw") {
      setTimeout(() => {
        throw new Error("ending on purpose");
      }, Math.random() * 5);
    }
  }, 5);
};
