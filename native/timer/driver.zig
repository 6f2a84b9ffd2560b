//! The timer driver: a wheel, a monotonic ms clock, and one thread that
//! sleeps until the wheel's next expiration, advances it to the current
//! tick and fires what is due.
//!
//! The process has one driver (`running()`), started lazily by the first
//! timer. Tests make private ones.
//!
//! Sleeping: the thread waits on the futex word `wake_seq` with a timeout
//! to the next expiration, and publishes that target in `sleep_until`
//! (under the wheel lock). An insert earlier than the target lowers it and
//! bumps `wake_seq`, so the thread re-plans; later inserts cost no syscall.
//! While the thread is awake (`sleep_until == awake`) nobody wakes it: it
//! reads the wheel again before it sleeps.
//!
//! Firing happens under the wheel lock: publishing to a completion queue
//! is a lock-free push and at most one futex wake, so it never blocks.
//! The work per lock hold is bounded (`budget` waiters), so an insert or
//! a cancel never waits behind a million timers firing at once.
const std = @import("std");
const assert = std.debug.assert;
const clock = @import("../os/clock.zig");
const futex = @import("../os/futex.zig");
const RawMutex = @import("../core/raw_mutex.zig").RawMutex;
const cq_mod = @import("../core/cq.zig");
const Cq = cq_mod.Cq;
const wq = @import("../core/wait_queue.zig");
const Waiter = wq.Waiter;
const wheel_mod = @import("wheel.zig");
const Wheel = wheel_mod.Wheel;

const ns_per_ms = std.time.ns_per_ms;

/// Longest delay a timer may have: 2^42 ms (about 139 years), so a
/// deadline in ns (2^42 * 10^6 < 2^62) never overflows.
pub const max_delay_ms: u64 = 1 << 42;

pub const Metrics = struct {
    armed: u64,
    fired: u64,
    cancelled: u64,
    pending: u64,
    /// Times the driver thread returned from its futex wait.
    wakeups: u64,
};

