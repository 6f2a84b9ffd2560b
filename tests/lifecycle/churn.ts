// Runs in a subprocess (a crash must fail the test, not kill the runner):
// Workers waiting on avx in every way are ended in every way, many times,
// while the objects they wait on keep being granted. Prints "ok <json>".
import { AtomicCounter, listen, mpsc, Mutex, Semaphore, sleep } from "../../mod.ts";
import { openQueues, queuesSettled, runtimeAndServerStart } from "./common.ts";

const rounds = Number(Deno.args[0] ?? 10);
const kinds = ["sleep", "lock", "permit", "recv", "send", "accept", "read"];
const ends = ["terminate", "close", "throw"] as const;
const url = new URL("../workers/ending.ts", import.meta.url);

await sleep(1); // this isolate's queue and the relay exist from here on
const queuesBefore = openQueues();
const mutex = new Mutex();
const guard = mutex.lockSync();
const sem = new Semaphore(0);
const [tx, rx] = mpsc<string>({ codec: "string", capacity: 1 });
const listener = listen({ hostname: "127.0.0.1", port: 0 });
const served = listener.accept();
let ended = 0;
for (let r = 0; r < rounds; r++) {
  for (const kind of kinds) {
    for (const end of ends) {
      const w = new Worker(url, { type: "module" });
      const errored = new Promise<void>((resolve) => {
        w.onerror = (e) => {
          e.preventDefault();
          resolve();
        };
      });
      const handle = kind === "lock"
        ? mutex.handle
        : kind === "permit"
        ? sem.handle
        : kind === "recv"
        ? rx.handle
        : kind === "send"
        ? tx.handle
        : listener.handle;
      await new Promise<void>((resolve) => {
        w.onmessage = () => resolve();
        w.postMessage({ kind, end, handle, port: listener.addr.port });
      });
      // Grants race the ending: a message, a permit, a timer.
      if (kind === "permit") sem.release(1);
      if (end === "terminate") w.terminate();
      if (kind === "recv") tx.trySend("m");
      else if (end === "throw") await errored;
      else await sleep(10);
      if (kind === "send") rx.tryRecv();
      if (kind === "recv" && end === "terminate") {
        // Sent after terminate(): the dead Worker's pending receive was
        // cancelled when its thread exited, or its grant only said "try
        // again"; either way the message is still here.
        const m = await rx.recv({ timeout: 5000 });
        if (m !== "m") throw new Error(`round ${r}: the message sent to a terminated Worker was lost (${m})`);
      }
      ended++;
    }
  }
}
// Everything still works here, and nothing was handed to a dead isolate for
// good: the lock passes on, permits and messages are not swallowed.
guard.unlock();
using g2 = await mutex.lock({ timeout: 2000 });
g2.unlock();
await sleep(5);
const counter = new AtomicCounter();
counter.add(1);
// Queues of the ended Workers are closed by their threads' exit.
const queues = await queuesSettled(queuesBefore, 200);
const { task: t, body } = await runtimeAndServerStart(21, 1);
listener.close();
await served.catch(() => {});
console.log("ok " + JSON.stringify({ ended, queuesBefore, queues, task: t, body }));
