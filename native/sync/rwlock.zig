//! RwLock: many readers or one writer (`avx_rwlock_*`), for sleeping
//! threads and async operations alike.
//!
//! Policy, FIFO phases, so neither side starves:
//! - The state word holds a writer bit, a queued bit and the reader count.
//!   The fast paths (one CAS) run only while nobody is queued.
//! - Once anyone is queued, every newcomer queues behind, even a reader
//!   while readers hold the lock: a waiting writer is never overtaken.
//! - When the lock frees up (or a cancel exposes a new head), the head is
//!   granted: a writer alone, or the whole run of consecutive readers at
//!   the head together. Readers behind the next writer wait for it.
//!
//! Invariant, observed whenever the queue lock is free: the queued bit is
//! set exactly when the queue is non-empty; it changes only under the
//! queue lock. While it is set, the state changes only under the queue
//! lock, except that a reader may leave on the fast path when it is not
//! the last one (that can never make the lock grantable).
const std = @import("std");
const wait_queue = @import("../core/wait_queue.zig");
const Waiter = wait_queue.Waiter;
const WaitQueue = wait_queue.WaitQueue;
const Cq = @import("../core/cq.zig").Cq;
const Code = @import("../core/code.zig").Code;
const Deadline = @import("../os/clock.zig").Deadline;

pub const Access = enum(u32) { read = 0, write = 1 };

