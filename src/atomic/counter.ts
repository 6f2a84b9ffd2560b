/**
 * A 64-bit counter shared by every isolate.
 *
 * @module
 */
import { lib } from "../ffi/library.ts";
import { Kind } from "../ffi/symbols.ts";
import { AvxError, checkHandle, describeValue, Status } from "../errors.ts";
import { adopt, created, type Handle, Resource } from "../resource.ts";

function checkInt(n: number, what: string): number {
  if (!Number.isSafeInteger(n)) {
    throw new AvxError("INVALID_ARGUMENT", `${what}: expected a safe integer, got ${describeValue(n)}`);
  }
  return n;
}

/**
 * An atomic integer counter. Values are exact within
 * ±`Number.MAX_SAFE_INTEGER`; an operation that would leave that range
 * throws `LIMIT` and changes nothing (a bad argument is `INVALID_ARGUMENT`).
 *
 * @example
 * ```ts
 * import { AtomicCounter } from "@avx/runtime";
 *
 * const hits = new AtomicCounter();
 * hits.add(1);
 * console.log(hits.load()); // 1
 * ```
 */
export class AtomicCounter extends Resource {
  /**
   * Create a counter starting at `initial` (default 0).
   *
   * @example
   * ```ts
   * import { AtomicCounter } from "@avx/runtime";
   * const c = new AtomicCounter(10);
   * ```
   */
  constructor(initial = 0) {
    checkInt(initial, "new AtomicCounter");
    super(() => created(lib().avx_counter_new(initial), "new AtomicCounter"));
  }

  /**
   * Attach to a counter created in another isolate.
   *
   * @example
   * ```ts
   * import { AtomicCounter } from "@avx/runtime";
   * const c = AtomicCounter.from(new AtomicCounter().handle);
   * ```
   */
  static from(handle: Handle): AtomicCounter {
    checkHandle(handle, "AtomicCounter.from");
    return adopt(() => new AtomicCounter(), handle, Kind.counter, "AtomicCounter");
  }

  #value(v: number, what: string): number {
    if (Number.isNaN(v)) {
      const status = lib().avx_last_error();
      // Arguments are checked first: native `invalid_argument` means the
      // result would leave the safe-integer range, a limit of the counter.
      if (status === Status.INVALID_ARGUMENT) {
        throw new AvxError("LIMIT", `${what}: the result would leave the safe-integer range (±(2^53 - 1))`);
      }
      throw AvxError.fromStatus(status, what);
    }
    return v;
  }

  /**
   * The current value.
   *
   * @example
   * ```ts
   * import { AtomicCounter } from "@avx/runtime";
   * console.log(new AtomicCounter(3).load()); // 3
   * ```
   */
  load(): number {
    return this.#value(lib().avx_counter_load(this.live), "AtomicCounter.load");
  }

  /**
   * Set the value.
   *
   * @example
   * ```ts
   * import { AtomicCounter } from "@avx/runtime";
   * new AtomicCounter().store(5);
   * ```
   */
  store(value: number): void {
    checkInt(value, "AtomicCounter.store");
    const r = lib().avx_counter_store(this.live, value);
    if (r !== 0) throw AvxError.fromStatus(r, "AtomicCounter.store");
  }

  /**
   * Add `delta` (default 1); returns the new value.
   *
   * @example
   * ```ts
   * import { AtomicCounter } from "@avx/runtime";
   * console.log(new AtomicCounter(1).add(2)); // 3
   * ```
   */
  add(delta = 1): number {
    checkInt(delta, "AtomicCounter.add");
    return this.#value(lib().avx_counter_add(this.live, delta), "AtomicCounter.add");
  }

  /**
   * Subtract `delta` (default 1); returns the new value.
   *
   * @example
   * ```ts
   * import { AtomicCounter } from "@avx/runtime";
   * console.log(new AtomicCounter(3).sub()); // 2
   * ```
   */
  sub(delta = 1): number {
    checkInt(delta, "AtomicCounter.sub");
    return this.#value(lib().avx_counter_add(this.live, -delta), "AtomicCounter.sub");
  }

  /**
   * Set to `desired` if the value is `expected`; returns the value before
   * (equal to `expected` exactly when it swapped).
   *
   * @example
   * ```ts
   * import { AtomicCounter } from "@avx/runtime";
   * const c = new AtomicCounter(1);
   * console.log(c.compareExchange(1, 9) === 1); // true: swapped
   * ```
   */
  compareExchange(expected: number, desired: number): number {
    checkInt(expected, "AtomicCounter.compareExchange");
    checkInt(desired, "AtomicCounter.compareExchange");
    return this.#value(lib().avx_counter_cas(this.live, expected, desired), "AtomicCounter.compareExchange");
  }
}
