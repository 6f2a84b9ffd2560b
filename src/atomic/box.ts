/**
 * A value shared by every isolate, replaced atomically.
 *
 * @module
 */
import { lib } from "../ffi/library.ts";
import { Kind } from "../ffi/symbols.ts";
import { AvxError, checkHandle, checkOptions, describeValue } from "../errors.ts";
import { adopt, created, type Handle, Resource } from "../resource.ts";
import { type Codec, type CodecName, decodesInPlace, encodeWith, resolveCodec } from "../codec.ts";
import { readMessage } from "../ffi/scratch.ts";

/** Options of {@link AtomicBox}. */
export interface AtomicBoxOptions<T> {
  /** How values become bytes; default `"bytes"` (`Uint8Array`). */
  codec?: Codec<T> | CodecName;
}

/** A value read from an {@link AtomicBox} and the version it had. */
export interface Versioned<T> {
  /** The value. */
  value: T;
  /** Its version: every change bumps it by one. */
  version: number;
}

/**
 * A box holding one value (as bytes) that any isolate can load, store,
 * swap, or compare-and-swap by version. Every change bumps the version, so
 * `compareAndSwap(version, next)` succeeds only if nobody changed the box
 * since `version` was read.
 *
 * @example Optimistic update
 * ```ts
 * import { AtomicBox } from "@avx/runtime";
 *
 * const box = new AtomicBox({ hits: 0 }, { codec: "json" });
 * for (;;) {
 *   const { value, version } = box.loadVersioned();
 *   if (box.compareAndSwap(version, { hits: value.hits + 1 })) break;
 * }
 * ```
 */
export class AtomicBox<T = Uint8Array> extends Resource {
  #codec: Codec<T>;

  /**
   * Create a box holding `initial`.
   *
   * @example
   * ```ts
   * import { AtomicBox } from "@avx/runtime";
   * const box = new AtomicBox("hello", { codec: "string" });
   * ```
   */
  constructor(initial: T, options?: AtomicBoxOptions<T>) {
    const codec = resolveCodec(checkOptions<AtomicBoxOptions<T>>(options, "new AtomicBox")?.codec);
    const bytes = encodeWith(codec, initial);
    super(() => created(lib().avx_box_new(bytes, bytes.length), "new AtomicBox"));
    this.#codec = codec;
  }

  /**
   * Attach to a box created in another isolate (pass the same codec).
   *
   * @example
   * ```ts
   * import { AtomicBox } from "@avx/runtime";
   * const a = new AtomicBox("x", { codec: "string" });
   * const b = AtomicBox.from<string>(a.handle, { codec: "string" });
   * ```
   */
  static from<T = Uint8Array>(handle: Handle, options?: AtomicBoxOptions<T>): AtomicBox<T> {
    checkHandle(handle, "AtomicBox.from");
    const codec = resolveCodec<T>(checkOptions<AtomicBoxOptions<T>>(options, "AtomicBox.from")?.codec);
    // Adopting skips creation; the constructor's initial value is unused.
    const box = adopt(
      () => new AtomicBox<T>(new Uint8Array(0) as T, { codec: "bytes" as CodecName }),
      handle,
      Kind.box,
      "AtomicBox",
    );
    box.#codec = codec;
    return box;
  }

  /** Run a native read through the shared receive buffer and decode it. */
  #read(op: (buf: Uint8Array, cap: number) => number, what: string): T {
    const got = readMessage(op, decodesInPlace.has(this.#codec as Codec<unknown>));
    if (typeof got === "number") throw AvxError.fromStatus(got, what);
    return this.#codec.decode(got);
  }

  /**
   * The current value.
   *
   * @example
   * ```ts
   * import { AtomicBox } from "@avx/runtime";
   * console.log(new AtomicBox(1, { codec: "json" }).load()); // 1
   * ```
   */
  load(): T {
    return this.loadVersioned().value;
  }

  /**
   * The current value and its version, read together.
   *
   * @example
   * ```ts
   * import { AtomicBox } from "@avx/runtime";
   * const { value, version } = new AtomicBox("a", { codec: "string" }).loadVersioned();
   * ```
   */
  loadVersioned(): Versioned<T> {
    const h = this.live;
    let version = 0;
    const value = this.#read((b, c) => {
      const n = lib().avx_box_load(h, b, c);
      // The version belongs to this very read; decoding may call native code.
      if (n >= 0) version = lib().avx_last_value();
      return n;
    }, "AtomicBox.load");
    return { value, version };
  }

  /**
   * The current version.
   *
   * @example
   * ```ts
   * import { AtomicBox } from "@avx/runtime";
   * console.log(new AtomicBox("a", { codec: "string" }).version); // 1
   * ```
   */
  get version(): number {
    const v = lib().avx_box_version(this.live);
    if (Number.isNaN(v)) throw AvxError.fromStatus(lib().avx_last_error(), "AtomicBox.version");
    return v;
  }

  /**
   * Replace the value; returns the new version.
   *
   * @example
   * ```ts
   * import { AtomicBox } from "@avx/runtime";
   * const box = new AtomicBox("a", { codec: "string" });
   * box.store("b");
   * ```
   */
  store(value: T): number {
    const bytes = encodeWith(this.#codec, value);
    const v = lib().avx_box_store(this.live, bytes, bytes.length);
    if (Number.isNaN(v)) throw AvxError.fromStatus(lib().avx_last_error(), "AtomicBox.store");
    return v;
  }

  /**
   * Replace the value; returns the one it replaced.
   *
   * @example
   * ```ts
   * import { AtomicBox } from "@avx/runtime";
   * const box = new AtomicBox("a", { codec: "string" });
   * console.log(box.swap("b")); // "a"
   * ```
   */
  swap(value: T): T {
    const bytes = encodeWith(this.#codec, value);
    const h = this.live;
    return this.#read((b, c) => lib().avx_box_swap(h, bytes, bytes.length, b, c), "AtomicBox.swap");
  }

  /**
   * Store `value` only if the box is still at `version`; returns whether
   * it did.
   *
   * @example
   * ```ts
   * import { AtomicBox } from "@avx/runtime";
   * const box = new AtomicBox("a", { codec: "string" });
   * box.compareAndSwap(box.version, "b"); // true
   * ```
   */
  compareAndSwap(version: number, value: T): boolean {
    if (!Number.isSafeInteger(version) || version < 0) {
      throw new AvxError(
        "INVALID_ARGUMENT",
        `AtomicBox.compareAndSwap: version must be a version number (a safe integer >= 0), got ${
          describeValue(version)
        }`,
      );
    }
    const bytes = encodeWith(this.#codec, value);
    const r = lib().avx_box_cas(this.live, version, bytes, bytes.length);
    if (r < 0) throw AvxError.fromStatus(r, "AtomicBox.compareAndSwap");
    return r === 1;
  }
}
