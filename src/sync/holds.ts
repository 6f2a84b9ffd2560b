/**
 * What keeps a lock's native object alive for the guards (or permits) of a
 * wrapper that was disposed while they were held.
 *
 * @module
 */
import { lib } from "../ffi/library.ts";
import { AvxError } from "../errors.ts";

/**
 * Counts the guards a wrapper has handed out that still hold the lock.
 *
 * Design: a guard must stay releasable after its wrapper is disposed,
 * because the lock it holds is shared by every isolate. Two ways were
 * possible: every guard retains a native reference of its own (two more
 * FFI calls on every lock/unlock, the hottest path of the locks), or the
 * wrapper defers giving its object up until its guards are gone. The
 * second costs nothing while the wrapper lives: a guard only bumps this
 * counter. Only when the wrapper is disposed with guards still held
 * (`keep`, from `beforeDispose`, while its own reference is still valid)
 * does it take one extra native reference for all of them, given back by
 * the last guard to be released (`given`). New operations on the disposed
 * wrapper still fail with `CLOSED`; releasing its guards uses the raw
 * handle, which that reference keeps valid. @internal
 */
export class Holds {
  /** Guards handed out and not yet released. */
  #held = 0;
  /** Whether an extra native reference is kept for them. */
  #kept = false;

  /** The wrapper was disposed with nothing kept, and its object is gone. */
  #gone = false;

  /**
   * A guard was handed out. A grant can complete after the wrapper was
   * disposed (the grant was posted, the code making the guard runs a
   * microtask later): then the guard takes the extra reference itself if
   * the object still lives (other isolates hold it), so its release is not
   * lost for them; if the object is gone, so is the lock, and releasing the
   * guard does nothing.
   */
  taken(handle: number, kind: number, disposed: boolean): void {
    this.#held++;
    if (!disposed || this.#kept) return;
    if (lib().avx_handle_retain(handle, kind) === 0) this.#kept = true;
    else this.#gone = true;
  }

  /** Whether the object is gone: a release must not call native code. */
  get gone(): boolean {
    return this.#gone;
  }

  /**
   * The wrapper is being disposed (its reference is still valid): if
   * guards are held, keep the object alive for them.
   */
  keep(handle: number, kind: number): void {
    if (this.#held === 0 || this.#kept) return;
    const r = lib().avx_handle_retain(handle, kind);
    // Cannot fail: the wrapper's own reference is still held.
    if (r !== 0) throw AvxError.fromStatus(r, "keeping a lock alive for its guards");
    this.#kept = true;
  }

  /** A guard was released; the last one gives the kept reference back. */
  given(handle: number): void {
    if (this.#held <= 0) throw new AvxError("INVALID_STATE", "a guard was released twice");
    this.#held--;
    if (this.#held === 0) this.#gone = false;
    if (this.#held === 0 && this.#kept) {
      this.#kept = false;
      lib().avx_handle_release(handle);
    }
  }
}
