//! Semaphore: up to 2^31-1 permits (`avx_semaphore_*`), taken and given
//! back in any amount, for sleeping threads and async operations alike.
//!
//! Policy, strict FIFO: the fast paths (one CAS) run only while nobody is
//! queued. Once a request is queued, later requests queue behind it even
//! if they are small enough to be served now, so a large request at the
//! head is never overtaken and cannot starve. A release (or the cancel of
//! the head) grants from the head for as long as the permits cover it.
//!
//! The state word is the queued bit (bit 31) and the permit count (bits
//! 0..30), so both change together in one CAS. Invariant, observed
//! whenever the queue lock is free: the queued bit is set exactly when the
//! queue is non-empty; it changes only under the queue lock, and while it
//! is set the permit count changes only under the queue lock too.
const std = @import("std");
const wait_queue = @import("../core/wait_queue.zig");
const Waiter = wait_queue.Waiter;
const WaitQueue = wait_queue.WaitQueue;
const Cq = @import("../core/cq.zig").Cq;
const Code = @import("../core/code.zig").Code;
const Deadline = @import("../os/clock.zig").Deadline;

pub const Semaphore = struct {
    state: std.atomic.Value(u32),
    queue: WaitQueue = .{ .on_cancel = onCancel },

    /// The most permits a semaphore holds, and the most one request takes.
    pub const max_permits: u32 = std.math.maxInt(i32);
    const queued: u32 = 1 << 31;
    const permits_mask: u32 = max_permits;
    /// Bound on CAS retries; each failure means another thread made
    /// progress, so hitting it means the state word is corrupt.
    const retry_limit: u32 = 1 << 24;

    comptime {
        std.debug.assert(queued & permits_mask == 0);
    }

    pub fn init(permits: u32) Semaphore {
        std.debug.assert(permits <= max_permits);
        return .{ .state = .init(permits) };
    }

    /// Free a semaphore nobody references any more: waiters still queued
    /// are granted `closed` without undo (see Mutex.deinit).
    pub fn deinit(s: *Semaphore) void {
        s.queue.lock.lock();
        defer s.queue.lock.unlock();
        var n: u32 = 0;
        while (s.queue.head) |w| : (n += 1) {
            std.debug.assert(n < retry_limit);
            w.undo = null;
            s.queue.grantFront(Code.closed.int());
        }
        s.state.store(s.state.load(.monotonic) & permits_mask, .release);
    }

    /// Permits free now.
    pub fn available(s: *const Semaphore) u32 {
        return s.state.load(.acquire) & permits_mask;
    }

    pub fn tryAcquire(s: *Semaphore, n: u32) error{ InvalidArgument, WouldBlock }!void {
        if (n > max_permits) return error.InvalidArgument;
        if (n == 0) return;
        var v = s.state.load(.monotonic);
        var attempts: u32 = 0;
        while (true) : (attempts += 1) {
            std.debug.assert(attempts < retry_limit);
            // Queued requests come first, even ones this one could pass.
            if (v & queued != 0 or v & permits_mask < n) return error.WouldBlock;
            v = s.state.cmpxchgWeak(v, v - n, .acquire, .monotonic) orelse return;
        }
    }

    /// Take `n` permits, sleeping the calling thread until `deadline`.
    pub fn acquire(s: *Semaphore, n: u32, deadline: Deadline) error{ InvalidArgument, Timeout, Closed }!void {
        s.tryAcquire(n) catch |err| switch (err) {
            error.InvalidArgument => return error.InvalidArgument,
            error.WouldBlock => {
                if (deadline.remainingNs()) |left| {
                    if (left == 0) return error.Timeout;
                }
                var w = Waiter.initSync(n);
                s.queue.lock.lock();
                const acquired = s.acquireOrEnqueue(&w);
                s.queue.lock.unlock();
                if (acquired) return;
                return w.sleepUntilGranted(deadline);
            },
        };
    }

    /// Take `n` permits for an async operation of the isolate that owns
    /// `cq`: 0 when taken at once, else the token whose completion (0)
    /// means the permits are held.
    pub fn acquireAsync(s: *Semaphore, n: u32, cq: *Cq) error{ InvalidArgument, Limit }!u32 {
        s.tryAcquire(n) catch |err| switch (err) {
            error.InvalidArgument => return error.InvalidArgument,
            error.WouldBlock => {
                const w = cq.acquire() orelse return if (s.tryAcquire(n)) 0 else |_| error.Limit;
                w.request = n;
                w.undo = undoAcquire;
                w.target = s;
                return wait_queue.registerAsync(Semaphore, s, &s.queue, w, acquireOrEnqueue);
            },
        };
        return 0;
    }

    /// Take `w.request` permits if nobody is queued and they are there,
    /// else set the queued bit and queue `w`. Caller holds the queue lock.
    fn acquireOrEnqueue(s: *Semaphore, w: *Waiter) bool {
        const n = w.request;
        std.debug.assert(n > 0 and n <= max_permits);
        if (s.queue.isEmpty()) {
            // One CAS against the state we judged: a release racing us on
            // the fast path either lands first (we see its permits) or
            // fails and sees our queued bit.
            var v = s.state.load(.monotonic);
            var attempts: u32 = 0;
            while (true) : (attempts += 1) {
                std.debug.assert(attempts < retry_limit);
                std.debug.assert(v & queued == 0);
                const next = if (v >= n) v - n else v | queued;
                v = s.state.cmpxchgWeak(v, next, .acquire, .monotonic) orelse {
                    if (next & queued == 0) return true;
                    break;
                };
            }
        }
        std.debug.assert(s.state.load(.monotonic) & queued != 0);
        s.queue.pushBack(w);
        return false;
    }

    /// Give back `n` permits. A release that would raise the count above
    /// `max_permits` fails and changes nothing.
    pub fn release(s: *Semaphore, n: u32) error{InvalidArgument}!void {
        if (n > max_permits) return error.InvalidArgument;
        if (n == 0) return;
        var v = s.state.load(.monotonic);
        var attempts: u32 = 0;
        while (true) : (attempts += 1) {
            std.debug.assert(attempts < retry_limit);
            if ((v & permits_mask) + n > max_permits) return error.InvalidArgument;
            if (v & queued != 0) return s.releaseSlow(n);
            v = s.state.cmpxchgWeak(v, v + n, .release, .monotonic) orelse return;
        }
    }

    fn releaseSlow(s: *Semaphore, n: u32) error{InvalidArgument}!void {
        s.queue.lock.lock();
        defer s.queue.lock.unlock();
        // The queue may have emptied since we looked: fast paths can race.
        var v = s.state.load(.monotonic);
        var attempts: u32 = 0;
        while (true) : (attempts += 1) {
            std.debug.assert(attempts < retry_limit);
            if ((v & permits_mask) + n > max_permits) return error.InvalidArgument;
            v = s.state.cmpxchgWeak(v, v + n, .release, .monotonic) orelse break;
        }
        s.grantWaiting();
    }

    /// Grant from the head while the permits cover it, then make the
    /// queued bit match the queue. Caller holds the queue lock.
    fn grantWaiting(s: *Semaphore) void {
        var n: u32 = 0;
        while (s.queue.head) |w| : (n += 1) {
            std.debug.assert(n < retry_limit);
            std.debug.assert(w.request > 0 and w.request <= max_permits);
            // The queued bit is set: nothing changes the count but us.
            if (s.state.load(.monotonic) & permits_mask < w.request) break;
            _ = s.state.fetchSub(w.request, .acquire);
            s.queue.grantFront(0);
        }
        if (s.queue.isEmpty()) _ = s.state.fetchAnd(~queued, .monotonic);
    }

    /// A request left the queue: the ones behind it (smaller, perhaps) may
    /// be served now.
    fn onCancel(q: *WaitQueue) void {
        const s: *Semaphore = @fieldParentPtr("queue", q);
        s.grantWaiting();
    }

    /// Undo of permits granted to an operation abandoned afterwards.
    pub fn undoAcquire(w: *Waiter) void {
        const s: *Semaphore = @ptrCast(@alignCast(w.target.?));
        // Fails only if releases beyond the initial count filled the
        // semaphore meanwhile; the permits are then dropped, not overflowed.
        s.release(w.request) catch {};
    }
};

