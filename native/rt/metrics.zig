//! A runtime's metrics as a flat array of f64, the layout
//! src/rt/metrics.ts reads: 10 runtime values, then 11 per worker.
const std = @import("std");
const Runtime = @import("runtime.zig").Runtime;
const sched_metrics = @import("../sched/metrics.zig");

pub const global_fields: u32 = 10;
pub const worker_fields: u32 = 11;

/// Write the metrics of `rt` into `out`; returns the values written (0 when
/// `out` cannot hold them all).
pub fn write(rt: *Runtime, out: []f64) u32 {
    const need = global_fields + rt.workers * worker_fields;
    if (out.len < need) return 0;
    var m: sched_metrics.Metrics = undefined;
    rt.scheduler.metrics(&m);
    const c = &rt.counters;
    const head = [global_fields]u64{
        rt.workers,
        c.spawned.load(.monotonic),
        c.succeeded.load(.monotonic),
        c.failed.load(.monotonic),
        c.aborted.load(.monotonic),
        c.lost.load(.monotonic),
        c.cancelled.load(.monotonic),
        rt.unfinished(),
        m.injected,
        c.replaced.load(.monotonic),
    };
    for (head, 0..) |v, i| out[i] = @floatFromInt(v);
    for (0..rt.workers) |w| {
        const wm = m.worker[w];
        const row = [worker_fields]u64{
            wm.polled,
            wm.scheduled_local,
            wm.stolen,
            wm.steal_batches,
            wm.parks,
            wm.unparks,
            wm.inject_pulls,
            wm.lifo_hits,
            wm.budget_yields,
            wm.overflows,
            wm.queue_depth,
        };
        const at = global_fields + w * worker_fields;
        for (row, 0..) |v, i| out[at + i] = @floatFromInt(v);
    }
    return need;
}
