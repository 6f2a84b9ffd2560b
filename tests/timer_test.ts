import assert from "node:assert/strict";
import { MAX_DELAY, now, timerMetrics } from "../src/time/clock.ts";
import { deadline, sleep, timeout } from "../src/time/sleep.ts";
import { interval } from "../src/time/interval.ts";
import { after } from "../src/time/timer.ts";
import { nextMessage, rejectsWith, throwsWith, withWorkers } from "./helpers.ts";

Deno.test("sleep: resolves after its delay, never early", async () => {
  for (const ms of [1, 2.5, 5, 20]) {
    const t0 = now();
    await sleep(ms);
    const elapsed = now() - t0;
    assert.ok(elapsed >= ms, `sleep(${ms}) resolved after ${elapsed} ms`);
    assert.ok(elapsed < ms + 1000, `sleep(${ms}) took ${elapsed} ms`);
  }
  await sleep(0);
});

Deno.test("sleep: several timers resolve in deadline order", async () => {
  const order: number[] = [];
  await Promise.all([30, 10, 20, 1].map((ms) => sleep(ms).then(() => order.push(ms))));
  assert.deepEqual(order, [1, 10, 20, 30]);
});

Deno.test("sleep: abort rejects with ABORTED and cancels the native timer", async () => {
  const before = timerMetrics();
  const ac = new AbortController();
  const p = sleep(60_000, { signal: ac.signal });
  assert.equal(timerMetrics().pending, before.pending + 1);
  ac.abort(new Error("stop"));
  const e = await rejectsWith(p, "ABORTED");
  assert.equal((e.cause as Error).message, "stop");
  const after = timerMetrics();
  assert.equal(after.cancelled, before.cancelled + 1);
  assert.equal(after.pending, before.pending);
  // Already aborted: rejected without arming anything.
  await rejectsWith(sleep(10, { signal: ac.signal }), "ABORTED");
  assert.equal(timerMetrics().armed, after.armed);
});

Deno.test("timers: bad delays are INVALID_ARGUMENT with a clear message", async () => {
  for (const ms of [-1, NaN, Infinity, -Infinity, MAX_DELAY + 1, "5", undefined, null]) {
    const e = await rejectsWith(sleep(ms as number), "INVALID_ARGUMENT");
    assert.match(e.message, /^sleep: ms must be a number of milliseconds in 0\.\.2\^42, got /);
    await rejectsWith(timeout(Promise.resolve(1), ms as number), "INVALID_ARGUMENT");
    throwsWith(() => after(ms as number, () => {}), "INVALID_ARGUMENT");
    throwsWith(() => interval(ms as number), "INVALID_ARGUMENT");
  }
  assert.match((await rejectsWith(sleep("5" as unknown as number), "INVALID_ARGUMENT")).message, /got "5"$/);
  throwsWith(() => interval(0), "INVALID_ARGUMENT");
  throwsWith(() => after(1, "x" as unknown as () => void), "INVALID_ARGUMENT");
  for (const at of [NaN, Infinity, "1"]) {
    await rejectsWith(deadline(Promise.resolve(1), at as number), "INVALID_ARGUMENT");
  }
  const far = await rejectsWith(deadline(Promise.resolve(1), now() + MAX_DELAY * 2), "INVALID_ARGUMENT");
  assert.match(far.message, /at most 2\^42 ms/);
});

Deno.test("timeout: rejects with TIMEOUT when the promise is too slow", async () => {
  const t0 = now();
  const e = await rejectsWith(timeout(new Promise(() => {}), 15), "TIMEOUT");
  assert.ok(now() - t0 >= 15);
  assert.match(e.message, /timed out after 15 ms/);
});

Deno.test("timeout: the promise wins, and its timer is cancelled", async () => {
  const before = timerMetrics();
  assert.equal(await timeout(sleep(5).then(() => "ok"), 60_000), "ok");
  await assert.rejects(timeout(Promise.reject(new Error("boom")), 60_000), /boom/);
  // An already settled promise wins against a zero delay.
  assert.equal(await timeout(Promise.resolve(7), 0), 7);
  const after = timerMetrics();
  assert.equal(after.cancelled - before.cancelled, 2);
  assert.equal(after.pending, before.pending);
  // An abort wins against both.
  const ac = new AbortController();
  const p = timeout(new Promise(() => {}), 60_000, { signal: ac.signal });
  ac.abort();
  await rejectsWith(p, "ABORTED");
  assert.equal(timerMetrics().pending, before.pending);
});

Deno.test("deadline: an absolute time on now()'s clock", async () => {
  const at = now() + 30;
  assert.equal(await deadline(sleep(1).then(() => 1), at), 1);
  await rejectsWith(deadline(new Promise(() => {}), at), "TIMEOUT");
  assert.ok(now() >= at);
  // Already past.
  await rejectsWith(deadline(new Promise(() => {}), at - 1000), "TIMEOUT");
  assert.equal(await deadline(Promise.resolve("done"), at - 1000), "done");
});

Deno.test("interval: drift-free ticks; break cancels the pending timer", async () => {
  const before = timerMetrics();
  const start = now();
  const seen: number[] = [];
  for await (const tick of interval(10)) {
    assert.ok(now() - start >= tick * 10, `tick ${tick} came early`);
    seen.push(tick);
    if (tick === 3) break;
  }
  assert.deepEqual(seen, [1, 2, 3]);
  assert.equal(timerMetrics().pending, before.pending);
  // return() while a tick is pending ends that next() too.
  const it = interval(60_000);
  const pending = it.next();
  assert.equal(timerMetrics().pending, before.pending + 1);
  await it.return!();
  assert.deepEqual(await pending, { value: undefined, done: true });
  assert.deepEqual(await it.next(), { value: undefined, done: true });
  assert.equal(timerMetrics().pending, before.pending);
});

