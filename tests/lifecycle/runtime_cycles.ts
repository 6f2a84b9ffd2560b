// Runs in a subprocess: `cycles` Runtime lifecycles (create, run tasks,
// shut down); descriptors, threads and completion queues must come back to
// where they were. Prints "ok <json>".
import { Runtime, sleep } from "../../mod.ts";
import { lib } from "../../src/ffi/library.ts";

const cycles = Number(Deno.args[0] ?? 200);
const tasks = new URL("../tasks/tasks.ts", import.meta.url).href;

async function counts() {
  const fds = [...Deno.readDirSync(`/proc/${Deno.pid}/fd`)].length;
  const out = await new Deno.Command("ps", { args: ["-L", "-o", "comm=", "-p", String(Deno.pid)] }).output();
  const threads = new TextDecoder().decode(out.stdout).trim().split("\n").length;
  return { fds, threads, queues: lib().avx_cq_open_count() };
}

async function settle(before: { fds: number; threads: number; queues: number }) {
  let now = await counts();
  for (
    let i = 0;
    i < 100 && (now.fds > before.fds || now.threads > before.threads || now.queues > before.queues);
    i++
  ) {
    await sleep(20);
    now = await counts();
  }
  return now;
}

// One cycle first: whatever is created once per process (the relay, the
// timer and I/O threads, V8's worker threads) exists before the baseline.
await (await Runtime.create({ workerThreads: 2 })).shutdown();
await sleep(1);
for (let i = 0; i < 500 && lib().avx_bell_ready() !== 1; i++) await sleep(10);
// Stable: the same counts three times 100 ms apart (the relay's start-up
// holds a few descriptors for a moment).
let before = await counts();
for (let same = 0, i = 0; same < 3 && i < 50; i++) {
  await sleep(100);
  const now = await counts();
  same = JSON.stringify(now) === JSON.stringify(before) ? same + 1 : 0;
  before = now;
}
const rss0 = Deno.memoryUsage().rss;
for (let i = 0; i < cycles; i++) {
  const rt = await Runtime.create({ workerThreads: 2 });
  await Promise.all([rt.spawn(tasks, "doubleLater", i), rt.spawn(tasks, "doubleLater", i + 1)]);
  await rt.shutdown();
}
const after = await settle(before);
const rssGrowthMiB = Math.round((Deno.memoryUsage().rss - rss0) / 2 ** 20);
console.log("ok " + JSON.stringify({ cycles, before, after, rssGrowthMiB }));
