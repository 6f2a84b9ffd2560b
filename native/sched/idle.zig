//! Who is searching for work and who is parked: the accounting that lets
//! `schedule` wake exactly one worker when one is needed, and none when a
//! searching worker will find the task anyway (no thundering herd).
//!
//! `state` packs two counters so they change together in one atomic:
//!
//! - `searching` (low 16 bits): workers looking for work to steal. New
//!   work wakes nobody while one is searching: it will find the work, and
//!   when it stops searching (it found some and was the last searcher) it
//!   wakes the next one, so work spreads one worker at a time.
//! - `unparked` (high 16 bits): workers not in the sleepers set. Fewer
//!   than `workers` means somebody can be woken.
//!
//! `sleepers` (a bitmask, at most 64 workers) changes only under `lock`,
//! together with `unparked`, so popcount(sleepers) == workers - unparked
//! whenever the lock is free. `searching` also changes without the lock.
//!
//! Every change of `state` is a seq_cst read-modify-write, and so is the
//! strict check a producer makes before waking (`fetchAdd(0)`, not a
//! load; `Check.hint` is the cheaper variant for a worker's own ring).
//! That rules out a lost wake-up. A producer queues its task, then does
//! its RMW; a worker going to sleep does its RMW, then re-checks the
//! queues. RMWs on one word are totally ordered and each reads the one
//! before, and all of them form one release sequence, so:
//!
//! - if the sleeper's RMW comes after the producer's, it synchronises with
//!   it and the re-check sees the task;
//! - if it comes before, the producer reads "somebody parked" and wakes
//!   one, unless somebody is searching; then that searcher's own later RMW
//!   (parking, or finding work) comes after the producer's: parking, the
//!   last searcher re-checks every queue; finding work, it wakes the next
//!   worker, which searches after the producer's RMW too.
//!
//! A plain load on the producer side could be satisfied before its queue
//! store is visible (x86's store buffer does exactly that), and both
//! sides could miss each other.
const std = @import("std");
const RawMutex = @import("../core/raw_mutex.zig").RawMutex;

pub const max_workers: u32 = 64;

const searching_one: u32 = 1;
const unparked_one: u32 = 1 << 16;
const searching_mask: u32 = unparked_one - 1;

comptime {
    std.debug.assert(max_workers <= searching_mask);
}

pub const Counts = struct {
    searching: u32,
    unparked: u32,

    fn of(state: u32) Counts {
        return .{ .searching = state & searching_mask, .unparked = state >> 16 };
    }
};

