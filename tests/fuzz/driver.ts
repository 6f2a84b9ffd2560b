/**
 * The fuzz program (run by tests/fuzz_test.ts in a subprocess, so a crash
 * is seen as one): calls public APIs of mod.ts with wrong types and extreme
 * values, from a seeded generator (`AVX_FUZZ_SEED`; `AVX_FUZZ_CALLS` calls).
 *
 * It checks that every failure is typed (an AvxError with a known code, a
 * TypeError or RangeError of our own rather than one of V8's property
 * accesses or FFI conversions, an AbortError), and that every promise it
 * got settles once its signal is aborted and its objects are disposed.
 * Prints `fuzz ok <calls>` and exits 0, or lists the failures and exits 1.
 *
 * @module
 */
import * as avx from "../../mod.ts";

const seed = Number(Deno.env.get("AVX_FUZZ_SEED") ?? "1") >>> 0;
const calls = Number(Deno.env.get("AVX_FUZZ_CALLS") ?? "3000");
/** `AVX_FUZZ_TRACE=1` prints every call before it is made (to find a hang). */
const trace = Deno.env.get("AVX_FUZZ_TRACE") === "1";

/** mulberry32: small, fast, and the same sequence for the same seed. */
let state = seed;
function random(): number {
  state = (state + 0x6d2b79f5) >>> 0;
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
function pick<T>(xs: readonly T[]): T {
  return xs[Math.floor(random() * xs.length)];
}

/** Thrown by the getters of hostile objects: a user's own error, passed through. */
class GetterError extends Error {}

const KNOWN = new Set<string>([
  "INVALID_HANDLE",
  "WRONG_KIND",
  "CLOSED",
  "TIMEOUT",
  "ABORTED",
  "LAGGED",
  "WOULD_BLOCK",
  "OUT_OF_MEMORY",
  "TOO_LARGE",
  "INVALID_ARGUMENT",
  "NOT_LOCKED",
  "LIMIT",
  "BUFFER_TOO_SMALL",
  "DISCONNECTED",
  "ALREADY_SENT",
  "INVALID_STATE",
  "TASK_FAILED",
  "WORKER_LOST",
  "PERMISSION_DENIED",
]);
/** Messages of errors V8 or Deno raise on their own: an argument nobody checked. */
const UNCHECKED =
  /Cannot read propert|is not a function|is not iterable|Cannot convert|Invalid FFI|is not a constructor|Cannot perform|Cannot destructure|Cannot mix BigInt|object null is not/;

function typed(e: unknown): boolean {
  if (e instanceof GetterError) return true;
  if (e instanceof avx.AvxError) return KNOWN.has(e.code) || /^E[A-Z]+$/.test(e.code);
  if (e instanceof DOMException) return e.name === "AbortError" || e.name === "TimeoutError";
  if (e instanceof TypeError || e instanceof RangeError) return !UNCHECKED.test(e.message);
  return false;
}

// ---- the values ------------------------------------------------------------

const controller = new AbortController();
const aborted = AbortSignal.abort("fuzz");
const detached = (() => {
  const ab = new ArrayBuffer(16);
  const view = new Uint8Array(ab);
  structuredClone(ab, { transfer: [ab] });
  return view;
})();
const hostile = new Proxy({}, {
  get() {
    throw new GetterError("getter");
  },
});
const hostileOptions = Object.defineProperties({}, {
  signal: {
    get: () => {
      throw new GetterError("signal getter");
    },
  },
  timeout: {
    get: () => {
      throw new GetterError("timeout getter");
    },
  },
  capacity: {
    get: () => {
      throw new GetterError("capacity getter");
    },
  },
  codec: {
    get: () => {
      throw new GetterError("codec getter");
    },
  },
});
const badToString = {
  toString: () => {
    throw new GetterError("toString");
  },
};
const huge = "x".repeat(1 << 20);
const stale = (() => {
  const m = new avx.Mutex();
  const h = m.handle;
  m[Symbol.dispose]();
  return h;
})();
const other = new avx.AtomicCounter();

/** Wrong types and extreme values. */
const junk: readonly unknown[] = [
  undefined,
  null,
  NaN,
  Infinity,
  -Infinity,
  -0,
  0,
  -1,
  1.5,
  2 ** 31,
  2 ** 32,
  2 ** 53,
  -(2 ** 53),
  "",
  "1",
  huge,
  Symbol("fuzz"),
  10n,
  true,
  {},
  [],
  [1, 2],
  Object.create(null),
  () => 1,
  hostile,
  hostileOptions,
  badToString,
  detached,
  new Uint8Array(0),
  new Uint8Array(3),
  stale,
  other.handle,
  aborted,
];
/** Options that must be refused (so a call cannot wait forever). */
const refused: readonly unknown[] = [
  5,
  "x",
  Symbol("o"),
  null,
  [],
  10n,
  hostile,
  hostileOptions,
  { signal: {} },
  { signal: 5 },
  { signal: "x" },
  { signal: aborted },
  { timeout: -1 },
  { timeout: NaN },
  { timeout: "5" },
  { timeout: Symbol("t") },
  { timeout: -Infinity },
];

function arg<T>(good: T): T {
  return (random() < 0.5 ? good : pick(junk)) as T;
}
/** Options of an async wait on an object: good, refused, or none (disposal ends it). */
function waitOptions(): avx.WaitOptions {
  const r = random();
  if (r < 0.4) return { signal: controller.signal, timeout: pick([0, 1, 5, undefined]) };
  if (r < 0.5) return undefined as unknown as avx.WaitOptions;
  return pick(refused) as avx.WaitOptions;
}
/** Refused options of a timer: a bad timeout alone is no error there (timers take none). */
const refusedTimer = refused.filter((o) => !(o !== null && typeof o === "object" && "timeout" in o));

/** Options of a wait nothing else ends (timers, connect): good ones carry our signal. */
function signalOptions(): { signal?: AbortSignal } {
  return random() < 0.4 ? { signal: controller.signal } : pick(refusedTimer) as { signal?: AbortSignal };
}
/** Refused options of a blocking call (a signal alone is no timeout: it would block). */
const refusedSync = refused.filter((o) => !(o !== null && typeof o === "object" && "signal" in o));

/** Options of a blocking call: always a short timeout, or refused. */
function syncOptions(): { timeout?: number } {
  return random() < 0.4 ? { timeout: pick([0, 1, 2, -0]) } : pick(refusedSync) as { timeout?: number };
}
function count(good: number): number {
  return arg(good);
}

// ---- the objects -------------------------------------------------------------

const owned: Disposable[] = [other];
function own<T extends Disposable>(x: T): T {
  owned.push(x);
  return x;
}
const mutex = own(new avx.Mutex());
const rwlock = own(new avx.RwLock());
const semaphore = own(new avx.Semaphore(2));
const condvar = own(new avx.Condvar());
const counter = own(new avx.AtomicCounter());
const flag = own(new avx.AtomicFlag());
const box = own(new avx.AtomicBox<unknown>({ a: 1 }, { codec: "json" }));
const [tx, rx] = avx.mpsc({ capacity: 4 });
own(tx);
own(rx);
const [stx, srx] = avx.mpsc<string>({ codec: "string" });
own(stx);
own(srx);
const btx = own(avx.broadcast({ capacity: 4 }));
const brx = own(btx.subscribe());
const [otx, orx] = avx.oneshot();
own(otx);
own(orx);
const udp = own(avx.bindUdp({ hostname: "127.0.0.1" }));
const peer = own(avx.bindUdp({ hostname: "127.0.0.1" }));
const listener = own(avx.listen({ hostname: "127.0.0.1" }));

/** Guards and permits we got: released at random, the rest at the end. */
const held: Disposable[] = [];
const timers: avx.TimerHandle[] = [];
const iterators: AsyncIterator<unknown>[] = [];
function keep(v: unknown): void {
  if (v instanceof avx.TimerHandle) timers.push(v);
  else if (v instanceof avx.TcpStream) own(v);
  else if (v !== null && typeof v === "object" && Symbol.dispose in v) {
    if (random() < 0.5) (v as Disposable)[Symbol.dispose]();
    else held.push(v as Disposable);
  }
}
function guard(): avx.MutexGuard {
  const g = held.find((h) => h instanceof avx.MutexGuard && h.held);
  return (g ?? pick(junk)) as avx.MutexGuard;
}

let receiving = false;
const bytes = () => arg<Uint8Array>(new Uint8Array([1, 2, 3]));
const target = () => arg({ hostname: "127.0.0.1", port: peer.addr.port });

const api: [string, () => unknown][] = [
  ["Mutex.lock", () => mutex.lock(waitOptions())],
  ["Mutex.lockSync", () => mutex.lockSync(syncOptions())],
  ["Mutex.tryLock", () => mutex.tryLock()],
  ["Mutex.from", () => avx.Mutex.from(arg(mutex.handle))],
  ["RwLock.read", () => rwlock.read(waitOptions())],
  ["RwLock.write", () => rwlock.write(waitOptions())],
  ["RwLock.readSync", () => rwlock.readSync(syncOptions())],
  ["RwLock.writeSync", () => rwlock.writeSync(syncOptions())],
  ["RwLock.from", () => avx.RwLock.from(arg(rwlock.handle))],
  ["Semaphore.acquire", () => semaphore.acquire(count(1), waitOptions())],
  ["Semaphore.acquireSync", () => semaphore.acquireSync(count(1), syncOptions())],
  ["Semaphore.tryAcquire", () => semaphore.tryAcquire(count(1))],
  ["new Semaphore", () => new avx.Semaphore(count(1))],
  ["Condvar.wait", () => condvar.wait(guard(), waitOptions())],
  // Never a real guard: the blocking wait re-locks without a deadline, and
  // this thread's own async lock() waiters may be handed the mutex first
  // (a *Sync call on a thread that also waits asynchronously: by design).
  ["Condvar.waitSync", () => condvar.waitSync(pick(junk) as avx.MutexGuard, syncOptions())],
  ["Condvar.notifyOne", () => condvar.notifyOne()],
  ["Condvar.from", () => avx.Condvar.from(arg(condvar.handle))],
  ["AtomicCounter.add", () => counter.add(arg(1))],
  ["AtomicCounter.store", () => counter.store(arg(5))],
  ["AtomicCounter.compareExchange", () => counter.compareExchange(arg(5), arg(6))],
  ["new AtomicCounter", () => new avx.AtomicCounter(arg(0))],
  ["AtomicFlag.from", () => avx.AtomicFlag.from(arg(flag.handle))],
  ["AtomicBox.store", () => box.store(arg({ b: 2 }))],
  ["AtomicBox.compareAndSwap", () => box.compareAndSwap(arg(box.version), arg({ c: 3 }))],
  ["new AtomicBox", () => new avx.AtomicBox(arg(new Uint8Array(1)), arg(undefined))],
  ["AtomicBox.from", () => avx.AtomicBox.from(arg(box.handle), arg({ codec: "json" as const }))],
  ["mpsc", () => avx.mpsc(arg({ capacity: count(2) }))],
  ["broadcast", () => avx.broadcast(arg({ capacity: count(2) }))],
  ["oneshot", () => avx.oneshot(arg({ codec: arg("json" as const) }))],
  ["Sender.send", () => tx.send(bytes(), waitOptions())],
  ["Sender.trySend", () => tx.trySend(bytes())],
  ["Sender.sendSync", () => tx.sendSync(bytes(), syncOptions())],
  ["Sender.trySendMany", () => tx.trySendMany(arg([bytes(), bytes()]))],
  ["Sender.sendMany", () => tx.sendMany(arg([bytes()]), waitOptions())],
  ["Sender.sendManySync", () => tx.sendManySync(arg([bytes()]), syncOptions())],
  ["Sender.from", () => avx.Sender.from(arg(tx.handle), arg(undefined))],
  ["string Sender.trySend", () => stx.trySend(arg("hi"))],
  ["Receiver.recv", () => rx.recv(waitOptions())],
  ["Receiver.tryRecv", () => rx.tryRecv()],
  ["Receiver.recvSync", () => rx.recvSync(syncOptions())],
  ["Receiver.tryRecvMany", () => rx.tryRecvMany(count(4))],
  ["Receiver.recvMany", () => rx.recvMany(count(4), waitOptions())],
  ["Receiver.recvManySync", () => rx.recvManySync(count(4), syncOptions())],
  ["string Receiver.recv", () => srx.recv(waitOptions())],
  ["Receiver.from", () => avx.Receiver.from(arg(rx.handle), arg(undefined))],
  ["BroadcastSender.sendSync", () => btx.sendSync(bytes())],
  ["BroadcastSender.from", () => avx.BroadcastSender.from(arg(btx.handle))],
  ["BroadcastReceiver.recv", () => brx.recv(waitOptions())],
  ["BroadcastReceiver.recvSync", () => brx.recvSync(syncOptions())],
  ["BroadcastReceiver.from", () => avx.BroadcastReceiver.from(arg(brx.handle))],
  ["OneshotSender.send", () => otx.send(bytes())],
  ["OneshotReceiver.recv", () => orx.recv(waitOptions())],
  ["OneshotReceiver.recvSync", () => orx.recvSync(syncOptions())],
  ["OneshotReceiver.from", () => avx.OneshotReceiver.from(arg(orx.handle))],
  ["sleep", () => avx.sleep(arg(1), signalOptions())],
  ["timeout", () => avx.timeout(arg(Promise.resolve(1)), arg(5), signalOptions())],
  ["deadline", () => avx.deadline(Promise.resolve(1), arg(avx.now() + 5), signalOptions())],
  ["interval", () => {
    const it = avx.interval(arg(1), signalOptions());
    iterators.push(it);
    return it.next();
  }],
  ["after", () => avx.after(arg(1), arg(() => {}))],
  ["UdpSocket.send", () => udp.send(bytes(), target(), waitOptions())],
  ["UdpSocket.from", () => avx.UdpSocket.from(arg(udp.handle))],
  ["bindUdp", () => avx.bindUdp(arg({ hostname: "127.0.0.1", port: arg(0) }))],
  ["listen", () => avx.listen(arg({ hostname: "127.0.0.1", port: arg(0), backlog: arg(8) }))],
  ["TcpListener.accept", () => listener.accept(waitOptions())],
  ["connect", () => avx.connect(arg({ hostname: "127.0.0.1", port: arg(1), signal: controller.signal }))],
  ["TcpStream.from", () => avx.TcpStream.from(arg(listener.handle))],
  ["liveHandles", () => avx.liveHandles()],
];

// UdpSocket.recv, one at a time (it once spun on a consumed datagram and
// starved the event loop: native/net/sock.zig recvFrom).
api.push(["UdpSocket.recv", () => {
  if (receiving) return null;
  receiving = true;
  return peer.recv(arg(undefined), waitOptions()).finally(() => receiving = false);
}]);

// ---- the run -----------------------------------------------------------------

/** `AVX_FUZZ_ONLY=<regex>` keeps the APIs whose names match (to narrow a failure down). */
const only = Deno.env.get("AVX_FUZZ_ONLY");
const chosen = only === undefined ? api : api.filter(([name]) => new RegExp(only).test(name));

const failures: string[] = [];
const pending = new Map<number, { what: string; settled: boolean }>();
let made = 0;

function check(what: string, e: unknown): void {
  if (!typed(e)) {
    const name = (e as Error)?.constructor?.name ?? typeof e;
    failures.push(`${what}: untyped ${name}: ${(e as Error)?.message ?? String(e)}`);
  }
}

const started = performance.now();
for (let i = 0; i < calls; i++) {
  const [what, call] = pick(chosen);
  const label = `#${i} ${what}`;
  if (trace) console.error(label);
  let result: unknown;
  try {
    result = call();
  } catch (e) {
    check(label, e);
    continue;
  }
  made++;
  // Objects made by constructors and factories are disposed at the end.
  if (Array.isArray(result)) {
    for (const r of result) if (r !== null && typeof r === "object" && Symbol.dispose in r) own(r as Disposable);
  } else if (result instanceof avx.Resource) {
    own(result);
  } else if (result instanceof Promise) {
    const entry = { what: label, settled: false };
    pending.set(i, entry);
    result.then(keep, (e) => check(label, e)).finally(() => {
      entry.settled = true;
      pending.delete(i);
    });
  } else {
    keep(result);
  }
  // Let completions run now and then.
  if (i % 16 === 0) await new Promise((r) => setTimeout(r, 0));
}

// End every wait: abort our signal, dispose every object, stop timers.
controller.abort("fuzz over");
for (const t of timers) t.cancel();
for (const it of iterators) await it.return?.();
/** Release what we hold; a guard a Condvar wait still owns refuses (INVALID_STATE) until it ends. */
function releaseHeld(): void {
  for (const h of held) {
    try {
      h[Symbol.dispose]();
    } catch (e) {
      if (!(e instanceof avx.AvxError && e.code === "INVALID_STATE")) check("releasing a guard", e);
    }
  }
}
releaseHeld();
for (const o of owned) o[Symbol.dispose]();
// Guards that arrived while disposing, and those Condvar waits gave back.
for (let round = 0; round < 50 && pending.size > 0; round++) {
  await new Promise((r) => setTimeout(r, 20));
  releaseHeld();
}
releaseHeld();
for (const { what } of pending.values()) failures.push(`${what}: never settled`);

const ms = Math.round(performance.now() - started);
if (failures.length > 0) {
  console.log(`fuzz FAILED (seed ${seed}): ${failures.length} problem(s)`);
  for (const f of failures.slice(0, 40)) console.log(`  ${f}`);
  Deno.exit(1);
}
console.log(`fuzz ok ${calls} calls (${made} returned) in ${ms} ms, seed ${seed}`);
Deno.exit(0);
