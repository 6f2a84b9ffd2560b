/**
 * Task costs seen from the spawning isolate: one task spawned and awaited
 * (a round trip through a worker isolate), and batches of 1,000 spawned
 * then awaited together (throughput; divide by 1,000 for one task). A
 * postMessage round trip to a Worker is the baseline of the first group.
 *
 *   deno bench --allow-ffi --allow-env --allow-read bench/runtime_bench.ts
 *
 * @module
 */
import { Runtime } from "../mod.ts";

const K = 1000;
const tasks = new URL("./workers/tasks.ts", import.meta.url).href;
const rt = await Runtime.create({ workerThreads: 2 });
// Load the task module in both workers before timing.
await Promise.all(Array.from({ length: 16 }, () => rt.spawn(tasks, "noop")));

const echo = new Worker(new URL("./workers/echo_worker.ts", import.meta.url), { type: "module" });
function postRoundTrip(): Promise<unknown> {
  return new Promise((resolve) => {
    echo.onmessage = (e) => resolve(e.data);
    echo.postMessage(0);
  });
}
await postRoundTrip();

Deno.bench("postMessage round trip to a Worker", { group: "one task", baseline: true }, async () => {
  await postRoundTrip();
});

Deno.bench("spawn + await one empty task", { group: "one task" }, async () => {
  await rt.spawn(tasks, "noop");
});

Deno.bench("spawn + await sum(1, 2)", { group: "one task" }, async () => {
  await rt.spawn(tasks, "sum", 1, 2);
});

Deno.bench("spawn 1000 empty tasks, await all", { group: "batch" }, async () => {
  const handles = new Array(K);
  for (let i = 0; i < K; i++) handles[i] = rt.spawn(tasks, "noop");
  await Promise.all(handles);
});

Deno.bench("spawn 1000 sum(i, 1), await all", { group: "batch" }, async () => {
  const handles = new Array(K);
  for (let i = 0; i < K; i++) handles[i] = rt.spawn(tasks, "sum", i, 1);
  await Promise.all(handles);
});

globalThis.addEventListener("unload", () => {
  echo.terminate();
  rt.shutdown({ timeout: 0 });
});
