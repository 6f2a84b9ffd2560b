/**
 * Access to the npm package `multithreading` for the comparisons. Its
 * handles are not postable; its own (unexported) serialisation symbols
 * turn them into arrays of SharedArrayBuffers that are, which lets the
 * comparison use plain Deno Workers on both sides.
 *
 * @module
 */
import { channel, Mutex, Receiver, Sender } from "multithreading";

export { channel, Mutex, Receiver, Sender };

function symbolOf(target: object, description: string): symbol {
  const s = Object.getOwnPropertySymbols(target).find((x) => x.description === description);
  if (s === undefined) throw new Error(`multithreading: no ${description} symbol (did its internals change?)`);
  return s;
}

const serialize = symbolOf(Mutex.prototype, "Thread.Serialize");
const deserialize = symbolOf(Mutex, "Thread.Deserialize");

/** A postable form of a multithreading handle (the local handle is moved). */
export function toWire(handle: object): unknown {
  return (handle as Record<symbol, () => unknown[]>)[serialize]()[0];
}

/** Rebuild a handle of class `cls` from `toWire`'s output. */
export function fromWire<T>(cls: object, wire: unknown): T {
  return (cls as Record<symbol, (w: unknown) => T>)[deserialize](wire);
}
