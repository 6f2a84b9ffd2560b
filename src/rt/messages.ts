/**
 * The messages between a runtime's owner isolate (runtime.ts) and its
 * worker isolates (worker.ts): one module both import, so neither imports
 * the other for them.
 *
 * @module
 */

/** What the owner posts to start a worker. @internal */
export interface WorkerStart {
  runtime: number;
  index: number;
  workers: number;
}

/** What a worker posts back. @internal */
export type WorkerReport =
  | { type: "ready"; queue: number }
  | { type: "failed"; message: string }
  | { type: "exited" }
  | { type: "left"; reason: string };
