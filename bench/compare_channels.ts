/**
 * Channels across isolates, avx against postMessage (and the npm package
 * `multithreading` when it is installed), in one run:
 *
 * - mpsc throughput, 64-byte messages, Worker -> Worker and Worker -> main;
 * - ping-pong round trip between two Workers (avx: `recvSync`).
 *
 * Each workload runs `rounds` times, avx and its peer alternating, and the
 * median is reported (this machine's figures swing by up to 2x between
 * runs).
 *
 *   deno run -A bench/compare_channels.ts [messages] [rounds]
 *
 * @module
 */
import { mpsc } from "../mod.ts";
import { next, report, type Row, row, worker } from "./harness.ts";
import { channel, toWire } from "./peers/multithreading.ts";

const N = Number(Deno.args[0] ?? 1_000_000);
const ROUNDS = Number(Deno.args[1] ?? 5);
const SIZE = 64;
const PINGS = 20_000;

const BATCH = 64;

/** A Worker's init message and what it transfers. */
type Init = [message: Record<string, unknown>, transfer?: Transferable[]];

/**
 * Messages per second from a producer Worker to a consumer Worker of
 * `script`: both get their init message and answer "ready"; the clock runs
 * from the producer's "go" to the consumer's report.
 */
async function timeStream(script: string, produce: Init, consume: Init): Promise<number> {
  const p = worker(script);
  const c = worker(script);
  p.postMessage(produce[0], produce[1] ?? []);
  c.postMessage(consume[0], consume[1] ?? []);
  await Promise.all([next(p), next(c)]);
  const done = next(c);
  const t = performance.now();
  p.postMessage("go");
  await done;
  const ms = performance.now() - t;
  p.terminate();
  c.terminate();
  return N / (ms / 1000);
}

async function avxWorkerToWorker(batched = false): Promise<number> {
  const [tx, rx] = mpsc();
  const rate = await timeStream(
    "avx_chan.ts",
    [{ role: batched ? "produceMany" : "produce", tx: tx.handle, n: N, size: SIZE, batch: BATCH }],
    [{ role: batched ? "consumeMany" : "consume", rx: rx.handle, n: N, batch: BATCH }],
  );
  tx[Symbol.dispose]();
  rx[Symbol.dispose]();
  return rate;
}

function postWorkerToWorker(batched = false): Promise<number> {
  const { port1, port2 } = new MessageChannel();
  return timeStream(
    "post_chan.ts",
    [{ role: batched ? "produceMany" : "produce", port: port1, n: N, size: SIZE, batch: BATCH }, [port1]],
    [{ role: batched ? "consumeMany" : "consume", port: port2, n: N }, [port2]],
  );
}

function mtWorkerToWorker(): Promise<number> {
  // Its ring buffer corrupts messages once it has to compact (seen here
  // with the 64 KiB default); give it room for the whole run.
  const [tx, rx] = channel<string>(1024, { size: 1 << 28 });
  return timeStream(
    "mt_chan.ts",
    [{ role: "produce", wire: toWire(tx), n: N, size: SIZE }],
    [{ role: "consume", wire: toWire(rx), n: N, size: SIZE }],
  );
}

async function avxWorkerToMain(): Promise<number> {
  const [tx, rx] = mpsc();
  const p = worker("avx_chan.ts");
  p.postMessage({ role: "produce", tx: tx.handle, n: N, size: SIZE });
  await next(p);
  const t = performance.now();
  p.postMessage("go");
  let bytes = 0;
  for (let i = 0; i < N; i++) {
    // The fast path first; await only when the queue is empty.
    const m = rx.tryRecv() ?? await rx.recv();
    bytes += m!.length;
  }
  const ms = performance.now() - t;
  if (bytes !== N * SIZE) throw new Error("lost bytes");
  p.terminate();
  tx[Symbol.dispose]();
  rx[Symbol.dispose]();
  return N / (ms / 1000);
}

async function postWorkerToMain(): Promise<number> {
  const p = worker("post_chan.ts");
  p.postMessage({ role: "produce", n: N, size: SIZE });
  await next(p);
  let got = 0;
  const done = new Promise<void>((resolve) => {
    p.onmessage = () => {
      if (++got === N) resolve();
    };
  });
  const t = performance.now();
  p.postMessage("go");
  await done;
  const ms = performance.now() - t;
  p.terminate();
  return N / (ms / 1000);
}

/** Microseconds per round trip: the pinger times PINGS round trips itself. */
async function timePingPong(script: string, ping: Init, pong: Init): Promise<number> {
  const pinger = worker(script);
  const ponger = worker(script);
  pinger.postMessage(ping[0], ping[1] ?? []);
  ponger.postMessage(pong[0], pong[1] ?? []);
  await Promise.all([next(pinger), next(ponger)]);
  const done = next<{ ms: number }>(pinger);
  pinger.postMessage("go");
  const { ms } = await done;
  pinger.terminate();
  ponger.terminate();
  return (ms * 1000) / PINGS;
}

async function avxPingPong(): Promise<number> {
  const [aTx, aRx] = mpsc();
  const [bTx, bRx] = mpsc();
  const us = await timePingPong(
    "avx_chan.ts",
    [{ role: "ping", tx: aTx.handle, rx: bRx.handle, n: PINGS, size: SIZE }],
    [{ role: "pong", tx: bTx.handle, rx: aRx.handle, n: PINGS }],
  );
  for (const r of [aTx, aRx, bTx, bRx]) r[Symbol.dispose]();
  return us;
}

function postPingPong(): Promise<number> {
  const { port1, port2 } = new MessageChannel();
  return timePingPong(
    "post_chan.ts",
    [{ role: "ping", port: port1, n: PINGS, size: SIZE }, [port1]],
    [{ role: "pong", port: port2 }, [port2]],
  );
}

/** Medians of `avx()` and `peer()` over ROUNDS alternating runs. */
async function medians(avx: () => Promise<number>, peer: () => Promise<number>): Promise<[number, number]> {
  const a: number[] = [];
  const p: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    a.push(await avx());
    p.push(await peer());
  }
  const mid = (xs: number[]) => xs.sort((x, y) => x - y)[Math.floor(xs.length / 2)];
  return [mid(a), mid(p)];
}

const rows: Row[] = [];
const w2w = await medians(() => avxWorkerToWorker(), () => postWorkerToWorker());
rows.push(row("mpsc 64 B, Worker -> Worker", "msg/s", w2w[0], "postMessage", w2w[1], true));
const mt = await medians(() => avxWorkerToWorker(), () => mtWorkerToWorker());
rows.push(row("mpsc 64 B, Worker -> Worker", "msg/s", mt[0], "multithreading", mt[1], true));
const w2m = await medians(() => avxWorkerToMain(), () => postWorkerToMain());
rows.push(row("mpsc 64 B, Worker -> main", "msg/s", w2m[0], "postMessage", w2m[1], true));
const batched = await medians(() => avxWorkerToWorker(true), () => postWorkerToWorker(true));
rows.push(row(`mpsc 64 B, W -> W, avx in batches of ${BATCH}`, "msg/s", batched[0], "postMessage", w2w[1], true));
rows.push(row(`mpsc 64 B, W -> W, both in batches of ${BATCH}`, "msg/s", batched[0], "postMessage", batched[1], true));
const pp = await medians(() => avxPingPong(), () => postPingPong());
rows.push(row("ping-pong round trip, 2 Workers", "us", pp[0], "postMessage", pp[1], false));
await report(
  `Channels across isolates (${N.toLocaleString()} messages, ${SIZE} B, median of ${ROUNDS})`,
  rows,
  "channels.json",
);
