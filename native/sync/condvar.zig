//! Condvar: wait for a condition guarded by a Mutex (`avx_condvar_*`), for
//! sleeping threads and async operations alike.
//!
//! A wait links its waiter into the condvar's queue and only then unlocks
//! the mutex: a notify issued once the mutex is free finds the waiter
//! queued, so no wake-up is lost. Notify does not wake anyone to fight
//! for the mutex: it moves waiters from the condvar queue onto the mutex
//! (requeue): a free mutex is granted to the waiter at once, else the
//! waiter is linked into the mutex's queue and is granted by an unlock
//! like any locker. A grant therefore means "notified and the mutex is
//! held again", and the waiter's undo (abandoned after the grant) is the
//! mutex's unlock.
//!
//! Lock order: the condvar's queue lock, then the mutex's; never the
//! reverse. Each waiter carries its mutex in `target`, so one condvar may
//! serve waiters of different mutexes.
const std = @import("std");
const wait_queue = @import("../core/wait_queue.zig");
const Waiter = wait_queue.Waiter;
const WaitQueue = wait_queue.WaitQueue;
const Cq = @import("../core/cq.zig").Cq;
const Code = @import("../core/code.zig").Code;
const futex = @import("../os/futex.zig");
const Deadline = @import("../os/clock.zig").Deadline;
const Mutex = @import("mutex.zig").Mutex;

pub const Condvar = struct {
    queue: WaitQueue = .{},

    /// Most waiters one notify_all moves; far above what can be queued
    /// (a bound for the loop, not a policy).
    const move_limit: u32 = 1 << 30;

    /// Free a condvar nobody references any more. A waiter still queued
    /// (possible only if a handle was released while its wait was pending)
    /// is handed to its mutex as if notified, so it still ends holding its
    /// mutex instead of pointing into freed memory.
    pub fn deinit(cv: *Condvar) void {
        _ = cv.notifyAll();
    }

    /// Wait for a notify, sleeping the calling thread, with `m` held by the
    /// caller. `m` is held again when this returns, whatever it returns.
    /// `Timeout` when no notify came before `deadline`; a notify that came
    /// in time wins even if the mutex is re-taken after the deadline.
    pub fn wait(cv: *Condvar, m: *Mutex, deadline: Deadline) error{ NotLocked, Timeout, Closed }!void {
        if (!m.isLocked()) return error.NotLocked;
        var w = Waiter.initSync(0);
        w.target = m;
        cv.enqueue(&w);
        // Fails only if another thread unlocked the caller's mutex behind
        // its back; the waiter is queued either way and ends holding it.
        m.unlock() catch {};
        if (!cv.sleepUntilNotified(&w, deadline)) {
            // Timed out on the condvar: take the mutex back before returning.
            m.lock(Deadline.never) catch |err| return err;
            return error.Timeout;
        }
        // Notified: moved to the mutex, which the grant hands over.
        const result = w.sleep(Deadline.never, Code.timeout.int());
        if (result == 0) return;
        std.debug.assert(result == Code.closed.int());
        return error.Closed;
    }

    /// Sleep while `w` waits on this condvar. False when `deadline` passed
    /// first and `w` was taken off the condvar queue; true once a notify
    /// moved it to its mutex (granted there or not yet).
    fn sleepUntilNotified(cv: *Condvar, w: *Waiter, deadline: Deadline) bool {
        while (true) {
            const s = w.state.load(.acquire);
            if (s == Waiter.granted) return true;
            if (s == Waiter.pending) {
                // Announce the sleep so the granter wakes us (see Waiter.parked).
                _ = w.state.cmpxchgStrong(Waiter.pending, Waiter.parked, .acquire, .acquire);
                continue;
            }
            const left = deadline.remainingNs();
            if (left != null and left.? == 0) return !cv.removeIfWaiting(w);
            // Only the mutex grant changes `state`; a notify that merely
            // moves `w` does not wake us, so the deadline check above
            // decides how that case ends (notified: keep waiting).
            _ = futex.wait(&w.state, Waiter.parked, left);
        }
    }

    /// Unlink `w` if it is still on this condvar's queue. Under our lock a
    /// notify is never half-done, so `w` is either here or on its mutex.
    fn removeIfWaiting(cv: *Condvar, w: *Waiter) bool {
        cv.queue.lock.lock();
        defer cv.queue.lock.unlock();
        if (w.queue.load(.monotonic) != &cv.queue) return false;
        cv.queue.remove(w);
        return true;
    }

    /// Wait for an async operation of the isolate that owns `cq`, with `m`
    /// held by the caller. Always returns a token: the completion (0) means
    /// notified and `m` held again. An abort before the completion leaves
    /// the mutex unlocked; one after it is undone by unlocking the mutex.
    pub fn waitAsync(cv: *Condvar, m: *Mutex, cq: *Cq) error{ NotLocked, Limit }!u32 {
        if (!m.isLocked()) return error.NotLocked;
        const w = cq.acquire() orelse return error.Limit;
        w.undo = Mutex.undoLock;
        w.target = m;
        const token = w.token;
        std.debug.assert(token > 0 and token <= std.math.maxInt(i32));
        cv.enqueue(w);
        m.unlock() catch {}; // See `wait`.
        return token;
    }

    fn enqueue(cv: *Condvar, w: *Waiter) void {
        std.debug.assert(w.target != null);
        cv.queue.lock.lock();
        defer cv.queue.lock.unlock();
        cv.queue.pushBack(w);
    }

    /// Move the longest waiting waiter to its mutex. Returns how many moved
    /// (0 or 1).
    pub fn notifyOne(cv: *Condvar) u32 {
        cv.queue.lock.lock();
        defer cv.queue.lock.unlock();
        if (cv.queue.isEmpty()) return 0;
        cv.moveFront();
        return 1;
    }

    /// Move every waiter to its mutex, oldest first. Returns how many.
    pub fn notifyAll(cv: *Condvar) u32 {
        cv.queue.lock.lock();
        defer cv.queue.lock.unlock();
        var n: u32 = 0;
        while (!cv.queue.isEmpty()) : (n += 1) {
            std.debug.assert(n < move_limit);
            cv.moveFront();
        }
        return n;
    }

    /// Requeue the head onto its mutex. Caller holds our queue lock, so a
    /// cancel racing this waits for it and then finds the waiter on the
    /// mutex's queue (or granted); the waiter's `queue` goes straight from
    /// ours to the mutex's, never through null (which would read as
    /// granted to a cancel).
    fn moveFront(cv: *Condvar) void {
        const w = cv.queue.head.?;
        const m: *Mutex = @ptrCast(@alignCast(w.target.?));
        m.requeue(&cv.queue, w);
    }
};