Deno.test("interval: a late consumer skips missed ticks instead of bursting", async () => {
  const it = interval(10);
  const start = now();
  assert.equal((await it.next()).value, 1);
  await sleep(45); // Misses ticks 2..5 (due at 20, 30, 40, 50 at the latest).
  const late = (await it.next()).value!;
  assert.ok(late >= 5, `expected a skip, got tick ${late}`);
  const next = (await it.next()).value!;
  assert.equal(next, late + 1);
  assert.ok(now() - start >= next * 10);
  await it.return!();
});

Deno.test("interval: abort rejects the pending tick with ABORTED", async () => {
  const before = timerMetrics();
  const ac = new AbortController();
  const it = interval(60_000, { signal: ac.signal });
  const p = it.next();
  ac.abort();
  await rejectsWith(p, "ABORTED");
  assert.deepEqual(await it.next(), { value: undefined, done: true });
  assert.equal(timerMetrics().cancelled, before.cancelled + 1);
});

Deno.test("after: runs the callback once; cancel and dispose stop it", async () => {
  const before = timerMetrics();
  const fired: string[] = [];
  const a = after(5, () => fired.push("a"));
  const b = after(5, () => fired.push("b"));
  const z = after(0, () => fired.push("zero"));
  assert.equal(b.pending, true);
  assert.equal(b.cancel(), true);
  assert.equal(b.cancel(), false);
  {
    using _c = after(5, () => fired.push("c"));
  }
  await sleep(20);
  assert.deepEqual(fired, ["zero", "a"]);
  assert.equal(a.pending, false);
  assert.equal(a.cancel(), false);
  assert.equal(z.pending, false);
  const m = timerMetrics();
  assert.equal(m.cancelled - before.cancelled, 2);
  assert.equal(m.pending, before.pending);
});

Deno.test("after: an exception in the callback is reported, other timers still run", async () => {
  const errors: unknown[] = [];
  const onError = (e: ErrorEvent) => {
    e.preventDefault();
    errors.push(e.error);
  };
  globalThis.addEventListener("error", onError);
  try {
    let ran = false;
    after(2, () => {
      throw new Error("callback failed");
    });
    after(2, () => ran = true);
    await sleep(15);
    assert.equal(ran, true);
    assert.equal((errors[0] as Error).message, "callback failed");
  } finally {
    globalThis.removeEventListener("error", onError);
  }
});

Deno.test("after: arming and cancelling 50,000 timers leaves nothing behind", () => {
  const before = timerMetrics();
  const handles = [];
  for (let i = 0; i < 50_000; i++) handles.push(after(60_000 + i, () => assert.fail("fired")));
  assert.equal(timerMetrics().pending, before.pending + 50_000);
  for (const h of handles) assert.equal(h.cancel(), true);
  const m = timerMetrics();
  assert.equal(m.armed - before.armed, 50_000);
  assert.equal(m.cancelled - before.cancelled, 50_000);
  assert.equal(m.pending, before.pending);
});

Deno.test("sleep: 10,000 concurrent sleeps all resolve", async () => {
  const before = timerMetrics();
  let resolved = 0;
  await Promise.all(Array.from({ length: 10_000 }, (_, i) => sleep(1 + (i % 50)).then(() => resolved++)));
  assert.equal(resolved, 10_000);
  const m = timerMetrics();
  assert.equal(m.fired - before.fired, 10_000);
  assert.equal(m.pending, before.pending);
});

Deno.test("timers in Workers: same wheel, same clock", async () => {
  await withWorkers("timer_worker.ts", 2, async ([a, b]) => {
    const slept = nextMessage<{ elapsed: number }>(a);
    a.postMessage({ op: "sleep", delays: [5, 10, 20] });
    assert.ok((await slept).elapsed >= 20);
    const at = now() + 25;
    const passed = nextMessage<{ code: string; at: number }>(b);
    b.postMessage({ op: "deadline", at });
    const r = await passed;
    assert.equal(r.code, "TIMEOUT");
    assert.ok(r.at >= at, "the worker's deadline came early on the shared clock");
    const fired = nextMessage<{ elapsed: number; cancelled: boolean; error?: string }>(a);
    a.postMessage({ op: "after", ms: 15 });
    const f = await fired;
    assert.equal(f.error, undefined);
    assert.ok(f.elapsed >= 15);
    assert.equal(f.cancelled, true);
  });
});

Deno.test({
  name: "sleep: a pending sleep keeps the event loop alive (subprocess)",
  // Needs --allow-run; `deno task test` does not grant it.
  ignore: Deno.permissions.querySync({ name: "run" }).state !== "granted",
  async fn() {
    const mod = new URL("../src/time/sleep.ts", import.meta.url).href;
    const code = `import { sleep } from "${mod}"; await sleep(50).then(() => console.log("woke"));` +
      `import { after } from "${mod.replace("sleep.ts", "timer.ts")}"; after(80, () => console.log("after"));`;
    const out = await new Deno.Command(Deno.execPath(), { args: ["eval", "--quiet", code] }).output();
    assert.equal(new TextDecoder().decode(out.stdout), "woke\nafter\n");
  },
});
