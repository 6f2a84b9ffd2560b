/**
 * This isolate's completion queue: how operations that must wait
 * (`await m.lock()`, `await rx.recv()`) learn that they can finish without
 * blocking the event loop.
 *
 * An operation that cannot finish at once registers a waiter natively and
 * gets a token. Whoever later grants it (any thread, any isolate) posts
 * `(token, result)` to this queue and rings our bell only if we said we
 * were idle. The bell (bell.ts) wakes our `Atomics.waitAsync`; one wake-up
 * drains every completion that has arrived, in a loop of fast calls.
 * Nothing native ever calls into this isolate, so it may end at any moment:
 * its thread's exit closes the queue natively.
 *
 * @module
 */
import { lib } from "./library.ts";
import { AvxError, checkOptions, describeValue, invalidArgument } from "../errors.ts";
import type { Resource } from "../resource.ts";
import { ensureRelay, kickRelay, register } from "./bell.ts";
import { CqArm, TOKEN_SLOT_BITS } from "./abi.gen.ts";

/** Options of every operation that may wait. */
export interface WaitOptions {
  /** Abort the wait; the operation rejects with code `ABORTED`. */
  signal?: AbortSignal;
  /** Give up after this many milliseconds; rejects with code `TIMEOUT`. */
  timeout?: number;
}

/** Gets a completion's result (and its token, so one function can serve many). */
type Settle = (result: number, token: number) => void;

const BATCH = 256;
/**
 * While operations are pending, a timer of this period keeps the event
 * loop alive (a pending `Atomics.waitAsync` does not) and checks that the
 * bell relay still has our registration (a new relay needs it again).
 */
const HEARTBEAT_MS = 1000;
/** How often an isolate not yet registered with the relay polls its queue. */
const POLL_MS = 2;
const { READY: ARM_READY, UNREGISTERED: ARM_UNREGISTERED } = CqArm;
/** A registration not taken after this long is sent again. */
const REREGISTER_MS = 200;
/** Tokens are `slot | generation << TOKEN_SLOT_BITS` (native/core/cq.zig). */
const SLOT_MASK = (1 << TOKEN_SLOT_BITS) - 1;

/**
 * Waiting operations by token, indexed by the token's slot: a lookup is an
 * array access (a Map of 100,000 pending tasks cost several hundred ns per
 * operation). The slot's current token is kept to tell a stale one.
 */
class Waiting {
  #tokens = new Int32Array(1024);
  #settles: (Settle | undefined)[] = new Array<Settle | undefined>(1024).fill(undefined);
  size = 0;

