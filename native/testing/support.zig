//! Helpers the native tests share (queues standing in for isolates,
//! start gates, seeded randomness, mixed sync/async stress runs). Tests
//! only: nothing in the library imports this folder.
const std = @import("std");
const cq_mod = @import("../core/cq.zig");
const Cq = cq_mod.Cq;
const Deadline = @import("../os/clock.zig").Deadline;
const WaitQueue = @import("../core/wait_queue.zig").WaitQueue;

/// A completion queue driven by the calling thread, standing in for an
/// isolate in tests. Only the thread that opened it may use it.
pub const TestQueue = struct {
    cq: *Cq,

    /// Generous: tests on a loaded 2-core machine can be slow, never stuck.
    const wait_ms: f64 = 20_000;

    pub fn open() !TestQueue {
        const id = cq_mod.open();
        if (id <= 0) return error.NoQueue;
        return .{ .cq = cq_mod.get(@floatFromInt(id)).? };
    }

    pub fn close(t: TestQueue) void {
        cq_mod.close(t.cq);
    }

    /// The next completion if one is ready, as (token, result).
    pub fn poll(t: TestQueue) ?[2]i32 {
        var out: [2]i32 = undefined;
        if (t.cq.drain(&out) == 0) return null;
        return out;
    }

    /// Wait for the completion of `token` and return its result. The test
    /// must have no other operation pending on this queue (abandoned ones
    /// are undone silently by the drain and do not count).
    pub fn wait(t: TestQueue, token: u32) !i32 {
        std.debug.assert(token > 0);
        const deadline = Deadline.fromMs(wait_ms);
        while (true) {
            if (t.poll()) |c| {
                if (c[0] != @as(i32, @intCast(token))) return error.UnexpectedToken;
                return c[1];
            }
            if (deadline.remainingNs().? == 0) return error.TestTimedOut;
            std.Thread.yield() catch {};
        }
    }

    /// Drain until nothing is pending any more (abandoned operations are
    /// undone on the way). Fails on a completion that was not abandoned.
    pub fn settle(t: TestQueue) !void {
        const deadline = Deadline.fromMs(wait_ms);
        while (t.cq.live > 0) {
            if (t.poll() != null) return error.UnexpectedCompletion;
            if (deadline.remainingNs().? == 0) return error.TestTimedOut;
            std.Thread.yield() catch {};
        }
    }
};

/// The stress tests' random choices: the project's one generator. Each
/// test thread seeds it with its index, so a run replays its choices.
pub const Rng = @import("../core/rng.zig").Rng;

/// Lets stress threads start together, so they contend from the first
/// iteration instead of finishing one by one while the next is spawned.
pub const StartGate = struct {
    ready: std.atomic.Value(u32) = .init(0),
    go: std.atomic.Value(bool) = .init(false),

    /// Called by each thread before its loop.
    pub fn wait(g: *StartGate) void {
        _ = g.ready.fetchAdd(1, .acq_rel);
        while (!g.go.load(.acquire)) std.Thread.yield() catch {};
    }

    /// Called by the spawner: opens once `n` threads wait.
    pub fn open(g: *StartGate, n: u32) void {
        while (g.ready.load(.acquire) < n) std.Thread.yield() catch {};
        g.go.store(true, .release);
    }
};

/// Run `n` stress threads together and join them: thread `i` (seed
/// `i + 1`) runs `asyncFn` when `i % async_every == async_at`, else
/// `syncFn`. `ctx` owns the `gate` they wait behind.
pub fn runMixed(
    comptime n: usize,
    ctx: anytype,
    comptime syncFn: anytype,
    comptime asyncFn: anytype,
    async_every: usize,
    async_at: usize,
) !void {
    std.debug.assert(async_at < async_every);
    var ts: [n]std.Thread = undefined;
    for (&ts, 0..) |*t, i| {
        t.* = if (i % async_every == async_at)
            try std.Thread.spawn(.{}, asyncFn, .{ ctx, i + 1 })
        else
            try std.Thread.spawn(.{}, syncFn, .{ ctx, i + 1 });
    }
    ctx.gate.open(n);
    for (ts) |t| t.join();
}

/// Waiters queued in `q` now (taking its lock, so tests do not race).
pub fn queuedLen(q: *WaitQueue) u32 {
    q.lock.lock();
    defer q.lock.unlock();
    return q.len;
}

/// Raise `max` to at least `v`.
pub fn atomicMax(max: *std.atomic.Value(u32), v: u32) void {
    var cur = max.load(.monotonic);
    while (v > cur) {
        cur = max.cmpxchgWeak(cur, v, .monotonic, .monotonic) orelse return;
    }
}