pub const Driver = struct {
    wheel: Wheel,
    /// `clock.nowNs()` at tick 0.
    origin_ns: u64,
    /// The thread sleeps on this word; bumping it wakes the thread.
    wake_seq: futex.Word = .init(0),
    /// Under `wheel.lock`: the tick the thread sleeps until, `awake` while
    /// it runs, `forever` when the wheel is empty.
    sleep_until: u64 = awake,
    stopping: std.atomic.Value(bool) = .init(false),
    wakeups: std.atomic.Value(u64) = .init(0),
    thread: ?std.Thread = null,

    const awake: u64 = 0;
    const forever: u64 = std.math.maxInt(u64);
    /// Waiters visited per lock hold.
    const budget: u32 = 1024;
    /// Bound of one `step`: every waiter that can exist, visited once per
    /// level it cascades through plus once to fire, in rounds of `budget`
    /// (inserts made during a step are due after its tick, see `step`).
    const max_rounds: u64 = (cq_mod.max_queues * @as(u64, cq_mod.max_pending) * (wheel_mod.levels + 1)) / budget + 2;

    /// Initialize in place (the wheel must not move); tick 0 is now.
    pub fn init(d: *Driver) void {
        d.* = .{ .wheel = undefined, .origin_ns = clock.nowNs() };
        d.wheel.init();
    }

    /// Start the thread.
    pub fn start(d: *Driver) std.Thread.SpawnError!void {
        assert(d.thread == null);
        d.thread = try std.Thread.spawn(.{ .stack_size = 64 * 1024 }, run, .{d});
    }

    /// Stop and join the thread (private drivers; the process-wide one
    /// runs until the process exits). Pending timers stay in the wheel.
    pub fn stop(d: *Driver) void {
        const th = d.thread.?;
        d.stopping.store(true, .release);
        d.wake();
        th.join();
        d.thread = null;
    }

    /// Nanoseconds since tick 0.
    pub fn nowNs(d: *const Driver) u64 {
        return clock.nowNs() - d.origin_ns;
    }

    /// Milliseconds since tick 0, with the clock's precision.
    pub fn nowMs(d: *const Driver) f64 {
        return @as(f64, @floatFromInt(d.nowNs())) / ns_per_ms;
    }

    /// Arm `w` to fire once the clock reaches `deadline_ns` (since tick 0),
    /// that is at the first tick at or after it. `now_ns` is the caller's
    /// reading of `nowNs()` (one clock read per timer). False, and `w`
    /// untouched, when the deadline has already come: the caller completes
    /// at once.
    pub fn arm(d: *Driver, w: *Waiter, deadline_ns: u64, now_ns: u64) bool {
        if (deadline_ns <= now_ns) return false;
        assert(deadline_ns - now_ns <= max_delay_ms * ns_per_ms);
        // Rounded up: never early.
        const when = deadline_ns / ns_per_ms + @intFromBool(deadline_ns % ns_per_ms != 0);
        d.wheel.lock.lock();
        if (when <= d.wheel.now) {
            // We were preempted since reading the clock, and the driver
            // has advanced past `when`: the deadline has passed (the wheel
            // is never ahead of the clock).
            d.wheel.lock.unlock();
            return false;
        }
        d.wheel.insert(w, when);
        const earlier = when < d.sleep_until;
        if (earlier) d.sleep_until = when;
        d.wheel.lock.unlock();
        if (earlier) d.wake();
        return true;
    }

    /// An async timer for an isolate: 0 when `deadline_ns` has passed,
    /// else the token of the completion (result 0) that comes then.
    pub fn armAsync(d: *Driver, cq: *Cq, deadline_ns: u64, now_ns: u64) error{Limit}!u32 {
        if (deadline_ns <= now_ns) return 0;
        const w = cq.acquire() orelse return error.Limit;
        // Read before `w` is linked: the driver may fire it at once.
        const token = w.token;
        assert(token > 0 and token <= std.math.maxInt(i32));
        if (!d.arm(w, deadline_ns, now_ns)) {
            cq.release(w);
            return 0;
        }
        return token;
    }

    pub fn metrics(d: *Driver) Metrics {
        const m = d.wheel.metrics();
        return .{
            .armed = m.armed,
            .fired = m.fired,
            .cancelled = m.cancelled,
            .pending = m.pending,
            .wakeups = d.wakeups.load(.monotonic),
        };
    }

    fn wake(d: *Driver) void {
        _ = d.wake_seq.fetchAdd(1, .release);
        futex.wakeOne(&d.wake_seq);
    }

    fn run(d: *Driver) void {
        while (!d.stopping.load(.acquire)) {
            // Read before looking at the wheel: an insert that wants us up
            // after this point changes the word, and the wait returns.
            const seen = d.wake_seq.load(.acquire);
            const next = d.step() orelse {
                _ = futex.wait(&d.wake_seq, seen, null);
                _ = d.wakeups.fetchAdd(1, .monotonic);
                continue;
            };
            const target_ns = next * ns_per_ms;
            const now_ns = d.nowNs();
            if (target_ns <= now_ns) continue;
            _ = futex.wait(&d.wake_seq, seen, target_ns - now_ns);
            _ = d.wakeups.fetchAdd(1, .monotonic);
        }
    }

    /// Advance the wheel to the current tick, in rounds of `budget` with
    /// the lock released in between, then publish the next expiration as
    /// the sleep target and return it. The tick is read once: timers armed
    /// meanwhile are due after it, so the rounds are bounded.
    fn step(d: *Driver) ?u64 {
        const to = d.nowNs() / ns_per_ms;
        var rounds: u64 = 0;
        while (true) : (rounds += 1) {
            assert(rounds < max_rounds);
            d.wheel.lock.lock();
            d.sleep_until = awake;
            if (d.wheel.advance(to, budget)) {
                const next = d.wheel.nextExpiration();
                d.sleep_until = next orelse forever;
                d.wheel.lock.unlock();
                return next;
            }
            d.wheel.lock.unlock();
        }
    }
};

var global: Driver = undefined;
/// 0: nothing; 1: `global` initialized (clock and wheel); 2: its thread
/// runs. Moves forward only, under `global_lock`.
var global_state: std.atomic.Value(u8) = .init(0);
var global_lock: RawMutex = .{};

/// The process-wide driver, its clock started, its thread maybe not.
pub fn instance() *Driver {
    if (global_state.load(.acquire) >= 1) return &global;
    global_lock.lock();
    defer global_lock.unlock();
    if (global_state.load(.monotonic) == 0) {
        global.init();
        global_state.store(1, .release);
    }
    return &global;
}

