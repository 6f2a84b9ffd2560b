import assert from "node:assert/strict";
import { AvxError, broadcast, LaggedError } from "../mod.ts";
import { nextMessage, withWorkers } from "./helpers.ts";

Deno.test("broadcast: every receiver sees every message sent after it subscribed", async () => {
  using tx = broadcast<number>({ codec: "json" });
  tx.sendSync(-1); // Before anyone subscribed: seen by nobody.
  using a = tx.subscribe();
  using b = tx.subscribe();
  assert.equal(tx.sendSync(1), 2);
  assert.equal(await tx.send(2), 2);
  assert.equal(a.tryRecv(), 1);
  assert.equal(a.tryRecv(), 2);
  assert.equal(a.tryRecv(), null);
  assert.equal(await b.recv(), 1);
  assert.equal(b.recvSync(), 2);
  tx.close();
  assert.equal(await a.recv(), null);
  assert.throws(() => tx.sendSync(3), (e) => e instanceof AvxError && e.code === "CLOSED");
});

Deno.test("broadcast: a lagging receiver gets the exact count missed, then continues", async () => {
  using tx = broadcast<number>({ capacity: 4, codec: "json" });
  using rx = tx.subscribe();
  for (let i = 0; i < 10; i++) tx.sendSync(i);
  assert.throws(() => rx.tryRecv(), (e) => e instanceof LaggedError && e.code === "LAGGED" && e.missed === 6);
  assert.deepEqual([rx.tryRecv(), rx.tryRecv(), rx.tryRecv(), rx.tryRecv(), rx.tryRecv()], [6, 7, 8, 9, null]);
  for (let i = 10; i < 15; i++) tx.sendSync(i);
  await assert.rejects(rx.recv(), (e) => e instanceof LaggedError && e.missed === 1);
  assert.equal(await rx.recv(), 11);
});

Deno.test("broadcast: to several Workers", async () => {
  using tx = broadcast<number>({ codec: "json", capacity: 4096 });
  const n = 2000;
  await withWorkers("broadcast_receiver.ts", 3, async (ws) => {
    const subscribed = ws.map((w) => nextMessage(w));
    for (const w of ws) w.postMessage({ tx: tx.handle });
    await Promise.all(subscribed);
    const results = ws.map((w) => nextMessage<{ sum: number; count: number }>(w));
    for (let i = 0; i < n; i++) tx.sendSync(i);
    tx.close();
    for (const r of await Promise.all(results)) assert.deepEqual(r, { sum: (n * (n - 1)) / 2, count: n });
  });
});