pub const RwLock = struct {
    state: std.atomic.Value(u32) = .init(0),
    queue: WaitQueue = .{ .on_cancel = onCancel },

    const writer: u32 = 1 << 31;
    const queued: u32 = 1 << 30;
    const readers_mask: u32 = queued - 1;
    /// Bound on CAS retries; each failure means another thread made
    /// progress, so hitting it means the state word is corrupt.
    const retry_limit: u32 = 1 << 24;

    /// Free an rwlock nobody references any more: waiters still queued are
    /// granted `closed` without undo (see Mutex.deinit).
    pub fn deinit(rw: *RwLock) void {
        rw.queue.lock.lock();
        defer rw.queue.lock.unlock();
        var n: u32 = 0;
        while (rw.queue.head) |w| : (n += 1) {
            std.debug.assert(n < retry_limit);
            w.undo = null;
            rw.queue.grantFront(Code.closed.int());
        }
        rw.state.store(0, .release);
    }

    pub fn readers(rw: *const RwLock) u32 {
        return rw.state.load(.acquire) & readers_mask;
    }

    pub fn isWriteLocked(rw: *const RwLock) bool {
        return rw.state.load(.acquire) & writer != 0;
    }

    /// Whether `access` could be taken in state `s`, ignoring the queue.
    fn grantable(s: u32, access: Access) bool {
        return switch (access) {
            .read => s & writer == 0 and s & readers_mask < readers_mask,
            .write => s & (writer | readers_mask) == 0,
        };
    }

    fn taken(s: u32, access: Access) u32 {
        return switch (access) {
            .read => s + 1,
            .write => s | writer,
        };
    }

    pub fn tryLock(rw: *RwLock, access: Access) bool {
        var s = rw.state.load(.monotonic);
        var attempts: u32 = 0;
        while (true) : (attempts += 1) {
            std.debug.assert(attempts < retry_limit);
            if (s & queued != 0 or !grantable(s, access)) return false;
            s = rw.state.cmpxchgWeak(s, taken(s, access), .acquire, .monotonic) orelse return true;
        }
    }

    /// Lock for `access`, sleeping the calling thread until `deadline`.
    pub fn lock(rw: *RwLock, access: Access, deadline: Deadline) error{ Timeout, Closed }!void {
        if (rw.tryLock(access)) return;
        if (deadline.remainingNs()) |left| {
            if (left == 0) return error.Timeout;
        }
        var w = Waiter.initSync(@intFromEnum(access));
        rw.queue.lock.lock();
        const acquired = rw.acquireOrEnqueue(&w);
        rw.queue.lock.unlock();
        if (acquired) return;
        return w.sleepUntilGranted(deadline);
    }

    /// Lock for an async operation of the isolate that owns `cq`: 0 when
    /// taken at once, else the token whose completion (0) means held.
    pub fn lockAsync(rw: *RwLock, access: Access, cq: *Cq) error{Limit}!u32 {
        if (rw.tryLock(access)) return 0;
        const w = cq.acquire() orelse return if (rw.tryLock(access)) 0 else error.Limit;
        w.request = @intFromEnum(access);
        w.undo = undoLock;
        w.target = rw;
        return wait_queue.registerAsync(RwLock, rw, &rw.queue, w, acquireOrEnqueue);
    }

    /// Take the lock if nobody is queued and it is grantable, else set the
    /// queued bit and queue `w` behind the others. Caller holds the lock.
    fn acquireOrEnqueue(rw: *RwLock, w: *Waiter) bool {
        const access: Access = @enumFromInt(w.request);
        if (rw.queue.isEmpty()) {
            // The queued bit goes in with a CAS against the state we judged:
            // a holder leaving on the fast path meanwhile makes it fail, so
            // we either see the lock free or the holder sees our bit.
            var s = rw.state.load(.monotonic);
            var attempts: u32 = 0;
            while (true) : (attempts += 1) {
                std.debug.assert(attempts < retry_limit);
                std.debug.assert(s & queued == 0);
                const next = if (grantable(s, access)) taken(s, access) else s | queued;
                s = rw.state.cmpxchgWeak(s, next, .acquire, .monotonic) orelse {
                    if (next & queued == 0) return true;
                    break;
                };
            }
        }
        std.debug.assert(rw.state.load(.monotonic) & queued != 0);
        rw.queue.pushBack(w);
        return false;
    }

    pub fn unlock(rw: *RwLock, access: Access) error{NotLocked}!void {
        return switch (access) {
            .read => rw.unlockRead(),
            .write => rw.unlockWrite(),
        };
    }

    pub fn unlockRead(rw: *RwLock) error{NotLocked}!void {
        var s = rw.state.load(.monotonic);
        var attempts: u32 = 0;
        while (true) : (attempts += 1) {
            std.debug.assert(attempts < retry_limit);
            const count = s & readers_mask;
            if (count == 0) return error.NotLocked;
            std.debug.assert(s & writer == 0);
            // The last reader out with waiters queued must grant them.
            if (s & queued != 0 and count == 1) return rw.unlockSlow(.read);
            s = rw.state.cmpxchgWeak(s, s - 1, .release, .monotonic) orelse return;
        }
    }

    pub fn unlockWrite(rw: *RwLock) error{NotLocked}!void {
        var s = rw.state.load(.monotonic);
        var attempts: u32 = 0;
        while (true) : (attempts += 1) {
            std.debug.assert(attempts < retry_limit);
            if (s & writer == 0) return error.NotLocked;
            std.debug.assert(s & readers_mask == 0);
            if (s & queued != 0) return rw.unlockSlow(.write);
            s = rw.state.cmpxchgWeak(s, 0, .release, .monotonic) orelse return;
        }
    }

    /// Release under the queue lock, then grant whoever can go now.
    fn unlockSlow(rw: *RwLock, access: Access) error{NotLocked}!void {
        rw.queue.lock.lock();
        defer rw.queue.lock.unlock();
        var s = rw.state.load(.monotonic);
        var attempts: u32 = 0;
        while (true) : (attempts += 1) {
            std.debug.assert(attempts < retry_limit);
            const held = switch (access) {
                .read => s & readers_mask != 0,
                .write => s & writer != 0,
            };
            if (!held) return error.NotLocked; // A racing double unlock.
            const next = switch (access) {
                .read => s - 1,
                .write => s & ~writer,
            };
            s = rw.state.cmpxchgWeak(s, next, .release, .monotonic) orelse break;
        }
        rw.grantWaiting();
    }

    /// Grant the head while it can go: a writer alone, or every reader up
    /// to the next writer. Then make the queued bit match the queue.
    /// Caller holds the queue lock.
    fn grantWaiting(rw: *RwLock) void {
        var n: u32 = 0;
        while (rw.queue.head) |w| : (n += 1) {
            std.debug.assert(n < retry_limit);
            const access: Access = @enumFromInt(w.request);
            const s = rw.state.load(.monotonic);
            if (!grantable(s, access)) break;
            switch (access) {
                // No holder: nothing else can change the state now.
                .write => _ = rw.state.fetchOr(writer, .acquire),
                // Readers leaving on the fast path may race: add atomically.
                .read => _ = rw.state.fetchAdd(1, .acquire),
            }
            rw.queue.grantFront(0);
            if (access == .write) break;
        }
        if (rw.queue.isEmpty()) _ = rw.state.fetchAnd(~queued, .monotonic);
    }

    /// A waiter left the queue: the one behind it may be grantable now (a
    /// writer at the head blocked readers while readers held the lock).
    fn onCancel(q: *WaitQueue) void {
        const rw: *RwLock = @fieldParentPtr("queue", q);
        rw.grantWaiting();
    }

    /// Undo of a lock granted to an operation abandoned afterwards.
    pub fn undoLock(w: *Waiter) void {
        const rw: *RwLock = @ptrCast(@alignCast(w.target.?));
        rw.unlock(@enumFromInt(w.request)) catch {};
    }
};

