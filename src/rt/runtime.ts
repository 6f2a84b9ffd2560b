/**
 * The runtime: a native work-stealing scheduler over a pool of worker
 * isolates. `spawn` a function exported by a module; it runs on whichever
 * worker gets to it first, and its JoinHandle gives the result back.
 *
 * @module
 */
import { lib } from "../ffi/library.ts";
import { completionQueue } from "../ffi/queue.ts";
import { AvxError, Status } from "../errors.ts";
import { RtFlags } from "../ffi/abi.gen.ts";
import { encodeArgs } from "./payload.ts";
import { functionId } from "./functions.ts";
import { type JoinHandle, joinHandle } from "./join.ts";
import { readMetrics, type RuntimeMetrics } from "./metrics.ts";
import type { WorkerReport, WorkerStart } from "./messages.ts";

/** How a runtime schedules. Every field is optional. */
export interface RuntimeConfig {
  /** Worker isolates (1 to 64). Default: the number of cores. */
  workerThreads?: number;
  /** Idle workers steal half of a busy worker's queue. Default true. */
  workStealing?: boolean;
  /**
   * Tasks a worker runs in a row before it lets its event loop turn
   * (timers, completions, messages). Default 128.
   */
  taskBudget?: number;
  /** A worker looks at the global queue first every this many tasks. Default 61. */
  globalQueueInterval?: number;
  /**
   * A task spawned by a running task goes to a LIFO slot and runs next on
   * the same worker (bounded, so it cannot monopolise it). Default true.
   */
  lifoSlot?: boolean;
  /** Seed of the workers' random victim choice, for reproducible runs. */
  seed?: number;
}

/** Options of {@link Runtime.shutdown}. */
export interface ShutdownOptions {
  /**
   * Milliseconds to let queued and running tasks finish before the rest is
   * cancelled. Default 10,000. A worker stuck in a task that never yields
   * is terminated after a further 100 ms.
   */
  timeout?: number;
}

const { LIFO: FLAG_LIFO, STEALING: FLAG_STEALING } = RtFlags;
const EXIT_GRACE_MS = 100;

let guest: Runtime | undefined;

/** Called by the worker module once attached. @internal */
export function enterWorker(handle: number, workers: number): void {
  guest = new Runtime(token, handle, workers, undefined);
}

const token = Symbol("Runtime");

/** The workers of a runtime, as seen by the isolate that created it. */
class Owner {
  readonly workers: (Worker | undefined)[];
  readonly exited: boolean[];
  readonly exitWaiters: (() => void)[] = [];
  readonly url: URL = new URL("./worker.ts", import.meta.url);
  stopping = false;

  constructor(readonly rt: number, readonly count: number) {
    this.workers = new Array(count).fill(undefined);
    this.exited = new Array(count).fill(false);
  }

  /** Start worker `i`; resolves when it has attached. */
  start(i: number): Promise<void> {
    const w = new Worker(this.url, { type: "module", name: `avx-worker-${i}` });
    this.workers[i] = w;
    this.exited[i] = false;
    return new Promise<void>((resolve, reject) => {
      w.onmessage = (e: MessageEvent<WorkerReport>) => {
        const report = e.data;
        if (report.type === "ready") resolve();
        else if (report.type === "failed") reject(new AvxError("INVALID_STATE", `worker ${i}: ${report.message}`));
        else if (report.type === "exited") this.#exited(i, w);
        else if (report.type === "left") this.#left(i, w);
      };
      w.onerror = (e) => {
        // An uncaught error ends the worker; without preventDefault it
        // would also end this isolate.
        e.preventDefault();
        reject(new AvxError("WORKER_LOST", `worker ${i} failed to start: ${e.message}`));
        this.#lost(i, w);
      };
      w.onmessageerror = () => this.#lost(i, w);
      w.postMessage({ runtime: this.rt, index: i, workers: this.count } satisfies WorkerStart);
    });
  }

