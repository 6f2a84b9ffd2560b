/**
 * A boolean shared by every isolate.
 *
 * @module
 */
import { lib } from "../ffi/library.ts";
import { Kind } from "../ffi/symbols.ts";
import { AvxError, checkHandle } from "../errors.ts";
import { adopt, created, type Handle, Resource } from "../resource.ts";

/**
 * An atomic flag with test-and-set.
 *
 * @example Run something once across isolates
 * ```ts
 * import { AtomicFlag } from "@avx/runtime";
 *
 * const done = new AtomicFlag();
 * if (!done.testAndSet()) console.log("first!");
 * ```
 */
export class AtomicFlag extends Resource {
  /**
   * Create a flag, clear unless `initial` is true.
   *
   * @example
   * ```ts
   * import { AtomicFlag } from "@avx/runtime";
   * const f = new AtomicFlag(true);
   * ```
   */
  constructor(initial = false) {
    super(() => created(lib().avx_flag_new(initial ? 1 : 0), "new AtomicFlag"));
  }

  /**
   * Attach to a flag created in another isolate.
   *
   * @example
   * ```ts
   * import { AtomicFlag } from "@avx/runtime";
   * const f = AtomicFlag.from(new AtomicFlag().handle);
   * ```
   */
  static from(handle: Handle): AtomicFlag {
    checkHandle(handle, "AtomicFlag.from");
    return adopt(() => new AtomicFlag(), handle, Kind.flag, "AtomicFlag");
  }

  #bool(r: number, what: string): boolean {
    if (r < 0) throw AvxError.fromStatus(r, what);
    return r === 1;
  }

  /**
   * Whether the flag is set.
   *
   * @example
   * ```ts
   * import { AtomicFlag } from "@avx/runtime";
   * console.log(new AtomicFlag().load()); // false
   * ```
   */
  load(): boolean {
    return this.#bool(lib().avx_flag_load(this.live), "AtomicFlag.load");
  }

  /**
   * Set the flag; returns whether it was set before.
   *
   * @example
   * ```ts
   * import { AtomicFlag } from "@avx/runtime";
   * console.log(new AtomicFlag().set()); // false
   * ```
   */
  set(): boolean {
    return this.#bool(lib().avx_flag_set(this.live), "AtomicFlag.set");
  }

  /**
   * Same as {@link AtomicFlag.set}: set, returning the previous value.
   *
   * @example
   * ```ts
   * import { AtomicFlag } from "@avx/runtime";
   * const f = new AtomicFlag();
   * f.testAndSet(); // false
   * f.testAndSet(); // true
   * ```
   */
  testAndSet(): boolean {
    return this.set();
  }

  /**
   * Clear the flag; returns whether it was set before.
   *
   * @example
   * ```ts
   * import { AtomicFlag } from "@avx/runtime";
   * console.log(new AtomicFlag(true).clear()); // true
   * ```
   */
  clear(): boolean {
    return this.#bool(lib().avx_flag_clear(this.live), "AtomicFlag.clear");
  }
}
