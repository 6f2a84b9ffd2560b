/**
 * Timer costs seen from JavaScript, against the web timers. The arm +
 * cancel and zero-delay benchmarks run 1,000 operations per iteration:
 * divide by 1,000 for one. The 1 ms benchmarks measure one await each.
 *
 *   deno bench --allow-ffi --allow-env --allow-read bench/timer_bench.ts
 *
 * @module
 */
import { after, type TimerHandle } from "../src/time/timer.ts";
import { sleep } from "../src/time/sleep.ts";

const K = 1000;
const noop = () => {};
// Long delays: nothing fires while a benchmark runs.
const delays = Array.from({ length: K }, () => 60_000 + Math.floor(Math.random() * 60_000));
const handles: TimerHandle[] = new Array(K);
const ids: ReturnType<typeof setTimeout>[] = new Array(K);

Deno.bench("setTimeout + clearTimeout x1000", { group: "arm + cancel", baseline: true }, () => {
  for (let i = 0; i < K; i++) ids[i] = setTimeout(noop, delays[i]);
  for (let i = 0; i < K; i++) clearTimeout(ids[i]);
});

Deno.bench("after + cancel x1000", { group: "arm + cancel" }, () => {
  for (let i = 0; i < K; i++) handles[i] = after(delays[i], noop);
  for (let i = 0; i < K; i++) handles[i].cancel();
});

Deno.bench("after + cancel at once x1000", { group: "arm + cancel" }, () => {
  for (let i = 0; i < K; i++) after(delays[i], noop).cancel();
});

Deno.bench("await Promise.resolve() x1000 (floor)", { group: "zero delay", baseline: true }, async () => {
  for (let i = 0; i < K; i++) await Promise.resolve();
});

// A zero delay completes at once: the cost of validating, one FFI call and
// a resolved promise. (`setTimeout(0)` is clamped to a macrotask of about
// 1 ms, so it is no baseline here.)
Deno.bench("await sleep(0) x1000", { group: "zero delay" }, async () => {
  for (let i = 0; i < K; i++) await sleep(0);
});

Deno.bench("await sleep(1)", { group: "1 ms", baseline: true }, async () => {
  await sleep(1);
});

Deno.bench("await setTimeout 1 ms", { group: "1 ms" }, async () => {
  await new Promise((r) => setTimeout(r, 1));
});