  set(token: number, settle: Settle): void {
    const slot = token & SLOT_MASK;
    if (slot >= this.#tokens.length) this.#grow(slot);
    if (this.#tokens[slot] === 0) this.size++;
    this.#tokens[slot] = token;
    this.#settles[slot] = settle;
  }

  /** Remove and return the waiter of `token`, if it is waiting. */
  take(token: number): Settle | undefined {
    const slot = token & SLOT_MASK;
    if (slot >= this.#tokens.length || this.#tokens[slot] !== token) return undefined;
    const settle = this.#settles[slot];
    this.#tokens[slot] = 0;
    this.#settles[slot] = undefined;
    this.size--;
    return settle;
  }

  #grow(slot: number): void {
    let n = this.#tokens.length;
    while (n <= slot) n *= 2;
    const tokens = new Int32Array(n);
    tokens.set(this.#tokens);
    this.#tokens = tokens;
    const settles = new Array<Settle | undefined>(n).fill(undefined);
    for (let i = 0; i < this.#settles.length; i++) settles[i] = this.#settles[i];
    this.#settles = settles;
  }
}

class CompletionQueue {
  readonly id: number;
  readonly #waiting = new Waiting();
  readonly #out = new Int32Array(BATCH * 2);
  /** The word the bell relay bumps and notifies (index 0). */
  readonly #sab = new SharedArrayBuffer(4);
  readonly #word = new Int32Array(this.#sab);
  /**
   * Armed natively, or a drain is already queued: either way a drain will
   * run, so adding another wait needs no FFI call to arm.
   */
  #armed = false;
  /** An `Atomics.waitAsync` on `#word` is pending. */
  #sleeping = false;
  #heartbeat: ReturnType<typeof setInterval> | undefined;
  #poll: ReturnType<typeof setTimeout> | undefined;
  #postedAt = -Infinity;
  #referenced = false;
  #closed = false;

  constructor() {
    const id = lib().avx_cq_open();
    if (id < 0) throw AvxError.fromStatus(id, "opening the completion queue");
    this.id = id;
    this.#tryRegister();
  }

  /**
   * Hand our buffer to the relay unless it has it: starts a relay when none
   * runs (or a start was claimed and never finished), and posts again when
   * the last post went unanswered for `REREGISTER_MS` (it went to a relay
   * that died before taking it).
   */
  #tryRegister(): void {
    const l = lib();
    if (l.avx_cq_registered(this.id) === 1) return;
    if (l.avx_bell_ready() !== 1) {
      ensureRelay();
      return;
    }
    if (performance.now() - this.#postedAt < REREGISTER_MS) return;
    if (register(this.id, this.#sab)) this.#postedAt = performance.now();
  }

  /** Wait for `token`'s completion; `settle` gets its result. */
  add(token: number, settle: Settle): void {
    this.#waiting.set(token, settle);
    if (!this.#referenced) this.#ref();
    if (!this.#armed) this.#arm();
  }

  /** Stop waiting for `token`; a grant that raced us is undone natively. */
  cancel(token: number): void {
    if (this.#waiting.take(token) === undefined) return;
    // 1: it had been granted already; draining now undoes the grant (an
    // unlock, permits given back) before this isolate does anything else.
    if (lib().avx_cq_cancel(this.id, token) === 1) this.drain();
    this.#idleCheck();
  }

  /** Run every completion that has arrived. */
  drain(): void {
    if (this.#closed) return;
    this.#armed = false;
    const l = lib();
    for (;;) {
      const n = l.avx_cq_drain(this.id, this.#out, this.#out.length);
      for (let i = 0; i < n; i++) {
        const token = this.#out[2 * i];
        const settle = this.#waiting.take(token);
        if (settle === undefined) continue;
        try {
          settle(this.#out[2 * i + 1], token);
        } catch (e) {
          // The rest of the batch was already taken from the native queue:
          // one throwing settle must not lose it.
          reportError(e);
        }
      }
      if (n < BATCH) break;
    }
    if (this.#waiting.size > 0) this.#arm();
    else this.#idleCheck();
  }

  get pending(): number {
    return this.#waiting.size;
  }

  /** The owner closes its queue (it is leaving): nothing waits any more. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#heartbeat !== undefined) clearInterval(this.#heartbeat);
    this.#heartbeat = undefined;
    lib().avx_cq_close(this.id);
  }

  #arm(): void {
    this.#armed = true;
    // Read before arming: a ring after this bumps the word past `seen`, so
    // the wait below returns at once instead of missing it.
    const seen = Atomics.load(this.#word, 0);
    const armed = lib().avx_cq_arm(this.id);
    // A negative status: this queue is closed (its isolate is leaving).
    if (armed < 0) return;
    // Until the relay has our registration (it starts with the first wait
    // of the process, in about 50-150 ms), poll besides sleeping.
    if (armed & ARM_UNREGISTERED && this.#poll === undefined) {
      this.#poll = setTimeout(() => {
        this.#poll = undefined;
        this.#tryRegister();
        this.drain();
      }, POLL_MS);
    }
    if (armed & ARM_READY) {
      queueMicrotask(() => this.drain());
      return;
    }
    // A wait still pending was started with an older `seen`; it ends at the
    // next ring just the same, and its drain re-arms.
    if (this.#sleeping) return;
    this.#sleeping = true;
    const r = Atomics.waitAsync(this.#word, 0, seen);
    if (!r.async) {
      this.#sleeping = false;
      queueMicrotask(() => this.drain());
      return;
    }
    r.value.then(() => {
      this.#sleeping = false;
      this.drain();
    });
  }

  /** Keep the event loop alive while operations are pending. */
  #ref(): void {
    this.#referenced = true;
    if (this.#heartbeat === undefined) {
      this.#heartbeat = setInterval(() => this.#beat(), HEARTBEAT_MS);
    } else {
      this.#heartbeat.ref();
    }
  }

  #beat(): void {
    if (!this.#referenced) {
      // Idle for a whole period: stop ticking altogether.
      clearInterval(this.#heartbeat);
      this.#heartbeat = undefined;
      return;
    }
    if (lib().avx_cq_registered(this.id) === 0) {
      // The relay was replaced: register with the new one (rings it missed
      // are kept natively until then) and poll until it has us.
      this.#tryRegister();
      this.drain();
    }
  }

  #idleCheck(): void {
    if (this.#waiting.size === 0 && this.#referenced) {
      this.#referenced = false;
      this.#heartbeat?.unref();
    }
  }
}

let queue: CompletionQueue | undefined;

/** This isolate's queue, opened on first use. @internal */
export function completionQueue(): CompletionQueue {
  if (queue === undefined) {
    queue = new CompletionQueue();
    const q = queue;
    // The main isolate's thread does not exit before the process does:
    // close its queue on the way out. (In Workers, `unload` never fires;
    // their thread's exit closes the queue natively.)
    globalThis.addEventListener?.("unload", () => {
      q.close();
      kickRelay();
    });
  }
  return queue;
}

function abortError(signal: AbortSignal, what: string): AvxError {
  return new AvxError("ABORTED", `${what}: aborted`, { cause: signal.reason });
}

/** Throw if `signal` is already aborted. @internal */
export function checkSignal(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw abortError(signal, what);
}

/** Validate a timeout option: a finite number >= 0, or undefined. @internal */
export function checkTimeout(timeout: number | undefined, what: string): void {
  if (timeout === undefined) return;
  if (typeof timeout !== "number" || !(timeout >= 0)) {
    throw new AvxError("INVALID_ARGUMENT", `${what}: timeout must be a number >= 0, got ${describeValue(timeout)}`);
  }
}

/**
 * Validate the options of an operation that may wait, before it touches
 * anything native: `options` undefined or an object, `signal` undefined or
 * an `AbortSignal` (already aborted: `ABORTED`), `timeout` as
 * {@link checkTimeout}. Each option is read once; the snapshot returned is
 * what the operation must use (a getter cannot change its mind later).
 * @internal
 */
export function checkWaitOptions(options: unknown, what: string): WaitOptions | undefined {
  const o = checkOptions<WaitOptions>(options, what);
  if (o === undefined) return undefined;
  const signal: unknown = o.signal;
  const timeout: unknown = o.timeout;
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw invalidArgument(what, "signal", "an AbortSignal or undefined", signal);
  }
  checkTimeout(timeout as number | undefined, what);
  checkSignal(signal, what);
  return signal === undefined && timeout === undefined ? undefined : { signal, timeout: timeout as number | undefined };
}

/**
 * Start an operation that may have to wait. `start(queueId)` returns 0 when
 * it finished at once, a token when a completion will follow, or a
 * negative status. Resolves with the completion's result (0 when it
 * finished at once); rejects on abort, timeout or a negative start status.
 * @internal
 */
export function submit(
  start: (queueId: number) => number,
  what: string,
  options: WaitOptions | undefined,
  owner: Resource,
): Promise<number> {
  let checked: WaitOptions | undefined;
  try {
    checked = checkWaitOptions(options, what);
  } catch (e) {
    return Promise.reject(e);
  }
  const signal = checked?.signal;
  const timeout = checked?.timeout;
  const q = completionQueue();
  const r = start(q.id);
  if (r === 0) return Promise.resolve(0);
  if (r < 0) return Promise.reject(AvxError.fromStatus(r, what));
  const token = r;
  return new Promise<number>((resolve, reject) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const giveUp = (error: AvxError) => {
      cleanup();
      q.cancel(token);
      reject(error);
    };
    const onAbort = () => giveUp(abortError(signal!, what));
    const cleanup = () => {
      if (timer !== undefined) clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      owner.untrack(token);
    };
    if (timeout !== undefined && Number.isFinite(timeout)) {
      timer = setTimeout(() => giveUp(new AvxError("TIMEOUT", `${what}: timed out after ${timeout} ms`)), timeout);
    }
    signal?.addEventListener("abort", onAbort, { once: true });
    owner.track(token, () => giveUp(new AvxError("CLOSED", `${what}: disposed while waiting`)));
    q.add(token, (result) => {
      cleanup();
      resolve(result);
    });
  });
}

/** A deadline for operations that may wait several times. @internal */
export class Deadline {
  readonly #at: number;

  constructor(timeout: number | undefined) {
    this.#at = timeout === undefined ? Infinity : performance.now() + timeout;
  }

  /** Options for the next wait, with the time left. */
  options(options: WaitOptions | undefined): WaitOptions | undefined {
    if (this.#at === Infinity) return options;
    return { signal: options?.signal, timeout: Math.max(0, this.#at - performance.now()) };
  }
}

/** Timeout in ms for a blocking native call (-1: none). @internal */
export function syncTimeout(timeout: number | undefined, what: string): number {
  checkTimeout(timeout, what);
  return timeout === undefined ? -1 : timeout;
}

/**
 * Validate the options of a blocking call (`{ timeout }`, or undefined)
 * and return the native timeout (-1: none). @internal
 */
export function syncOptions(options: unknown, what: string): number {
  const o = checkOptions<{ timeout?: number }>(options, what);
  return o === undefined ? -1 : syncTimeout(o.timeout, what);
}
