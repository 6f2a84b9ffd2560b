//! Ports: the wait queues of channels, kept in a pool that is never freed.
//!
//! A channel is freed when its last handle goes, but two things may still
//! point at its wait queues afterwards:
//!
//! - an async waiter that was granted, then abandoned: its completion queue
//!   runs `undo` whenever the isolate next drains, possibly long after the
//!   channel is gone;
//! - a `cancel` racing the last release: it loads `waiter.queue` before the
//!   channel grants it away, then takes that queue's lock.
//!
//! So a channel's wait queues live in ports, which (like handle slots and
//! completion-queue waiters) are recycled but never freed. `retire` grants
//! every waiter and bumps the port's generation under its lock; an `undo`
//! that finds a generation other than the one it registered under is stale
//! and does nothing. A late `cancel` finds `waiter.queue` already null.
//!
//! `waiters` mirrors the queue's length as an atomic so the hot paths can
//! skip the lock when nobody waits. Its ordering is the Dekker pattern every
//! channel relies on: a waiter links itself (a seq_cst increment) and then
//! re-checks the channel (seq_cst loads); a producer changes the channel
//! (seq_cst stores) and then loads `waiters` (seq_cst). One of the two sees
//! the other, so a wake-up is never lost.
const std = @import("std");
const wq = @import("../core/wait_queue.zig");
const RawMutex = @import("../sync/raw_mutex.zig").RawMutex;
const Waiter = wq.Waiter;
const WaitQueue = wq.WaitQueue;

pub const Port = struct {
    q: WaitQueue = .{ .on_cancel = onCancel },
    /// Waiters linked in `q`; changed only under `q.lock`.
    waiters: std.atomic.Value(u32) = .init(0),
    /// Bumped under `q.lock` when the owner retires the port.
    gen: u32 = 1,
    next_free: ?*Port = null,

    /// Link `w` at the tail. The caller re-checks its condition afterwards
    /// and cancels `w` if it no longer needs to wait.
    pub fn enqueue(p: *Port, w: *Waiter) void {
        p.q.lock.lock();
        defer p.q.lock.unlock();
        p.q.pushBack(w);
        _ = p.waiters.fetchAdd(1, .seq_cst);
    }

    /// Like `enqueue`, for an async waiter whose grant must be passed on to
    /// the next waiter if the operation is abandoned after it was granted.
    pub fn enqueuePassOn(p: *Port, w: *Waiter) void {
        std.debug.assert(w.cq != null);
        p.q.lock.lock();
        defer p.q.lock.unlock();
        w.undo = undoPassOn;
        w.target = p;
        w.request = p.gen;
        p.q.pushBack(w);
        _ = p.waiters.fetchAdd(1, .seq_cst);
    }

    /// True when a waiter may be linked. Callers load this after changing
    /// the state waiters wait for (the other half of the Dekker pairing).
    pub fn hasWaiters(p: *Port) bool {
        return p.waiters.load(.seq_cst) != 0;
    }

    /// Grant the oldest waiter. Returns whether there was one.
    pub fn wakeOne(p: *Port, result: i32) bool {
        p.q.lock.lock();
        defer p.q.lock.unlock();
        return p.grantFrontLocked(result);
    }

    /// Grant every waiter; returns how many.
    pub fn wakeAll(p: *Port, result: i32) u32 {
        p.q.lock.lock();
        defer p.q.lock.unlock();
        return p.grantAllLocked(result);
    }

    fn grantFrontLocked(p: *Port, result: i32) bool {
        if (p.q.isEmpty()) return false;
        p.q.grantFront(result);
        _ = p.waiters.fetchSub(1, .seq_cst);
        return true;
    }

    fn grantAllLocked(p: *Port, result: i32) u32 {
        const n = p.q.len;
        var granted: u32 = 0;
        while (granted < n) : (granted += 1) {
            std.debug.assert(!p.q.isEmpty());
            p.q.grantFront(result);
        }
        std.debug.assert(p.q.isEmpty());
        _ = p.waiters.fetchSub(granted, .seq_cst);
        return granted;
    }

    /// Runs under `q.lock` when `wq.cancel` unlinked one of our waiters.
    fn onCancel(q: *WaitQueue) void {
        const p: *Port = @fieldParentPtr("q", q);
        std.debug.assert(p.waiters.load(.monotonic) > 0);
        _ = p.waiters.fetchSub(1, .seq_cst);
    }

    /// `undo` of an abandoned, granted waiter: the grant it consumed (room
    /// to send) goes to the next waiter, so no wake-up is lost. Runs on the
    /// isolate's thread, maybe after the channel was freed: the generation
    /// check, under the lock `retire` takes, tells.
    fn undoPassOn(w: *Waiter) void {
        const p: *Port = @ptrCast(@alignCast(w.target.?));
        p.q.lock.lock();
        defer p.q.lock.unlock();
        if (p.gen != w.request) return;
        _ = p.grantFrontLocked(0);
    }
};