pub const Idle = struct {
    state: std.atomic.Value(u32),
    lock: RawMutex = .{},
    /// Bit w set: worker w is parked (or on its way into park). Under `lock`.
    sleepers: u64 = 0,
    workers: u32,

    /// Every worker starts unparked and not searching.
    pub fn init(workers: u32) Idle {
        std.debug.assert(workers >= 1 and workers <= max_workers);
        return .{ .state = .init(workers * unparked_one), .workers = workers };
    }

    pub fn counts(idle: *const Idle) Counts {
        return Counts.of(idle.state.load(.seq_cst));
    }

    /// How sure a producer must be that it sees the latest idle state.
    pub const Check = enum {
        /// RMW (`fetchAdd(0)`): orders the producer's queue store before
        /// its read of the state, so no wake-up can be lost (see the file
        /// comment). For work that nobody else would run: the injection
        /// queue.
        strict,
        /// A plain load, which may see a stale state and skip a needed
        /// wake-up. Only for work whose producer is an active worker that
        /// will run it itself if nobody comes (its own ring): a miss costs
        /// parallelism for a moment, never a task. It saves the RMW, which
        /// takes the contended line exclusive on every local spawn.
        hint,
    };

    /// After queueing work: the worker to unpark, or null when somebody is
    /// already searching or nobody is parked. The chosen worker is counted
    /// unparked and searching before it even wakes, so a second producer
    /// right behind us sees a searcher and wakes nobody.
    pub fn workerToNotify(idle: *Idle, check: Check) ?u32 {
        const state = switch (check) {
            .strict => idle.state.fetchAdd(0, .seq_cst),
            .hint => idle.state.load(.seq_cst),
        };
        if (!idle.shouldWake(Counts.of(state))) return null;
        idle.lock.lock();
        defer idle.lock.unlock();
        // Re-check under the lock: another producer may have woken one.
        if (!idle.shouldWake(Counts.of(idle.state.load(.seq_cst)))) return null;
        std.debug.assert(idle.sleepers != 0);
        // Lowest index first: under light load the same few workers take
        // the work and the others stay asleep.
        const w: u32 = @ctz(idle.sleepers);
        idle.sleepers &= ~bit(w);
        _ = idle.state.fetchAdd(unparked_one + searching_one, .seq_cst);
        idle.checkLocked();
        return w;
    }

    fn shouldWake(idle: *const Idle, c: Counts) bool {
        std.debug.assert(c.unparked <= idle.workers);
        return c.searching == 0 and c.unparked < idle.workers;
    }

    /// A worker with nothing to do may start stealing. Limited to half the
    /// workers (rounded up) so thieves do not all hammer the same rings;
    /// the limit is approximate (two may pass the check together), which
    /// only costs some contention.
    pub fn transitionToSearching(idle: *Idle) bool {
        const c = Counts.of(idle.state.load(.seq_cst));
        if (2 * c.searching >= idle.workers) return false;
        _ = idle.state.fetchAdd(searching_one, .seq_cst);
        return true;
    }

    /// A searching worker found work. True when it was the last searcher:
    /// the caller then wakes another worker, since the work it found may
    /// come with more.
    pub fn transitionFromSearching(idle: *Idle) bool {
        const prev = Counts.of(idle.state.fetchSub(searching_one, .seq_cst));
        std.debug.assert(prev.searching > 0);
        return prev.searching == 1;
    }

    /// Worker `w` goes to sleep. True when it was the last searcher: it
    /// must then look at every queue once more before sleeping, since
    /// producers woke nobody while it searched.
    pub fn transitionToParked(idle: *Idle, w: u32, searching: bool) bool {
        std.debug.assert(w < idle.workers);
        idle.lock.lock();
        defer idle.lock.unlock();
        std.debug.assert(idle.sleepers & bit(w) == 0);
        const delta = unparked_one + @as(u32, @intFromBool(searching)) * searching_one;
        const prev = Counts.of(idle.state.fetchSub(delta, .seq_cst));
        std.debug.assert(prev.unparked > 0);
        std.debug.assert(!searching or prev.searching > 0);
        idle.sleepers |= bit(w);
        idle.checkLocked();
        return searching and prev.searching == 1;
    }

    /// Worker `w` is awake again on its own (timeout, cancelled async park,
    /// work found in the re-check). True if it was still in the sleepers
    /// set and is now counted unparked (not searching); false if a
    /// producer took it out first, in which case that producer counted it
    /// unparked and searching.
    pub fn unparkById(idle: *Idle, w: u32) bool {
        std.debug.assert(w < idle.workers);
        idle.lock.lock();
        defer idle.lock.unlock();
        if (idle.sleepers & bit(w) == 0) return false;
        idle.sleepers &= ~bit(w);
        _ = idle.state.fetchAdd(unparked_one, .seq_cst);
        idle.checkLocked();
        return true;
    }

    pub fn isParked(idle: *Idle, w: u32) bool {
        std.debug.assert(w < idle.workers);
        idle.lock.lock();
        defer idle.lock.unlock();
        return idle.sleepers & bit(w) != 0;
    }

    fn checkLocked(idle: *const Idle) void {
        const c = Counts.of(idle.state.load(.monotonic));
        std.debug.assert(c.unparked <= idle.workers);
        std.debug.assert(@popCount(idle.sleepers) == idle.workers - c.unparked);
        std.debug.assert(idle.sleepers >> @intCast(idle.workers - 1) <= 1);
    }

    fn bit(w: u32) u64 {
        return @as(u64, 1) << @intCast(w);
    }
};

test "idle: wake one only when nobody searches and somebody sleeps" {
    var idle = Idle.init(3);
    // Everybody awake: nobody to wake.
    try std.testing.expect(idle.workerToNotify(.strict) == null);
    try std.testing.expect(!idle.transitionToParked(0, false));
    try std.testing.expect(idle.transitionToSearching());
    try std.testing.expect(idle.transitionToSearching());
    // Half the workers (rounded up) search at most.
    try std.testing.expect(!idle.transitionToSearching());
    // Somebody searches: no wake-up.
    try std.testing.expect(idle.workerToNotify(.strict) == null);
    try std.testing.expect(!idle.transitionToParked(1, true));
    try std.testing.expect(idle.transitionToParked(2, true));
    try std.testing.expectEqual(Counts{ .searching = 0, .unparked = 0 }, idle.counts());
    // Lowest parked index first, counted searching and unparked.
    try std.testing.expectEqual(@as(?u32, 0), idle.workerToNotify(.strict));
    try std.testing.expectEqual(Counts{ .searching = 1, .unparked = 1 }, idle.counts());
    try std.testing.expect(idle.workerToNotify(.strict) == null);
    try std.testing.expect(!idle.unparkById(0));
    try std.testing.expect(idle.unparkById(2));
    try std.testing.expect(idle.isParked(1));
    try std.testing.expect(idle.transitionFromSearching());
    try std.testing.expectEqual(@as(?u32, 1), idle.workerToNotify(.strict));
    try std.testing.expectEqual(Counts{ .searching = 1, .unparked = 3 }, idle.counts());
}