// ---------------------------------------------------------------- tests

const testing = std.testing;
const support = @import("../testing/support.zig");
const TestQueue = support.TestQueue;

test "condvar: wait times out holding the mutex; wait needs the mutex" {
    var m: Mutex = .{};
    defer m.deinit();
    var cv: Condvar = .{};
    defer cv.deinit();
    try testing.expectError(error.NotLocked, cv.wait(&m, Deadline.fromMs(1)));
    try m.lock(Deadline.never);
    try testing.expectError(error.Timeout, cv.wait(&m, Deadline.fromMs(2)));
    try testing.expect(m.isLocked());
    try testing.expect(cv.queue.isEmpty());
    try testing.expectError(error.Timeout, cv.wait(&m, Deadline.fromMs(0)));
    try testing.expect(m.isLocked());
    try testing.expectEqual(@as(u32, 0), cv.notifyOne());
    try testing.expectEqual(@as(u32, 0), cv.notifyAll());
    try m.unlock();
    try testing.expect(!m.isLocked());
}

test "condvar: async wait, notify moves the waiter onto the mutex" {
    const tq = try TestQueue.open();
    defer tq.close();
    var m: Mutex = .{};
    defer m.deinit();
    var cv: Condvar = .{};
    defer cv.deinit();
    try testing.expectError(error.NotLocked, cv.waitAsync(&m, tq.cq));
    try testing.expect(m.tryLock());
    const a = try cv.waitAsync(&m, tq.cq);
    try testing.expect(a > 0);
    // The wait released the mutex.
    try testing.expect(!m.isLocked());
    // Notified while the mutex is held: queued on the mutex, not granted.
    try testing.expect(m.tryLock());
    try testing.expectEqual(@as(u32, 1), cv.notifyOne());
    try testing.expect(cv.queue.isEmpty());
    try testing.expectEqual(@as(u32, 1), support.queuedLen(&m.queue));
    try testing.expect(tq.poll() == null);
    try m.unlock();
    try testing.expectEqual(@as(i32, 0), try tq.wait(a));
    try testing.expect(m.isLocked());
    // Notified while the mutex is free: granted at once.
    const b = try cv.waitAsync(&m, tq.cq);
    try testing.expect(!m.isLocked());
    try testing.expectEqual(@as(u32, 1), cv.notifyAll());
    try testing.expectEqual(@as(i32, 0), try tq.wait(b));
    try testing.expect(m.isLocked());
    try m.unlock();
}