var pool_lock: RawMutex = .{};
var pool_free: ?*Port = null;
/// Ports ever allocated (they are never freed).
var pool_size: u32 = 0;

/// A port with no waiters.
pub fn open() error{OutOfMemory}!*Port {
    pool_lock.lock();
    defer pool_lock.unlock();
    if (pool_free) |p| {
        pool_free = p.next_free;
        p.next_free = null;
        std.debug.assert(p.q.isEmpty() and p.waiters.load(.monotonic) == 0);
        return p;
    }
    const p = try std.heap.c_allocator.create(Port);
    p.* = .{};
    pool_size += 1;
    return p;
}

/// The owner is going away: grant every waiter `result`, make pending
/// undos stale, and return the port to the pool.
pub fn retire(p: *Port, result: i32) void {
    {
        p.q.lock.lock();
        defer p.q.lock.unlock();
        _ = p.grantAllLocked(result);
        p.gen = if (p.gen == std.math.maxInt(u32)) 1 else p.gen + 1;
    }
    pool_lock.lock();
    defer pool_lock.unlock();
    p.next_free = pool_free;
    pool_free = p;
}

test "port: wake one, wake all, cancel keeps the count" {
    const p = try open();
    defer retire(p, -3);
    var a = Waiter.initSync(0);
    var b = Waiter.initSync(0);
    var c = Waiter.initSync(0);
    p.enqueue(&a);
    p.enqueue(&b);
    p.enqueue(&c);
    try std.testing.expect(p.hasWaiters());
    try std.testing.expect(wq.cancel(&b));
    try std.testing.expectEqual(@as(u32, 2), p.waiters.load(.monotonic));
    try std.testing.expect(p.wakeOne(5));
    try std.testing.expectEqual(@as(i32, 5), a.result);
    try std.testing.expectEqual(@as(u32, 1), p.wakeAll(6));
    try std.testing.expectEqual(@as(i32, 6), c.result);
    try std.testing.expect(!p.hasWaiters());
    try std.testing.expect(!p.wakeOne(0));
}

test "port: retire grants waiters and makes undo stale" {
    const cq_mod = @import("../core/cq.zig");
    const id = cq_mod.open();
    try std.testing.expect(id > 0);
    const cq = cq_mod.get(@floatFromInt(id)).?;
    defer cq_mod.close(cq);
    const p = try open();
    const a = cq.acquire().?;
    const b = cq.acquire().?;
    p.enqueuePassOn(a);
    p.enqueuePassOn(b);
    const tb = b.token;
    // `a` is granted, then abandoned: draining passes its grant to `b`.
    try std.testing.expect(p.wakeOne(0));
    try std.testing.expect(!cq.cancel(a));
    var out: [8]i32 = undefined;
    try std.testing.expectEqual(@as(u32, 1), cq.drain(&out));
    try std.testing.expectEqual(@as(i32, @intCast(tb)), out[0]);
    // Retired with a waiter granted and abandoned: its undo is a no-op.
    const c = cq.acquire().?;
    p.enqueuePassOn(c);
    const d = cq.acquire().?;
    p.enqueuePassOn(d);
    try std.testing.expect(p.wakeOne(0));
    try std.testing.expect(!cq.cancel(c));
    retire(p, -3);
    try std.testing.expect(!cq.cancel(d));
    try std.testing.expectEqual(@as(u32, 0), cq.drain(&out));
    try std.testing.expectEqual(@as(u32, 0), cq.live);
}
