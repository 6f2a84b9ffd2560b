//! Mutex: the lock JavaScript sees (`avx_mutex_*`), shared by every
//! isolate of the process and usable from sleeping threads and async
//! operations alike.
//!
//! Policy:
//! - The state word is 0 unlocked, 1 locked, 2 locked with waiters queued.
//!   An uncontended lock is one CAS (0 -> 1) and an uncontended unlock one
//!   CAS (1 -> 0).
//! - A contended lock spins a bounded number of times while the mutex is
//!   merely locked (it is often released within microseconds), then takes
//!   the queue lock, re-checks, marks the state 2 and queues.
//! - Unlock with waiters hands ownership straight to the head waiter: the
//!   state never passes through 0, so nobody can barge in between, and a
//!   queued waiter is granted in FIFO order (no starvation once queued).
//!   Newcomers may only take the lock on the fast path while nobody is
//!   queued.
//! - The lock has no owner thread: an async operation holds it across
//!   awaits. Unlocking an unlocked mutex is reported (`not_locked`), never
//!   undefined behaviour.
//!
//! Invariant, observed whenever the queue lock is free: the queue is
//! non-empty only if the state is 2, and the state leaves 2 only under the
//! queue lock.
const std = @import("std");
const wait_queue = @import("../core/wait_queue.zig");
const Waiter = wait_queue.Waiter;
const WaitQueue = wait_queue.WaitQueue;
const Cq = @import("../core/cq.zig").Cq;
const Code = @import("../core/code.zig").Code;
const Deadline = @import("../os/clock.zig").Deadline;

