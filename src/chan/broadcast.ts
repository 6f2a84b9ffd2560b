/**
 * Broadcast channels: every receiver sees every message.
 *
 * @module
 */
import { lib } from "../ffi/library.ts";
import { Kind } from "../ffi/symbols.ts";
import { checkWaitOptions, syncOptions, type WaitOptions } from "../ffi/queue.ts";
import { readMessage } from "../ffi/scratch.ts";
import { AvxError, checkHandle, checkInteger, checkOptions, LaggedError, Status } from "../errors.ts";
import { adopt, created, factoryOnly, type Handle, Resource, wrapOwned } from "../resource.ts";
import { type Codec, type CodecName, decodesInPlace, encodeWith, resolveCodec } from "../codec.ts";
import type { AttachOptions } from "./mpsc.ts";
import { receive } from "./ops.ts";

/** Options of {@link broadcast}. */
export interface BroadcastOptions<T> {
  /** Messages retained for slow receivers (default 1024). */
  capacity?: number;
  /** How values become bytes; default `"bytes"` (`Uint8Array`). */
  codec?: Codec<T> | CodecName;
}

/** Retained messages when no capacity is given. */
export const DEFAULT_BROADCAST_CAPACITY = 1024;

/**
 * Create a broadcast channel. Senders never wait: the channel keeps the
 * last `capacity` messages in a ring. A receiver that falls further behind
 * gets a {@link LaggedError} saying how many it missed, then continues
 * from the oldest message still retained: loss is never silent.
 *
 * @example
 * ```ts
 * import { broadcast } from "@avx/runtime";
 *
 * using tx = broadcast<string>({ codec: "string" });
 * using a = tx.subscribe();
 * using b = tx.subscribe();
 * tx.sendSync("tick");
 * console.log(a.tryRecv(), b.tryRecv()); // tick tick
 * ```
 */
export function broadcast<T = Uint8Array>(options?: BroadcastOptions<T>): BroadcastSender<T> {
  const o = checkOptions<BroadcastOptions<T>>(options, "broadcast");
  const capacity = checkInteger(o?.capacity ?? DEFAULT_BROADCAST_CAPACITY, "broadcast", "capacity", 1, 2 ** 24);
  const codec = resolveCodec(o?.codec);
  const h = created(lib().avx_broadcast_new(capacity), "broadcast");
  return BroadcastSender.fromOwned(h, codec);
}

/**
 * The sending side of a {@link broadcast} channel.
 *
 * @example
 * ```ts
 * import { broadcast } from "@avx/runtime";
 * const tx = broadcast();
 * console.log(tx.sendSync(new Uint8Array(1))); // 0 receivers
 * ```
 */
export class BroadcastSender<T = Uint8Array> extends Resource {
  readonly #codec: Codec<T>;

  /** @internal Use {@link broadcast} or {@link BroadcastSender.from}. */
  constructor(codec: Codec<T>) {
    super(factoryOnly("BroadcastSender", "broadcast()"));
    this.#codec = codec;
  }

  /** @internal */
  static fromOwned<T>(handle: Handle, codec: Codec<T>): BroadcastSender<T> {
    return wrapOwned(() => new BroadcastSender(codec), handle);
  }

  /**
   * Attach to a sender created in another isolate.
   *
   * @example
   * ```ts
   * import { broadcast, BroadcastSender } from "@avx/runtime";
   * const tx = BroadcastSender.from(broadcast().handle);
   * ```
   */
  static from<T = Uint8Array>(handle: Handle, options?: AttachOptions<T>): BroadcastSender<T> {
    checkHandle(handle, "BroadcastSender.from");
    const codec = resolveCodec<T>(checkOptions<AttachOptions<T>>(options, "BroadcastSender.from")?.codec);
    return adopt(() => new BroadcastSender<T>(codec), handle, Kind.broadcastSender, "BroadcastSender");
  }