test "condvar: notify_all moves every waiter; each gets the mutex in turn" {
    const tq = try TestQueue.open();
    defer tq.close();
    var m: Mutex = .{};
    defer m.deinit();
    var cv: Condvar = .{};
    defer cv.deinit();
    var tokens: [4]u32 = undefined;
    for (&tokens) |*t| {
        try m.lock(Deadline.never);
        t.* = try cv.waitAsync(&m, tq.cq);
    }
    try testing.expect(!m.isLocked());
    try testing.expectEqual(@as(u32, 4), cv.notifyAll());
    // The first got the free mutex; the rest queue on it in order.
    for (tokens) |t| {
        try testing.expectEqual(@as(i32, 0), try tq.wait(t));
        try testing.expect(tq.poll() == null);
        try m.unlock();
    }
    try testing.expect(!m.isLocked());
}

test "condvar: cancel on the condvar, on the mutex, and after the grant" {
    const tq = try TestQueue.open();
    defer tq.close();
    var m: Mutex = .{};
    defer m.deinit();
    var cv: Condvar = .{};
    defer cv.deinit();
    // Before any notify: it simply leaves the condvar.
    try m.lock(Deadline.never);
    const a = try cv.waitAsync(&m, tq.cq);
    try testing.expect(tq.cq.cancel(tq.cq.lookup(a).?));
    try testing.expectEqual(@as(u32, 0), cv.notifyOne());
    try testing.expect(!m.isLocked());
    // Notified, still queued on the held mutex: it leaves the mutex queue.
    try m.lock(Deadline.never);
    const b = try cv.waitAsync(&m, tq.cq);
    try m.lock(Deadline.never);
    try testing.expectEqual(@as(u32, 1), cv.notifyOne());
    try testing.expect(tq.cq.cancel(tq.cq.lookup(b).?));
    try testing.expect(m.queue.isEmpty());
    try m.unlock();
    try testing.expect(!m.isLocked());
    // Granted the mutex, then abandoned: the undo unlocks it.
    try m.lock(Deadline.never);
    const c = try cv.waitAsync(&m, tq.cq);
    try testing.expectEqual(@as(u32, 1), cv.notifyOne());
    try testing.expect(m.isLocked());
    try testing.expect(!tq.cq.cancel(tq.cq.lookup(c).?));
    try tq.settle();
    try testing.expect(!m.isLocked());
}

