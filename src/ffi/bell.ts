/**
 * The bell: how an idle isolate is woken when its completion queue has
 * work, in a way that stays safe when any isolate ends at any moment.
 *
 * Each isolate waits with `Atomics.waitAsync` on a small SharedArrayBuffer
 * of its own. One isolate of the process, the *relay*, sleeps in a native
 * call until queues are rung, then bumps and `Atomics.notify`s their
 * buffers. A notify aimed at an isolate that has ended does nothing, and
 * native code never calls into any isolate (a thread-safe callback into a
 * terminated Worker crashed the process). See native/core/bell.zig.
 *
 * The relay is a `node:worker_threads` Worker started by the first isolate
 * that needs it, `unref`'d so it never keeps a program alive. Isolates hand
 * it their buffer over a BroadcastChannel (the one permission-free path
 * between any two isolates of a process).
 *
 * @module
 */
import { lib, libraryPath } from "./library.ts";
import { ABI_VERSION, symbols } from "./symbols.ts";

/** The exports the relay binds (it has no module graph of its own). */
const relaySymbols = {
  avx_init: symbols.avx_init,
  avx_bell_attach: symbols.avx_bell_attach,
  avx_bell_registered: symbols.avx_bell_registered,
  avx_bell_awaited: symbols.avx_bell_awaited,
  avx_bell_wait: symbols.avx_bell_wait,
};

/** What isolates and the relay say on the channel. @internal */
export type BellMessage = { type: "register"; id: number; sab: SharedArrayBuffer };

/** The channel of this copy of the library in this process. */
function channelName(): string {
  return `avx.bell.${lib().avx_bell_nonce()}`;
}

/** Start the relay if none runs (and nobody else is starting one). */
export function ensureRelay(): void {
  if (lib().avx_bell_claim() !== 1) return;
  startRelay().catch((e) => {
    // The claim expires and another isolate (or this one, at its next
    // check) tries again.
    console.error("avx: could not start the bell relay:", e);
  });
}

async function startRelay(): Promise<void> {
  // A node:worker_threads Worker, not a Web Worker: it can be unref'd (a
  // Web Worker keeps the process alive), and it outlives a Worker that
  // started it and was terminated (measured). Its start blocks this
  // isolate once, for about 40 ms (150 ms when node:process is not loaded
  // yet).
  const { Worker } = await import("node:worker_threads");
  const source = `(${relayMain.toString()})(require("node:worker_threads").workerData);`;
  const worker = new Worker(source, {
    eval: true,
    workerData: { path: libraryPath(), abi: ABI_VERSION, channel: channelName(), symbols: relaySymbols },
    name: "avx-bell",
  });
  worker.unref();
  worker.on("error", (e: unknown) => console.error("avx: the bell relay failed:", e));
}

/**
 * Post queue `id`'s buffer to the running relay. False when no relay runs
 * yet (the caller polls and tries again) or the post failed. No channel is
 * kept open: an open BroadcastChannel keeps its isolate alive, and a relay
 * that never comes must not keep a program from exiting.
 */
export function register(id: number, sab: SharedArrayBuffer): boolean {
  ensureRelay();
  if (lib().avx_bell_announce(id) !== 1) return false;
  let channel: BroadcastChannel | undefined;
  try {
    channel = new BroadcastChannel(channelName());
    channel.postMessage({ type: "register", id, sab } satisfies BellMessage);
    return true;
  } catch {
    // Deno shares one subscription among an isolate's channels and tears
    // it down asynchronously after the last one closes; a channel made in
    // that window cannot send. The caller tries again.
    return false;
  } finally {
    // Closing right after posting is safe: the message is on its way.
    channel?.close();
  }
}

/** Wake the relay so that it notices its isolate is being torn down. */
export function kickRelay(): void {
  lib().avx_bell_kick();
}

/**
 * The relay's whole program. It runs in a `node:worker_threads` Worker from
 * source text, so it is self-contained: its own symbol table, no imports.
 */
function relayMain(
  data: { path: string; abi: number; channel: string; symbols: typeof relaySymbols },
): void {
  const l = Deno.dlopen(data.path, data.symbols).symbols;
  if (l.avx_init() !== data.abi) return;
  /** Per queue slot: the queue id and its isolate's buffer. */
  const views: ({ id: number; view: Int32Array } | undefined)[] = new Array(256).fill(undefined);
  const channel = new BroadcastChannel(data.channel);
  let epoch = 0;
  channel.onmessage = (e: MessageEvent) => {
    const m = e.data;
    if (m === null || typeof m !== "object" || m.type !== "register") return;
    if (typeof m.id !== "number" || !(m.sab instanceof SharedArrayBuffer) || m.sab.byteLength < 4) return;
    if (l.avx_bell_registered(m.id, epoch) === 1) views[m.id & 255] = { id: m.id, view: new Int32Array(m.sab, 0, 1) };
  };
  epoch = l.avx_bell_attach();
  if (epoch <= 0) {
    channel.close(); // another relay runs
    return;
  }
  const out = new Uint32Array(256);
  const RELAY_SLICE_MS = 1000;
  const turn = () => new Promise((r) => setTimeout(r, 1));
  (async () => {
    for (;;) {
      // With a registration on its way, stay in JavaScript (the message
      // arrives through this isolate's event loop); otherwise sleep
      // natively until something is rung.
      const awaiting = l.avx_bell_awaited() > 0;
      // A bounded sleep: a relay terminated while inside it (the process
      // ending) notices within one slice; the isolate ending the process
      // kicks it awake besides.
      const n = l.avx_bell_wait(out, out.length, awaiting ? 0 : RELAY_SLICE_MS);
      for (let i = 0; i < n; i++) {
        const entry = views[out[i] & 255];
        if (entry === undefined || entry.id !== out[i]) continue;
        Atomics.add(entry.view, 0, 1);
        Atomics.notify(entry.view, 0);
      }
      if (awaiting) await turn();
    }
  })();
}
