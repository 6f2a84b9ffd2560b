/**
 * The simplest honest worker pool over postMessage, the baseline of the
 * task benchmarks: `size` module Workers, each importing one task module
 * and running `exportName(...args)` per message. A task goes to the Worker
 * with the fewest tasks in flight (ties in turn), straight away: no queue
 * of its own, no limit, one message each way per task.
 *
 * ```ts
 * const pool = await PostMessagePool.create(2, new URL("../workers/tasks.ts", import.meta.url));
 * const n = await pool.run<number>("fib", 25);
 * pool.close();
 * ```
 *
 * @module
 */
import { next } from "../harness.ts";

/** A task, main thread to Worker. */
export interface Request {
  id: number;
  exportName: string;
  args: unknown[];
}

/** A task's outcome, Worker to main thread: `error` is set when it threw. */
export type Reply = { id: number; result: unknown } | { id: number; error: unknown };

interface Pending {
  resolve(value: unknown): void;
  reject(reason: unknown): void;
}

/** A fixed set of module Workers running the exports of one task module. */
export class PostMessagePool {
  readonly #workers: Worker[];
  /** Tasks in flight, per Worker, by id. */
  readonly #pending: Map<number, Pending>[];
  #nextId = 0;
  #turn = 0;

  private constructor(workers: Worker[]) {
    this.#workers = workers;
    this.#pending = workers.map(() => new Map());
    workers.forEach((w, i) => {
      const pending = this.#pending[i];
      w.onmessage = (e: MessageEvent<Reply>) => {
        const reply = e.data;
        const p = pending.get(reply.id)!;
        pending.delete(reply.id);
        if ("error" in reply) p.reject(reply.error);
        else p.resolve(reply.result);
      };
      w.onerror = (e) => {
        e.preventDefault();
        const error = new Error(`pool worker ${i} failed: ${e.message}`);
        for (const p of pending.values()) p.reject(error);
        pending.clear();
      };
    });
  }

  /** Start `size` Workers and wait until each has imported `module`. */
  static async create(size: number, module: string | URL): Promise<PostMessagePool> {
    const workers = Array.from(
      { length: size },
      () => new Worker(new URL("./workers/pool_worker.ts", import.meta.url), { type: "module" }),
    );
    const ready = workers.map((w) => next<{ error?: string }>(w));
    for (const w of workers) w.postMessage({ module: String(module) });
    try {
      for (const { error } of await Promise.all(ready)) {
        if (error !== undefined) throw new Error(`pool worker cannot import ${module}: ${error}`);
      }
    } catch (e) {
      for (const w of workers) w.terminate();
      throw e;
    }
    return new PostMessagePool(workers);
  }

  /** Number of Workers. */
  get size(): number {
    return this.#workers.length;
  }

  /** Run `exportName(...args)` of the task module on a Worker. */
  run<T = unknown>(exportName: string, ...args: unknown[]): Promise<T> {
    const i = this.#pick();
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      this.#pending[i].set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.#workers[i].postMessage({ id, exportName, args } satisfies Request);
    });
  }

  /** The Worker with the fewest tasks in flight, starting the scan at the next in turn. */
  #pick(): number {
    const n = this.#workers.length;
    let best = this.#turn;
    for (let k = 1; k < n; k++) {
      const i = (this.#turn + k) % n;
      if (this.#pending[i].size < this.#pending[best].size) best = i;
    }
    this.#turn = (best + 1) % n;
    return best;
  }

  /** Terminate the Workers; tasks still in flight reject. */
  close(): void {
    const error = new Error("pool closed");
    for (const [i, w] of this.#workers.entries()) {
      w.terminate();
      for (const p of this.#pending[i].values()) p.reject(error);
      this.#pending[i].clear();
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
