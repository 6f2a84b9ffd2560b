/**
 * Errors raised by avx. Every failure is an {@link AvxError} with a stable
 * {@link AvxErrorCode}; the numbers behind the codes are the native
 * library's (native/core/code.zig).
 *
 * @module
 */
import { OS_ERROR_NAMES, Status } from "./ffi/abi.gen.ts";

/** Stable error codes. */
export type AvxErrorCode =
  | "INVALID_HANDLE"
  | "WRONG_KIND"
  | "CLOSED"
  | "TIMEOUT"
  | "ABORTED"
  | "LAGGED"
  | "WOULD_BLOCK"
  | "OUT_OF_MEMORY"
  | "TOO_LARGE"
  | "INVALID_ARGUMENT"
  | "NOT_LOCKED"
  | "LIMIT"
  | "BUFFER_TOO_SMALL"
  | "DISCONNECTED"
  | "ALREADY_SENT"
  | "INVALID_STATE"
  | "TASK_FAILED"
  | "WORKER_LOST"
  | "LIBRARY_NOT_FOUND"
  | "ABI_MISMATCH"
  | "PERMISSION_DENIED"
  | OsErrorCode;

/**
 * Operating-system errors of sockets, by their POSIX names whatever the OS
 * (Windows' WSAE* codes are mapped onto them).
 */
export type OsErrorCode =
  | "EAGAIN"
  | "ECONNRESET"
  | "ECONNREFUSED"
  | "ECONNABORTED"
  | "EADDRINUSE"
  | "EADDRNOTAVAIL"
  | "EPIPE"
  | "ETIMEDOUT"
  | "ENETUNREACH"
  | "EHOSTUNREACH"
  | "ENETDOWN"
  | "ENOTCONN"
  | "EISCONN"
  | "EINPROGRESS"
  | "EALREADY"
  | "EMFILE"
  | "ENFILE"
  | "ENOBUFS"
  | "ENOMEM"
  | "EACCES"
  | "EPERM"
  | "EINVAL"
  | "EBADF"
  | "EMSGSIZE"
  | "EAFNOSUPPORT"
  | "EPROTONOSUPPORT"
  | "EOPNOTSUPP"
  | "ECANCELED"
  | "EINTR"
  | "EIO";

/** In native order: status -(100 + i + 1) is OS_ERRORS[i] (generated from native/os/socket.zig). */
const OS_ERRORS: readonly OsErrorCode[] = OS_ERROR_NAMES;

// Every native status name is an error code JavaScript knows (the build
// fails here when a code is added natively and not to AvxErrorCode).
type StatusName = Exclude<keyof typeof Status, "OK">;
const _everyStatusIsACode: StatusName extends AvxErrorCode ? true : never = true;

const byNumber: Record<number, AvxErrorCode> = Object.fromEntries(
  Object.entries(Status).filter(([, v]) => v < 0).map(([k, v]) => [v, k as AvxErrorCode]),
);

export { Status };

/**
 * The error every avx operation throws or rejects with.
 *
 * @example Telling a timeout from other failures
 * ```ts
 * import { AvxError, Mutex } from "@avx/runtime";
 *
 * using m = new Mutex();
 * using _held = m.lockSync();
 * try {
 *   await m.lock({ timeout: 10 });
 * } catch (e) {
 *   if (e instanceof AvxError && e.code === "TIMEOUT") console.log("busy");
 * }
 * ```
 */
export class AvxError extends Error {
  /** The stable code of this failure. */
  readonly code: AvxErrorCode;

  /**
   * Make an error with a code and a message.
   *
   * @example
   * ```ts
   * import { AvxError } from "@avx/runtime";
   * const e = new AvxError("CLOSED", "channel closed");
   * console.log(e.code);
   * ```
   */
  constructor(code: AvxErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "AvxError";
    this.code = code;
  }

  /**
   * The error for a negative native result code.
   *
   * @example
   * ```ts
   * import { AvxError } from "@avx/runtime";
   * console.log(AvxError.fromStatus(-4, "lock").code); // "TIMEOUT"
   * ```
   */
  static fromStatus(status: number, what: string): AvxError {
    const code = byNumber[status] ?? OS_ERRORS[-status - 101] ?? "INVALID_STATE";
    return new AvxError(code, `${what}: ${describe(code)}`);
  }
}

/**
 * A broadcast receiver fell behind: `missed` messages were overwritten
 * before it read them. The receiver continues from the oldest message
 * still retained.
 *
 * @example
 * ```ts
 * import { broadcast, LaggedError } from "@avx/runtime";
 *
 * using tx = broadcast<Uint8Array>({ capacity: 2 });
 * using rx = tx.subscribe();
 * for (let i = 0; i < 5; i++) tx.send(new Uint8Array([i]));
 * try {
 *   rx.tryRecv();
 * } catch (e) {
 *   if (e instanceof LaggedError) console.log(e.missed); // 3
 * }
 * ```
 */
export class LaggedError extends AvxError {
  /** How many messages this receiver missed. */
  readonly missed: number;

  /**
   * Make a lag error.
   *
   * @example
   * ```ts
   * import { LaggedError } from "@avx/runtime";
   * console.log(new LaggedError(3).missed);
   * ```
   */
  constructor(missed: number) {
    super("LAGGED", `receiver lagged behind and missed ${missed} message(s)`);
    this.name = "LaggedError";
    this.missed = missed;
  }
}

/**
 * A task threw. The error crossed from the worker isolate that ran the task:
 * its name, message and stack are kept (`errorName`, `message`, `stack`);
 * the original object, which lived in another isolate, is not.
 *
 * @example
 * ```ts
 * import { Runtime, TaskError } from "@avx/runtime";
 *
 * await using rt = await Runtime.create({ workerThreads: 1 });
 * try {
 *   await rt.spawn(new URL("./tasks.ts", import.meta.url).href, "fails");
 * } catch (e) {
 *   if (e instanceof TaskError) console.log(e.errorName, e.message);
 * }
 * ```
 */