  #exited(i: number, w: Worker): void {
    if (this.workers[i] !== w) return;
    w.terminate();
    this.#markExited(i);
  }

  /** Worker `i` is gone for good: wake whoever waits for the workers to leave. */
  #markExited(i: number): void {
    this.exited[i] = true;
    for (const wake of this.exitWaiters.splice(0)) wake();
  }

  /**
   * Worker `i` gave its slot up on its own (see worker.ts): it is safe to
   * terminate; a replacement starts.
   */
  #left(i: number, w: Worker): void {
    if (this.workers[i] !== w) return;
    w.terminate();
    if (this.stopping) return this.#markExited(i);
    this.start(i).catch(() => {});
  }

  /** Worker `i` died: its running tasks end WORKER_LOST, a replacement starts. */
  #lost(i: number, w: Worker): void {
    if (this.workers[i] !== w) return;
    w.terminate();
    // Its completion queue is closed by its thread's exit (native), not
    // here: the isolate may still be running until the termination lands.
    // INVALID_STATE: it died before attaching, or left already.
    lib().avx_rt_lose(this.rt, i, 0);
    if (this.stopping) return this.#markExited(i);
    this.start(i).catch(() => {});
  }

  /** Resolves when every worker has left, or after `ms`. */
  async waitExited(ms: number): Promise<void> {
    const deadline = performance.now() + ms;
    while (!this.exited.every(Boolean)) {
      const left = deadline - performance.now();
      if (left <= 0) return;
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.exitWaiters.push(resolve);
        timer = setTimeout(resolve, left);
      });
      clearTimeout(timer);
    }
  }

  /**
   * Terminate whatever is still running and declare it lost natively. Any
   * worker can be terminated at any moment: nothing native calls into it,
   * and its thread's exit closes its completion queue.
   */
  terminateAll(): void {
    const l = lib();
    for (let i = 0; i < this.count; i++) {
      const w = this.workers[i];
      if (w === undefined) continue;
      w.terminate();
      if (this.exited[i]) continue;
      l.avx_rt_lose(this.rt, i, 0);
      this.exited[i] = true;
    }
  }
}

/**
 * A pool of worker isolates scheduled by a native work-stealing
 * scheduler.
 *
 * Tasks are functions exported by modules: `spawn(moduleUrl, exportName,
 * ...args)`. Arguments and results cross isolates by structured clone
 * (what `postMessage` accepts); handles of avx objects (channels, locks,
 * atomics) are numbers and cross as such: keep the wrapper until the task
 * has attached with `from(handle)`, for example by awaiting the task.
 *
 * Workers inherit this isolate's permissions; task modules are loaded with
 * dynamic `import()`, so reading them needs `--allow-read` (or
 * `--allow-net` for remote modules).
 *
 * @example
 * ```ts
 * import { Runtime } from "@avx/runtime";
 *
 * await using rt = await Runtime.create({ workerThreads: 4 });
 * const tasks = new URL("./tasks.ts", import.meta.url).href;
 * const results = await Promise.all([30, 31, 32].map((n) => rt.spawn<number>(tasks, "fib", n)));
 * console.log(results, rt.metrics().tasks.succeeded);
 * ```
 */
export class Runtime implements AsyncDisposable {
  readonly #handle: number;
  readonly #workers: number;
  readonly #owner: Owner | undefined;
  #closed = false;
  #shutdown: Promise<void> | undefined;

  /** @internal Use {@link Runtime.create}. */
  constructor(key: symbol, handle: number, workers: number, owner: Owner | undefined) {
    if (key !== token) throw new TypeError("Runtime: use Runtime.create()");
    this.#handle = handle;
    this.#workers = workers;
    this.#owner = owner;
  }

  /**
   * Start a runtime: its scheduler and `workerThreads` worker isolates.
   * Resolves once every worker is ready.
   *
   * @example
   * ```ts
   * import { Runtime } from "@avx/runtime";
   *
   * await using rt = await Runtime.create({ workerThreads: 2, taskBudget: 64 });
   * console.log(rt.workerThreads); // 2
   * ```
   */
  static async create(config: RuntimeConfig = {}): Promise<Runtime> {
    const c = checkConfig(config);
    const h = lib().avx_rt_new(
      c.workerThreads,
      c.taskBudget,
      c.globalQueueInterval,
      (c.lifoSlot ? FLAG_LIFO : 0) | (c.workStealing ? FLAG_STEALING : 0),
      c.seed,
    );
    if (Number.isNaN(h)) throw AvxError.fromStatus(lib().avx_last_error(), "Runtime.create");
    const owner = new Owner(h, c.workerThreads);
    const rt = new Runtime(token, h, c.workerThreads, owner);
    try {
      await Promise.all(Array.from({ length: c.workerThreads }, (_, i) => owner.start(i)));
    } catch (e) {
      await rt.shutdown({ timeout: 0 });
      throw e;
    }
    return rt;
  }