/// The process-wide driver with its thread running (started on first use).
/// `out_of_memory` or `invalid_state` (the code these errors had before
/// the mapping was made exhaustive) when the wheel's thread cannot start.
pub fn running() error{ OutOfMemory, InvalidState }!*Driver {
    if (global_state.load(.acquire) == 2) return &global;
    const d = instance();
    global_lock.lock();
    defer global_lock.unlock();
    if (global_state.load(.monotonic) == 1) {
        d.start() catch |err| return switch (err) {
            error.OutOfMemory => error.OutOfMemory,
            error.SystemResources,
            error.ThreadQuotaExceeded,
            error.LockedMemoryLimitExceeded,
            error.Unexpected,
            => error.InvalidState,
        };
        // Runs until the process exits.
        d.thread.?.detach();
        global_state.store(2, .release);
    }
    return d;
}

// ---------------------------------------------------------------- tests

const testing = std.testing;

fn newDriver() !*Driver {
    const d = try testing.allocator.create(Driver);
    d.init();
    try d.start();
    return d;
}

fn destroy(d: *Driver) void {
    d.stop();
    testing.allocator.destroy(d);
}

test "driver: a sleeping thread is woken at its deadline, not before" {
    const d = try newDriver();
    defer destroy(d);
    for ([_]u64{ 1, 5, 20 }) |ms| {
        var w = Waiter.initSync(0);
        const now = d.nowNs();
        const deadline = now + ms * ns_per_ms;
        try testing.expect(d.arm(&w, deadline, now));
        try testing.expectEqual(@as(i32, 0), w.awaitGrant());
        try testing.expect(d.nowNs() >= deadline);
    }
    var past = Waiter.initSync(0);
    const now = d.nowNs();
    try testing.expect(!d.arm(&past, now, now));
    const m = d.metrics();
    try testing.expectEqual(@as(u64, 3), m.armed);
    try testing.expectEqual(@as(u64, 3), m.fired);
    try testing.expectEqual(@as(u64, 0), m.pending);
    try testing.expect(m.wakeups >= 3);
}

test "driver: an earlier insert wakes the sleeping thread" {
    const d = try newDriver();
    defer destroy(d);
    var far = Waiter.initSync(0);
    const t0 = d.nowNs();
    try testing.expect(d.arm(&far, t0 + 60_000 * ns_per_ms, t0));
    // Let the thread go to sleep for a minute.
    std.Thread.sleep(5 * ns_per_ms);
    var soon = Waiter.initSync(0);
    const t1 = d.nowNs();
    const deadline = t1 + 2 * ns_per_ms;
    try testing.expect(d.arm(&soon, deadline, t1));
    var t = try std.time.Timer.start();
    try testing.expectEqual(@as(i32, 0), soon.awaitGrant());
    try testing.expect(d.nowNs() >= deadline);
    try testing.expect(t.read() < 5 * std.time.ns_per_s);
    try testing.expect(wq.cancel(&far));
    try testing.expectEqual(@as(u64, 1), d.metrics().cancelled);
}

test "driver: async timers post to the completion queue; cancel through it" {
    const d = try newDriver();
    defer destroy(d);
    const id = cq_mod.open();
    try testing.expect(id > 0);
    const cq = cq_mod.get(@floatFromInt(id)).?;
    defer cq_mod.close(cq);
    const now = d.nowNs();
    try testing.expectEqual(@as(u32, 0), try d.armAsync(cq, now, now));
    const a = try d.armAsync(cq, now + 3 * ns_per_ms, now);
    const b = try d.armAsync(cq, now + 60_000 * ns_per_ms, now);
    try testing.expect(a > 0 and b > 0 and a != b);
    try testing.expect(cq.cancel(cq.lookup(b).?));
    var out: [8]i32 = undefined;
    var spins: u32 = 0;
    while (cq.drain(&out) == 0) : (spins += 1) {
        try testing.expect(spins < 5000);
        std.Thread.sleep(ns_per_ms);
    }
    try testing.expectEqual(@as(i32, @intCast(a)), out[0]);
    try testing.expectEqual(@as(i32, 0), out[1]);
    try testing.expectEqual(@as(u32, 0), cq.live);
    const m = d.metrics();
    try testing.expectEqual(Metrics{ .armed = 2, .fired = 1, .cancelled = 1, .pending = 0, .wakeups = m.wakeups }, m);
}

