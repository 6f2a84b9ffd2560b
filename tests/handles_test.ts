// Sharing by handle survives the garbage collector, and leaks nothing in
// the common patterns. The collector cases need `gc()`, so they run in a
// subprocess with --expose-gc (tests/workers/handles_gc.ts); the rest run
// here.
import assert from "node:assert/strict";
import {
  AtomicBox,
  AtomicCounter,
  AtomicFlag,
  AvxError,
  bindUdp,
  broadcast,
  BroadcastReceiver,
  BroadcastSender,
  Condvar,
  connect,
  listen,
  liveHandles,
  mpsc,
  Mutex,
  oneshot,
  OneshotReceiver,
  OneshotSender,
  Receiver,
  type Resource,
  RwLock,
  Semaphore,
  Sender,
  TcpListener,
  TcpStream,
  UdpSocket,
} from "../mod.ts";
import { orphanedHandles } from "../src/diagnostics.ts";

const HOST = "127.0.0.1";

interface Shared {
  name: string;
  /** The wrapper whose handle is shared. */
  shared: Resource;
  /** Every wrapper made with it (channel ends come in pairs). */
  all: Resource[];
  from(h: number): Resource;
}

/** One of every shareable class. */
async function everyClass(): Promise<Shared[]> {
  const pair = (name: string, [a, b]: [Resource, Resource], from: (h: number) => Resource, second = false) => ({
    name,
    shared: second ? b : a,
    all: [a, b],
    from,
  });
  const one = (name: string, w: Resource, from: (h: number) => Resource) => ({ name, shared: w, all: [w], from });
  const btx = broadcast();
  const btx2 = broadcast();
  const listener = listen({ hostname: HOST, port: 0 });
  const accepted = listener.accept();
  const client = await connect({ hostname: HOST, port: listener.addr.port });
  const server = await accepted;
  return [
    one("Mutex", new Mutex(), (h) => Mutex.from(h)),
    one("RwLock", new RwLock(), (h) => RwLock.from(h)),
    one("Semaphore", new Semaphore(1), (h) => Semaphore.from(h)),
    one("Condvar", new Condvar(), (h) => Condvar.from(h)),
    one("AtomicCounter", new AtomicCounter(), (h) => AtomicCounter.from(h)),
    one("AtomicFlag", new AtomicFlag(), (h) => AtomicFlag.from(h)),
    one("AtomicBox", new AtomicBox(new Uint8Array(1)), (h) => AtomicBox.from(h)),
    pair("Sender", mpsc(), (h) => Sender.from(h)),
    pair("Receiver", mpsc(), (h) => Receiver.from(h), true),
    pair("BroadcastSender", [btx, btx.subscribe()], (h) => BroadcastSender.from(h)),
    pair("BroadcastReceiver", [btx2, btx2.subscribe()], (h) => BroadcastReceiver.from(h), true),
    pair("OneshotSender", oneshot(), (h) => OneshotSender.from(h)),
    pair("OneshotReceiver", oneshot(), (h) => OneshotReceiver.from(h), true),
    one("TcpListener", listener, (h) => TcpListener.from(h)),
    pair("TcpStream", [client, server], (h) => TcpStream.from(h)),
    one("UdpSocket", bindUdp({ hostname: HOST }), (h) => UdpSocket.from(h)),
  ];
}

function disposeAll(cases: Shared[]): void {
  for (const c of cases) for (const w of c.all) w[Symbol.dispose]();
}

/** Sockets are freed by the I/O thread after their close: wait for the count to settle. */
async function settled(expected: number): Promise<number> {
  for (let i = 0; i < 200 && liveHandles() !== expected; i++) await new Promise((r) => setTimeout(r, 10));
  return liveHandles();
}