pub const Mutex = struct {
    state: std.atomic.Value(u32) = .init(unlocked),
    queue: WaitQueue = .{ .on_cancel = onCancel },

    const unlocked: u32 = 0;
    const locked: u32 = 1;
    /// Locked, and waiters may be queued: the unlocker takes the slow path.
    const contended: u32 = 2;
    /// Long enough to cover a short critical section on another core,
    /// short enough not to burn a time slice.
    const spin_limit: u32 = 100;
    /// Bound on CAS retries; each failure means another thread made
    /// progress, so hitting it means the state word is corrupt.
    const retry_limit: u32 = 1 << 24;

    /// Free a mutex nobody references any more. Waiters still queued would
    /// point into freed memory, so they are granted `closed` (without undo:
    /// there is nothing to give back to a destroyed mutex).
    pub fn deinit(m: *Mutex) void {
        m.queue.lock.lock();
        defer m.queue.lock.unlock();
        var n: u32 = 0;
        while (m.queue.head) |w| : (n += 1) {
            std.debug.assert(n < retry_limit);
            w.undo = null;
            m.queue.grantFront(Code.closed.int());
        }
        m.state.store(unlocked, .release);
    }

    pub fn isLocked(m: *const Mutex) bool {
        return m.state.load(.acquire) != unlocked;
    }

    pub fn tryLock(m: *Mutex) bool {
        return m.state.cmpxchgStrong(unlocked, locked, .acquire, .monotonic) == null;
    }

    /// Lock, sleeping the calling thread until `deadline`.
    pub fn lock(m: *Mutex, deadline: Deadline) error{ Timeout, Closed }!void {
        if (m.state.cmpxchgWeak(unlocked, locked, .acquire, .monotonic) == null) return;
        return m.lockSlow(deadline);
    }

    fn lockSlow(m: *Mutex, deadline: Deadline) error{ Timeout, Closed }!void {
        if (m.spin()) return;
        // A zero timeout is a try-lock; do not queue just to cancel.
        if (deadline.remainingNs()) |left| {
            if (left == 0) return if (m.tryLock()) {} else error.Timeout;
        }
        var w = Waiter.initSync(0);
        m.queue.lock.lock();
        const acquired = m.acquireOrEnqueue(&w);
        m.queue.lock.unlock();
        if (acquired) return;
        return w.sleepUntilGranted(deadline);
    }

    /// Spin while the mutex is merely locked. Stops as soon as waiters are
    /// queued: they come first.
    fn spin(m: *Mutex) bool {
        var i: u32 = 0;
        while (i < spin_limit) : (i += 1) {
            const s = m.state.load(.monotonic);
            if (s == contended) return false;
            if (s == unlocked and m.state.cmpxchgWeak(unlocked, locked, .acquire, .monotonic) == null) return true;
            std.atomic.spinLoopHint();
        }
        return false;
    }

    /// Lock for an async operation of the isolate that owns `cq`. Returns 0
    /// when the mutex was taken at once, else the token of the operation
    /// whose completion (result 0) means the mutex is held.
    pub fn lockAsync(m: *Mutex, cq: *Cq) error{Limit}!u32 {
        if (m.tryLock()) return 0;
        const w = cq.acquire() orelse return if (m.tryLock()) 0 else error.Limit;
        w.undo = undoLock;
        w.target = m;
        return wait_queue.registerAsync(Mutex, m, &m.queue, w, acquireOrEnqueue);
    }

    /// Take the mutex if it is free, else mark it contended and queue `w`.
    /// True when taken (then `w` was not linked). Caller holds the queue
    /// lock, which orders this against every unlock that sees waiters.
    fn acquireOrEnqueue(m: *Mutex, w: *Waiter) bool {
        std.debug.assert(w.queue.load(.monotonic) == null);
        if (m.acquireOrMark()) return true;
        m.queue.pushBack(w);
        return false;
    }

    /// Take the mutex if it is free (true), else make sure the state says
    /// waiters are queued, so the owner's unlock takes the slow path and
    /// sees the waiter the caller is about to link. Caller holds the queue
    /// lock.
    fn acquireOrMark(m: *Mutex) bool {
        var s = m.state.load(.monotonic);
        var attempts: u32 = 0;
        while (true) : (attempts += 1) {
            std.debug.assert(attempts < retry_limit);
            switch (s) {
                unlocked => s = m.state.cmpxchgStrong(unlocked, locked, .acquire, .monotonic) orelse return true,
                locked => s = m.state.cmpxchgStrong(locked, contended, .monotonic, .monotonic) orelse return false,
                contended => return false,
                else => unreachable,
            }
        }
    }

    /// Take over a waiter a condvar holds in `from` (its queue, locked by
    /// the caller; lock order: condvar, then mutex): grant it the mutex at
    /// once if it is free, else move it to the tail of our queue.
    pub fn requeue(m: *Mutex, from: *WaitQueue, w: *Waiter) void {
        std.debug.assert(w.queue.load(.monotonic) == from);
        m.queue.lock.lock();
        defer m.queue.lock.unlock();
        if (m.acquireOrMark()) {
            from.remove(w);
            wait_queue.publish(w, 0);
        } else {
            from.moveTo(&m.queue, w);
        }
    }

    pub fn unlock(m: *Mutex) error{NotLocked}!void {
        var s = m.state.load(.monotonic);
        var attempts: u32 = 0;
        while (true) : (attempts += 1) {
            std.debug.assert(attempts < retry_limit);
            switch (s) {
                unlocked => return error.NotLocked,
                locked => s = m.state.cmpxchgWeak(locked, unlocked, .release, .monotonic) orelse return,
                contended => return m.unlockSlow(),
                else => unreachable,
            }
        }
    }

    /// Waiters may be queued: hand the mutex to the head, or free it if
    /// they all went away.
    fn unlockSlow(m: *Mutex) error{NotLocked}!void {
        m.queue.lock.lock();
        defer m.queue.lock.unlock();
        if (m.queue.head != null) {
            std.debug.assert(m.state.load(.monotonic) == contended);
            // Ownership passes on; the state stays locked. With no one left
            // behind the new owner, its unlock can take the fast path.
            if (m.queue.len == 1) m.state.store(locked, .monotonic);
            m.queue.grantFront(0);
            return;
        }
        // Under the queue lock only the owner changes a locked state, but a
        // buggy double unlock may race us: make that one fail cleanly.
        var s = m.state.load(.monotonic);
        var attempts: u32 = 0;
        while (true) : (attempts += 1) {
            std.debug.assert(attempts < retry_limit);
            if (s == unlocked) return error.NotLocked;
            s = m.state.cmpxchgStrong(s, unlocked, .release, .monotonic) orelse return;
        }
    }

    /// After a waiter left the queue: with nobody queued any more, let the
    /// owner's unlock take the fast path again.
    fn onCancel(q: *WaitQueue) void {
        const m: *Mutex = @fieldParentPtr("queue", q);
        if (q.head == null) _ = m.state.cmpxchgStrong(contended, locked, .monotonic, .monotonic);
    }

    /// Undo of a lock granted to an operation abandoned afterwards.
    pub fn undoLock(w: *Waiter) void {
        const m: *Mutex = @ptrCast(@alignCast(w.target.?));
        m.unlock() catch {}; // Someone else already unlocked it: nothing to give back.
    }
};

// ---------------------------------------------------------------- tests

const testing = std.testing;
const support = @import("../testing/support.zig");
const TestQueue = support.TestQueue;