// ---------------------------------------------------------------- tests

const testing = std.testing;
const support = @import("../testing/support.zig");
const TestQueue = support.TestQueue;

test "rwlock: readers share, a writer excludes, not_locked" {
    var rw: RwLock = .{};
    defer rw.deinit();
    try testing.expectError(error.NotLocked, rw.unlockRead());
    try testing.expectError(error.NotLocked, rw.unlockWrite());
    try testing.expect(rw.tryLock(.read));
    try testing.expect(rw.tryLock(.read));
    try testing.expectEqual(@as(u32, 2), rw.readers());
    try testing.expect(!rw.tryLock(.write));
    try testing.expectError(error.NotLocked, rw.unlockWrite());
    try rw.unlockRead();
    try rw.unlockRead();
    try testing.expectError(error.NotLocked, rw.unlockRead());
    try testing.expect(rw.tryLock(.write));
    try testing.expect(!rw.tryLock(.read));
    try testing.expect(!rw.tryLock(.write));
    try testing.expectError(error.NotLocked, rw.unlockRead());
    try testing.expectError(error.Timeout, rw.lock(.read, Deadline.fromMs(1)));
    try testing.expectError(error.Timeout, rw.lock(.write, Deadline.fromMs(0)));
    try testing.expect(rw.queue.isEmpty());
    try rw.unlockWrite();
    try testing.expectEqual(@as(u32, 0), rw.state.load(.monotonic));
}

test "rwlock: a queued writer goes before readers that came after it" {
    const tq = try TestQueue.open();
    defer tq.close();
    var rw: RwLock = .{};
    defer rw.deinit();
    try testing.expect(rw.tryLock(.read));
    const w1 = try rw.lockAsync(.write, tq.cq);
    try testing.expect(w1 > 0);
    // A reader arriving now queues although only readers hold the lock.
    try testing.expect(!rw.tryLock(.read));
    const r1 = try rw.lockAsync(.read, tq.cq);
    const r2 = try rw.lockAsync(.read, tq.cq);
    const w2 = try rw.lockAsync(.write, tq.cq);
    const r3 = try rw.lockAsync(.read, tq.cq);
    try testing.expect(r1 > 0 and r2 > 0 and w2 > 0 and r3 > 0);
    try testing.expect(tq.poll() == null);
    // The last reader out grants the writer alone.
    try rw.unlockRead();
    try testing.expectEqual(@as(i32, 0), try tq.wait(w1));
    try testing.expect(rw.isWriteLocked());
    try testing.expect(tq.poll() == null);
    // The writer out grants the whole run of readers behind it, not r3.
    try rw.unlockWrite();
    var got: [2]i32 = undefined;
    for (&got) |*g| g.* = (tq.poll() orelse return error.MissingGrant)[0];
    try testing.expectEqual(@as(i32, @intCast(r1)), got[0]);
    try testing.expectEqual(@as(i32, @intCast(r2)), got[1]);
    try testing.expect(tq.poll() == null);
    try testing.expectEqual(@as(u32, 2), rw.readers());
    try rw.unlockRead();
    try testing.expect(tq.poll() == null);
    try rw.unlockRead();
    try testing.expectEqual(@as(i32, 0), try tq.wait(w2));
    try rw.unlockWrite();
    try testing.expectEqual(@as(i32, 0), try tq.wait(r3));
    try rw.unlockRead();
    try testing.expectEqual(@as(u32, 0), rw.state.load(.monotonic));
}

