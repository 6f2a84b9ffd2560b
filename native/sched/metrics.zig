//! Scheduler metrics, cheap enough to leave on.
//!
//! Each worker's counters are written only by the thread bound to it, with
//! a relaxed load and store (no read-modify-write, no shared cache line),
//! and read racily by `Scheduler.metrics`. A snapshot is therefore a set
//! of recent values, not one instant: sums across workers may be off by
//! the increments in flight.
const std = @import("std");

pub const max_workers: u32 = @import("idle.zig").max_workers;

/// A counter with a single writer.
pub const Counter = struct {
    v: std.atomic.Value(u64) = .init(0),

    pub fn add(c: *Counter, n: u64) void {
        c.v.store(c.v.load(.monotonic) +% n, .monotonic);
    }

    pub fn inc(c: *Counter) void {
        c.add(1);
    }

    pub fn read(c: *const Counter) u64 {
        return c.v.load(.monotonic);
    }
};

/// What one worker counts. Field names match `WorkerMetrics`.
pub const WorkerCounters = struct {
    scheduled_local: Counter = .{},
    polled: Counter = .{},
    stolen: Counter = .{},
    steal_batches: Counter = .{},
    steal_attempts: Counter = .{},
    parks: Counter = .{},
    unparks: Counter = .{},
    inject_pulls: Counter = .{},
    lifo_hits: Counter = .{},
    budget_yields: Counter = .{},
    overflows: Counter = .{},

    pub fn snapshot(c: *const WorkerCounters) WorkerMetrics {
        var m: WorkerMetrics = .{};
        inline for (@typeInfo(WorkerCounters).@"struct".fields) |f| {
            @field(m, f.name) = @field(c, f.name).read();
        }
        return m;
    }
};

pub const WorkerMetrics = struct {
    /// Tasks `schedule`d by the thread bound to this worker (LIFO slot or
    /// ring).
    scheduled_local: u64 = 0,
    /// Tasks `next` handed out (run by the caller).
    polled: u64 = 0,
    /// Tasks this worker took from other workers' rings.
    stolen: u64 = 0,
    /// Successful steals (each takes half a victim's ring).
    steal_batches: u64 = 0,
    /// Victims looked at while searching.
    steal_attempts: u64 = 0,
    /// Times the worker went to sleep (sync or async).
    parks: u64 = 0,
    /// Times another thread woke it because there was work.
    unparks: u64 = 0,
    /// Tasks taken from the injection queue.
    inject_pulls: u64 = 0,
    /// Tasks run from the LIFO slot.
    lifo_hits: u64 = 0,
    /// `.yield`s returned because the budget ran out.
    budget_yields: u64 = 0,
    /// Times the ring was full and tasks went to the injection queue.
    overflows: u64 = 0,
    /// Tasks in the ring now (racy; excludes the LIFO slot).
    queue_depth: u32 = 0,
};

pub const Metrics = struct {
    workers: u32 = 0,
    /// Tasks queued with `inject`, or `schedule` from outside a worker.
    injected: u64 = 0,
    /// Tasks in the injection queue now.
    inject_depth: u32 = 0,
    /// Idle accounting now: workers searching, workers not parked.
    searching: u32 = 0,
    unparked: u32 = 0,
    worker: [max_workers]WorkerMetrics = @splat(.{}),

    /// Sum of one per-worker field over the scheduler's workers.
    pub fn total(m: *const Metrics, comptime field: []const u8) u64 {
        var sum: u64 = 0;
        for (m.worker[0..m.workers]) |*w| sum += @field(w, field);
        return sum;
    }
};

test "metrics: snapshot copies every counter" {
    var c: WorkerCounters = .{};
    c.polled.add(3);
    c.overflows.inc();
    const m = c.snapshot();
    try std.testing.expectEqual(@as(u64, 3), m.polled);
    try std.testing.expectEqual(@as(u64, 1), m.overflows);
    try std.testing.expectEqual(@as(u64, 0), m.stolen);
    var all: Metrics = .{ .workers = 2 };
    all.worker[0].polled = 2;
    all.worker[1].polled = 5;
    all.worker[2].polled = 100; // Not a worker of this scheduler.
    try std.testing.expectEqual(@as(u64, 7), all.total("polled"));
}
