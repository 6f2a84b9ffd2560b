/**
 * How task arguments, results and errors cross isolates.
 *
 * - No arguments and an `undefined` result are zero bytes.
 * - Lists of primitives (numbers, strings, booleans, null, undefined), the
 *   common case, use a compact format written straight into a reused
 *   buffer: `node:v8`'s serializer costs several microseconds per call in
 *   Deno, far more than the task itself.
 * - Anything else uses V8's structured serialization (what `postMessage`
 *   copies). Its output starts with the version tag 0xFF, which is how the
 *   two formats are told apart.
 *
 * @module
 */
import { deserialize, serialize } from "node:v8";
import { AvxError, type AvxErrorCode, TaskError } from "../errors.ts";

const EMPTY = new Uint8Array(0);

// The compact format: [COMPACT, count, (tag, payload)...]. Numbers are
// f64 little-endian; strings a u32 little-endian byte length and UTF-8.
const COMPACT = 1;
const MAX_COMPACT_VALUES = 255;
const T_UNDEFINED = 0;
const T_NULL = 1;
const T_FALSE = 2;
const T_TRUE = 3;
const T_NUMBER = 4;
const T_STRING = 5;

const encoder = new TextEncoder();
const decoder = new TextDecoder();
let scratch = new Uint8Array(1024);
let view = new DataView(scratch.buffer);

/** Bytes the compact format needs at most for `values`, or -1 if it cannot carry them. */
function compactSize(values: readonly unknown[]): number {
  if (values.length > MAX_COMPACT_VALUES) return -1;
  let size = 2;
  for (const v of values) {
    switch (typeof v) {
      case "number":
        size += 9;
        break;
      case "string":
        size += 5 + 3 * v.length;
        break;
      case "boolean":
      case "undefined":
        size += 1;
        break;
      default:
        if (v !== null) return -1;
        size += 1;
    }
  }
  return size;
}

/**
 * `values` in the compact format, or undefined when one is not a primitive.
 * The bytes are a view of a reused buffer: valid until the next call (the
 * native side copies them at once).
 */
function encodeCompact(values: readonly unknown[]): Uint8Array | undefined {
  const size = compactSize(values);
  if (size < 0) return undefined;
  if (size > scratch.length) {
    scratch = new Uint8Array(Math.max(size, scratch.length * 2));
    view = new DataView(scratch.buffer);
  }
  scratch[0] = COMPACT;
  scratch[1] = values.length;
  let at = 2;
  for (const v of values) {
    if (typeof v === "number") {
      scratch[at] = T_NUMBER;
      view.setFloat64(at + 1, v, true);
      at += 9;
    } else if (typeof v === "string") {
      scratch[at] = T_STRING;
      const { written } = encoder.encodeInto(v, scratch.subarray(at + 5));
      view.setUint32(at + 1, written, true);
      at += 5 + written;
    } else {
      scratch[at++] = v === undefined ? T_UNDEFINED : v === null ? T_NULL : v ? T_TRUE : T_FALSE;
    }
  }
  return scratch.subarray(0, at);
}

function decodeCompact(bytes: Uint8Array): unknown[] {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const count = bytes[1];
  const out = new Array<unknown>(count);
  let at = 2;
  for (let i = 0; i < count; i++) {
    const tag = bytes[at++];
    switch (tag) {
      case T_NUMBER:
        out[i] = dv.getFloat64(at, true);
        at += 8;
        break;
      case T_STRING: {
        const len = dv.getUint32(at, true);
        out[i] = decoder.decode(bytes.subarray(at + 4, at + 4 + len));
        at += 4 + len;
        break;
      }
      case T_UNDEFINED:
        out[i] = undefined;
        break;
      case T_NULL:
        out[i] = null;
        break;
      case T_FALSE:
      case T_TRUE:
        out[i] = tag === T_TRUE;
        break;
      default:
        throw new AvxError("INVALID_STATE", `task payload: unknown value tag ${tag}`);
    }
  }
  return out;
}

function bytesOf(b: Uint8Array): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

/**
 * Encode a task's arguments; a clear error for values that cannot cross.
 * The bytes may be a view of a reused buffer: pass them on at once.
 * @internal
 */
export function encodeArgs(args: readonly unknown[], what: string): Uint8Array {
  if (args.length === 0) return EMPTY;
  const compact = encodeCompact(args);
  if (compact !== undefined) return compact;
  try {
    return bytesOf(serialize(args));
  } catch (e) {
    throw new AvxError("INVALID_ARGUMENT", `${what}: arguments cannot be sent to a worker: ${(e as Error).message}`);
  }
}

/** The arguments back; `bytes` must not be reused while they are alive. @internal */
export function decodeArgs(bytes: Uint8Array): unknown[] {
  if (bytes.length === 0) return [];
  if (bytes[0] === COMPACT) return decodeCompact(bytes);
  return deserialize(bytes) as unknown[];
}

/**
 * Encode a task's return value (throws if it cannot cross). The bytes may
 * be a view of a reused buffer: pass them on at once.
 * @internal
 */
export function encodeResult(value: unknown): Uint8Array {
  if (value === undefined) return EMPTY;
  return encodeCompact([value]) ?? bytesOf(serialize(value));
}

/** The return value back. @internal */
export function decodeResult(bytes: Uint8Array): unknown {
  if (bytes.length === 0) return undefined;
  if (bytes[0] === COMPACT) return decodeCompact(bytes)[0];
  return deserialize(bytes);
}

interface ErrorRecord {
  name: string;
  message: string;
  stack?: string;
  code?: string;
}

/** Encode what a task threw: its name, message, stack (and code, for AvxErrors). @internal */
export function encodeError(error: unknown): Uint8Array {
  let record: ErrorRecord;
  if (error instanceof Error) {
    record = { name: error.name, message: error.message, stack: error.stack };
    if (error instanceof AvxError) record.code = error.code;
  } else {
    record = { name: "Error", message: `task threw a non-Error value: ${describeThrown(error)}` };
  }
  return bytesOf(serialize(record));
}

/** The error a JoinHandle rejects with. @internal */
export function decodeError(bytes: Uint8Array): Error {
  let record: ErrorRecord;
  try {
    record = deserialize(bytes) as ErrorRecord;
  } catch {
    return new TaskError("Error", "task failed (its error could not be decoded)");
  }
  // A task that failed with an AvxError of its own (an unknown module, a
  // closed channel) rejects with that code, so callers can tell.
  if (record.name === "AvxError" && record.code !== undefined) {
    const e = new AvxError(record.code as AvxErrorCode, record.message);
    if (record.stack !== undefined) e.stack = record.stack;
    return e;
  }
  return new TaskError(record.name, record.message, record.stack);
}

function describeThrown(value: unknown): string {
  try {
    return typeof value === "string" ? JSON.stringify(value) : String(value);
  } catch {
    return typeof value;
  }
}