test "mutex: try_lock, lock, unlock, not_locked" {
    var m: Mutex = .{};
    defer m.deinit();
    try testing.expect(!m.isLocked());
    try testing.expectError(error.NotLocked, m.unlock());
    try testing.expect(m.tryLock());
    try testing.expect(m.isLocked());
    try testing.expect(!m.tryLock());
    try m.unlock();
    try testing.expectError(error.NotLocked, m.unlock());
    try m.lock(Deadline.never);
    try testing.expectError(error.Timeout, m.lock(Deadline.fromMs(0)));
    try m.unlock();
    try testing.expect(!m.isLocked());
}

test "mutex: lock times out and leaves no waiter behind" {
    var m: Mutex = .{};
    defer m.deinit();
    try testing.expect(m.tryLock());
    try testing.expectError(error.Timeout, m.lock(Deadline.fromMs(2)));
    try testing.expect(m.queue.isEmpty());
    // The cancel hook put the state back to plain locked.
    try testing.expectEqual(Mutex.locked, m.state.load(.monotonic));
    try m.unlock();
    try testing.expect(!m.isLocked());
}

test "mutex: async lock is granted in FIFO order by handoff" {
    const tq = try TestQueue.open();
    defer tq.close();
    var m: Mutex = .{};
    defer m.deinit();
    try testing.expectEqual(@as(u32, 0), try m.lockAsync(tq.cq));
    const a = try m.lockAsync(tq.cq);
    const b = try m.lockAsync(tq.cq);
    const c = try m.lockAsync(tq.cq);
    try testing.expect(a > 0 and b > 0 and c > 0);
    try testing.expectEqual(Mutex.contended, m.state.load(.monotonic));
    try testing.expect(tq.poll() == null);
    for ([_]u32{ a, b, c }) |token| {
        try m.unlock();
        // Handed over: it never became free in between.
        try testing.expect(m.isLocked());
        try testing.expectEqual(@as(i32, 0), try tq.wait(token));
    }
    // Nobody left queued: the last owner unlocks on the fast path.
    try testing.expectEqual(Mutex.locked, m.state.load(.monotonic));
    try m.unlock();
    try testing.expect(!m.isLocked());
    try testing.expectEqual(@as(u32, 0), tq.cq.live);
}

test "mutex: cancel before the grant leaves the mutex to the others" {
    const tq = try TestQueue.open();
    defer tq.close();
    var m: Mutex = .{};
    defer m.deinit();
    try testing.expect(m.tryLock());
    const a = try m.lockAsync(tq.cq);
    const b = try m.lockAsync(tq.cq);
    try testing.expect(tq.cq.cancel(tq.cq.lookup(a).?));
    try m.unlock();
    try testing.expectEqual(@as(i32, 0), try tq.wait(b));
    try testing.expect(m.isLocked());
    try m.unlock();
    // Cancel the only waiter: the mutex frees on unlock.
    try testing.expect(m.tryLock());
    const c = try m.lockAsync(tq.cq);
    try testing.expect(tq.cq.cancel(tq.cq.lookup(c).?));
    try testing.expectEqual(Mutex.locked, m.state.load(.monotonic));
    try m.unlock();
    try testing.expect(!m.isLocked());
    try testing.expectEqual(@as(u32, 0), tq.cq.live);
}

test "mutex: cancel after the grant unlocks through undo" {
    const tq = try TestQueue.open();
    defer tq.close();
    var m: Mutex = .{};
    defer m.deinit();
    try testing.expect(m.tryLock());
    const a = try m.lockAsync(tq.cq);
    const b = try m.lockAsync(tq.cq);
    try m.unlock(); // Granted to `a`, which is then abandoned.
    try testing.expect(!tq.cq.cancel(tq.cq.lookup(a).?));
    try testing.expect(m.isLocked());
    // Draining undoes `a` (unlock), which hands the mutex on to `b`.
    try testing.expectEqual(@as(i32, 0), try tq.wait(b));
    try testing.expect(m.isLocked());
    try m.unlock();
    try testing.expect(!m.isLocked());
    // Abandoned with nobody behind: the undo frees the mutex.
    try testing.expect(m.tryLock());
    const c = try m.lockAsync(tq.cq);
    try m.unlock();
    try testing.expect(!tq.cq.cancel(tq.cq.lookup(c).?));
    try tq.settle();
    try testing.expect(!m.isLocked());
}

test "mutex: closing the queue cancels pending locks and undoes granted ones" {
    var m: Mutex = .{};
    defer m.deinit();
    const tq = try TestQueue.open();
    try testing.expect(m.tryLock());
    _ = try m.lockAsync(tq.cq); // Granted, never drained.
    _ = try m.lockAsync(tq.cq); // Still pending at close.
    try m.unlock();
    tq.close();
    try testing.expect(!m.isLocked());
    try testing.expect(m.queue.isEmpty());
}

