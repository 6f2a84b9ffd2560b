/**
 * Multi-producer, single-consumer channels shared across isolates.
 *
 * @module
 */
import { lib } from "../ffi/library.ts";
import { Kind } from "../ffi/symbols.ts";
import { checkWaitOptions, Deadline, submit, syncOptions, type WaitOptions } from "../ffi/queue.ts";
import { packBatch, readBatch, readMessage, readPooled } from "../ffi/scratch.ts";
import { AvxError, checkHandle, checkInteger, checkOptions, describeValue, Status } from "../errors.ts";
import { adopt, created, factoryOnly, type Handle, handleOf, Resource, wrapOwned } from "../resource.ts";
import { type Codec, type CodecName, decodesInPlace, encodeWith, resolveCodec } from "../codec.ts";
import { receive, send } from "./ops.ts";

/** Options of {@link mpsc}. */
export interface MpscOptions<T> {
  /** Most messages queued at once; senders wait while it is full. Omit for unbounded. */
  capacity?: number;
  /** How values become bytes; default `"bytes"` (`Uint8Array`). */
  codec?: Codec<T> | CodecName;
}

/** Options of `Sender.from` / `Receiver.from`. */
export interface AttachOptions<T> {
  /** The codec the channel was created with (codecs live in JS, not natively). */
  codec?: Codec<T> | CodecName;
}

/** The largest capacity a bounded channel can have. */
export const MAX_CAPACITY = 2 ** 31 - 1;

/**
 * Create a channel: any number of senders (clone them, or post
 * `tx.handle` to Workers), one receiver. Messages of one sender arrive in
 * the order sent; none is lost or duplicated. Each message is copied once
 * into native memory and once out.
 *
 * @example
 * ```ts
 * import { mpsc } from "@avx/runtime";
 *
 * const [tx, rx] = mpsc<string>({ codec: "string", capacity: 1024 });
 * await tx.send("hello");
 * tx.close();
 * for await (const msg of rx) console.log(msg);
 * ```
 */
export function mpsc<T = Uint8Array>(options?: MpscOptions<T>): [Sender<T>, Receiver<T>] {
  const o = checkOptions<MpscOptions<T>>(options, "mpsc");
  const capacity = checkInteger(o?.capacity ?? 0, "mpsc", "capacity (0: unbounded)", 0, MAX_CAPACITY);
  const codec = resolveCodec(o?.codec);
  const pair = new Float64Array(2);
  const r = lib().avx_mpsc_new(capacity, pair);
  if (r !== 0) throw AvxError.fromStatus(r, "mpsc");
  return [Sender.fromOwned(pair[0], codec), Receiver.fromOwned(pair[1], codec)];
}

/** The most messages one batch call takes. */
export const MAX_BATCH = 65536;

function checkMax(max: number, what: string): number {
  return checkInteger(max, what, "max", 1, MAX_BATCH);
}

/** Encode a batch: `values` must be an array; any value failing sends nothing. */
function encodeAll<T>(codec: Codec<T>, values: readonly T[], what: string): Uint8Array[] {
  if (!Array.isArray(values)) {
    throw new AvxError("INVALID_ARGUMENT", `${what}: values must be an array, got ${describeValue(values)}`);
  }
  return values.map((v) => encodeWith(codec, v));
}

/**
 * The sending side of an {@link mpsc} channel.
 *
 * @example
 * ```ts
 * import { mpsc } from "@avx/runtime";
 * const [tx, rx] = mpsc();
 * tx.trySend(new Uint8Array([1, 2, 3]));
 * ```
 */
export class Sender<T = Uint8Array> extends Resource {
  readonly #codec: Codec<T>;

  /** @internal Use {@link mpsc}, {@link Sender.clone} or {@link Sender.from}. */
  constructor(codec: Codec<T>) {
    super(factoryOnly("Sender", "mpsc()"));
    this.#codec = codec;
  }

  /** @internal */
  static fromOwned<T>(handle: Handle, codec: Codec<T>): Sender<T> {
    return wrapOwned(() => new Sender(codec), handle);
  }

