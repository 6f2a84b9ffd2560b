import assert from "node:assert/strict";
import { AvxError, mpsc, Receiver, Sender } from "../mod.ts";
import { delay, nextMessage, withWorkers } from "./helpers.ts";

Deno.test("mpsc: send, recv, order, close ends the stream", async () => {
  const [tx, rx] = mpsc<string>({ codec: "string" });
  for (const s of ["a", "b", "c"]) await tx.send(s);
  assert.equal(rx.length, 3);
  assert.equal(rx.tryRecv(), "a");
  assert.equal(rx.recvSync(), "b");
  assert.equal(await rx.recv(), "c");
  assert.equal(rx.tryRecv(), null);
  tx.trySend("d");
  tx.close();
  assert.throws(() => tx.trySend("e"), (e) => e instanceof AvxError && e.code === "CLOSED");
  const got: string[] = [];
  for await (const v of rx) got.push(v);
  assert.deepEqual(got, ["d"]);
  assert.equal(await rx.recv(), null);
  assert.throws(() => rx.tryRecv(), (e) => e instanceof AvxError && e.code === "CLOSED");
  tx[Symbol.dispose]();
  rx[Symbol.dispose]();
});

Deno.test("mpsc: the stream ends when every sender is disposed", async () => {
  const [tx, rx] = mpsc();
  const tx2 = tx.clone();
  tx.trySend(new Uint8Array([1]));
  tx[Symbol.dispose]();
  tx2.trySend(new Uint8Array([2]));
  const pending = rx.recv().then(() => rx.recv()).then(() => rx.recv());
  tx2[Symbol.dispose]();
  assert.equal(await pending, null);
  rx[Symbol.dispose]();
});

Deno.test("mpsc: bounded channel: trySend is false when full, send waits for room", async () => {
  const [tx, rx] = mpsc({ capacity: 2 });
  assert.equal(tx.trySend(new Uint8Array([1])), true);
  assert.equal(tx.trySend(new Uint8Array([2])), true);
  assert.equal(tx.trySend(new Uint8Array([3])), false);
  let sent = false;
  const p = tx.send(new Uint8Array([3])).then(() => (sent = true));
  await delay(10);
  assert.equal(sent, false);
  assert.deepEqual(rx.tryRecv(), new Uint8Array([1]));
  await p;
  assert.deepEqual(await rx.recv(), new Uint8Array([2]));
  assert.deepEqual(await rx.recv(), new Uint8Array([3]));
  await assert.rejects(
    (async () => {
      tx.trySend(new Uint8Array(1));
      tx.trySend(new Uint8Array(1));
      await tx.send(new Uint8Array(1), { timeout: 10 });
    })(),
    (e) => e instanceof AvxError && e.code === "TIMEOUT",
  );
  assert.throws(
    () => tx.sendSync(new Uint8Array(1), { timeout: 5 }),
    (e) => e instanceof AvxError && e.code === "TIMEOUT",
  );
  // A closed receiver fails a waiting sender.
  const waiting = tx.send(new Uint8Array(1));
  rx.close();
  await assert.rejects(waiting, (e) => e instanceof AvxError && e.code === "CLOSED");
  tx[Symbol.dispose]();
  rx[Symbol.dispose]();
});

Deno.test("mpsc: recv waits without blocking the event loop; timeout and abort", async () => {
  const [tx, rx] = mpsc<unknown>({ codec: "structured" });
  setTimeout(() => tx.trySend(new Map([[1, { at: new Date(0) }]])), 20);
  const v = await rx.recv({ timeout: 2000 });
  assert.deepEqual(v, new Map([[1, { at: new Date(0) }]]));
  await assert.rejects(rx.recv({ timeout: 10 }), (e) => e instanceof AvxError && e.code === "TIMEOUT");
  const ac = new AbortController();
  const p = rx.recv({ signal: ac.signal });
  ac.abort();
  await assert.rejects(p, (e) => e instanceof AvxError && e.code === "ABORTED");
  // Nothing was lost to the aborted receive.
  tx.trySend("after");
  assert.equal(await rx.recv(), "after");
  assert.throws(() => rx.recvSync({ timeout: 5 }), (e) => e instanceof AvxError && e.code === "TIMEOUT");
  tx[Symbol.dispose]();
  rx[Symbol.dispose]();
});

Deno.test("mpsc: large messages grow the receive buffer", async () => {
  const [tx, rx] = mpsc();
  const big = new Uint8Array(5 * 1024 * 1024).map((_, i) => (i * 7) & 0xff);
  await tx.send(big);
  assert.deepEqual(await rx.recv(), big);
  tx[Symbol.dispose]();
  rx[Symbol.dispose]();
});

async function fourSenders(capacity: number | undefined, count: number, mode: "sync" | "async") {
  const [tx, rx] = mpsc({ capacity });
  const senders = 4;
  const next = new Array<number>(senders).fill(0);
  await withWorkers("mpsc_sender.ts", senders, async (ws) => {
    const attached = ws.map((w) => nextMessage(w));
    ws.forEach((w, id) => w.postMessage({ tx: tx.handle, id, count, mode }));
    await Promise.all(attached);
    const done = ws.map((w) => nextMessage(w));
    // Dispose only once every worker holds its own reference: a handle whose
    // last reference is gone cannot be attached to.
    tx[Symbol.dispose](); // The workers hold the only senders now.
    for (const w of ws) w.postMessage("go");
    let total = 0;
    for await (const m of rx) {
      const view = new DataView(m.buffer, m.byteOffset, m.byteLength);
      const id = view.getUint32(0, true);
      const seq = view.getUint32(4, true);
      assert.equal(seq, next[id], `sender ${id}: expected ${next[id]}, got ${seq}`);
      next[id]++;
      total++;
      if (total === senders * count) break;
    }
    await Promise.all(done);
  });
  assert.deepEqual(next, new Array(senders).fill(count));
  // Every sender is gone and everything was received: the stream is over,
  // with nothing duplicated.
  assert.throws(() => rx.tryRecv(), (e) => e instanceof AvxError && e.code === "CLOSED");
  rx[Symbol.dispose]();
}