// ---------------------------------------------------------------- tests

const testing = std.testing;
const support = @import("../testing/support.zig");
const TestQueue = support.TestQueue;
const max = Semaphore.max_permits;

test "semaphore: try_acquire, release, available, zero and bounds" {
    var s = Semaphore.init(3);
    defer s.deinit();
    try s.tryAcquire(2);
    try testing.expectEqual(@as(u32, 1), s.available());
    try testing.expectError(error.WouldBlock, s.tryAcquire(2));
    try s.tryAcquire(0);
    try s.acquire(0, Deadline.fromMs(0));
    try testing.expectError(error.InvalidArgument, s.tryAcquire(max + 1));
    try testing.expectError(error.InvalidArgument, s.acquire(std.math.maxInt(u32), Deadline.never));
    try s.release(2);
    try testing.expectEqual(@as(u32, 3), s.available());
    try s.release(0);
    // Overflow fails and changes nothing.
    try testing.expectError(error.InvalidArgument, s.release(max - 2));
    try testing.expectError(error.InvalidArgument, s.release(max + 1));
    try testing.expectEqual(@as(u32, 3), s.available());
    try s.release(max - 3);
    try testing.expectEqual(max, s.available());
    try testing.expectError(error.InvalidArgument, s.release(1));
    try s.acquire(max, Deadline.never);
    try testing.expectEqual(@as(u32, 0), s.available());
}