  /**
   * Attach to a sender created in another isolate. Both wrappers then
   * share that one sender (it ends when both are disposed); use
   * {@link Sender.clone} for an independent one.
   *
   * @example
   * ```ts
   * import { mpsc, Sender } from "@avx/runtime";
   * const [tx] = mpsc<string>({ codec: "string" });
   * const same = Sender.from<string>(tx.handle, { codec: "string" });
   * ```
   */
  static from<T = Uint8Array>(handle: Handle, options?: AttachOptions<T>): Sender<T> {
    checkHandle(handle, "Sender.from");
    const codec = resolveCodec<T>(checkOptions<AttachOptions<T>>(options, "Sender.from")?.codec);
    return adopt(() => new Sender<T>(codec), handle, Kind.mpscSender, "Sender");
  }

  /**
   * Send, waiting (without blocking the event loop) while the channel is
   * full. Rejects with `CLOSED` once the channel is closed.
   *
   * @example
   * ```ts
   * import { mpsc } from "@avx/runtime";
   * const [tx] = mpsc({ capacity: 1 });
   * await tx.send(new Uint8Array(8), { timeout: 100 });
   * ```
   */
  async send(value: T, options?: WaitOptions): Promise<void> {
    const o = checkWaitOptions(options, "Sender.send");
    const bytes = encodeWith(this.#codec, value);
    const h = this.live;
    const l = lib();
    const r = await send(
      () => l.avx_mpsc_try_send(h, bytes, bytes.length),
      (q) => l.avx_mpsc_send_async(h, q),
      "Sender.send",
      o,
      this,
    );
    if (r !== 0) throw AvxError.fromStatus(r, "Sender.send");
  }

  /**
   * Send if there is room now; `false` if the channel is full. Throws
   * `CLOSED` once the channel is closed.
   *
   * @example
   * ```ts
   * import { mpsc } from "@avx/runtime";
   * const [tx] = mpsc({ capacity: 1 });
   * tx.trySend(new Uint8Array(1)); // true
   * tx.trySend(new Uint8Array(1)); // false: full
   * ```
   */
  trySend(value: T): boolean {
    const bytes = encodeWith(this.#codec, value);
    const r = lib().avx_mpsc_try_send(this.live, bytes, bytes.length);
    if (r === 0) return true;
    if (r === Status.WOULD_BLOCK) return false;
    throw AvxError.fromStatus(r, "Sender.trySend");
  }

  /**
   * Send, blocking the calling thread while the channel is full.
   *
   * @example
   * ```ts
   * import { mpsc } from "@avx/runtime";
   * const [tx] = mpsc();
   * tx.sendSync(new Uint8Array(4));
   * ```
   */
  sendSync(value: T, options?: { timeout?: number }): void {
    const t = syncOptions(options, "Sender.sendSync");
    const bytes = encodeWith(this.#codec, value);
    const r = lib().avx_mpsc_send(this.live, bytes, bytes.length, t);
    if (r !== 0) throw AvxError.fromStatus(r, "Sender.sendSync");
  }

  /**
   * One native call sending `encoded[from..]` (as many as fit): how many
   * were sent, or a negative status. Packs again on every call: the pack
   * buffer is shared, and an `await` in between may have reused it.
   */
  #trySendFrom(encoded: readonly Uint8Array[], from: number): number {
    const rest = from === 0 ? encoded : encoded.slice(from);
    const { buf, offsets } = packBatch(rest);
    return lib().avx_mpsc_try_send_many(this.live, buf, offsets[rest.length], rest.length);
  }

  /**
   * Send as many of `values` as there is room for now, in order, in one
   * native call; returns how many were sent (all of them on an unbounded
   * channel). Every value is encoded first: a `TypeError` sends nothing.
   *
   * @example
   * ```ts
   * import { mpsc } from "@avx/runtime";
   * const [tx] = mpsc<string>({ codec: "string", capacity: 2 });
   * console.log(tx.trySendMany(["a", "b", "c"])); // 2
   * ```
   */
  trySendMany(values: readonly T[]): number {
    const encoded = encodeAll(this.#codec, values, "Sender.trySendMany");
    if (encoded.length === 0) return 0;
    const r = this.#trySendFrom(encoded, 0);
    if (r === Status.WOULD_BLOCK) return 0;
    if (r < 0) throw AvxError.fromStatus(r, "Sender.trySendMany");
    return r;
  }

  /**
   * Send every value in order, waiting for room as needed without blocking
   * the event loop; one native call per run of values that fits.
   *
   * @example
   * ```ts
   * import { mpsc } from "@avx/runtime";
   * const [tx, rx] = mpsc<number>({ codec: "json" });
   * await tx.sendMany([1, 2, 3]);
   * console.log(rx.tryRecvMany()); // [1, 2, 3]
   * ```
   */
  async sendMany(values: readonly T[], options?: WaitOptions): Promise<void> {
    const o = checkWaitOptions(options, "Sender.sendMany");
    const encoded = encodeAll(this.#codec, values, "Sender.sendMany");
    const deadline = new Deadline(o?.timeout);
    const l = lib();
    let i = 0;
    while (i < encoded.length) {
      const h = this.live;
      const r = this.#trySendFrom(encoded, i);
      if (r > 0) {
        i += r;
        continue;
      }
      if (r !== Status.WOULD_BLOCK) throw AvxError.fromStatus(r, "Sender.sendMany");
      const w = await submit((q) => l.avx_mpsc_send_async(h, q), "Sender.sendMany", deadline.options(o), this);
      if (w < 0) throw AvxError.fromStatus(w, "Sender.sendMany");
    }
  }

  /**
   * Send every value in order, blocking the calling thread while the
   * channel is full.
   *
   * @example
   * ```ts
   * import { mpsc } from "@avx/runtime";
   * const [tx] = mpsc();
   * tx.sendManySync([new Uint8Array(1), new Uint8Array(2)]);
   * ```
   */
  sendManySync(values: readonly T[], options?: { timeout?: number }): void {
    const timeout = syncOptions(options, "Sender.sendManySync");
    const encoded = encodeAll(this.#codec, values, "Sender.sendManySync");
    const end = timeout < 0 ? Infinity : performance.now() + timeout;
    const l = lib();
    let i = 0;
    while (i < encoded.length) {
      const h = this.live;
      const r = this.#trySendFrom(encoded, i);
      if (r > 0) {
        i += r;
        continue;
      }
      if (r !== Status.WOULD_BLOCK) throw AvxError.fromStatus(r, "Sender.sendManySync");
      // Full: wait for room by sending the next value the blocking way.
      const left = end === Infinity ? -1 : Math.max(0, end - performance.now());
      const one = encoded[i];
      const s = l.avx_mpsc_send(h, one, one.length, left);
      if (s !== 0) throw AvxError.fromStatus(s, "Sender.sendManySync");
      i++;
    }
  }

  /**
   * A new, independent sender for the same channel.
   *
   * @example
   * ```ts
   * import { mpsc } from "@avx/runtime";
   * const [tx] = mpsc();
   * const tx2 = tx.clone();
   * ```
   */
  clone(): Sender<T> {
    const h = created(lib().avx_mpsc_clone_sender(this.live), "Sender.clone");
    return Sender.fromOwned(h, this.#codec);
  }

  /**
   * Close the channel for every sender: further sends fail with `CLOSED`;
   * the receiver still gets what was queued, then the end. (Disposing a
   * sender only drops this one; the channel ends when every sender is
   * gone.)
   *
   * @example
   * ```ts
   * import { mpsc } from "@avx/runtime";
   * const [tx, rx] = mpsc();
   * tx.close();
   * console.log(await rx.recv()); // null
   * ```
   */
  close(): void {
    const r = lib().avx_mpsc_close(this.live);
    if (r !== 0) throw AvxError.fromStatus(r, "Sender.close");
  }
}

/**
 * The receiving side of an {@link mpsc} channel. Iterate it with
 * `for await`; iteration ends when the channel is closed and drained.
 *
 * @example
 * ```ts
 * import { mpsc } from "@avx/runtime";
 * const [tx, rx] = mpsc<unknown>({ codec: "json" });
 * tx.trySend({ n: 1 });
 * console.log(await rx.recv()); // { n: 1 }
 * ```
 */
export class Receiver<T = Uint8Array> extends Resource implements AsyncIterable<T> {
  readonly #codec: Codec<T>;
  /** Decode straight from the receive buffer (no copy). */
  readonly #borrow: boolean;
  /** The native try-receive, bound once: it is the hot path. */
  readonly #tryRead: (buf: Uint8Array, cap: number) => number;
  /** The native blocking receive without a deadline, bound once. */
  readonly #blockingRead: (buf: Uint8Array, cap: number) => number;
  readonly #tryReadAt: (buf: Uint8Array, off: number, cap: number) => number;
  readonly #blockingReadAt: (buf: Uint8Array, off: number, cap: number) => number;

  /** @internal Use {@link mpsc} or {@link Receiver.from}. */
  constructor(codec: Codec<T>) {
    super(factoryOnly("Receiver", "mpsc()"));
    this.#codec = codec;
    this.#borrow = decodesInPlace.has(codec as Codec<unknown>);
    const l = lib();
    const h = handleOf(this);
    this.#tryRead = (b, c) => l.avx_mpsc_try_recv(h, b, c);
    this.#blockingRead = (b, c) => l.avx_mpsc_recv(h, b, c, -1);
    this.#tryReadAt = (b, o, c) => l.avx_mpsc_try_recv_at(h, b, o, c);
    this.#blockingReadAt = (b, o, c) => l.avx_mpsc_recv_at(h, b, o, c, -1);
  }

  /** @internal */
  static fromOwned<T>(handle: Handle, codec: Codec<T>): Receiver<T> {
    return wrapOwned(() => new Receiver(codec), handle);
  }

  /**
   * Attach to a receiver created in another isolate. Only one isolate
   * should receive at a time (concurrent receives are serialised natively).
   *
   * @example
   * ```ts
   * import { mpsc, Receiver } from "@avx/runtime";
   * const [, rx] = mpsc();
   * const same = Receiver.from(rx.handle);
   * ```
   */
  static from<T = Uint8Array>(handle: Handle, options?: AttachOptions<T>): Receiver<T> {
    checkHandle(handle, "Receiver.from");
    const codec = resolveCodec<T>(checkOptions<AttachOptions<T>>(options, "Receiver.from")?.codec);
    return adopt(() => new Receiver<T>(codec), handle, Kind.mpscReceiver, "Receiver");
  }

  #finish(got: Uint8Array | number, what: string): T | null {
    if (typeof got !== "number") return this.#codec.decode(got);
    if (got === Status.CLOSED) return null;
    throw AvxError.fromStatus(got, what);
  }

  /**
   * The next message, waiting without blocking the event loop; `null` once
   * the channel is closed and drained.
   *
   * @example
   * ```ts
   * import { mpsc } from "@avx/runtime";
   * const [tx, rx] = mpsc();
   * setTimeout(() => tx.trySend(new Uint8Array([9])), 5);
   * console.log(await rx.recv({ timeout: 1000 }));
   * ```
   */
  async recv(options?: WaitOptions): Promise<T | null> {
    const o = checkWaitOptions(options, "Receiver.recv");
    const h = this.live;
    const l = lib();
    return await receive(
      this.#tryRead,
      (q) => l.avx_mpsc_recv_async(h, q),
      "Receiver.recv",
      o,
      (got) => this.#finish(got, "Receiver.recv"),
      this.#borrow,
      this,
    );
  }

  /**
   * A message if one is ready, else `null`. Throws `CLOSED` once the
   * channel is closed and drained (so `null` always means "not yet").
   *
   * @example
   * ```ts
   * import { mpsc } from "@avx/runtime";
   * const [, rx] = mpsc();
   * console.log(rx.tryRecv()); // null
   * ```
   */
  tryRecv(): T | null {
    this.live; // Throws once disposed.
    const got = this.#borrow ? readMessage(this.#tryRead, true) : readPooled(this.#tryReadAt, this.#tryRead);
    if (got === Status.WOULD_BLOCK) return null;
    if (typeof got === "number") throw AvxError.fromStatus(got, "Receiver.tryRecv");
    return this.#codec.decode(got);
  }

  /**
   * The next message, blocking the calling thread; `null` once the channel
   * is closed and drained.
   *
   * @example
   * ```ts
   * import { mpsc } from "@avx/runtime";
   * const [tx, rx] = mpsc();
   * tx.trySend(new Uint8Array(1));
   * rx.recvSync({ timeout: 100 });
   * ```
   */
  recvSync(options?: { timeout?: number }): T | null {
    const t = syncOptions(options, "Receiver.recvSync");
    const h = this.live;
    if (t === -1) {
      const got = this.#borrow
        ? readMessage(this.#blockingRead, true)
        : readPooled(this.#blockingReadAt, this.#blockingRead);
      return this.#finish(got, "Receiver.recvSync");
    }
    return this.#finish(readMessage((b, c) => lib().avx_mpsc_recv(h, b, c, t), this.#borrow), "Receiver.recvSync");
  }

  #takeMany(read: (buf: Uint8Array, cap: number) => number, what: string): T[] | number {
    const out: T[] = [];
    const n = readBatch(read, this.#borrow, (bytes) => out.push(this.#codec.decode(bytes)));
    if (n < 0) {
      if (n === Status.WOULD_BLOCK || n === Status.CLOSED) return n;
      throw AvxError.fromStatus(n, what);
    }
    return out;
  }

  /**
   * Up to `max` messages that are ready now, in one native call; `[]` when
   * none is. Throws `CLOSED` once the channel is closed and drained.
   *
   * @example
   * ```ts
   * import { mpsc } from "@avx/runtime";
   * const [tx, rx] = mpsc<string>({ codec: "string" });
   * tx.trySendMany(["a", "b"]);
   * console.log(rx.tryRecvMany(10)); // ["a", "b"]
   * ```
   */
  tryRecvMany(max = 64): T[] {
    const m = checkMax(max, "Receiver.tryRecvMany");
    const h = this.live;
    const got = this.#takeMany((b, c) => lib().avx_mpsc_try_recv_many(h, b, c, m), "Receiver.tryRecvMany");
    if (got === Status.WOULD_BLOCK) return [];
    if (typeof got === "number") throw AvxError.fromStatus(got, "Receiver.tryRecvMany");
    return got;
  }

  /**
   * Wait (without blocking the event loop) for at least one message, then
   * take up to `max`; `[]` once the channel is closed and drained.
   *
   * @example
   * ```ts
   * import { mpsc } from "@avx/runtime";
   * const [tx, rx] = mpsc();
   * tx.trySend(new Uint8Array([1]));
   * for (const m of await rx.recvMany(32)) console.log(m);
   * ```
   */
  async recvMany(max = 64, options?: WaitOptions): Promise<T[]> {
    const m = checkMax(max, "Receiver.recvMany");
    const o = checkWaitOptions(options, "Receiver.recvMany");
    const deadline = new Deadline(o?.timeout);
    const l = lib();
    for (;;) {
      const h = this.live;
      const got = this.#takeMany((b, c) => l.avx_mpsc_try_recv_many(h, b, c, m), "Receiver.recvMany");
      if (got === Status.CLOSED) return [];
      if (got !== Status.WOULD_BLOCK) return got as T[];
      const r = await submit((q) => l.avx_mpsc_recv_async(h, q), "Receiver.recvMany", deadline.options(o), this);
      if (r < 0) throw AvxError.fromStatus(r, "Receiver.recvMany");
    }
  }

  /**
   * Block the calling thread until at least one message is ready, then take
   * up to `max`; `[]` once the channel is closed and drained.
   *
   * @example
   * ```ts
   * import { mpsc } from "@avx/runtime";
   * const [tx, rx] = mpsc();
   * tx.trySend(new Uint8Array([1]));
   * rx.recvManySync(16, { timeout: 100 });
   * ```
   */
  recvManySync(max = 64, options?: { timeout?: number }): T[] {
    const m = checkMax(max, "Receiver.recvManySync");
    const t = syncOptions(options, "Receiver.recvManySync");
    const h = this.live;
    const got = this.#takeMany((b, c) => lib().avx_mpsc_recv_many(h, b, c, m, t), "Receiver.recvManySync");
    if (got === Status.CLOSED) return [];
    if (typeof got === "number") throw AvxError.fromStatus(got, "Receiver.recvManySync");
    return got;
  }

  /**
   * Messages queued right now.
   *
   * @example
   * ```ts
   * import { mpsc } from "@avx/runtime";
   * const [, rx] = mpsc();
   * console.log(rx.length); // 0
   * ```
   */
  get length(): number {
    const r = lib().avx_mpsc_len(this.live);
    if (r < 0) throw AvxError.fromStatus(r, "Receiver.length");
    return r;
  }

  /**
   * Close the channel: senders fail with `CLOSED` from now on; messages
   * already queued can still be received.
   *
   * @example
   * ```ts
   * import { mpsc } from "@avx/runtime";
   * const [, rx] = mpsc();
   * rx.close();
   * ```
   */
  close(): void {
    const r = lib().avx_mpsc_close(this.live);
    if (r !== 0) throw AvxError.fromStatus(r, "Receiver.close");
  }

  /**
   * Iterate until the channel is closed and drained.
   *
   * @example
   * ```ts
   * import { mpsc } from "@avx/runtime";
   * const [tx, rx] = mpsc();
   * tx.close();
   * for await (const _ of rx) {
   *   // never runs
   * }
   * ```
   */
  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    for (;;) {
      const v = await this.recv();
      if (v === null) return;
      yield v;
    }
  }
}
