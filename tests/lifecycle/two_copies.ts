// Runs in a subprocess with AVX_LIB_PATH set: a Worker loads two copies of
// the module (two URLs, one native library, so two completion queues on one
// thread), waits on a lock through the first copy, and is terminated. Both
// of its queues must close, and the lock must pass on. Prints "ok <json>".
import { Mutex, sleep } from "../../mod.ts";
import { openQueues, queuesSettled } from "./common.ts";

const root = new URL("../../", import.meta.url);
const copy = await Deno.makeTempDir({ prefix: "avx-copy-" });
for (const path of ["mod.ts", "deno.json"]) await Deno.copyFile(new URL(path, root), `${copy}/${path}`);
await Deno.mkdir(`${copy}/src`);
const cp = async (from: URL, to: string) => {
  for await (const e of Deno.readDir(from)) {
    if (e.isDirectory) {
      await Deno.mkdir(`${to}/${e.name}`);
      await cp(new URL(`${e.name}/`, from), `${to}/${e.name}`);
    } else await Deno.copyFile(new URL(e.name, from), `${to}/${e.name}`);
  }
};
await cp(new URL("src/", root), `${copy}/src`);

await sleep(1);
const before = openQueues();
const m = new Mutex();
const g = m.lockSync();
const src = `
  import * as A from ${JSON.stringify(new URL("mod.ts", root).href)};
  import * as B from ${JSON.stringify(`file://${copy}/mod.ts`)};
  self.onmessage = async (e) => {
    await A.sleep(1);
    await B.sleep(1);
    const p = A.Mutex.from(e.data).lock();
    self.postMessage("waiting");
    await p;
  };
`;
const w = new Worker(`data:text/javascript,${encodeURIComponent(src)}`, { type: "module" });
await new Promise<void>((resolve) => {
  w.onmessage = () => resolve();
  w.postMessage(m.handle);
});
const during = openQueues();
w.terminate();
const after = await queuesSettled(before, 300);
g.unlock();
using g2 = await m.lock({ timeout: 5000 });
g2.unlock();
await Deno.remove(copy, { recursive: true });
console.log("ok " + JSON.stringify({ before, during, after }));