test "semaphore: acquire times out and leaves nothing behind" {
    var s = Semaphore.init(1);
    defer s.deinit();
    try testing.expectError(error.Timeout, s.acquire(2, Deadline.fromMs(2)));
    try testing.expectError(error.Timeout, s.acquire(2, Deadline.fromMs(0)));
    try testing.expect(s.queue.isEmpty());
    try testing.expectEqual(@as(u32, 1), s.state.load(.monotonic));
    try s.acquire(1, Deadline.fromMs(0));
}

test "semaphore: a large request at the head is not overtaken" {
    const tq = try TestQueue.open();
    defer tq.close();
    var s = Semaphore.init(1);
    defer s.deinit();
    const big = try s.acquireAsync(3, tq.cq);
    try testing.expect(big > 0);
    // One permit is free, but the queued request comes first.
    try testing.expectError(error.WouldBlock, s.tryAcquire(1));
    const small = try s.acquireAsync(1, tq.cq);
    try testing.expect(small > 0);
    try testing.expectEqual(@as(u32, 1), s.available());
    try s.release(1);
    try testing.expect(tq.poll() == null);
    try s.release(1);
    try testing.expectEqual(@as(i32, 0), try tq.wait(big));
    try testing.expect(tq.poll() == null);
    try s.release(1);
    try testing.expectEqual(@as(i32, 0), try tq.wait(small));
    try testing.expectEqual(@as(u32, 0), s.state.load(.monotonic));
    // Async acquire of what is there, and of nothing, finishes at once.
    try s.release(2);
    try testing.expectEqual(@as(u32, 0), try s.acquireAsync(2, tq.cq));
    try testing.expectEqual(@as(u32, 0), try s.acquireAsync(0, tq.cq));
    try testing.expectError(error.InvalidArgument, s.acquireAsync(max + 1, tq.cq));
    try testing.expectEqual(@as(u32, 0), tq.cq.live);
}

test "semaphore: cancelling the large head serves the requests behind it" {
    const tq = try TestQueue.open();
    defer tq.close();
    var s = Semaphore.init(2);
    defer s.deinit();
    const big = try s.acquireAsync(5, tq.cq);
    const a = try s.acquireAsync(1, tq.cq);
    const b = try s.acquireAsync(1, tq.cq);
    const c = try s.acquireAsync(1, tq.cq);
    try testing.expect(tq.cq.cancel(tq.cq.lookup(big).?));
    try testing.expectEqual(@as(i32, 0), try tq.wait(a));
    try testing.expectEqual(@as(i32, 0), try tq.wait(b));
    try testing.expect(tq.poll() == null);
    try testing.expectEqual(@as(u32, 0), s.available());
    try s.release(1);
    try testing.expectEqual(@as(i32, 0), try tq.wait(c));
    try testing.expect(s.queue.isEmpty());
    try testing.expectEqual(@as(u32, 0), s.state.load(.monotonic));
}