test "condvar: a sleeping waiter is notified and holds the mutex" {
    var m: Mutex = .{};
    defer m.deinit();
    var cv: Condvar = .{};
    defer cv.deinit();
    const Ctx = struct {
        m: *Mutex,
        cv: *Condvar,
        ready: bool = false,
        result: std.atomic.Value(u32) = .init(0),
        fn run(c: *@This()) void {
            c.m.lock(Deadline.never) catch unreachable;
            while (!c.ready) {
                c.cv.wait(c.m, Deadline.fromMs(10_000)) catch unreachable;
            }
            c.result.store(if (c.m.isLocked()) 1 else 2, .release);
            c.m.unlock() catch unreachable;
        }
    };
    var ctx: Ctx = .{ .m = &m, .cv = &cv };
    const th = try std.Thread.spawn(.{}, Ctx.run, .{&ctx});
    while (support.queuedLen(&cv.queue) == 0) std.Thread.yield() catch {};
    try m.lock(Deadline.never);
    ctx.ready = true;
    try testing.expectEqual(@as(u32, 1), cv.notifyOne());
    std.Thread.sleep(std.time.ns_per_ms);
    // It cannot return before we let go of the mutex.
    try testing.expectEqual(@as(u32, 0), ctx.result.load(.acquire));
    try m.unlock();
    th.join();
    try testing.expectEqual(@as(u32, 1), ctx.result.load(.acquire));
    try testing.expect(!m.isLocked());
}

test "condvar: a notify before the timeout wins even if the mutex comes late" {
    var m: Mutex = .{};
    defer m.deinit();
    var cv: Condvar = .{};
    defer cv.deinit();
    const T = struct {
        fn run(mm: *Mutex, c: *Condvar, out: *std.atomic.Value(u32)) void {
            mm.lock(Deadline.never) catch unreachable;
            const r: u32 = if (c.wait(mm, Deadline.fromMs(20))) |_| 1 else |err| if (err == error.Timeout) 2 else 3;
            out.store(if (mm.isLocked()) r else 4, .release);
            mm.unlock() catch unreachable;
        }
    };
    var out = std.atomic.Value(u32).init(0);
    const th = try std.Thread.spawn(.{}, T.run, .{ &m, &cv, &out });
    while (support.queuedLen(&cv.queue) == 0) std.Thread.yield() catch {};
    try m.lock(Deadline.never);
    try testing.expectEqual(@as(u32, 1), cv.notifyOne());
    // Hold the mutex well past the waiter's deadline.
    std.Thread.sleep(40 * std.time.ns_per_ms);
    try testing.expectEqual(@as(u32, 0), out.load(.acquire));
    try m.unlock();
    th.join();
    try testing.expectEqual(@as(u32, 1), out.load(.acquire));
}

test "condvar: destroying with waiters hands them their mutex" {
    const tq = try TestQueue.open();
    defer tq.close();
    var m: Mutex = .{};
    defer m.deinit();
    var cv: Condvar = .{};
    try m.lock(Deadline.never);
    const a = try cv.waitAsync(&m, tq.cq);
    cv.deinit();
    try testing.expectEqual(@as(i32, 0), try tq.wait(a));
    try testing.expect(m.isLocked());
    try m.unlock();
}

