/**
 * One value, sent once.
 *
 * @module
 */
import { lib } from "../ffi/library.ts";
import { Kind } from "../ffi/symbols.ts";
import { checkWaitOptions, syncOptions, type WaitOptions } from "../ffi/queue.ts";
import { readMessage } from "../ffi/scratch.ts";
import { AvxError, checkHandle, checkOptions, Status } from "../errors.ts";
import { adopt, factoryOnly, type Handle, Resource, wrapOwned } from "../resource.ts";
import { type Codec, type CodecName, decodesInPlace, encodeWith, resolveCodec } from "../codec.ts";
import type { AttachOptions } from "./mpsc.ts";
import { receive } from "./ops.ts";

/** Options of {@link oneshot}. */
export interface OneshotOptions<T> {
  /** How values become bytes; default `"bytes"` (`Uint8Array`). */
  codec?: Codec<T> | CodecName;
}

/**
 * Create a oneshot channel: the sender sends one value, once; the receiver
 * gets it, or learns that the sender went away without sending
 * (`DISCONNECTED`). The receiver is awaitable itself.
 *
 * @example
 * ```ts
 * import { oneshot } from "@avx/runtime";
 *
 * const [tx, rx] = oneshot<number>({ codec: "json" });
 * setTimeout(() => tx.send(42), 1);
 * console.log(await rx); // 42
 * ```
 */
export function oneshot<T = Uint8Array>(options?: OneshotOptions<T>): [OneshotSender<T>, OneshotReceiver<T>] {
  const codec = resolveCodec(checkOptions<OneshotOptions<T>>(options, "oneshot")?.codec);
  const pair = new Float64Array(2);
  const r = lib().avx_oneshot_new(pair);
  if (r !== 0) throw AvxError.fromStatus(r, "oneshot");
  return [OneshotSender.fromOwned(pair[0], codec), OneshotReceiver.fromOwned(pair[1], codec)];
}

/**
 * The sending side of a {@link oneshot} channel.
 *
 * @example
 * ```ts
 * import { oneshot } from "@avx/runtime";
 * const [tx, rx] = oneshot<string>({ codec: "string" });
 * tx.send("done");
 * ```
 */
export class OneshotSender<T = Uint8Array> extends Resource {
  readonly #codec: Codec<T>;

  /** @internal Use {@link oneshot} or {@link OneshotSender.from}. */
  constructor(codec: Codec<T>) {
    super(factoryOnly("OneshotSender", "oneshot()"));
    this.#codec = codec;
  }

  /** @internal */
  static fromOwned<T>(handle: Handle, codec: Codec<T>): OneshotSender<T> {
    return wrapOwned(() => new OneshotSender(codec), handle);
  }

  /**
   * Attach to a sender created in another isolate.
   *
   * @example
   * ```ts
   * import { oneshot, OneshotSender } from "@avx/runtime";
   * const [tx] = oneshot();
   * const same = OneshotSender.from(tx.handle);
   * ```
   */
  static from<T = Uint8Array>(handle: Handle, options?: AttachOptions<T>): OneshotSender<T> {
    checkHandle(handle, "OneshotSender.from");
    const codec = resolveCodec<T>(checkOptions<AttachOptions<T>>(options, "OneshotSender.from")?.codec);
    return adopt(() => new OneshotSender<T>(codec), handle, Kind.oneshotSender, "OneshotSender");
  }

  /**
   * Send the value. Throws `ALREADY_SENT` the second time, `CLOSED` if the
   * receiver is gone.
   *
   * @example
   * ```ts
   * import { oneshot } from "@avx/runtime";
   * const [tx] = oneshot();
   * tx.send(new Uint8Array([1]));
   * ```
   */
  send(value: T): void {
    const bytes = encodeWith(this.#codec, value);
    const r = lib().avx_oneshot_send(this.live, bytes, bytes.length);
    if (r !== 0) throw AvxError.fromStatus(r, "OneshotSender.send");
  }

  /**
   * Give up without sending: the receiver gets `DISCONNECTED`.
   *
   * @example
   * ```ts
   * import { oneshot } from "@avx/runtime";
   * const [tx, rx] = oneshot();
   * tx.close();
   * await rx.recv().catch((e) => console.log(e.code)); // DISCONNECTED
   * ```
   */
  close(): void {
    const r = lib().avx_oneshot_close(this.live);
    if (r !== 0) throw AvxError.fromStatus(r, "OneshotSender.close");
  }
}

/**
 * The receiving side of a {@link oneshot} channel; `await rx` is the same
 * as `await rx.recv()`.
 *
 * @example
 * ```ts
 * import { oneshot } from "@avx/runtime";
 * const [tx, rx] = oneshot<string>({ codec: "string" });
 * tx.send("x");
 * console.log(await rx);
 * ```
 */
export class OneshotReceiver<T = Uint8Array> extends Resource implements PromiseLike<T> {
  readonly #codec: Codec<T>;
  /** Decode straight from the receive buffer (no copy). */
  readonly #borrow: boolean;

