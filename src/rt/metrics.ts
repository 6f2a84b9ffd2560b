/**
 * Runtime metrics: counters kept natively at all times (relaxed atomics
 * per worker), read in one call.
 *
 * @module
 */
import { lib } from "../ffi/library.ts";
import { AvxError } from "../errors.ts";
import { type TimerMetrics, timerMetrics } from "../time/clock.ts";
import { RtMetricsLayout } from "../ffi/abi.gen.ts";

/** Counters of one worker. */
export interface WorkerMetrics {
  /** Tasks this worker took from the scheduler and ran. */
  polled: number;
  /** Tasks spawned by tasks running here (to its LIFO slot or queue). */
  scheduledLocal: number;
  /** Tasks this worker stole from others. */
  stolen: number;
  /** Successful steal operations (each takes half a victim's queue). */
  stealBatches: number;
  /** Times it parked (no work anywhere). */
  parks: number;
  /** Times it was woken from parking. */
  unparks: number;
  /** Tasks it took from the global injection queue. */
  injectPulls: number;
  /** Tasks it ran from its LIFO slot. */
  lifoHits: number;
  /** Times its budget ran out and it let its event loop turn. */
  budgetYields: number;
  /** Times its queue overflowed into the injection queue. */
  overflows: number;
  /** Tasks in its queue now. */
  depth: number;
}

/** Everything `Runtime.metrics()` reports. */
export interface RuntimeMetrics {
  /** Task counts of the runtime. */
  tasks: {
    spawned: number;
    succeeded: number;
    failed: number;
    aborted: number;
    /** Ended WORKER_LOST: their worker isolate died running them. */
    lost: number;
    /** Cancelled by shutdown. */
    cancelled: number;
    /** Spawned and not ended yet. */
    unfinished: number;
  };
  /** Tasks spawned from outside the workers (the global queue). */
  injected: number;
  /** Worker isolates that died and were replaced. */
  workersReplaced: number;
  /** Per worker, in slot order. */
  workers: WorkerMetrics[];
  /** Sums over the workers (depth included). */
  totals: WorkerMetrics;
  /** The process-wide timer wheel. */
  timers: TimerMetrics;
}

const { GLOBAL_FIELDS, WORKER_FIELDS } = RtMetricsLayout;
const buffer = new Float64Array(GLOBAL_FIELDS + 64 * WORKER_FIELDS);

/** Read a runtime's metrics. @internal */
export function readMetrics(handle: number): RuntimeMetrics {
  const n = lib().avx_rt_metrics(handle, buffer, buffer.length);
  if (n < 0) throw AvxError.fromStatus(n, "Runtime.metrics");
  const b = buffer;
  const count = b[0];
  const workers: WorkerMetrics[] = [];
  const totals = worker(new Float64Array(WORKER_FIELDS), 0);
  for (let i = 0; i < count; i++) {
    const w = worker(b, GLOBAL_FIELDS + i * WORKER_FIELDS);
    workers.push(w);
    for (const k of Object.keys(totals) as (keyof WorkerMetrics)[]) totals[k] += w[k];
  }
  return {
    tasks: {
      spawned: b[1],
      succeeded: b[2],
      failed: b[3],
      aborted: b[4],
      lost: b[5],
      cancelled: b[6],
      unfinished: b[7],
    },
    injected: b[8],
    workersReplaced: b[9],
    workers,
    totals,
    timers: timerMetrics(),
  };
}

function worker(b: Float64Array, at: number): WorkerMetrics {
  return {
    polled: b[at],
    scheduledLocal: b[at + 1],
    stolen: b[at + 2],
    stealBatches: b[at + 3],
    parks: b[at + 4],
    unparks: b[at + 5],
    injectPulls: b[at + 6],
    lifoHits: b[at + 7],
    budgetYields: b[at + 8],
    overflows: b[at + 9],
    depth: b[at + 10],
  };
}
