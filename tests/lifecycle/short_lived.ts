// Runs in a subprocess: `count` short-lived Workers, each awaiting avx and
// then ending (half return to an idle loop and are terminated, half close
// themselves); afterwards a Runtime and a server still start, and every
// completion queue is back. Prints "ok <json>".
import { sleep } from "../../mod.ts";
import { openQueues, queuesSettled, runtimeAndServerStart } from "./common.ts";

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
const queuesBefore = openQueues();
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
const queues = await queuesSettled(queuesBefore, 300);
const { task, body } = await runtimeAndServerStart(4, 2);
console.log("ok " + JSON.stringify({ count, queuesBefore, queues, task, body }));