Deno.test("handles: a wrapper collected before the other isolate attaches leaves its posted handle usable", async (t) => {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-ffi",
      "--allow-env",
      "--allow-read",
      "--allow-net",
      "--v8-flags=--expose-gc",
      new URL("./workers/handles_gc.ts", import.meta.url).pathname,
    ],
    stdout: "piped",
    stderr: "piped",
  });
  const out = await child.output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, stderr);
  const results = new TextDecoder().decode(out.stdout).trim().split("\n").map((line) =>
    JSON.parse(line) as { name: string; ok: boolean; error?: string }
  );
  const expected = [
    "Mutex",
    "RwLock",
    "Semaphore",
    "Condvar",
    "AtomicCounter",
    "AtomicFlag",
    "AtomicBox",
    "Sender",
    "Receiver",
    "BroadcastSender",
    "BroadcastReceiver",
    "OneshotSender",
    "OneshotReceiver",
    "TcpListener",
    "TcpStream",
    "UdpSocket",
    "several isolates attach to one handle",
    "every object above is freed once both sides disposed",
    "collected without reading the handle: freed at once",
    "handle read, wrapper collected, never attached: freed after the grace period",
  ];
  assert.deepEqual(results.map((r) => r.name), expected, stderr);
  for (const r of results) {
    await t.step(r.name, () => assert.ok(r.ok, r.error));
  }
});

Deno.test("handles: create and dispose, handle never read: back to the baseline", async () => {
  const before = liveHandles();
  const cases = await everyClass();
  assert.ok(liveHandles() > before);
  disposeAll(cases);
  assert.equal(await settled(before), before);
});

Deno.test("handles: a handle read many times (logging) and its wrapper disposed: freed at once, nothing in flight", async () => {
  const before = liveHandles();
  const cases = await everyClass();
  const handles = cases.map((c) => {
    let h = 0;
    for (let i = 0; i < 1000; i++) h = c.shared.handle;
    return h;
  });
  disposeAll(cases);
  assert.equal(orphanedHandles(), 0);
  assert.equal(await settled(before), before);
  for (const [i, c] of cases.entries()) {
    assert.throws(() => c.from(handles[i]), (e) => e instanceof AvxError && e.code === "INVALID_HANDLE", c.name);
  }
});

Deno.test("handles: read, attached in the same isolate and disposed in any order: back to the baseline", async () => {
  const before = liveHandles();
  const first = await everyClass();
  const attached = first.map((c) => c.from(c.shared.handle));
  // The attached wrapper goes first: the original still owns the object.
  for (const w of attached) w[Symbol.dispose]();
  for (const c of first) assert.equal(c.shared.disposed, false);
  disposeAll(first);
  assert.equal(await settled(before), before);

  const second = await everyClass();
  const again = second.map((c) => c.from(c.shared.handle));
  disposeAll(second);
  for (const w of again) w[Symbol.dispose]();
  assert.equal(orphanedHandles(), 0);
  assert.equal(await settled(before), before);
});

Deno.test("handles: read, attached in a Worker, both disposed: back to the baseline", async () => {
  const before = liveHandles();
  const [tx, rx] = mpsc<string>({ codec: "string" });
  const w = new Worker(new URL("./workers/mpsc_sender.ts", import.meta.url), { type: "module" });
  try {
    const next = () => new Promise<unknown>((resolve) => w.onmessage = (e) => resolve(e.data));
    w.postMessage({ tx: tx.handle, id: 1, count: 3, mode: "sync" });
    assert.equal(await next(), "attached");
    const done = next();
    w.postMessage("go");
    assert.equal(await done, "done"); // The worker disposed its sender.
    for (let i = 0; i < 3; i++) assert.ok(await rx.recv());
    tx[Symbol.dispose]();
    assert.equal(await rx.recv({ timeout: 5000 }), null); // Every sender is gone: nothing was left in flight.
    rx[Symbol.dispose]();
  } finally {
    w.terminate();
  }
  assert.equal(orphanedHandles(), 0);
  assert.equal(liveHandles(), before);
});
