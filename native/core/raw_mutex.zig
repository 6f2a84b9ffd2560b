//! The small internal lock that guards wait queues and other short
//! critical sections. Three states as in Rust std's futex mutex:
//! 0 unlocked, 1 locked, 2 locked with sleepers. Uncontended lock and unlock
//! are one CAS and one swap; a contended lock spins a bounded number of
//! times before it sleeps.
const std = @import("std");
const futex = @import("../os/futex.zig");

pub const RawMutex = struct {
    state: futex.Word = futex.Word.init(unlocked),

    const unlocked: u32 = 0;
    const locked: u32 = 1;
    const contended: u32 = 2;
    /// Long enough to cover a short critical section on another core,
    /// short enough not to burn a time slice.
    const spin_limit: u32 = 100;

    pub fn tryLock(m: *RawMutex) bool {
        return m.state.cmpxchgStrong(unlocked, locked, .acquire, .monotonic) == null;
    }

    pub fn lock(m: *RawMutex) void {
        if (m.state.cmpxchgWeak(unlocked, locked, .acquire, .monotonic) == null) return;
        m.lockSlow();
    }

    fn lockSlow(m: *RawMutex) void {
        var spins: u32 = 0;
        while (spins < spin_limit) : (spins += 1) {
            const s = m.state.load(.monotonic);
            if (s == unlocked and m.state.cmpxchgWeak(unlocked, locked, .acquire, .monotonic) == null) return;
            if (s == contended) break;
            std.atomic.spinLoopHint();
        }
        // From here on we own the lock only as "contended", so the unlocker
        // knows a sleeper may exist and wakes one.
        while (m.state.swap(contended, .acquire) != unlocked) {
            _ = futex.wait(&m.state, contended, null);
        }
    }

    pub fn unlock(m: *RawMutex) void {
        const prev = m.state.swap(unlocked, .release);
        std.debug.assert(prev != unlocked);
        if (prev == contended) futex.wakeOne(&m.state);
    }
};

test "raw_mutex: exclusive under contention" {
    const threads = 4;
    const iterations = 20_000;
    const Ctx = struct {
        m: RawMutex = .{},
        n: u64 = 0,
        fn run(c: *@This()) void {
            for (0..iterations) |_| {
                c.m.lock();
                c.n += 1;
                c.m.unlock();
            }
        }
    };
    var ctx: Ctx = .{};
    var ts: [threads]std.Thread = undefined;
    for (&ts) |*t| t.* = try std.Thread.spawn(.{}, Ctx.run, .{&ctx});
    for (ts) |t| t.join();
    try std.testing.expectEqual(@as(u64, threads * iterations), ctx.n);
}
