/**
 * What a running task can learn about itself: its id and an AbortSignal
 * that fires when its JoinHandle aborts it (or the runtime shuts down).
 *
 * @module
 */
import { lib } from "../ffi/library.ts";
import { completionQueue } from "../ffi/queue.ts";
import { AvxError } from "../errors.ts";

/**
 * The task being run, as seen from inside it.
 *
 * @example
 * ```ts
 * import { currentTask } from "@avx/runtime";
 *
 * export async function crawl(url: string) {
 *   const { signal } = currentTask()!; // before the first await
 *   return await fetch(url, { signal });
 * }
 * ```
 */
export interface TaskContext {
  /** The task's id (its JoinHandle's `id`). */
  readonly id: number;
  /** Aborts when the task is aborted or the runtime shuts down. */
  readonly signal: AbortSignal;
}

/** One running task's context; its signal is made on first use. @internal */
export class RunningTask implements TaskContext {
  readonly id: number;
  #controller: AbortController | undefined;
  #token = 0;
  #ended = false;

  constructor(handle: number) {
    this.id = handle;
  }

  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (!this.#ended) this.#watch();
    }
    return this.#controller.signal;
  }

  #watch(): void {
    const q = completionQueue();
    const r = lib().avx_task_watch_abort_async(this.id, q.id);
    if (r === 0) {
      this.#abort();
    } else if (r > 0) {
      this.#token = r;
      q.add(r, () => {
        this.#token = 0;
        this.#abort();
      });
    }
  }

  #abort(): void {
    this.#controller?.abort(new AvxError("ABORTED", `task ${this.id}: aborted`));
  }

  /** The task ended here: stop watching (before its completion is reported). */
  end(): void {
    this.#ended = true;
    if (this.#token !== 0) {
      completionQueue().cancel(this.#token);
      this.#token = 0;
    }
  }
}

let running: RunningTask | undefined;

/**
 * The task whose synchronous part is running now, or undefined outside a
 * task. In an async task call it before the first `await` and keep the
 * result: JavaScript has no task-local storage that survives `await`
 * cheaply, so later calls may see another task or none.
 *
 * @example
 * ```ts
 * import { currentTask } from "@avx/runtime";
 *
 * export async function slow() {
 *   const task = currentTask()!;
 *   while (!task.signal.aborted) await new Promise((r) => setTimeout(r, 10));
 * }
 * ```
 */
export function currentTask(): TaskContext | undefined {
  return running;
}

/** Set by the worker loop around a task's synchronous part. @internal */
export function setRunning(task: RunningTask | undefined): void {
  running = task;
}