Deno.test("mpsc: four Workers x 100,000 messages, each exactly once, in order per sender", async () => {
  await fourSenders(undefined, 100_000, "sync");
});

Deno.test("mpsc: bounded, senders waiting asynchronously", async () => {
  await fourSenders(64, 20_000, "async");
});

Deno.test("mpsc: ping-pong with a Worker receiving synchronously", async () => {
  const [toW, fromMain] = mpsc();
  const [toMain, fromW] = mpsc();
  await withWorkers("pingpong.ts", 1, async ([w]) => {
    const ready = nextMessage(w);
    w.postMessage({ rx: fromMain.handle, tx: toMain.handle });
    await ready;
    for (let i = 0; i < 1000; i++) {
      toW.trySend(new Uint8Array([i & 0xff]));
      assert.deepEqual(await fromW.recv(), new Uint8Array([i & 0xff]));
    }
    const done = nextMessage(w);
    toW.close();
    await done;
  });
  for (const r of [toW, fromMain, toMain, fromW]) r[Symbol.dispose]();
});

Deno.test("mpsc: Sender.from and Receiver.from validate kinds", () => {
  const [tx, rx] = mpsc();
  assert.throws(() => Receiver.from(tx.handle), (e) => e instanceof AvxError && e.code === "WRONG_KIND");
  assert.throws(() => Sender.from(rx.handle), (e) => e instanceof AvxError && e.code === "WRONG_KIND");
  tx[Symbol.dispose]();
  rx[Symbol.dispose]();
});

Deno.test("mpsc: disposing a receiver while recv() waits rejects it with CLOSED", async () => {
  const [tx, rx] = mpsc();
  const p = rx.recv();
  rx[Symbol.dispose]();
  await assert.rejects(p, (e) => e instanceof AvxError && e.code === "CLOSED");
  assert.throws(() => tx.trySend(new Uint8Array(1)), (e) => e instanceof AvxError && e.code === "CLOSED");
  tx[Symbol.dispose]();
});

Deno.test("mpsc: batches keep order, respect capacity and stop at the end", async () => {
  const [tx, rx] = mpsc<number>({ codec: "json", capacity: 5 });
  assert.equal(tx.trySendMany([]), 0);
  assert.equal(tx.trySendMany([1, 2, 3]), 3);
  assert.equal(tx.trySendMany([4, 5, 6, 7]), 2, "only two fit");
  assert.deepEqual(rx.tryRecvMany(2), [1, 2]);
  assert.deepEqual(rx.tryRecvMany(), [3, 4, 5]);
  assert.deepEqual(rx.tryRecvMany(), []);
  const sending = tx.sendMany([6, 7, 8, 9, 10, 11, 12]);
  const got: number[] = [];
  while (got.length < 7) got.push(...await rx.recvMany(3, { timeout: 2000 }));
  await sending;
  assert.deepEqual(got, [6, 7, 8, 9, 10, 11, 12]);
  tx.sendManySync([13, 14]);
  assert.deepEqual(rx.recvManySync(10), [13, 14]);
  assert.throws(() => tx.trySendMany([1, 2n as unknown as number]), TypeError);
  assert.equal(rx.length, 0, "a value that cannot be encoded sends nothing");
  assert.throws(() => rx.tryRecvMany(0), (e) => e instanceof AvxError && e.code === "INVALID_ARGUMENT");
  tx.close();
  assert.deepEqual(await rx.recvMany(), []);
  assert.deepEqual(rx.recvManySync(), []);
  assert.throws(() => rx.tryRecvMany(), (e) => e instanceof AvxError && e.code === "CLOSED");
  tx[Symbol.dispose]();
  rx[Symbol.dispose]();
});

Deno.test("mpsc: a batch larger than the receive buffer is split, a huge message grows it", () => {
  const [tx, rx] = mpsc();
  const small = Array.from({ length: 3000 }, (_, i) => new Uint8Array(100).fill(i & 0xff));
  assert.equal(tx.trySendMany(small), 3000);
  const big = new Uint8Array(300_000).fill(9);
  tx.trySend(big);
  const got: Uint8Array[] = [];
  while (got.length < 3001) got.push(...rx.tryRecvMany(4096));
  for (let i = 0; i < 3000; i++) assert.deepEqual(got[i], small[i]);
  assert.deepEqual(got[3000], big);
  tx[Symbol.dispose]();
  rx[Symbol.dispose]();
});

Deno.test("mpsc: received byte messages stay intact while later ones arrive", () => {
  const [tx, rx] = mpsc();
  const kept: Uint8Array[] = [];
  // Enough messages to fill several receive pools, plus some larger than a pool's free space.
  for (let i = 0; i < 2000; i++) {
    const size = i % 97 === 0 ? 20_000 : 1 + (i % 300);
    tx.trySend(new Uint8Array(size).fill(i & 0xff));
    kept.push(i % 2 === 0 ? rx.tryRecv()! : rx.recvSync()!);
  }
  kept.forEach((m, i) => {
    assert.equal(m.length, i % 97 === 0 ? 20_000 : 1 + (i % 300));
    assert.ok(m.every((b) => b === (i & 0xff)), `message ${i} intact`);
  });
  tx[Symbol.dispose]();
  rx[Symbol.dispose]();
});