test "condvar: stress, producers and consumers lose no item" {
    const producers = 4;
    const consumers = 4;
    const per_producer = 5_000;
    const total = producers * per_producer;
    const Ctx = struct {
        m: Mutex = .{},
        not_empty: Condvar = .{},
        not_full: Condvar = .{},
        // Guarded by `m`.
        ring: [16]u64 = undefined,
        head: u32 = 0,
        len: u32 = 0,
        taken: u32 = 0,
        sum: u64 = 0,
        received: u32 = 0,
        gate: support.StartGate = .{},

        fn produce(c: *@This(), id: u64) void {
            c.gate.wait();
            for (0..per_producer) |i| {
                c.m.lock(Deadline.never) catch unreachable;
                while (c.len == c.ring.len) {
                    // Timed waits mix in the timeout path; spurious returns
                    // are fine, the loop re-checks.
                    c.not_full.wait(&c.m, Deadline.fromMs(1)) catch |err| std.debug.assert(err == error.Timeout);
                }
                c.ring[(c.head + c.len) % c.ring.len] = id * per_producer + i + 1;
                c.len += 1;
                _ = c.not_empty.notifyOne();
                c.m.unlock() catch unreachable;
            }
        }

        fn consumeSync(c: *@This()) void {
            c.gate.wait();
            c.m.lock(Deadline.never) catch unreachable;
            while (true) {
                while (c.len == 0 and c.taken < total) {
                    c.not_empty.wait(&c.m, Deadline.never) catch unreachable;
                }
                if (c.len == 0) break;
                c.take();
            }
            c.m.unlock() catch unreachable;
        }

        fn consumeAsync(c: *@This()) void {
            const tq = TestQueue.open() catch unreachable;
            defer tq.close();
            c.gate.wait();
            const token = c.m.lockAsync(tq.cq) catch unreachable;
            if (token != 0) std.debug.assert((tq.wait(token) catch unreachable) == 0);
            while (true) {
                while (c.len == 0 and c.taken < total) {
                    const t = c.not_empty.waitAsync(&c.m, tq.cq) catch unreachable;
                    std.debug.assert((tq.wait(t) catch unreachable) == 0);
                }
                if (c.len == 0) break;
                c.take();
            }
            c.m.unlock() catch unreachable;
        }

        /// Caller holds `m` and the ring is not empty.
        fn take(c: *@This()) void {
            c.sum += c.ring[c.head];
            c.head = (c.head + 1) % @as(u32, c.ring.len);
            c.len -= 1;
            c.taken += 1;
            c.received += 1;
            _ = c.not_full.notifyOne();
            // The last item: wake every consumer so they see the end.
            if (c.taken == total) _ = c.not_empty.notifyAll();
        }
    };
    var ctx: Ctx = .{};
    defer ctx.m.deinit();
    var ts: [producers + consumers]std.Thread = undefined;
    for (ts[0..producers], 0..) |*t, i| t.* = try std.Thread.spawn(.{}, Ctx.produce, .{ &ctx, i });
    for (ts[producers..], 0..) |*t, i| {
        t.* = if (i % 2 == 0)
            try std.Thread.spawn(.{}, Ctx.consumeSync, .{&ctx})
        else
            try std.Thread.spawn(.{}, Ctx.consumeAsync, .{&ctx});
    }
    ctx.gate.open(ts.len);
    for (ts) |t| t.join();
    try testing.expectEqual(@as(u32, total), ctx.received);
    try testing.expectEqual(@as(u64, total * (total + 1) / 2), ctx.sum);
    try testing.expect(!ctx.m.isLocked());
    try testing.expect(ctx.not_empty.queue.isEmpty());
    try testing.expect(ctx.not_full.queue.isEmpty());
}