export class TaskError extends AvxError {
  /** The `name` of the error the task threw ("TypeError", ...). */
  readonly errorName: string;

  /**
   * Make a task error from what the worker reported.
   *
   * @example
   * ```ts
   * import { TaskError } from "@avx/runtime";
   * console.log(new TaskError("RangeError", "too big", "RangeError: too big\n    at task").errorName);
   * ```
   */
  constructor(errorName: string, message: string, stack?: string) {
    super("TASK_FAILED", message);
    this.name = "TaskError";
    this.errorName = errorName;
    if (stack !== undefined) this.stack = stack;
  }
}

function describe(code: AvxErrorCode): string {
  switch (code) {
    case "INVALID_HANDLE":
      return "invalid or stale handle";
    case "WRONG_KIND":
      return "handle names an object of another kind";
    case "CLOSED":
      return "closed";
    case "TIMEOUT":
      return "timed out";
    case "WOULD_BLOCK":
      return "would block";
    case "OUT_OF_MEMORY":
      return "out of memory";
    case "TOO_LARGE":
      return "value too large (at most 1 GiB)";
    case "INVALID_ARGUMENT":
      return "invalid argument";
    case "NOT_LOCKED":
      return "not locked";
    case "LIMIT":
      return "a limit was reached (too many objects or pending operations, or a value out of range)";
    case "DISCONNECTED":
      return "the sender went away without sending";
    case "ALREADY_SENT":
      return "a value was already sent";
    case "WORKER_LOST":
      return "the worker isolate running the task died";
    case "ECONNRESET":
      return "connection reset by peer (ECONNRESET)";
    case "ECONNREFUSED":
      return "connection refused (ECONNREFUSED)";
    case "EADDRINUSE":
      return "address already in use (EADDRINUSE)";
    case "EADDRNOTAVAIL":
      return "address not available (EADDRNOTAVAIL)";
    case "EPIPE":
      return "broken pipe (EPIPE)";
    case "ETIMEDOUT":
      return "connection timed out (ETIMEDOUT)";
    case "EMFILE":
      return "too many open files (EMFILE)";
    case "EACCES":
      return "permission denied by the OS (EACCES)";
    default:
      if ((OS_ERRORS as readonly string[]).includes(code)) return `OS error ${code}`;
      return code.toLowerCase().replaceAll("_", " ");
  }
}

/**
 * A short, safe description of any value for an error message: never
 * throws (Symbols, objects without a prototype or with a throwing
 * `toString`, huge strings). @internal
 */
export function describeValue(v: unknown): string {
  switch (typeof v) {
    case "string":
      return v.length > 40 ? `a string of ${v.length} characters` : JSON.stringify(v);
    case "number":
      return Object.is(v, -0) ? "-0" : String(v);
    case "bigint":
      return `${v}n`;
    case "boolean":
    case "undefined":
      return String(v);
    case "symbol":
      return "a Symbol";
    case "function":
      return "a function";
    default: {
      if (v === null) return "null";
      if (Array.isArray(v)) return "an array";
      let name: unknown;
      try {
        name = Object.getPrototypeOf(v)?.constructor?.name;
      } catch {
        name = undefined;
      }
      return typeof name === "string" && name !== "" && name !== "Object" ? `an object (${name})` : "an object";
    }
  }
}

/** `INVALID_ARGUMENT` naming the argument and what it must be. @internal */
export function invalidArgument(what: string, name: string, expected: string, got: unknown): AvxError {
  return new AvxError("INVALID_ARGUMENT", `${what}: ${name} must be ${expected}, got ${describeValue(got)}`);
}

/**
 * Check a count (permits, capacity, batch size): an integer in
 * `min..max`. `-0` is refused: it is not a count anyone means, and native
 * code would take it for an unsigned zero. @internal
 */
export function checkInteger(value: unknown, what: string, name: string, min: number, max: number): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max || Object.is(value, -0)) {
    throw invalidArgument(what, name, `an integer in ${min}..${max}`, value);
  }
  return value;
}

/**
 * Check an options bag: `undefined`, or an object (not null, not an
 * array). Returns it for reading. @internal
 */
export function checkOptions<T extends object>(options: unknown, what: string, name = "options"): T | undefined {
  if (options === undefined) return undefined;
  if (options === null || typeof options !== "object" || Array.isArray(options)) {
    throw invalidArgument(what, name, "an object or undefined", options);
  }
  return options as T;
}

/**
 * Check a byte buffer argument: a `Uint8Array` whose buffer is not
 * detached (a detached one reads as empty and would be sent as nothing).
 * A `TypeError`, as Web APIs throw for such buffers. @internal
 */
export function checkBytes(value: unknown, what: string, name: string): Uint8Array {
  if (!(value instanceof Uint8Array)) {
    throw new TypeError(`${what}: ${name} must be a Uint8Array, got ${describeValue(value)}`);
  }
  if ((value.buffer as ArrayBuffer).detached === true) {
    throw new TypeError(`${what}: ${name} is a view of a detached ArrayBuffer`);
  }
  return value;
}

/**
 * Check a handle passed to a `from`: a positive safe integer. The native
 * lookup then tells stale, forged and wrong-kind handles apart. @internal
 */
export function checkHandle(handle: unknown, what: string): number {
  if (typeof handle !== "number" || !Number.isSafeInteger(handle) || handle <= 0) {
    throw new AvxError(
      "INVALID_HANDLE",
      `${what}: handle must be a handle (a positive integer), got ${describeValue(handle)}`,
    );
  }
  return handle;
}
