import assert from "node:assert/strict";
import { AvxError, RwLock } from "../mod.ts";

Deno.test("RwLock: many readers or one writer", () => {
  using l = new RwLock();
  const r1 = l.readSync();
  const r2 = l.tryRead();
  assert.ok(r2, "readers share");
  assert.equal(l.tryWrite(), null, "a writer waits for readers");
  r1.unlock();
  r2.unlock();
  const w = l.tryWrite();
  assert.ok(w);
  assert.equal(l.tryRead(), null, "readers wait for the writer");
  assert.equal(w.mode, "write");
  w.unlock();
});

Deno.test("RwLock: a queued writer is not starved by later readers, and readers queued behind it go in together", async () => {
  using l = new RwLock();
  const first = l.readSync();
  const events: string[] = [];
  const writer = l.write().then((g) => {
    events.push("writer");
    g.unlock();
  });
  // Readers arriving after the writer queue behind it.
  assert.equal(l.tryRead(), null);
  const readers = [1, 2, 3].map((i) =>
    l.read().then((g) => {
      events.push(`reader${i}`);
      return g;
    })
  );
  first.unlock();
  await writer;
  const guards = await Promise.all(readers);
  // All three readers hold the lock at once.
  assert.equal(l.tryWrite(), null);
  for (const g of guards) g.unlock();
  assert.deepEqual(events, ["writer", "reader1", "reader2", "reader3"]);
});

Deno.test("RwLock: timeouts and aborts", async () => {
  using l = new RwLock();
  const w = l.writeSync();
  await assert.rejects(l.read({ timeout: 10 }), (e) => e instanceof AvxError && e.code === "TIMEOUT");
  const ac = new AbortController();
  const p = l.write({ signal: ac.signal });
  ac.abort();
  await assert.rejects(p, (e) => e instanceof AvxError && e.code === "ABORTED");
  assert.throws(() => l.readSync({ timeout: 5 }), (e) => e instanceof AvxError && e.code === "TIMEOUT");
  w.unlock();
  using _r = await l.read({ timeout: 1000 });
});
