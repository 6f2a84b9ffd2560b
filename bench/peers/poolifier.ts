/**
 * The npm package `poolifier-web-worker` for the task benchmarks: a
 * `FixedThreadPool` over peers/workers/poolifier_worker.ts, which exposes
 * every export of bench/workers/tasks.ts (a task's data is its argument
 * list). Its defaults are kept: least-used worker choice, no task queue.
 *
 * @module
 */
import { FixedThreadPool } from "poolifier-web-worker";

/** A poolifier pool of `size` Workers, once they are all ready. */
export function poolifierPool(size: number): Promise<FixedThreadPool<unknown[], unknown>> {
  return new Promise((resolve, reject) => {
    const pool: FixedThreadPool<unknown[], unknown> = new FixedThreadPool(
      size,
      new URL("./workers/poolifier_worker.ts", import.meta.url),
      {
        errorEventHandler: (e) => {
          e.preventDefault();
          pool.destroy().finally(() => reject(new Error(`poolifier worker failed: ${e.message}`)));
        },
      },
    );
    if (pool.info.ready) resolve(pool);
    else pool.eventTarget!.addEventListener("ready", () => resolve(pool), { once: true });
  });
}
