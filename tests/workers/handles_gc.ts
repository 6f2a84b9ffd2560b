// Run by tests/handles_test.ts in a subprocess with --v8-flags=--expose-gc.
//
// For every shareable class: a helper creates the object, posts its handle
// to a Worker and returns without the wrapper; the wrapper is collected and
// its FinalizationRegistry callback runs; only then does the Worker call
// `from`. Then the leak and grace cases. Prints one JSON line per case:
// { name, ok, error? }.
import {
  AtomicBox,
  AtomicCounter,
  AtomicFlag,
  bindUdp,
  broadcast,
  type BroadcastReceiver,
  type BroadcastSender,
  Condvar,
  connect,
  listen,
  liveHandles,
  mpsc,
  Mutex,
  oneshot,
  type OneshotReceiver,
  type OneshotSender,
  type Receiver,
  RwLock,
  Semaphore,
  type Sender,
  type TcpListener,
  type TcpStream,
  type UdpSocket,
} from "../../mod.ts";
import * as diagnostics from "../../src/diagnostics.ts";

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error("run with --v8-flags=--expose-gc");
const HOST = "127.0.0.1";
const str = { codec: "string" } as const;
const text = new TextDecoder();

const turn = () => new Promise((r) => setTimeout(r, 0));

/** Collect `ref`'s target and give FinalizationRegistry callbacks turns to run. */
// `deref` keeps its target alive until the current job ends: collect in a
// later job than the last `deref`.
async function collect(ref: WeakRef<object>): Promise<void> {
  let collected = false;
  for (let i = 0; i < 50 && !collected; i++) {
    await turn();
    gc!();
    collected = ref.deref() === undefined;
  }
  if (!collected) throw new Error("the wrapper was never collected: the test proves nothing");
  for (let i = 0; i < 5; i++) {
    await turn();
    gc!();
  }
}

/** Collect earlier garbage until the count of live objects holds still, so counts compare only what comes next. */
async function quiesce(): Promise<number> {
  let last = -1;
  for (let i = 0, still = 0; i < 100 && still < 3; i++) {
    await turn();
    gc!();
    await new Promise((r) => setTimeout(r, 5));
    const now = liveHandles();
    still = now === last ? still + 1 : 0;
    last = now;
  }
  return last;
}

// Mailboxes of the two workers, by message id.
class Peer {
  readonly worker: Worker;
  readonly ready: Promise<void>;
  #boxes = new Map<number, { msgs: Record<string, unknown>[]; wake?: () => void }>();

  constructor() {
    this.worker = new Worker(new URL("./handles_worker.ts", import.meta.url), { type: "module" });
    this.ready = new Promise((resolve) => {
      this.worker.onmessage = (e) => {
        if (e.data.ready) return resolve();
        const box = this.#box(e.data.id);
        box.msgs.push(e.data);
        box.wake?.();
      };
    });
  }

  #box(id: number) {
    let box = this.#boxes.get(id);
    if (!box) this.#boxes.set(id, box = { msgs: [] });
    return box;
  }

  /** The next reply to `id`, or an error after 10 s. */
  async next(id: number): Promise<Record<string, unknown>> {
    const box = this.#box(id);
    for (let waited = 0; box.msgs.length === 0; waited++) {
      if (waited === 1) throw new Error(`no reply from the worker for message ${id}`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((wake) => {
        box.wake = wake;
        timer = setTimeout(wake, 10_000);
      });
      clearTimeout(timer);
      box.wake = undefined;
    }
    return box.msgs.shift()!;
  }
}

/** What a helper leaves behind: the handle (a number), a weak reference to the wrapper, what the main side keeps. */
interface Made<K> {
  handle: number;
  ref: WeakRef<object>;
  keep: K;
  extra?: Record<string, unknown>;
}

interface Case<K> {
  name: string;
  /** Creates the object and returns without a strong reference to its wrapper. */
  make(): Made<K> | Promise<Made<K>>;
  /** The worker's report. */
  expect: string;
  /** The main side's part once the worker attached; its result must be `mainExpect`. */
  after?(keep: K): Promise<string>;
  mainExpect?: string;
  dispose?(keep: K): void;
}

function made<K>(wrapper: { handle: number }, keep: K, extra?: Record<string, unknown>): Made<K> {
  return { handle: wrapper.handle, ref: new WeakRef(wrapper), keep, extra };
}

async function readText(s: TcpStream, n: number): Promise<string> {
  const buf = new Uint8Array(n);
  let off = 0;
  while (off < n) {
    const r = await s.read(buf.subarray(off));
    if (r === null) break;
    off += r;
  }
  return text.decode(buf.subarray(0, off));
}

