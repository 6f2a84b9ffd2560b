import assert from "node:assert/strict";
import { AvxError, oneshot } from "../mod.ts";
import { nextMessage, withWorkers } from "./helpers.ts";

Deno.test("oneshot: one value, once; the receiver is awaitable", async () => {
  const [tx, rx] = oneshot<string>({ codec: "string" });
  assert.equal(rx.tryRecv(), null);
  setTimeout(() => tx.send("hi"), 5);
  assert.equal(await rx, "hi");
  assert.throws(() => tx.send("again"), (e) => e instanceof AvxError && e.code === "ALREADY_SENT");
  await assert.rejects(rx.recv(), (e) => e instanceof AvxError && e.code === "CLOSED");
  tx[Symbol.dispose]();
  rx[Symbol.dispose]();
});

Deno.test("oneshot: the receiver learns the sender was dropped", async () => {
  const [tx, rx] = oneshot();
  const p = rx.recv();
  tx[Symbol.dispose]();
  await assert.rejects(p, (e) => e instanceof AvxError && e.code === "DISCONNECTED");
  rx[Symbol.dispose]();
  const [tx2, rx2] = oneshot();
  rx2.close();
  assert.throws(() => tx2.send(new Uint8Array(1)), (e) => e instanceof AvxError && e.code === "CLOSED");
  tx2[Symbol.dispose]();
  rx2[Symbol.dispose]();
});

Deno.test("oneshot: across a Worker, with value and with drop", async () => {
  await withWorkers("oneshot_worker.ts", 1, async ([w]) => {
    const [tx, rx] = oneshot<{ doubled: number }>({ codec: "json" });
    const done = nextMessage(w);
    w.postMessage({ tx: tx.handle, n: 21 });
    assert.deepEqual(await rx.recv({ timeout: 5000 }), { doubled: 42 });
    await done;
    tx[Symbol.dispose]();
    rx[Symbol.dispose]();
    const [tx2, rx2] = oneshot({ codec: "json" });
    const dropped = nextMessage(w);
    w.postMessage({ tx: tx2.handle, drop: true });
    await dropped;
    tx2[Symbol.dispose]();
    await assert.rejects(rx2.recv({ timeout: 5000 }), (e) => e instanceof AvxError && e.code === "DISCONNECTED");
    rx2[Symbol.dispose]();
  });
});
