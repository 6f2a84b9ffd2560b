//! Native worker threads: one Zig thread per worker, each running tasks
//! whose `run` is set. Used by the stress tests and the benchmark; the JS
//! runtime drives its workers from isolates instead.
const std = @import("std");
const scheduler = @import("scheduler.zig");
const Scheduler = scheduler.Scheduler;

pub const Runner = struct {
    scheduler: *Scheduler,
    threads: [scheduler.max_workers]std.Thread = undefined,
    started: u32 = 0,

    /// Start one thread per worker of `s`. On failure, the threads already
    /// started are stopped (which shuts `s` down).
    pub fn start(s: *Scheduler) !Runner {
        var r: Runner = .{ .scheduler = s };
        errdefer r.stop();
        const n = s.config().workers;
        while (r.started < n) : (r.started += 1) {
            r.threads[r.started] = try std.Thread.spawn(.{}, runWorker, .{ s, r.started });
        }
        return r;
    }

    /// Shut the scheduler down and join every thread. Tasks still queued
    /// stay queued (`Scheduler.drain`).
    pub fn stop(r: *Runner) void {
        r.scheduler.shutdown();
        for (r.threads[0..r.started]) |t| t.join();
        r.started = 0;
    }
};

/// The loop of one native worker thread: bind, run tasks until shutdown.
/// `.yield` needs nothing here (no event loop); the scheduler counts it
/// in its `budget_yields` metric.
pub fn runWorker(s: *Scheduler, w: u32) void {
    s.bind(w);
    defer s.unbind();
    while (true) {
        switch (s.next(w)) {
            .task => |task| task.run.?(task),
            .yield => {},
            .idle => s.park(w, null),
            .shutdown => return,
        }
    }
}
