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
//! the other, so a wake-up is never lost. A sleeping thread whose re-check
//! says it need not wait takes its waiter back with `withdraw`, which also
//! waits out a grant that beat it to the waiter.
const std = @import("std");
const builtin = @import("builtin");
const wq = @import("../core/wait_queue.zig");
const RawMutex = @import("../core/raw_mutex.zig").RawMutex;
const clock = @import("../os/clock.zig");
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
    /// and takes `w` back (`withdraw`, or `wq.cancel` for an async waiter)
    /// if it no longer needs to wait.
    pub fn enqueue(p: *Port, w: *Waiter) void {
        {
            p.q.lock.lock();
            defer p.q.lock.unlock();
            p.q.pushBack(w);
            _ = p.waiters.fetchAdd(1, .seq_cst);
        }
        if (builtin.is_test) if (test_hooks) |hooks| if (hooks.linked) |hook| hook();
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

    /// Take back a sleeping-thread waiter that `enqueue` linked, after the
    /// caller's re-check found it need not wait. When a grant won the race
    /// (`wq.cancel` false) the granter has unlinked `w` but may not have
    /// published yet: it is still about to store `w.result` and swap
    /// `w.state`. `w` lives on the caller's stack and is re-initialised (or
    /// gone) as soon as this returns, so wait for that publish first. Not
    /// waiting let a late publish mark the caller's next waiter granted
    /// while it was still linked, which corrupted the queue (issue 9).
    /// Returns the grant's result, or null when `w` was cancelled.
    pub fn withdraw(w: *Waiter) ?i32 {
        std.debug.assert(w.cq == null);
        if (wq.cancel(w)) {
            std.debug.assert(w.state.load(.monotonic) != Waiter.granted);
            return null;
        }
        // A grant is certain and a few instructions away: `publish` never
        // blocks between unlinking a waiter and publishing it.
        const result = w.awaitGrant();
        std.debug.assert(w.state.load(.monotonic) == Waiter.granted);
        std.debug.assert(w.queue.load(.monotonic) == null);
        return result;
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
        p.grantHeadLocked(result);
        _ = p.waiters.fetchSub(1, .seq_cst);
        return true;
    }

    fn grantAllLocked(p: *Port, result: i32) u32 {
        const n = p.q.len;
        var granted: u32 = 0;
        while (granted < n) : (granted += 1) {
            std.debug.assert(!p.q.isEmpty());
            p.grantHeadLocked(result);
        }
        std.debug.assert(p.q.isEmpty());
        _ = p.waiters.fetchSub(granted, .seq_cst);
        return granted;
    }

    /// `WaitQueue.grantFront`, with the tests' hook between the unlink and
    /// the publish: the window in which a waiter's `cancel` already fails
    /// but its grant has not landed yet (see `withdraw`).
    fn grantHeadLocked(p: *Port, result: i32) void {
        const w = p.q.head orelse unreachable; // Callers check isEmpty first.
        p.q.remove(w);
        if (builtin.is_test) if (test_hooks) |hooks| if (hooks.unlinked) |hook| hook(w);
        wq.publish(w, result);
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

/// Tests only: code run at the two points where a waiter and its granter
/// race, to stretch those windows the way preemption does. A test sets
/// `test_hooks` and resets it to null before it returns.
pub const TestHooks = struct {
    /// After `enqueue` linked a waiter, before the caller's re-check.
    linked: ?*const fn () void = null,
    /// Inside a grant, port locked, between the unlink of `w` and its
    /// publish: where `cancel(w)` already fails but the grant has not
    /// landed.
    unlinked: ?*const fn (w: *Waiter) void = null,
};

pub var test_hooks: ?*const TestHooks = null;

/// Hooks for the channels' stress tests: a waiter's re-check comes late,
/// so grants often win its `cancel`; and a grant that unlinked `w` is held
/// until `w`'s thread parks to wait for it, or 200 us at most. A thread
/// that waits for its grant parks within the waiter's spin and yield
/// window (50 us), so that costs little; one that wrongly went on after
/// losing its `cancel` gets 200 us to reuse `w` before the grant lands.
pub const test_stretch: TestHooks = .{ .linked = stretchLinked, .unlinked = stretchUnlinked };

fn stretchLinked() void {
    std.Thread.yield() catch {};
}

fn stretchUnlinked(w: *Waiter) void {
    const until = clock.nowNs() + 200 * std.time.ns_per_us;
    while (w.state.load(.acquire) != Waiter.parked and clock.nowNs() < until) {
        std.Thread.yield() catch {};
    }
}

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

test "port: withdraw waits for a grant that won the race" {
    const p = try open();
    defer retire(p, -3);
    const T = struct {
        var unlinked: std.atomic.Value(bool) = .init(false);
        /// The granter is preempted after unlinking the waiter.
        fn window(w: *Waiter) void {
            std.debug.assert(w.queue.load(.monotonic) == null);
            unlinked.store(true, .release);
            std.Thread.sleep(5 * std.time.ns_per_ms);
        }
        fn grant(port: *Port) void {
            std.debug.assert(port.wakeOne(7));
        }
    };
    T.unlinked.store(false, .monotonic);
    const hooks: TestHooks = .{ .unlinked = T.window };
    test_hooks = &hooks;
    defer test_hooks = null;
    var w = Waiter.initSync(0);
    p.enqueue(&w);
    const granter = try std.Thread.spawn(.{}, T.grant, .{p});
    var joined = false;
    defer if (!joined) granter.join();
    var polls: u32 = 0;
    while (!T.unlinked.load(.acquire)) : (polls += 1) {
        try std.testing.expect(polls < 100_000);
        std.Thread.sleep(10 * std.time.ns_per_us);
    }
    // `cancel` fails now, yet the grant has not landed: returning at once
    // would let it land on whatever reuses `w`.
    try std.testing.expect(w.queue.load(.acquire) == null);
    const result = Port.withdraw(&w);
    // What `withdraw` promises: the grant has landed, nothing touches `w`.
    try std.testing.expectEqual(Waiter.granted, w.state.load(.acquire));
    try std.testing.expectEqual(@as(i32, 7), w.result);
    try std.testing.expectEqual(@as(?i32, 7), result);
    granter.join();
    joined = true;
    try std.testing.expect(!p.hasWaiters());
}

test "port: withdraw cancels a waiter nobody granted" {
    const p = try open();
    defer retire(p, -3);
    var w = Waiter.initSync(0);
    p.enqueue(&w);
    try std.testing.expectEqual(@as(?i32, null), Port.withdraw(&w));
    try std.testing.expect(!p.hasWaiters());
    try std.testing.expect(!p.wakeOne(0));
}
