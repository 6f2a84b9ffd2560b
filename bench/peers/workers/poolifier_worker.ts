/// <reference lib="deno.worker" />
// A poolifier ThreadWorker exposing every export of bench/workers/tasks.ts
// as a task function; a task's data is its argument list.
import { ThreadWorker } from "poolifier-web-worker";
import * as tasks from "../../workers/tasks.ts";

type TaskFn = (...args: unknown[]) => unknown;

export default new ThreadWorker<unknown[], unknown>(
  Object.fromEntries(
    Object.entries(tasks).map(([name, fn]) => [name, (args?: unknown[]) => (fn as TaskFn)(...(args ?? []))]),
  ),
);
