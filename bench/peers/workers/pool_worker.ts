/// <reference lib="deno.worker" />
// A worker of PostMessagePool. Its first message names the task module to
// import, answered `{ ready: true }` or `{ error }`; then each
// `{ id, exportName, args }` runs `exportName(...args)` and is answered
// `{ id, result }` or `{ id, error }`.
import type { Reply, Request } from "../postmessage_pool.ts";

type TaskFn = (...args: unknown[]) => unknown;

function fail(id: number, error: unknown): void {
  try {
    self.postMessage({ id, error } satisfies Reply);
  } catch {
    // Not structured-cloneable: send what can be.
    self.postMessage({ id, error: String(error) } satisfies Reply);
  }
}

function run({ id, exportName, args }: Request, tasks: Record<string, unknown>): void {
  try {
    const fn = tasks[exportName];
    if (typeof fn !== "function") throw new TypeError(`the task module exports no function ${exportName}`);
    const result = (fn as TaskFn)(...args);
    if (result instanceof Promise) {
      result.then((result) => self.postMessage({ id, result } satisfies Reply), (e) => fail(id, e));
    } else {
      self.postMessage({ id, result } satisfies Reply);
    }
  } catch (e) {
    fail(id, e);
  }
}

self.onmessage = async (e: MessageEvent<{ module: string }>) => {
  let tasks: Record<string, unknown>;
  try {
    tasks = await import(e.data.module);
  } catch (error) {
    self.postMessage({ error: String(error) });
    return;
  }
  self.onmessage = (m: MessageEvent<Request>) => run(m.data, tasks);
  self.postMessage({ ready: true });
};