  /**
   * Send to every current receiver; returns how many there are. Never
   * waits (slow receivers lag instead).
   *
   * @example
   * ```ts
   * import { broadcast } from "@avx/runtime";
   * const tx = broadcast();
   * tx.sendSync(new Uint8Array([1]));
   * ```
   */
  sendSync(value: T): number {
    const bytes = encodeWith(this.#codec, value);
    const r = lib().avx_broadcast_send(this.live, bytes, bytes.length);
    if (r < 0) throw AvxError.fromStatus(r, "BroadcastSender.send");
    return r;
  }

  /**
   * Same as {@link BroadcastSender.sendSync}, for code written against the
   * async sender interface.
   *
   * @example
   * ```ts
   * import { broadcast } from "@avx/runtime";
   * await broadcast().send(new Uint8Array([1]));
   * ```
   */
  send(value: T): Promise<number> {
    try {
      return Promise.resolve(this.sendSync(value));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * Send; always `true` (a broadcast channel is never full). Throws
   * `CLOSED` once closed.
   *
   * @example
   * ```ts
   * import { broadcast } from "@avx/runtime";
   * broadcast().trySend(new Uint8Array([1])); // true
   * ```
   */
  trySend(value: T): boolean {
    this.sendSync(value);
    return true;
  }

  /**
   * A new receiver that sees every message sent from now on.
   *
   * @example
   * ```ts
   * import { broadcast } from "@avx/runtime";
   * const rx = broadcast().subscribe();
   * ```
   */
  subscribe(): BroadcastReceiver<T> {
    const h = created(lib().avx_broadcast_subscribe(this.live), "BroadcastSender.subscribe");
    return BroadcastReceiver.fromOwned(h, this.#codec);
  }

  /**
   * Another sender for the same channel.
   *
   * @example
   * ```ts
   * import { broadcast } from "@avx/runtime";
   * const tx2 = broadcast().clone();
   * ```
   */
  clone(): BroadcastSender<T> {
    const h = created(lib().avx_broadcast_clone_sender(this.live), "BroadcastSender.clone");
    return BroadcastSender.fromOwned(h, this.#codec);
  }

  /**
   * Close the channel: receivers get what they can still see, then the end.
   *
   * @example
   * ```ts
   * import { broadcast } from "@avx/runtime";
   * broadcast().close();
   * ```
   */
  close(): void {
    const r = lib().avx_broadcast_close(this.live);
    if (r !== 0) throw AvxError.fromStatus(r, "BroadcastSender.close");
  }
}

/**
 * A receiving side of a {@link broadcast} channel.
 *
 * @example Keep going after a lag
 * ```ts
 * import { broadcast, LaggedError } from "@avx/runtime";
 * const tx = broadcast<string>({ codec: "string" });
 * const rx = tx.subscribe();
 * tx.close();
 * for (;;) {
 *   try {
 *     const v = await rx.recv();
 *     if (v === null) break;
 *   } catch (e) {
 *     if (!(e instanceof LaggedError)) throw e;
 *     console.log(`missed ${e.missed}`);
 *   }
 * }
 * ```
 */
export class BroadcastReceiver<T = Uint8Array> extends Resource implements AsyncIterable<T> {
  readonly #codec: Codec<T>;
  /** Decode straight from the receive buffer (no copy). */
  readonly #borrow: boolean;

  /** @internal Use {@link BroadcastSender.subscribe} or {@link BroadcastReceiver.from}. */
  constructor(codec: Codec<T>) {
    super(factoryOnly("BroadcastReceiver", "broadcast()"));
    this.#codec = codec;
    this.#borrow = decodesInPlace.has(codec as Codec<unknown>);
  }

  /** @internal */
  static fromOwned<T>(handle: Handle, codec: Codec<T>): BroadcastReceiver<T> {
    return wrapOwned(() => new BroadcastReceiver(codec), handle);
  }

  /**
   * Attach to a receiver created in another isolate (it shares that
   * receiver's position). To get a receiver of one's own in a Worker, post
   * the sender's handle and `subscribe()` there, or call
   * {@link BroadcastReceiver.resubscribe}.
   *
   * @example
   * ```ts
   * import { broadcast, BroadcastReceiver } from "@avx/runtime";
   * const rx = BroadcastReceiver.from(broadcast().subscribe().handle);
   * ```
   */
  static from<T = Uint8Array>(handle: Handle, options?: AttachOptions<T>): BroadcastReceiver<T> {
    checkHandle(handle, "BroadcastReceiver.from");
    const codec = resolveCodec<T>(checkOptions<AttachOptions<T>>(options, "BroadcastReceiver.from")?.codec);
    return adopt(() => new BroadcastReceiver<T>(codec), handle, Kind.broadcastReceiver, "BroadcastReceiver");
  }

  /**
   * A new receiver of the same channel, seeing what is sent from now on.
   *
   * @example
   * ```ts
   * import { broadcast } from "@avx/runtime";
   * const rx2 = broadcast().subscribe().resubscribe();
   * ```
   */
  resubscribe(): BroadcastReceiver<T> {
    const h = created(lib().avx_broadcast_subscribe(this.live), "BroadcastReceiver.resubscribe");
    return BroadcastReceiver.fromOwned(h, this.#codec);
  }

  #finish(got: Uint8Array | number, what: string): T | null {
    if (typeof got !== "number") return this.#codec.decode(got);
    if (got === Status.CLOSED) return null;
    if (got === Status.LAGGED) throw new LaggedError(lib().avx_last_value());
    throw AvxError.fromStatus(got, what);
  }

  /**
   * The next message; `null` once the channel is closed and drained.
   * Rejects with {@link LaggedError} if messages were missed (the next call
   * continues from the oldest retained one).
   *
   * @example
   * ```ts
   * import { broadcast } from "@avx/runtime";
   * const tx = broadcast();
   * const rx = tx.subscribe();
   * tx.sendSync(new Uint8Array([1]));
   * console.log(await rx.recv());
   * ```
   */
  async recv(options?: WaitOptions): Promise<T | null> {
    const o = checkWaitOptions(options, "BroadcastReceiver.recv");
    const h = this.live;
    const l = lib();
    return await receive(
      (b, c) => l.avx_broadcast_try_recv(h, b, c),
      (q) => l.avx_broadcast_recv_async(h, q),
      "BroadcastReceiver.recv",
      o,
      (got) => this.#finish(got, "BroadcastReceiver.recv"),
      this.#borrow,
      this,
    );
  }

  /**
   * A message if one is ready, else `null`; throws `CLOSED` once closed and
   * drained, {@link LaggedError} after a lag.
   *
   * @example
   * ```ts
   * import { broadcast } from "@avx/runtime";
   * console.log(broadcast().subscribe().tryRecv()); // null
   * ```
   */
  tryRecv(): T | null {
    const h = this.live;
    const got = readMessage((b, c) => lib().avx_broadcast_try_recv(h, b, c), this.#borrow);
    if (got === Status.WOULD_BLOCK) return null;
    if (got === Status.CLOSED) throw AvxError.fromStatus(got, "BroadcastReceiver.tryRecv");
    return this.#finish(got, "BroadcastReceiver.tryRecv");
  }

  /**
   * The next message, blocking the calling thread.
   *
   * @example
   * ```ts
   * import { broadcast } from "@avx/runtime";
   * const tx = broadcast();
   * const rx = tx.subscribe();
   * tx.sendSync(new Uint8Array([1]));
   * rx.recvSync();
   * ```
   */
  recvSync(options?: { timeout?: number }): T | null {
    const t = syncOptions(options, "BroadcastReceiver.recvSync");
    const h = this.live;
    return this.#finish(
      readMessage((b, c) => lib().avx_broadcast_recv(h, b, c, t), this.#borrow),
      "BroadcastReceiver.recvSync",
    );
  }

  /**
   * Close the whole channel (as the sender's `close` does).
   *
   * @example
   * ```ts
   * import { broadcast } from "@avx/runtime";
   * broadcast().subscribe().close();
   * ```
   */
  close(): void {
    const r = lib().avx_broadcast_close(this.live);
    if (r !== 0) throw AvxError.fromStatus(r, "BroadcastReceiver.close");
  }

  /**
   * Iterate until the channel is closed and drained. A lag ends the loop
   * with a {@link LaggedError}; iterate again to continue.
   *
   * @example
   * ```ts
   * import { broadcast } from "@avx/runtime";
   * const tx = broadcast();
   * const rx = tx.subscribe();
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