  /** @internal Use {@link oneshot} or {@link OneshotReceiver.from}. */
  constructor(codec: Codec<T>) {
    super(factoryOnly("OneshotReceiver", "oneshot()"));
    this.#codec = codec;
    this.#borrow = decodesInPlace.has(codec as Codec<unknown>);
  }

  /** @internal */
  static fromOwned<T>(handle: Handle, codec: Codec<T>): OneshotReceiver<T> {
    return wrapOwned(() => new OneshotReceiver(codec), handle);
  }

  /**
   * Attach to a receiver created in another isolate.
   *
   * @example
   * ```ts
   * import { oneshot, OneshotReceiver } from "@avx/runtime";
   * const [, rx] = oneshot();
   * const same = OneshotReceiver.from(rx.handle);
   * ```
   */
  static from<T = Uint8Array>(handle: Handle, options?: AttachOptions<T>): OneshotReceiver<T> {
    checkHandle(handle, "OneshotReceiver.from");
    const codec = resolveCodec<T>(checkOptions<AttachOptions<T>>(options, "OneshotReceiver.from")?.codec);
    return adopt(() => new OneshotReceiver<T>(codec), handle, Kind.oneshotReceiver, "OneshotReceiver");
  }

  #finish(got: Uint8Array | number, what: string): T {
    if (typeof got !== "number") return this.#codec.decode(got);
    throw AvxError.fromStatus(got, what);
  }

  /**
   * The value, waiting without blocking the event loop. Rejects with
   * `DISCONNECTED` if the sender went away without sending, `CLOSED` if
   * the value was already taken.
   *
   * @example
   * ```ts
   * import { oneshot } from "@avx/runtime";
   * const [tx, rx] = oneshot();
   * tx.send(new Uint8Array([7]));
   * console.log(await rx.recv({ timeout: 100 }));
   * ```
   */
  async recv(options?: WaitOptions): Promise<T> {
    const o = checkWaitOptions(options, "OneshotReceiver.recv");
    const h = this.live;
    const l = lib();
    return await receive(
      (b, c) => l.avx_oneshot_try_recv(h, b, c),
      (q) => l.avx_oneshot_recv_async(h, q),
      "OneshotReceiver.recv",
      o,
      (got) => this.#finish(got, "OneshotReceiver.recv"),
      this.#borrow,
      this,
    );
  }

  /**
   * The value if it has been sent, else `null`.
   *
   * @example
   * ```ts
   * import { oneshot } from "@avx/runtime";
   * const [, rx] = oneshot();
   * console.log(rx.tryRecv()); // null
   * ```
   */
  tryRecv(): T | null {
    const h = this.live;
    const got = readMessage((b, c) => lib().avx_oneshot_try_recv(h, b, c), this.#borrow);
    if (got === Status.WOULD_BLOCK) return null;
    return this.#finish(got, "OneshotReceiver.tryRecv");
  }

  /**
   * The value, blocking the calling thread.
   *
   * @example
   * ```ts
   * import { oneshot } from "@avx/runtime";
   * const [tx, rx] = oneshot();
   * tx.send(new Uint8Array([1]));
   * rx.recvSync();
   * ```
   */
  recvSync(options?: { timeout?: number }): T {
    const t = syncOptions(options, "OneshotReceiver.recvSync");
    const h = this.live;
    return this.#finish(
      readMessage((b, c) => lib().avx_oneshot_recv(h, b, c, t), this.#borrow),
      "OneshotReceiver.recvSync",
    );
  }

  /**
   * Say the value is no longer wanted: the sender's `send` fails `CLOSED`.
   *
   * @example
   * ```ts
   * import { oneshot } from "@avx/runtime";
   * const [, rx] = oneshot();
   * rx.close();
   * ```
   */
  close(): void {
    const r = lib().avx_oneshot_close(this.live);
    if (r !== 0) throw AvxError.fromStatus(r, "OneshotReceiver.close");
  }

  /**
   * Await the receiver directly (same as {@link OneshotReceiver.recv}).
   *
   * @example
   * ```ts
   * import { oneshot } from "@avx/runtime";
   * const [tx, rx] = oneshot();
   * tx.send(new Uint8Array([1]));
   * rx.then((v) => console.log(v));
   * ```
   */
  then<R1 = T, R2 = never>(
    onfulfilled?: ((value: T) => R1 | PromiseLike<R1>) | null,
    onrejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null,
  ): Promise<R1 | R2> {
    return this.recv().then(onfulfilled, onrejected);
  }
}
