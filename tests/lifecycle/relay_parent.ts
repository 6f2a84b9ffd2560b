// Runs in a subprocess: the bell relay is started by a Worker (this isolate
// has not waited yet), and that Worker then ends (`close` or `terminate`,
// as Deno.args[0] says). Whatever became of the relay, this isolate's waits
// and a wake-up from another isolate must still complete, and its queue
// must end up registered with a running relay. Prints "ok <json>".
import { Mutex, sleep } from "../../mod.ts";
import { lib } from "../../src/ffi/library.ts";
import { completionQueue } from "../../src/ffi/queue.ts";

const end = Deno.args[0] ?? "close";
const mod = new URL("../../mod.ts", import.meta.url).href;
const libUrl = new URL("../../src/ffi/library.ts", import.meta.url).href;
const src = `
  import { sleep } from ${JSON.stringify(mod)};
  import { lib } from ${JSON.stringify(libUrl)};
  self.onmessage = async () => {
    await sleep(1);
    for (let i = 0; i < 500 && lib().avx_bell_ready() !== 1; i++) await new Promise((r) => setTimeout(r, 10));
    self.postMessage(lib().avx_bell_ready());
    if (${JSON.stringify(end)} === "close") self.close();
  };
`;
const w = new Worker(`data:text/javascript,${encodeURIComponent(src)}`, { type: "module" });
const startedByWorker = await new Promise<number>((resolve) => {
  w.onmessage = (e) => resolve(e.data);
  w.postMessage(0);
});
if (end === "terminate") w.terminate();
await new Promise((r) => setTimeout(r, 300));
// Waits of this isolate: timers, and a lock handed over by another isolate.
for (let i = 0; i < 5; i++) await sleep(1);
const m = new Mutex();
const g = m.lockSync();
const helper = new Worker(
  `data:text/javascript,${
    encodeURIComponent(`
  import { Mutex } from ${JSON.stringify(mod)};
  self.onmessage = (e) => { const m = Mutex.from(e.data); setTimeout(() => { m.lockSync().unlock(); self.postMessage("x"); }, 20); };
`)
  }`,
  { type: "module" },
);
helper.postMessage(m.handle);
setTimeout(() => g.unlock(), 10);
using g2 = await m.lock({ timeout: 10_000 });
g2.unlock();
helper.terminate();
let registered = 0;
for (let i = 0; i < 500 && registered !== 1; i++) {
  await sleep(10);
  registered = lib().avx_cq_registered(completionQueue().id);
}
console.log("ok " + JSON.stringify({ end, startedByWorker, registered, ready: lib().avx_bell_ready() }));