test "rwlock: cancelling a writer that blocked readers lets them in" {
    const tq = try TestQueue.open();
    defer tq.close();
    var rw: RwLock = .{};
    defer rw.deinit();
    try testing.expect(rw.tryLock(.read));
    const w = try rw.lockAsync(.write, tq.cq);
    const r1 = try rw.lockAsync(.read, tq.cq);
    const r2 = try rw.lockAsync(.read, tq.cq);
    try testing.expect(tq.cq.cancel(tq.cq.lookup(w).?));
    try testing.expectEqual(@as(i32, 0), try tq.wait(r1));
    try testing.expectEqual(@as(i32, 0), try tq.wait(r2));
    try testing.expectEqual(@as(u32, 3), rw.readers());
    // Nobody queued any more: fast paths are open again.
    try testing.expectEqual(@as(u32, 3), rw.state.load(.monotonic));
    for (0..3) |_| try rw.unlockRead();
    try testing.expectEqual(@as(u32, 0), rw.state.load(.monotonic));
}

test "rwlock: a sync writer timing out lets the readers behind it in" {
    var rw: RwLock = .{};
    defer rw.deinit();
    try testing.expect(rw.tryLock(.read));
    const T = struct {
        fn writer(r: *RwLock, result: *std.atomic.Value(u32)) void {
            r.lock(.write, Deadline.fromMs(100)) catch |err| {
                result.store(if (err == error.Timeout) 2 else 3, .release);
                return;
            };
            result.store(1, .release);
        }
        fn reader(r: *RwLock, result: *std.atomic.Value(u32)) void {
            r.lock(.read, Deadline.never) catch unreachable;
            result.store(1, .release);
            r.unlockRead() catch unreachable;
        }
    };
    var wres = std.atomic.Value(u32).init(0);
    var rres = std.atomic.Value(u32).init(0);
    const wt = try std.Thread.spawn(.{}, T.writer, .{ &rw, &wres });
    while (support.queuedLen(&rw.queue) < 1) std.Thread.yield() catch {};
    const rt = try std.Thread.spawn(.{}, T.reader, .{ &rw, &rres });
    while (support.queuedLen(&rw.queue) < 2 and wres.load(.acquire) == 0) std.Thread.yield() catch {};
    // Queued behind the writer, the reader waits although readers hold.
    try testing.expectEqual(@as(u32, 0), rres.load(.acquire));
    wt.join();
    rt.join();
    try testing.expectEqual(@as(u32, 2), wres.load(.acquire));
    try testing.expectEqual(@as(u32, 1), rres.load(.acquire));
    try rw.unlockRead();
    try testing.expectEqual(@as(u32, 0), rw.state.load(.monotonic));
}

test "rwlock: cancel after the grant unlocks through undo" {
    const tq = try TestQueue.open();
    defer tq.close();
    var rw: RwLock = .{};
    defer rw.deinit();
    // An abandoned write grant is undone and hands over to the readers.
    try testing.expect(rw.tryLock(.write));
    const w = try rw.lockAsync(.write, tq.cq);
    const r = try rw.lockAsync(.read, tq.cq);
    try rw.unlockWrite();
    try testing.expect(!tq.cq.cancel(tq.cq.lookup(w).?));
    try testing.expectEqual(@as(i32, 0), try tq.wait(r));
    try testing.expectEqual(@as(u32, 1), rw.readers());
    // An abandoned read grant is undone too.
    const w2 = try rw.lockAsync(.write, tq.cq);
    const r2 = try rw.lockAsync(.read, tq.cq);
    try rw.unlockRead();
    try testing.expectEqual(@as(i32, 0), try tq.wait(w2));
    try rw.unlockWrite();
    try testing.expect(!tq.cq.cancel(tq.cq.lookup(r2).?));
    try tq.settle();
    try testing.expectEqual(@as(u32, 0), rw.state.load(.monotonic));
}

