/**
 * Codecs turn values into the bytes channels and boxes carry.
 *
 * @module
 */
import { describeValue } from "./errors.ts";
import { deserialize, serialize } from "node:v8";

/**
 * Encodes values of `T` to bytes and back.
 *
 * @example A custom codec
 * ```ts
 * import { type Codec, mpsc } from "@avx/runtime";
 *
 * const u32: Codec<number> = {
 *   encode: (n) => new Uint8Array(new Uint32Array([n]).buffer),
 *   decode: (b) => new Uint32Array(b.buffer, b.byteOffset, 1)[0],
 * };
 * const [tx, rx] = mpsc<number>({ codec: u32 });
 * tx.trySend(7);
 * console.log(rx.tryRecv()); // 7
 * ```
 */
export interface Codec<T> {
  /** Bytes for `value`; throws a `TypeError` for values it cannot encode. */
  encode(value: T): Uint8Array;
  /** The value back from bytes made by `encode`. */
  decode(bytes: Uint8Array): T;
}

/** Names of the built-in codecs. */
export type CodecName = "bytes" | "string" | "json" | "structured";

/**
 * Bytes as they are (the default): `Uint8Array` in, a copy out.
 *
 * @example
 * ```ts
 * import { bytesCodec } from "@avx/runtime";
 * console.log(bytesCodec.decode(bytesCodec.encode(new Uint8Array([1]))));
 * ```
 */
export const bytesCodec: Codec<Uint8Array> = {
  encode(value) {
    if (!(value instanceof Uint8Array)) {
      throw new TypeError(`bytes codec: expected a Uint8Array, got ${typeName(value)}`);
    }
    // A detached buffer reads as empty: sending it would send nothing.
    if ((value.buffer as ArrayBuffer).detached === true) {
      throw new TypeError("bytes codec: the Uint8Array's buffer is detached");
    }
    return value;
  },
  decode: (bytes) => bytes,
};

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Strings as UTF-8.
 *
 * @example
 * ```ts
 * import { stringCodec } from "@avx/runtime";
 * console.log(stringCodec.decode(stringCodec.encode("hé")));
 * ```
 */
export const stringCodec: Codec<string> = {
  encode(value) {
    if (typeof value !== "string") {
      throw new TypeError(`string codec: expected a string, got ${typeName(value)}`);
    }
    return encoder.encode(value);
  },
  decode: (bytes) => decoder.decode(bytes),
};

/**
 * JSON values (`JSON.stringify` / `JSON.parse`).
 *
 * @example
 * ```ts
 * import { jsonCodec } from "@avx/runtime";
 * console.log(jsonCodec.decode(jsonCodec.encode({ a: 1 })));
 * ```
 */
export const jsonCodec: Codec<unknown> = {
  encode(value) {
    let text: string | undefined;
    try {
      text = JSON.stringify(value);
    } catch (e) {
      throw new TypeError(`json codec: cannot encode value: ${(e as Error).message}`);
    }
    if (text === undefined) throw new TypeError(`json codec: cannot encode ${typeName(value)}`);
    return encoder.encode(text);
  },
  decode: (bytes) => JSON.parse(decoder.decode(bytes)),
};

/**
 * Structured-cloneable values (Map, Date, BigInt, typed arrays, cycles...),
 * in V8's serialization format: what `postMessage` accepts, minus
 * transferables.
 *
 * @example
 * ```ts
 * import { structuredCodec } from "@avx/runtime";
 * console.log(structuredCodec.decode(structuredCodec.encode(new Map([[1, 2]]))));
 * ```
 */
export const structuredCodec: Codec<unknown> = {
  encode(value) {
    try {
      const b = serialize(value);
      return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    } catch (e) {
      throw new TypeError(`structured codec: cannot encode value: ${(e as Error).message}`);
    }
  },
  decode: (bytes) => deserialize(bytes),
};

/**
 * Codecs whose `decode` copies what it needs and keeps no reference to its
 * input, so channels may decode straight from their receive buffer.
 * @internal
 */
// Not the structured codec: V8's deserializer may return typed arrays that
// are views of its input.
export const decodesInPlace: ReadonlySet<Codec<unknown>> = new Set<Codec<unknown>>([
  stringCodec as Codec<unknown>,
  jsonCodec,
]);

/** A codec given by name or object. @internal */
export function resolveCodec<T>(codec: Codec<T> | CodecName | undefined): Codec<T> {
  switch (codec) {
    case undefined:
    case "bytes":
      return bytesCodec as unknown as Codec<T>;
    case "string":
      return stringCodec as unknown as Codec<T>;
    case "json":
      return jsonCodec as Codec<T>;
    case "structured":
      return structuredCodec as Codec<T>;
    default:
      if (
        codec === null || typeof codec !== "object" || typeof codec.encode !== "function" ||
        typeof codec.decode !== "function"
      ) {
        throw new TypeError("codec must have encode and decode functions");
      }
      return codec;
  }
}

/** Encode, making sure the result is a Uint8Array. @internal */
export function encodeWith<T>(codec: Codec<T>, value: T): Uint8Array {
  const bytes = codec.encode(value);
  if (!(bytes instanceof Uint8Array)) {
    throw new TypeError(`codec.encode must return a Uint8Array, got ${typeName(bytes)}`);
  }
  if ((bytes.buffer as ArrayBuffer).detached === true) {
    throw new TypeError("codec.encode returned a Uint8Array whose buffer is detached");
  }
  return bytes;
}

function typeName(v: unknown): string {
  return describeValue(v);
}
