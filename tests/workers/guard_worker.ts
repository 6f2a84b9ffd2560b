/// <reference lib="deno.worker" />
// Attaches to a lock (Mutex, RwLock or Semaphore) and, on request, reports
// whether it can take it at once (tryLock / tryWrite / tryAcquire).
import { Mutex, RwLock, Semaphore } from "../../mod.ts";

type Lock = Mutex | RwLock | Semaphore;
let lock: Lock | undefined;

self.onmessage = (e: MessageEvent) => {
  const msg = e.data;
  if (msg.op === "attach") {
    lock = msg.kind === "mutex"
      ? Mutex.from(msg.handle)
      : msg.kind === "rwlock"
      ? RwLock.from(msg.handle)
      : Semaphore.from(msg.handle);
    self.postMessage("attached");
  } else if (msg.op === "try") {
    let got: { [Symbol.dispose](): void } | null;
    if (lock instanceof Mutex) got = lock.tryLock();
    else if (lock instanceof RwLock) got = lock.tryWrite();
    else got = lock!.tryAcquire(msg.n ?? 1);
    got?.[Symbol.dispose]();
    self.postMessage(got !== null);
  } else if (msg.op === "detach") {
    lock?.[Symbol.dispose]();
    self.postMessage("detached");
  }
};