test "rwlock: stress, readers never overlap a writer, writers never overlap" {
    const iterations = 3_000;
    const Ctx = struct {
        rw: RwLock = .{},
        readers_in: std.atomic.Value(u32) = .init(0),
        writers_in: std.atomic.Value(u32) = .init(0),
        violations: std.atomic.Value(u32) = .init(0),
        max_readers: std.atomic.Value(u32) = .init(0),
        /// Written only by writers, read by readers: torn if they overlap.
        data: [2]u64 = .{ 0, 0 },
        writes: u64 = 0,
        gate: support.StartGate = .{},

        fn read(c: *@This()) void {
            _ = c.readers_in.fetchAdd(1, .acquire);
            // Holders of the lock, not threads inside this function: on two
            // cores readers granted together rarely run at the same instant.
            support.atomicMax(&c.max_readers, c.rw.readers());
            if (c.writers_in.load(.acquire) != 0) _ = c.violations.fetchAdd(1, .monotonic);
            const a = @atomicLoad(u64, &c.data[0], .monotonic);
            const b = @atomicLoad(u64, &c.data[1], .monotonic);
            if (a != b) _ = c.violations.fetchAdd(1, .monotonic);
            _ = c.readers_in.fetchSub(1, .release);
            c.rw.unlockRead() catch unreachable;
        }

        fn write(c: *@This()) void {
            if (c.writers_in.fetchAdd(1, .acquire) != 0) _ = c.violations.fetchAdd(1, .monotonic);
            if (c.readers_in.load(.acquire) != 0) _ = c.violations.fetchAdd(1, .monotonic);
            @atomicStore(u64, &c.data[0], c.data[0] + 1, .monotonic);
            // Now and then lose the CPU mid-write: readers must still wait.
            if (c.data[0] % 16 == 0) std.Thread.yield() catch {};
            @atomicStore(u64, &c.data[1], c.data[1] + 1, .monotonic);
            c.writes += 1;
            _ = c.writers_in.fetchSub(1, .release);
            c.rw.unlockWrite() catch unreachable;
        }

        fn enter(c: *@This(), access: Access) void {
            switch (access) {
                .read => c.read(),
                .write => c.write(),
            }
        }

        fn syncThread(c: *@This(), seed: u64) void {
            var rng = support.Rng.init(seed, 0);
            c.gate.wait();
            var done: u32 = 0;
            while (done < iterations) {
                const access: Access = if (rng.below(4) == 0) .write else .read;
                const timed = rng.below(8) == 0;
                c.rw.lock(access, if (timed) Deadline.fromMs(0.05) else Deadline.never) catch continue;
                c.enter(access);
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
                const access: Access = if (rng.below(4) == 0) .write else .read;
                const token = c.rw.lockAsync(access, tq.cq) catch unreachable;
                if (token != 0 and rng.below(4) == 0) {
                    _ = tq.cq.cancel(tq.cq.lookup(token).?);
                    continue;
                }
                if (token != 0) std.debug.assert((tq.wait(token) catch unreachable) == 0);
                c.enter(access);
                done += 1;
            }
            tq.settle() catch unreachable;
        }
    };
    var ctx: Ctx = .{};
    defer ctx.rw.deinit();
    try support.runMixed(8, &ctx, Ctx.syncThread, Ctx.asyncThread, 4, 3);
    try testing.expectEqual(@as(u32, 0), ctx.violations.load(.monotonic));
    try testing.expect(ctx.max_readers.load(.monotonic) > 1);
    try testing.expectEqual(ctx.data[0], ctx.writes);
    try testing.expectEqual(ctx.data[1], ctx.writes);
    try testing.expect(ctx.writes > 0);
    try testing.expectEqual(@as(u32, 0), ctx.rw.state.load(.monotonic));
    try testing.expect(ctx.rw.queue.isEmpty());
}