// deno-lint-ignore no-explicit-any
const cases: Case<any>[] = [
  { name: "Mutex", make: () => made(new Mutex(), null), expect: "unlocked" },
  { name: "RwLock", make: () => made(new RwLock(), null), expect: "written" },
  { name: "Semaphore", make: () => made(new Semaphore(3), null), expect: "3" },
  { name: "Condvar", make: () => made(new Condvar(), null), expect: "0" },
  { name: "AtomicCounter", make: () => made(new AtomicCounter(41), null), expect: "42" },
  { name: "AtomicFlag", make: () => made(new AtomicFlag(true), null), expect: "true" },
  { name: "AtomicBox", make: () => made(new AtomicBox("hello", str), null), expect: "hello" },
  {
    name: "Sender",
    make: () => {
      const [tx, rx] = mpsc<string>(str);
      return made(tx, rx);
    },
    expect: "sent",
    after: async (rx: Receiver<string>) => String(await rx.recv()),
    mainExpect: "hi",
    dispose: (rx: Receiver<string>) => rx[Symbol.dispose](),
  },
  {
    name: "Receiver",
    make: () => {
      const [tx, rx] = mpsc<string>(str);
      return made(rx, tx);
    },
    expect: "hi",
    after: async (tx: Sender<string>) => {
      await tx.send("hi");
      return "sent";
    },
    mainExpect: "sent",
    dispose: (tx: Sender<string>) => tx[Symbol.dispose](),
  },
  {
    name: "BroadcastSender",
    make: () => {
      const tx = broadcast<string>(str);
      return made(tx, tx.subscribe());
    },
    expect: "sent",
    after: async (rx: BroadcastReceiver<string>) => String(await rx.recv()),
    mainExpect: "hi",
    dispose: (rx: BroadcastReceiver<string>) => rx[Symbol.dispose](),
  },
  {
    name: "BroadcastReceiver",
    make: () => {
      const tx = broadcast<string>(str);
      return made(tx.subscribe(), tx);
    },
    expect: "hi",
    after: (tx: BroadcastSender<string>) => Promise.resolve(String(tx.sendSync("hi"))),
    mainExpect: "1",
    dispose: (tx: BroadcastSender<string>) => tx[Symbol.dispose](),
  },
  {
    name: "OneshotSender",
    make: () => {
      const [tx, rx] = oneshot<string>(str);
      return made(tx, rx);
    },
    expect: "sent",
    after: (rx: OneshotReceiver<string>) => rx.recv(),
    mainExpect: "hi",
    dispose: (rx: OneshotReceiver<string>) => rx[Symbol.dispose](),
  },
  {
    name: "OneshotReceiver",
    make: () => {
      const [tx, rx] = oneshot<string>(str);
      return made(rx, tx);
    },
    expect: "hi",
    after: (tx: OneshotSender<string>) => {
      tx.send("hi");
      return Promise.resolve("sent");
    },
    mainExpect: "sent",
    dispose: (tx: OneshotSender<string>) => tx[Symbol.dispose](),
  },
  {
    name: "TcpListener",
    make: () => {
      const l = listen({ hostname: HOST, port: 0 });
      return made(l, l.addr.port);
    },
    expect: "accepted",
    after: async (port: number) => {
      using c = await connect({ hostname: HOST, port });
      return await readText(c, 2);
    },
    mainExpect: "hi",
  },
  {
    name: "TcpStream",
    make: async () => {
      const listener = listen({ hostname: HOST, port: 0 });
      const accepted = listener.accept();
      const s = await connect({ hostname: HOST, port: listener.addr.port });
      return made(s, { listener, accepted });
    },
    expect: "written",
    after: async (k: { listener: TcpListener; accepted: Promise<TcpStream> }) => {
      using server = await k.accepted;
      return await readText(server, 2);
    },
    mainExpect: "hi",
    dispose: (k: { listener: TcpListener }) => k.listener.close(),
  },
  {
    name: "UdpSocket",
    make: () => {
      const b = bindUdp({ hostname: HOST });
      const a = bindUdp({ hostname: HOST });
      return made(a, b, { port: b.addr.port });
    },
    expect: "sent",
    after: async (b: UdpSocket) => text.decode((await b.recv())[0]),
    mainExpect: "hi",
    dispose: (b: UdpSocket) => b.close(),
  },
];

const peers = [new Peer(), new Peer()];
await Promise.all(peers.map((p) => p.ready));
let nextId = 1;

function report(name: string, error?: unknown): void {
  console.log(JSON.stringify(error === undefined ? { name, ok: true } : { name, ok: false, error: String(error) }));
}

