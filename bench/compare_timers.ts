/**
 * avx timers against `setTimeout`, side by side in one run:
 *
 * 1. arm + cancel: 1,000,000 timers armed then cancelled, in batches of
 *    50,000 (an isolate may have at most 65,536 native operations
 *    pending); `after` + `cancel()` against `setTimeout` + `clearTimeout`
 *    with the same random delays: 1..60 s (the shortest fire while the
 *    loop still runs) and 60..120 s (none do: pure arm + cancel). ns per
 *    timer.
 * 2. firing accuracy: 2,000 timers with delays of 1..200 ms; lateness
 *    (fire time - due time, on `performance.now()`) at p50, p99 and max.
 *
 * Every figure is the median over a few rounds.
 *
 *   deno run --allow-ffi --allow-env --allow-read bench/compare_timers.ts [timers] [rounds]
 *
 * With `--allow-write=bench/out` the rows are also saved to
 * bench/out/timers.json.
 *
 * @module
 */
import { after, type TimerHandle } from "../src/time/timer.ts";
import { timerMetrics } from "../src/time/clock.ts";
import { report, type Row, row } from "./harness.ts";

const TIMERS = Number(Deno.args[0] ?? 1_000_000);
const ROUNDS = Number(Deno.args[1] ?? 5);
const BATCH = 50_000;
const ACCURACY_TIMERS = 2_000;
const ACCURACY_ROUNDS = 3;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/** Random delays in `min .. min + 60,000` ms, the same for both sides. */
function randomDelays(min: number): Float64Array {
  const out = new Float64Array(BATCH);
  for (let i = 0; i < BATCH; i++) out[i] = min + Math.floor(Math.random() * 60_000);
  return out;
}

const shortDelays = randomDelays(1);
const longDelays = randomDelays(60_000);

const noop = () => {};

function armCancelAvx(delays: Float64Array): number {
  const handles: TimerHandle[] = new Array(BATCH);
  const t0 = performance.now();
  for (let done = 0; done < TIMERS; done += BATCH) {
    for (let i = 0; i < BATCH; i++) handles[i] = after(delays[i], noop);
    for (let i = 0; i < BATCH; i++) handles[i].cancel();
  }
  return ((performance.now() - t0) * 1e6) / TIMERS;
}

function armCancelSetTimeout(delays: Float64Array): number {
  const ids: ReturnType<typeof setTimeout>[] = new Array(BATCH);
  const t0 = performance.now();
  for (let done = 0; done < TIMERS; done += BATCH) {
    for (let i = 0; i < BATCH; i++) ids[i] = setTimeout(noop, delays[i]);
    for (let i = 0; i < BATCH; i++) clearTimeout(ids[i]);
  }
  return ((performance.now() - t0) * 1e6) / TIMERS;
}

/** Let what a round left behind (completions, microtasks) run first. */
function settle(): Promise<void> {
  return new Promise((r) => setTimeout(r, 10));
}

interface Lateness {
  p50: number;
  p99: number;
  max: number;
}

/** Arm `ACCURACY_TIMERS` timers at once and collect how late each fired. */
function accuracy(arm: (ms: number, cb: () => void) => void): Promise<Lateness> {
  return new Promise((resolve) => {
    const late: number[] = [];
    for (let i = 0; i < ACCURACY_TIMERS; i++) {
      const ms = 1 + (i % 200);
      const due = performance.now() + ms;
      arm(ms, () => {
        late.push(performance.now() - due);
        if (late.length === ACCURACY_TIMERS) {
          late.sort((a, b) => a - b);
          resolve({ p50: quantile(late, 0.5), p99: quantile(late, 0.99), max: late[late.length - 1] });
        }
      });
    }
  });
}

function medianLateness(runs: Lateness[]): Lateness {
  return {
    p50: median(runs.map((r) => r.p50)),
    p99: median(runs.map((r) => r.p99)),
    max: median(runs.map((r) => r.max)),
  };
}

// Warm up both paths (JIT, the wheel's driver thread, the queue's pool).
for (let i = 0; i < 3; i++) {
  for (let j = 0; j < BATCH; j++) after(longDelays[j], noop).cancel();
  for (let j = 0; j < BATCH; j++) clearTimeout(setTimeout(noop, longDelays[j]));
}

const ns = { avxShort: [] as number[], stShort: [] as number[], avxLong: [] as number[], stLong: [] as number[] };
for (let r = 0; r < ROUNDS; r++) {
  ns.avxShort.push(armCancelAvx(shortDelays));
  await settle();
  ns.stShort.push(armCancelSetTimeout(shortDelays));
  await settle();
  ns.avxLong.push(armCancelAvx(longDelays));
  await settle();
  ns.stLong.push(armCancelSetTimeout(longDelays));
  await settle();
}

const before = timerMetrics();
const avxLate: Lateness[] = [];
const stLate: Lateness[] = [];
for (let r = 0; r < ACCURACY_ROUNDS; r++) {
  avxLate.push(await accuracy((ms, cb) => after(ms, cb)));
  stLate.push(await accuracy((ms, cb) => setTimeout(cb, ms)));
}
const fired = timerMetrics().fired - before.fired;
if (fired < ACCURACY_TIMERS * ACCURACY_ROUNDS) throw new Error(`only ${fired} avx timers fired`);

const a = medianLateness(avxLate);
const s = medianLateness(stLate);
const millions = `${(TIMERS / 1e6).toFixed(1)} M`;
const rows: Row[] = [
  row(`arm + cancel, ${millions}, 1..60 s`, "ns", median(ns.avxShort), "setTimeout", median(ns.stShort), false),
  row(`arm + cancel, ${millions}, 60..120 s`, "ns", median(ns.avxLong), "setTimeout", median(ns.stLong), false),
  row(`lateness p50 (${ACCURACY_TIMERS} timers, 1..200 ms)`, "ms", a.p50, "setTimeout", s.p50, false),
  row(`lateness p99`, "ms", a.p99, "setTimeout", s.p99, false),
  row(`lateness max`, "ms", a.max, "setTimeout", s.max, false),
];
const title = `Timers: avx after/cancel vs setTimeout/clearTimeout (median of ${ROUNDS} / ${ACCURACY_ROUNDS} rounds)`;
const out = new URL("./out/", import.meta.url);
if ((await Deno.permissions.query({ name: "write", path: out })).state === "granted") {
  await report(title, rows, "timers.json");
} else {
  console.log(`\n${title}`);
  console.log(`${"workload".padEnd(44)} ${"avx".padStart(10)} ${"setTimeout".padStart(10)}  ${"ratio".padStart(7)}`);
  for (const x of rows) {
    const digits = x.unit === "ns" ? 0 : 2;
    const cell = (v: number) => `${v.toFixed(digits)} ${x.unit}`.padStart(10);
    console.log(`${x.workload.padEnd(44)} ${cell(x.avx)} ${cell(x.peer)}  ${`${x.ratio.toFixed(2)}x`.padStart(7)}`);
  }
}
const list = (xs: number[]) => xs.map((x) => x.toFixed(0)).join(", ");
console.log(`rounds, ns per timer, 1..60 s: avx ${list(ns.avxShort)}; setTimeout ${list(ns.stShort)}`);
console.log(`rounds, ns per timer, 60..120 s: avx ${list(ns.avxLong)}; setTimeout ${list(ns.stLong)}`);
