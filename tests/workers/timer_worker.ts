/// <reference lib="deno.worker" />
// Timers inside a Worker isolate: its own completion queue, the same wheel.
import { now } from "../../src/time/clock.ts";
import { deadline, sleep } from "../../src/time/sleep.ts";
import { after } from "../../src/time/timer.ts";

self.onmessage = async (e: MessageEvent) => {
  const msg = e.data;
  if (msg.op === "sleep") {
    const t0 = now();
    await Promise.all(msg.delays.map((ms: number) => sleep(ms)));
    self.postMessage({ elapsed: now() - t0 });
  } else if (msg.op === "deadline") {
    // `at` comes from the main isolate's now(): one clock for every isolate.
    const code = await deadline(new Promise(() => {}), msg.at).catch((err) => err.code);
    self.postMessage({ code, at: now() });
  } else if (msg.op === "after") {
    const t0 = now();
    const never = after(5, () => self.postMessage({ error: "a cancelled timer fired" }));
    const cancelled = never.cancel() && !never.cancel();
    after(msg.ms, () => self.postMessage({ elapsed: now() - t0, cancelled }));
  }
};