test "driver: closing a queue cancels its pending timers" {
    const d = try newDriver();
    defer destroy(d);
    const id = cq_mod.open();
    const cq = cq_mod.get(@floatFromInt(id)).?;
    const now = d.nowNs();
    for (0..100) |_| _ = try d.armAsync(cq, now + 60_000 * ns_per_ms, now);
    cq_mod.close(cq);
    const m = d.metrics();
    try testing.expectEqual(@as(u64, 100), m.cancelled);
    try testing.expectEqual(@as(u64, 0), m.pending);
}

test "driver: threads arm and cancel while the driver fires; every timer ends exactly once" {
    const d = try newDriver();
    defer destroy(d);
    const threads = 4;
    const per_thread = 3000;
    const Ctx = struct {
        d: *Driver,
        seed: u64,
        /// Completions drained (fired and reported).
        reported: u32 = 0,
        /// Cancels that won.
        cancelled: u32 = 0,
        /// Cancels that lost to the driver: fired, then undone on drain.
        lost: u32 = 0,
        undone: std.atomic.Value(u32) = .init(0),

        fn undo(w: *Waiter) void {
            const c: *@This() = @ptrCast(@alignCast(w.target.?));
            _ = c.undone.fetchAdd(1, .monotonic);
        }

        fn run(c: *@This()) void {
            c.runOrFail() catch |err| std.debug.panic("stress thread: {}", .{err});
        }

        fn runOrFail(c: *@This()) !void {
            const id = cq_mod.open();
            if (id <= 0) return error.NoQueue;
            const cq = cq_mod.get(@floatFromInt(id)).?;
            defer cq_mod.close(cq);
            var prng = std.Random.DefaultPrng.init(c.seed);
            const random = prng.random();
            var tokens: [per_thread]u32 = undefined;
            var out: [128]i32 = undefined;
            var armed: u32 = 0;
            for (&tokens, 0..) |*t, i| {
                // 0 .. 8 ms: many fire while others are still being armed.
                const now = c.d.nowNs();
                const deadline = now + random.uintLessThan(u64, 8 * ns_per_ms) + 1;
                const w = cq.acquire() orelse return error.Limit;
                w.undo = undo;
                w.target = c;
                t.* = w.token;
                if (!c.d.arm(w, deadline, now)) {
                    cq.release(w);
                    t.* = 0;
                    continue;
                }
                armed += 1;
                // Cancel an earlier one now and then, racing its firing.
                if (random.boolean()) {
                    const victim = tokens[random.uintLessThan(usize, i + 1)];
                    if (victim != 0) if (cq.lookup(victim)) |v| if (!v.abandoned) {
                        if (cq.cancel(v)) c.cancelled += 1 else c.lost += 1;
                    };
                }
                c.reported += cq.drain(&out);
            }
            var spins: u32 = 0;
            while (c.reported + c.cancelled + c.lost < armed) : (spins += 1) {
                if (spins > 20_000) return error.Stuck;
                c.reported += cq.drain(&out);
                std.Thread.sleep(std.time.ns_per_ms / 4);
            }
            if (cq.live != 0) return error.Leak;
        }
    };
    var ctxs: [threads]Ctx = undefined;
    var ths: [threads]std.Thread = undefined;
    for (&ctxs, &ths, 0..) |*c, *th, i| {
        c.* = .{ .d = d, .seed = 1000 + i };
        th.* = try std.Thread.spawn(.{}, Ctx.run, .{c});
    }
    for (ths) |th| th.join();
    var reported: u64 = 0;
    var cancelled: u64 = 0;
    var lost: u64 = 0;
    for (&ctxs) |*c| {
        reported += c.reported;
        cancelled += c.cancelled;
        lost += c.lost;
        // Every lost cancel was undone exactly once, on drain.
        try testing.expectEqual(c.lost, c.undone.load(.monotonic));
    }
    const m = d.metrics();
    try testing.expectEqual(@as(u64, 0), m.pending);
    try testing.expectEqual(m.armed, m.fired + m.cancelled);
    try testing.expectEqual(cancelled, m.cancelled);
    try testing.expectEqual(reported + lost, m.fired);
    try testing.expect(cancelled > 0 and reported > 0);
}
