// Runs in a subprocess: `count` short-lived Workers, each awaiting avx and
// then ending (half return to an idle loop and are terminated, half close
// themselves); afterwards a Runtime and a server still start, and every
// completion queue is back. Prints "ok <json>".
import { Runtime, serve, sleep } from "../../mod.ts";
import { lib } from "../../src/ffi/library.ts";

const count = Number(Deno.args[0] ?? 1000);
const batch = 16;
const src = `
  import { sleep } from ${JSON.stringify(new URL("../../mod.ts", import.meta.url).href)};
  self.onmessage = async (e) => {
    await sleep(1);
    self.postMessage("done");
    if (e.data === "close") self.close();
  };
`;
const url = `data:text/javascript,${encodeURIComponent(src)}`;
await sleep(1);
const queuesBefore = lib().avx_cq_open_count();
for (let i = 0; i < count; i += batch) {
  await Promise.all(
    Array.from({ length: Math.min(batch, count - i) }, (_, j) =>
      new Promise<void>((resolve, reject) => {
        const w = new Worker(url, { type: "module" });
        w.onerror = (e) => {
          e.preventDefault();
          reject(new Error(e.message));
        };
        w.onmessage = () => {
          if ((i + j) % 2 === 0) w.terminate();
          resolve();
        };
        w.postMessage((i + j) % 2 === 0 ? "stay" : "close");
      })),
  );
}
let queues = lib().avx_cq_open_count();
for (let i = 0; i < 300 && queues > queuesBefore; i++) {
  await sleep(10);
  queues = lib().avx_cq_open_count();
}
await using rt = await Runtime.create({ workerThreads: 2 });
const task = await rt.spawn<number>(new URL("../tasks/tasks.ts", import.meta.url).href, "doubleLater", 4);
await using server = await serve(
  { hostname: "127.0.0.1", port: 0, workers: 2 },
  new URL("../net/handlers.ts", import.meta.url).href,
  "default",
);
const body = await (await fetch(`http://127.0.0.1:${server.addr.port}/`)).text();
console.log("ok " + JSON.stringify({ count, queuesBefore, queues, task, body }));