/** Post `m.handle` to `peer`, collect the wrapper, then let the peer attach; returns the peer's final value. */
async function attachAfterGc(
  // deno-lint-ignore no-explicit-any
  c: Case<any>,
  // deno-lint-ignore no-explicit-any
  m: Made<any>,
): Promise<void> {
  const id = nextId++;
  const peer = peers[0];
  peer.worker.postMessage({ op: "hold", id, name: c.name, handle: m.handle, extra: m.extra });
  await collect(m.ref);
  peer.worker.postMessage({ op: "attach", id });
  const attached = await peer.next(id);
  if (attached.error !== undefined) throw new Error(`from() in the worker: ${attached.error}`);
  const mine = c.after ? await c.after(m.keep) : undefined;
  const done = await peer.next(id);
  if (done.error !== undefined) throw new Error(`the worker: ${done.error}`);
  if (done.value !== c.expect) throw new Error(`the worker saw ${done.value}, not ${c.expect}`);
  if (mine !== c.mainExpect) throw new Error(`the main side saw ${mine}, not ${c.mainExpect}`);
}

const baseline = await quiesce();
for (const c of cases) {
  try {
    const m = await c.make();
    try {
      await attachAfterGc(c, m);
    } finally {
      c.dispose?.(m.keep);
    }
    report(c.name);
  } catch (e) {
    report(c.name, e);
  }
}

// Several isolates attach to one handle: one read of `.handle` per recipient.
try {
  const [rx, handles, ref] = (() => {
    const [tx, rx] = mpsc<string>(str);
    return [rx, [tx.handle, tx.handle], new WeakRef(tx)] as const;
  })();
  const ids = peers.map((p, i) => {
    const id = nextId++;
    p.worker.postMessage({ op: "hold", id, name: "Sender", handle: handles[i] });
    return id;
  });
  await collect(ref);
  // One after the other: the first disposes its wrapper before the second attaches.
  for (let i = 0; i < peers.length; i++) {
    peers[i].worker.postMessage({ op: "attach", id: ids[i] });
    for (let step = 0; step < 2; step++) {
      const r = await peers[i].next(ids[i]);
      if (r.error !== undefined) throw new Error(`worker ${i}: ${r.error}`);
    }
  }
  const got = [await rx.recv(), await rx.recv()];
  rx[Symbol.dispose]();
  if (got.join() !== "hi,hi") throw new Error(`received ${got.join()}`);
  report("several isolates attach to one handle");
} catch (e) {
  report("several isolates attach to one handle", e);
}

for (const p of peers) p.worker.terminate();
// Sockets are closed by the I/O thread and their objects freed after: settle.
for (let i = 0; i < 100 && liveHandles() !== baseline; i++) await new Promise((r) => setTimeout(r, 10));
await quiesce();
report(
  "every object above is freed once both sides disposed",
  liveHandles() === baseline ? undefined : `${liveHandles() - baseline} object(s) leaked`,
);

// A wrapper collected without its handle ever being read frees its object at once.
try {
  const before = await quiesce();
  const ref = (() => {
    const ms = Array.from({ length: 50 }, () => new Mutex());
    return new WeakRef(ms);
  })();
  if (liveHandles() !== before + 50) throw new Error("the mutexes were not created");
  await collect(ref);
  if (liveHandles() !== before) throw new Error(`${liveHandles() - before} object(s) left after the collection`);
  report("collected without reading the handle: freed at once");
} catch (e) {
  report("collected without reading the handle: freed at once", e);
}

// A handle read (for logging, say) but never attached to: its object outlives
// its collected wrapper by the grace period, then is freed.
try {
  const grace = (diagnostics as Record<string, unknown>).transitGrace as ((ms?: number) => number) | undefined;
  if (grace === undefined) throw new Error("no transit references in this build");
  const previous = grace(300);
  try {
    const before = await quiesce();
    const [handle, ref] = (() => {
      const m = new Mutex();
      let h = 0;
      for (let i = 0; i < 10_000; i++) h = m.handle;
      return [h, new WeakRef(m)] as const;
    })();
    await collect(ref);
    // Its one orphan: alive, held by a transit reference only.
    const orphans = (diagnostics as Record<string, unknown>).orphanedHandles as () => number;
    if (orphans() !== 1) throw new Error(`during the grace period: ${orphans()} orphans, not 1`);
    if (liveHandles() !== before + 1) throw new Error(`during the grace period: ${liveHandles() - before} live, not 1`);
    await new Promise((r) => setTimeout(r, 400));
    if (orphans() !== 0) throw new Error(`after the grace period: ${orphans()} orphans, not 0`);
    if (liveHandles() !== before) throw new Error(`after the grace period: ${liveHandles() - before} live, not 0`);
    try {
      Mutex.from(handle);
      throw new Error("attached after the grace period");
    } catch (e) {
      if (!(e instanceof Error && "code" in e && e.code === "INVALID_HANDLE")) throw e;
    }
  } finally {
    grace(previous);
  }
  report("handle read, wrapper collected, never attached: freed after the grace period");
} catch (e) {
  report("handle read, wrapper collected, never attached: freed after the grace period", e);
}