test "condvar: stress, aborts race notifies and the mutex stays exclusive" {
    const iterations = 1_500;
    const Ctx = struct {
        m: Mutex = .{},
        cv: Condvar = .{},
        gate: support.StartGate = .{},
        stop: std.atomic.Value(bool) = .init(false),
        holders: std.atomic.Value(u32) = .init(0),
        overlaps: std.atomic.Value(u32) = .init(0),

        /// Caller holds `m`; gives it up.
        fn critical(c: *@This()) void {
            if (c.holders.fetchAdd(1, .monotonic) != 0) _ = c.overlaps.fetchAdd(1, .monotonic);
            _ = c.holders.fetchSub(1, .monotonic);
            c.m.unlock() catch unreachable;
        }

        fn asyncWaiter(c: *@This(), seed: u64) void {
            var rng = support.Rng.init(seed, 0);
            const tq = TestQueue.open() catch unreachable;
            defer tq.close();
            c.gate.wait();
            for (0..iterations) |_| {
                const lt = c.m.lockAsync(tq.cq) catch unreachable;
                if (lt != 0) std.debug.assert((tq.wait(lt) catch unreachable) == 0);
                const t = c.cv.waitAsync(&c.m, tq.cq) catch unreachable;
                switch (rng.below(3)) {
                    // Abort at once or a little later: on the condvar, on
                    // the mutex, or granted (then undone on the next drain).
                    // Either way this waiter does not hold the mutex.
                    0 => _ = tq.cq.cancel(tq.cq.lookup(t).?),
                    1 => {
                        std.Thread.yield() catch {};
                        _ = tq.cq.cancel(tq.cq.lookup(t).?);
                    },
                    else => {
                        std.debug.assert((tq.wait(t) catch unreachable) == 0);
                        c.critical();
                    },
                }
            }
            tq.settle() catch unreachable;
        }

        fn syncWaiter(c: *@This()) void {
            c.gate.wait();
            for (0..iterations) |_| {
                c.m.lock(Deadline.never) catch unreachable;
                c.cv.wait(&c.m, Deadline.fromMs(0.2)) catch |err| std.debug.assert(err == error.Timeout);
                c.critical();
            }
        }

        fn notifier(c: *@This(), seed: u64) void {
            var rng = support.Rng.init(seed, 0);
            c.gate.wait();
            while (!c.stop.load(.acquire)) {
                const hold = rng.below(2) == 0;
                if (hold) c.m.lock(Deadline.never) catch unreachable;
                _ = if (rng.below(4) == 0) c.cv.notifyAll() else c.cv.notifyOne();
                if (hold) c.critical();
                std.Thread.yield() catch {};
            }
        }
    };
    var ctx: Ctx = .{};
    defer ctx.m.deinit();
    var waiters: [5]std.Thread = undefined;
    for (&waiters, 0..) |*t, i| {
        t.* = if (i < 3)
            try std.Thread.spawn(.{}, Ctx.asyncWaiter, .{ &ctx, i + 1 })
        else
            try std.Thread.spawn(.{}, Ctx.syncWaiter, .{&ctx});
    }
    var notifiers: [2]std.Thread = undefined;
    for (&notifiers, 0..) |*t, i| t.* = try std.Thread.spawn(.{}, Ctx.notifier, .{ &ctx, i + 10 });
    ctx.gate.open(waiters.len + notifiers.len);
    for (waiters) |t| t.join();
    ctx.stop.store(true, .release);
    for (notifiers) |t| t.join();
    try testing.expectEqual(@as(u32, 0), ctx.overlaps.load(.monotonic));
    try testing.expect(!ctx.m.isLocked());
    try testing.expect(ctx.m.queue.isEmpty());
    try testing.expect(ctx.cv.queue.isEmpty());
}

test "condvar: a cancel racing a notify never takes a moved waiter for granted" {
    // Run until the notifier has moved enough waiters to make the race
    // likely (it may be scheduled late on a busy machine), within a cap.
    const iterations = 100_000;
    const enough_moves = 3_000;
    const Ctx = struct {
        m: Mutex = .{},
        cv: Condvar = .{},
        stop: std.atomic.Value(bool) = .init(false),
        moved: std.atomic.Value(u32) = .init(0),
        gate: support.StartGate = .{},

        fn notifier(c: *@This()) void {
            c.gate.wait();
            while (!c.stop.load(.acquire)) _ = c.moved.fetchAdd(c.cv.notifyOne(), .monotonic);
        }
    };
    var ctx: Ctx = .{};
    defer ctx.m.deinit();
    const tq = try TestQueue.open();
    defer tq.close();
    const th = try std.Thread.spawn(.{}, Ctx.notifier, .{&ctx});
    defer th.join();
    defer ctx.stop.store(true, .release);
    ctx.gate.open(1);
    var rng = support.Rng.init(7, 0);
    var checked: u32 = 0;
    for (0..iterations) |_| {
        if (ctx.moved.load(.monotonic) >= enough_moves) break;
        try ctx.m.lock(Deadline.never);
        const t = try ctx.cv.waitAsync(&ctx.m, tq.cq);
        const w = tq.cq.lookup(t).?;
        if (ctx.m.tryLock()) {
            // We hold the mutex, so the waiter cannot have been granted:
            // on the condvar, on the mutex, or moving between them, a
            // cancel must find it pending. Vary where the cancel lands
            // relative to the notifier's move.
            for (0..rng.below(64)) |_| std.atomic.spinLoopHint();
            try testing.expect(wait_queue.cancel(w));
            tq.cq.release(w);
            try ctx.m.unlock();
            checked += 1;
        } else {
            // Notified while the mutex was free: it holds the mutex now.
            try testing.expectEqual(@as(i32, 0), try tq.wait(t));
            try ctx.m.unlock();
        }
    }
    try testing.expect(checked > 0);
    try testing.expect(!ctx.m.isLocked());
}
