//! How one worker sleeps and is woken: either a thread blocking on a futex
//! (native runner, an isolate in a sync wait) or an async waiter of an
//! isolate's completion queue linked into a one-slot wait queue (a JS
//! isolate keeps its event loop running while parked).
//!
//! A wake-up that finds nobody asleep is kept (`notified`) and consumed by
//! the next park, which then returns at once: an unpark is never lost,
//! and at worst causes one spurious return (every caller re-checks).
//!
//! All transitions happen under the wait queue's lock; a sync sleeper
//! waits on `state` outside it. Unpark is rare (only when a worker must be
//! woken), so the lock costs nothing that matters.
const std = @import("std");
const futex = @import("../os/futex.zig");
const clock = @import("../os/clock.zig");
const wait_queue = @import("../core/wait_queue.zig");
const Waiter = wait_queue.Waiter;
const WaitQueue = wait_queue.WaitQueue;

pub const Parker = struct {
    /// Holds at most one async waiter; its lock guards `state` changes.
    queue: WaitQueue = .{},
    state: futex.Word = .init(empty),

    const empty: u32 = 0;
    /// An unpark arrived while nobody was parked.
    const notified: u32 = 1;
    /// A thread sleeps (or is about to) on `state`.
    const sleeping: u32 = 2;

    /// Wake the parked thread, grant the linked async waiter (posted to its
    /// completion queue), or leave a notification for the next park.
    pub fn unpark(p: *Parker) void {
        p.queue.lock.lock();
        if (!p.queue.isEmpty()) {
            std.debug.assert(p.queue.len == 1);
            std.debug.assert(p.state.load(.monotonic) == empty);
            p.queue.grantFront(0);
            p.queue.lock.unlock();
            return;
        }
        const prev = p.state.swap(notified, .release);
        p.queue.lock.unlock();
        // The parker lives as long as the scheduler, so waking after the
        // unlock is safe; a stale wake is a spurious return at worst.
        if (prev == sleeping) futex.wakeOne(&p.state);
    }

    /// Consume a pending notification. True if there was one.
    fn takeNotification(p: *Parker) bool {
        if (p.state.load(.monotonic) != notified) return false;
        p.state.store(empty, .monotonic);
        return true;
    }

    /// Block until unparked or `timeout_ns` elapsed (null: no limit).
    /// Returns at once if a notification is pending.
    pub fn park(p: *Parker, timeout_ns: ?u64) void {
        p.queue.lock.lock();
        std.debug.assert(p.queue.isEmpty());
        if (p.takeNotification()) {
            p.queue.lock.unlock();
            return;
        }
        std.debug.assert(p.state.load(.monotonic) == empty);
        p.state.store(sleeping, .monotonic);
        p.queue.lock.unlock();

        const deadline: ?u64 = if (timeout_ns) |t| clock.nowNs() +| t else null;
        while (p.state.load(.acquire) == sleeping) {
            var left: ?u64 = null;
            if (deadline) |d| {
                const now = clock.nowNs();
                if (now >= d) break;
                left = d - now;
            }
            _ = futex.wait(&p.state, sleeping, left);
        }

        // Woken, timed out, or both at once: either way the next park must
        // not return early because of this round's unpark.
        p.queue.lock.lock();
        p.state.store(empty, .monotonic);
        p.queue.lock.unlock();
    }

    /// Link `waiter` so that the next unpark grants it. False (not linked)
    /// when a notification was pending, which it consumes.
    pub fn linkAsync(p: *Parker, waiter: *Waiter) bool {
        std.debug.assert(waiter.cq != null);
        std.debug.assert(waiter.queue.load(.monotonic) == null);
        p.queue.lock.lock();
        defer p.queue.lock.unlock();
        std.debug.assert(p.queue.isEmpty());
        if (p.takeNotification()) return false;
        std.debug.assert(p.state.load(.monotonic) == empty);
        p.queue.pushBack(waiter);
        return true;
    }

    /// Forget any pending notification and grant a still-linked async
    /// waiter (a spurious completion its isolate drains later): the worker
    /// is known to be awake, or its slot is being cleared.
    pub fn reset(p: *Parker) void {
        p.queue.lock.lock();
        defer p.queue.lock.unlock();
        if (!p.queue.isEmpty()) p.queue.grantFront(0);
        std.debug.assert(p.state.load(.monotonic) != sleeping);
        p.state.store(empty, .monotonic);
    }
};

test "parker: a pending unpark makes the next park return at once" {
    var p: Parker = .{};
    p.unpark();
    p.park(null);
    // Consumed: a short timed park now times out.
    p.park(std.time.ns_per_ms);
}

test "parker: unpark wakes a sleeping thread" {
    var p: Parker = .{};
    const T = struct {
        fn run(pp: *Parker, done: *std.atomic.Value(bool)) void {
            pp.park(null);
            done.store(true, .release);
        }
    };
    var done = std.atomic.Value(bool).init(false);
    const th = try std.Thread.spawn(.{}, T.run, .{ &p, &done });
    while (p.state.load(.acquire) != Parker.sleeping) std.Thread.yield() catch {};
    p.unpark();
    th.join();
    try std.testing.expect(done.load(.acquire));
}
