/**
 * Wake-up latency: a round trip between this isolate and a Worker where
 * both sides `await` (each is idle, and woken by the bell, for every
 * message), against the same round trip over `postMessage`. Alternating
 * rounds; medians and the spread of the round medians are reported.
 *
 * `deno run --allow-ffi --allow-env --allow-read bench/wake_latency.ts [rounds] [trips]`
 *
 * @module
 */
import { mpsc } from "../mod.ts";
import { next, worker } from "./harness.ts";

const rounds = Number(Deno.args[0] ?? 5);
const trips = Number(Deno.args[1] ?? 2000);

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))];
}

// One Worker per side for the whole run: rounds alternate on them.
const [pingTx, pingRx] = mpsc<number>({ codec: "json" });
const [pongTx, pongRx] = mpsc<number>({ codec: "json" });
const avxWorker = worker("wake_echo.ts");
avxWorker.postMessage({ mode: "avx", ping: pingRx.handle, pong: pongTx.handle });
await next(avxWorker);
const postWorker = worker("wake_echo.ts");
postWorker.postMessage({ mode: "post" });
await next(postWorker);

async function avxRound(): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < trips; i++) {
    const t = performance.now();
    pingTx.trySend(i);
    await pongRx.recv();
    times.push((performance.now() - t) * 1000);
  }
  return times;
}

async function postRound(): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < trips; i++) {
    const t = performance.now();
    const reply = next(postWorker);
    postWorker.postMessage(i);
    await reply;
    times.push((performance.now() - t) * 1000);
  }
  return times;
}

// Warm-up: the first wait of the process starts the bell relay.
await avxRound();
const avx: number[][] = [];
const post: number[][] = [];
for (let r = 0; r < rounds; r++) {
  avx.push(await avxRound());
  post.push(await postRound());
}
const report = (name: string, rs: number[][]) => {
  const p50s = rs.map((t) => percentile(t, 0.5));
  const p99s = rs.map((t) => percentile(t, 0.99));
  console.log(
    `${name.padEnd(34)} p50 ${percentile(p50s, 0.5).toFixed(1)} us (rounds ${Math.min(...p50s).toFixed(1)}-${
      Math.max(...p50s).toFixed(1)
    }), p99 ${percentile(p99s, 0.5).toFixed(1)} us`,
  );
};
console.log(`round trip, ${rounds} alternating rounds x ${trips} trips, medians of round medians`);
report("avx mpsc, both sides await", avx);
report("postMessage", post);
// The echo loop ends when its channel closes; then both Workers go.
pingTx[Symbol.dispose]();
await new Promise((r) => setTimeout(r, 50));
avxWorker.terminate();
postWorker.terminate();