test "mutex: a sleeping thread is handed the lock" {
    var m: Mutex = .{};
    defer m.deinit();
    try testing.expect(m.tryLock());
    const T = struct {
        fn run(mm: *Mutex, got: *std.atomic.Value(u32)) void {
            mm.lock(Deadline.never) catch unreachable;
            got.store(1, .release);
            mm.unlock() catch unreachable;
        }
    };
    var got = std.atomic.Value(u32).init(0);
    const th = try std.Thread.spawn(.{}, T.run, .{ &m, &got });
    // Wait until it is queued, then hand over.
    while (support.queuedLen(&m.queue) == 0) std.Thread.yield() catch {};
    try testing.expectEqual(@as(u32, 0), got.load(.acquire));
    try m.unlock();
    th.join();
    try testing.expectEqual(@as(u32, 1), got.load(.acquire));
    try testing.expect(!m.isLocked());
}

test "mutex: destroying with waiters grants them closed" {
    const tq = try TestQueue.open();
    defer tq.close();
    var m: Mutex = .{};
    try testing.expect(m.tryLock());
    const a = try m.lockAsync(tq.cq);
    m.deinit();
    try testing.expectEqual(Code.closed.int(), try tq.wait(a));
}

const stress_threads = 8;

test "mutex: stress, a counter from 8 threads is exact" {
    const iterations = 4_000;
    const Ctx = struct {
        m: Mutex = .{},
        n: u64 = 0,
        gate: support.StartGate = .{},
        contended: std.atomic.Value(u32) = .init(0),
        fn run(c: *@This()) void {
            c.gate.wait();
            for (0..iterations) |i| {
                if (!c.m.tryLock()) {
                    _ = c.contended.fetchAdd(1, .monotonic);
                    c.m.lock(Deadline.never) catch unreachable;
                }
                c.n += 1;
                // Now and then lose the CPU while holding the lock, so the
                // others queue and sleep and unlock has to hand over.
                if (i % 128 == 0) std.Thread.yield() catch {};
                c.m.unlock() catch unreachable;
            }
        }
    };
    var ctx: Ctx = .{};
    defer ctx.m.deinit();
    var ts: [stress_threads]std.Thread = undefined;
    for (&ts) |*t| t.* = try std.Thread.spawn(.{}, Ctx.run, .{&ctx});
    ctx.gate.open(stress_threads);
    for (ts) |t| t.join();
    try testing.expectEqual(@as(u64, stress_threads * iterations), ctx.n);
    try testing.expect(ctx.contended.load(.monotonic) > 0);
    try testing.expect(!ctx.m.isLocked());
}

test "mutex: stress, sync, timed and async waiters mixed, with cancels" {
    const iterations = 2_000;
    const Ctx = struct {
        m: Mutex = .{},
        /// Plain (non-atomic) on purpose: the mutex must protect it.
        n: u64 = 0,
        holders: std.atomic.Value(u32) = .init(0),
        overlaps: std.atomic.Value(u32) = .init(0),
        gate: support.StartGate = .{},

        fn critical(c: *@This()) void {
            if (c.holders.fetchAdd(1, .monotonic) != 0) _ = c.overlaps.fetchAdd(1, .monotonic);
            c.n += 1;
            if (c.n % 64 == 0) std.Thread.yield() catch {};
            _ = c.holders.fetchSub(1, .monotonic);
            c.m.unlock() catch unreachable;
        }

        fn syncThread(c: *@This(), seed: u64) void {
            var rng = support.Rng.init(seed, 0);
            c.gate.wait();
            var done: u32 = 0;
            while (done < iterations) {
                const timed = rng.below(4) == 0;
                c.m.lock(if (timed) Deadline.fromMs(0.05) else Deadline.never) catch continue;
                c.critical();
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
                const token = c.m.lockAsync(tq.cq) catch unreachable;
                if (token != 0 and rng.below(3) == 0) {
                    // Abort: pending (cancelled) or granted (undone on drain).
                    _ = tq.cq.cancel(tq.cq.lookup(token).?);
                    continue;
                }
                if (token != 0) std.debug.assert((tq.wait(token) catch unreachable) == 0);
                c.critical();
                done += 1;
            }
            tq.settle() catch unreachable;
        }
    };
    var ctx: Ctx = .{};
    defer ctx.m.deinit();
    try support.runMixed(stress_threads, &ctx, Ctx.syncThread, Ctx.asyncThread, 2, 1);
    try testing.expectEqual(@as(u64, stress_threads * iterations), ctx.n);
    try testing.expectEqual(@as(u32, 0), ctx.overlaps.load(.monotonic));
    try testing.expect(!ctx.m.isLocked());
    try testing.expect(ctx.m.queue.isEmpty());
}