  /**
   * Inside a task: the runtime running it (to spawn subtasks, which go to
   * this worker's queue first, where idle workers steal them). Undefined
   * outside a runtime's workers.
   *
   * @example
   * ```ts
   * import { Runtime } from "@avx/runtime";
   *
   * export async function sumTree(depth: number): Promise<number> {
   *   if (depth === 0) return 1;
   *   const rt = Runtime.current()!;
   *   const self = import.meta.url;
   *   const [a, b] = await Promise.all([rt.spawn<number>(self, "sumTree", depth - 1), rt.spawn<number>(self, "sumTree", depth - 1)]);
   *   return a + b;
   * }
   * ```
   */
  static current(): Runtime | undefined {
    return guest;
  }

  /**
   * The number of worker isolates.
   *
   * @example
   * ```ts
   * import { Runtime } from "@avx/runtime";
   * await using rt = await Runtime.create();
   * console.log(rt.workerThreads === navigator.hardwareConcurrency);
   * ```
   */
  get workerThreads(): number {
    return this.#workers;
  }

  /**
   * Run `exportName(...args)` of the module at `moduleUrl` (an absolute
   * URL) on a worker. Returns at once; await the handle for the result.
   * Throws `CLOSED` after shutdown began (tasks may still spawn subtasks
   * while the runtime drains), `INVALID_ARGUMENT` for a relative URL or
   * arguments that cannot be cloned.
   *
   * @example
   * ```ts
   * import { Runtime } from "@avx/runtime";
   *
   * await using rt = await Runtime.create();
   * const n = await rt.spawn<number>(new URL("./tasks.ts", import.meta.url).href, "fib", 25);
   * ```
   */
  spawn<T = unknown>(moduleUrl: string | URL, exportName: string, ...args: unknown[]): JoinHandle<Awaited<T>> {
    if (this.#closed) throw new AvxError("CLOSED", "spawn: the runtime is shutting down");
    const fn = functionId(moduleUrl, exportName, "spawn");
    const bytes = encodeArgs(args, "spawn");
    const h = lib().avx_rt_spawn(this.#handle, fn, bytes, bytes.length);
    if (Number.isNaN(h)) {
      const status = lib().avx_last_error();
      if (status === Status.INVALID_HANDLE || status === Status.CLOSED) {
        throw new AvxError("CLOSED", "spawn: the runtime is shut down");
      }
      throw AvxError.fromStatus(status, "spawn");
    }
    return joinHandle<Awaited<T>>(h);
  }

  /**
   * Spawn a task and wait for it: the analogue of Tokio's `block_on`.
   *
   * @example
   * ```ts
   * import { Runtime } from "@avx/runtime";
   *
   * await using rt = await Runtime.create();
   * console.log(await rt.run(new URL("./main_task.ts", import.meta.url).href, "main"));
   * ```
   */
  run<T = unknown>(moduleUrl: string | URL, exportName: string, ...args: unknown[]): Promise<Awaited<T>> {
    try {
      return Promise.resolve(this.spawn<T>(moduleUrl, exportName, ...args));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * Counters of the scheduler, its workers and the timer wheel. Cheap:
   * they are always kept.
   *
   * @example
   * ```ts
   * import { Runtime } from "@avx/runtime";
   *
   * await using rt = await Runtime.create();
   * const m = rt.metrics();
   * console.log(m.tasks.spawned, m.workers.map((w) => w.stolen));
   * ```
   */
  metrics(): RuntimeMetrics {
    return readMetrics(this.#handle);
  }

  /**
   * Stop the runtime: refuse new tasks from outside it, let queued and
   * running tasks finish for up to `timeout` ms, then cancel the rest
   * (their handles reject with `CLOSED`; running ones see their signal
   * abort), stop every worker isolate and free the scheduler. Every
   * JoinHandle settles. Calling it again returns the same promise. Only the
   * isolate that created the runtime can shut it down.
   *
   * @example
   * ```ts
   * import { Runtime } from "@avx/runtime";
   *
   * const rt = await Runtime.create();
   * rt.spawn(new URL("./tasks.ts", import.meta.url).href, "noop");
   * await rt.shutdown({ timeout: 1000 });
   * ```
   */
  shutdown(options: ShutdownOptions = {}): Promise<void> {
    if (this.#owner === undefined) {
      return Promise.reject(
        new AvxError("INVALID_STATE", "shutdown: only the isolate that created the runtime can shut it down"),
      );
    }
    const timeout = options.timeout ?? 10_000;
    if (typeof timeout !== "number" || !(timeout >= 0)) {
      return Promise.reject(
        new AvxError("INVALID_ARGUMENT", `shutdown: timeout must be a number >= 0, got ${timeout}`),
      );
    }
    return this.#shutdown ??= this.#stop(this.#owner, timeout);
  }

  async #stop(owner: Owner, timeout: number): Promise<void> {
    this.#closed = true;
    const l = lib();
    const h = this.#handle;
    l.avx_rt_close(h);
    await waitIdle(h, timeout);
    owner.stopping = true;
    l.avx_rt_stop(h);
    await owner.waitExited(EXIT_GRACE_MS);
    owner.terminateAll();
    l.avx_rt_finish(h);
    l.avx_handle_release(h);
  }

  /**
   * `await using rt = await Runtime.create()` shuts it down at the end of
   * the scope (default timeout).
   *
   * @example
   * ```ts
   * import { Runtime } from "@avx/runtime";
   * {
   *   await using rt = await Runtime.create();
   * } // shut down here
   * ```
   */
  [Symbol.asyncDispose](): Promise<void> {
    return this.#owner === undefined ? Promise.resolve() : this.shutdown();
  }
}

/** Resolve when every task has ended (after close), or after `ms`. */
async function waitIdle(h: number, ms: number): Promise<void> {
  const q = completionQueue();
  const r = lib().avx_rt_idle_async(h, q.id);
  if (r <= 0) return;
  let timer: ReturnType<typeof setTimeout> | undefined;
  await new Promise<void>((resolve) => {
    q.add(r, () => resolve());
    // setTimeout clamps delays of 2^31 ms or more (Infinity too) to 1 ms.
    if (Number.isFinite(ms) && ms < 2 ** 31) {
      timer = setTimeout(() => {
        q.cancel(r);
        resolve();
      }, ms);
    }
  });
  clearTimeout(timer);
}

interface Checked {
  workerThreads: number;
  workStealing: boolean;
  taskBudget: number;
  globalQueueInterval: number;
  lifoSlot: boolean;
  seed: number;
}

function intIn(value: unknown, name: string, min: number, max: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw new AvxError(
      "INVALID_ARGUMENT",
      `Runtime.create: ${name} must be an integer in ${min}..${max}, got ${value}`,
    );
  }
  return value;
}

function bool(value: unknown, name: string, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== "boolean") {
    throw new AvxError("INVALID_ARGUMENT", `Runtime.create: ${name} must be a boolean, got ${typeof value}`);
  }
  return value;
}

function checkConfig(config: RuntimeConfig): Checked {
  if (typeof config !== "object" || config === null) {
    throw new AvxError("INVALID_ARGUMENT", "Runtime.create: config must be an object");
  }
  const cores = Math.max(1, Math.min(64, navigator.hardwareConcurrency || 1));
  return {
    workerThreads: intIn(config.workerThreads, "workerThreads", 1, 64, cores),
    workStealing: bool(config.workStealing, "workStealing", true),
    taskBudget: intIn(config.taskBudget, "taskBudget", 1, 1 << 20, 128),
    globalQueueInterval: intIn(config.globalQueueInterval, "globalQueueInterval", 1, 1 << 20, 61),
    lifoSlot: bool(config.lifoSlot, "lifoSlot", true),
    seed: intIn(config.seed, "seed", 0, Number.MAX_SAFE_INTEGER, 0x5eed),
  };
}