test "semaphore: cancel after the grant gives the permits back" {
    const tq = try TestQueue.open();
    defer tq.close();
    var s = Semaphore.init(0);
    defer s.deinit();
    const a = try s.acquireAsync(3, tq.cq);
    try s.release(3);
    try testing.expectEqual(@as(u32, 0), s.available());
    try testing.expect(!tq.cq.cancel(tq.cq.lookup(a).?));
    try tq.settle();
    try testing.expectEqual(@as(u32, 3), s.available());
    // Undone permits go to whoever waits.
    const b = try s.acquireAsync(5, tq.cq);
    const c = try s.acquireAsync(2, tq.cq);
    try s.release(2);
    try testing.expectEqual(@as(i32, 0), try tq.wait(b));
    try s.release(5);
    try testing.expectEqual(@as(i32, 0), try tq.wait(c));
    try testing.expectEqual(@as(u32, 3), s.available());
}

test "semaphore: closing the queue returns granted permits" {
    var s = Semaphore.init(0);
    defer s.deinit();
    const tq = try TestQueue.open();
    _ = try s.acquireAsync(2, tq.cq);
    _ = try s.acquireAsync(4, tq.cq);
    try s.release(3); // The first is granted, the second still waits.
    tq.close();
    try testing.expectEqual(@as(u32, 3), s.available());
    try testing.expect(s.queue.isEmpty());
}

test "semaphore: a sleeping thread is granted" {
    var s = Semaphore.init(0);
    defer s.deinit();
    const T = struct {
        fn run(ss: *Semaphore) void {
            ss.acquire(4, Deadline.never) catch unreachable;
        }
    };
    const th = try std.Thread.spawn(.{}, T.run, .{&s});
    while (support.queuedLen(&s.queue) == 0) std.Thread.yield() catch {};
    try s.release(3);
    try s.release(2);
    th.join();
    try testing.expectEqual(@as(u32, 1), s.available());
}

test "semaphore: stress, holders never exceed the permits" {
    const permits = 5;
    const iterations = 3_000;
    const Ctx = struct {
        s: Semaphore = Semaphore.init(permits),
        holding: std.atomic.Value(u32) = .init(0),
        max_holding: std.atomic.Value(u32) = .init(0),
        gate: support.StartGate = .{},

        fn hold(c: *@This(), n: u32) void {
            const now = c.holding.fetchAdd(n, .acquire) + n;
            support.atomicMax(&c.max_holding, now);
            // Now and then lose the CPU holding permits, so others queue.
            if (now == permits) std.Thread.yield() catch {};
            _ = c.holding.fetchSub(n, .release);
            c.s.release(n) catch unreachable;
        }

        fn syncThread(c: *@This(), seed: u64) void {
            var rng = support.Rng.init(seed, 0);
            c.gate.wait();
            var done: u32 = 0;
            while (done < iterations) {
                const n = 1 + rng.below(3);
                switch (rng.below(6)) {
                    0 => c.s.tryAcquire(n) catch continue,
                    1 => c.s.acquire(n, Deadline.fromMs(0.05)) catch continue,
                    else => c.s.acquire(n, Deadline.never) catch unreachable,
                }
                c.hold(n);
                done += 1;
            }
        }

        fn asyncThread(c: *@This(), seed: u64) void {
            var rng = support.Rng.init(seed, 0);
            const tq = TestQueue.open() catch unreachable;
            defer tq.close();
            c.gate.wait();
            var done: u32 = 0;
            while (done < iterations) {
                const n = 1 + rng.below(permits);
                const token = c.s.acquireAsync(n, tq.cq) catch unreachable;
                if (token != 0 and rng.below(4) == 0) {
                    _ = tq.cq.cancel(tq.cq.lookup(token).?);
                    continue;
                }
                if (token != 0) std.debug.assert((tq.wait(token) catch unreachable) == 0);
                c.hold(n);
                done += 1;
            }
            tq.settle() catch unreachable;
        }
    };
    var ctx: Ctx = .{};
    defer ctx.s.deinit();
    try support.runMixed(8, &ctx, Ctx.syncThread, Ctx.asyncThread, 3, 2);
    try testing.expect(ctx.max_holding.load(.monotonic) <= permits);
    try testing.expect(ctx.max_holding.load(.monotonic) > 1);
    try testing.expectEqual(@as(u32, permits), ctx.s.available());
    try testing.expect(ctx.s.queue.isEmpty());
    try testing.expectEqual(@as(u32, permits), ctx.s.state.load(.monotonic));
}
