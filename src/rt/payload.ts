/**
 * How task arguments, results and errors cross isolates: V8's structured
 * serialization (what `postMessage` copies), with the common empty cases
 * (no arguments, an `undefined` result) sent as zero bytes.
 *
 * @module
 */
import { deserialize, serialize } from "node:v8";
import { AvxError, type AvxErrorCode, TaskError } from "../errors.ts";

const EMPTY = new Uint8Array(0);

function bytesOf(b: Uint8Array): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

/** Encode a task's arguments; a clear error for values that cannot cross. @internal */
export function encodeArgs(args: readonly unknown[], what: string): Uint8Array {
  if (args.length === 0) return EMPTY;
  try {
    return bytesOf(serialize(args));
  } catch (e) {
    throw new AvxError("INVALID_ARGUMENT", `${what}: arguments cannot be sent to a worker: ${(e as Error).message}`);
  }
}

/** The arguments back; `bytes` must not be reused while they are alive. @internal */
export function decodeArgs(bytes: Uint8Array): unknown[] {
  if (bytes.length === 0) return [];
  return deserialize(bytes) as unknown[];
}

/** Encode a task's return value (throws if it cannot cross). @internal */
export function encodeResult(value: unknown): Uint8Array {
  if (value === undefined) return EMPTY;
  return bytesOf(serialize(value));
}

/** The return value back. @internal */
export function decodeResult(bytes: Uint8Array): unknown {
  if (bytes.length === 0) return undefined;
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
