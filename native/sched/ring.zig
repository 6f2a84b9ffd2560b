//! A worker's local run queue: a fixed ring of 256 task pointers, pushed and
//! popped by its owner without locks, from which other workers steal half.
//!
//! Why a fixed ring and not a Chase-Lev deque: Chase-Lev grows its array
//! when full, which means allocating on the hot path and reclaiming the old
//! array only once no thief can still be reading it (epochs or hazard
//! pointers). A fixed ring never allocates and never reclaims. When it is
//! full, the owner moves the oldest half to the injection queue in one
//! batch (one lock acquisition for 128 tasks), so the cost of overflow is
//! amortised and the ring stays bounded.
//!
//! Protocol (the owner pops from the same end thieves steal from, so the
//! queue is FIFO for everybody):
//!
//! - `tail` is the next slot the owner fills. Only the owner writes it; it
//!   publishes a slot with a release store.
//! - `head` packs two u32 indices, `steal` (high half) and `real` (low
//!   half). `real` is the next task to hand out. While a thief copies
//!   tasks out, `head` is (first slot it copies, real after its claim):
//!   the slots in [steal, real) belong to that thief, and the owner must
//!   not overwrite them, so free space is `capacity - (tail - steal)`. When
//!   no steal is in progress, steal == real.
//! - A thief claims [real, real + n) with one CAS from (real, real) to
//!   (real, real + n), copies the tasks into its own ring, then CASes
//!   steal up to real (keeping any pops the owner made meanwhile). A
//!   second thief sees steal != real and gives up at once: at most one
//!   steal per victim is in flight.
//! - The owner pops with a CAS that advances `real` (and `steal` with it
//!   when no steal is in progress), racing thieves only for the head task.
//!
//! Indices are free-running u32 and wrap; only differences are used, and a
//! difference is at most `capacity`. (A thief stalled between its load and
//! its CAS while the owner runs through 2^32 tasks could be fooled by a
//! wrapped head; that is many seconds of work at full speed and is the
//! same assumption tokio makes.)
const std = @import("std");
const task_mod = @import("task.zig");
const Task = task_mod.Task;
const List = task_mod.List;

pub const capacity: u32 = 256;
/// How many tasks an overflow moves out, and the most one steal takes.
pub const half: u32 = capacity / 2;
const mask: u32 = capacity - 1;
/// Bound on CAS retries; each failure means another thread made progress,
/// so hitting it means the ring is corrupt.
const retry_limit: u32 = 1 << 24;

comptime {
    std.debug.assert(std.math.isPowerOfTwo(capacity));
    std.debug.assert(capacity <= 1 << 16);
}

pub const PushResult = enum {
    pushed,
    /// Full, but a thief is copying tasks out and will free slots soon:
    /// send this one task to the injection queue, no batch move needed.
    stealing,
    /// Full with no steal in progress: call `takeHalf` and move the batch.
    full,
};

pub const Stolen = struct {
    /// Run this one now; the others went into the thief's ring.
    task: *Task,
    /// Tasks taken from the victim, `task` included (1..=half).
    count: u32,
};

pub const Ring = struct {
    /// (steal << 32) | real; see the protocol above.
    head: std.atomic.Value(u64) = .init(0),
    tail: std.atomic.Value(u32) = .init(0),
    /// Slot i % capacity holds the task at index i for i in [steal, tail).
    /// Plain memory: the head and tail orderings make every slot access
    /// happen-after the write it reads and before the next write to it.
    buffer: [capacity]*Task align(std.atomic.cache_line) = undefined,

    /// The slot of index `i`. Through a pointer on purpose: indexing the
    /// array field by value (`r.buffer[i]`) made the compiler copy all
    /// 2 KiB of it to the stack first on some paths.
    fn slot(r: *Ring, i: u32) **Task {
        return &r.buffer[i & mask];
    }

    fn pack(steal: u32, real: u32) u64 {
        return @as(u64, steal) << 32 | real;
    }

    fn stealOf(head: u64) u32 {
        return @truncate(head >> 32);
    }

    fn realOf(head: u64) u32 {
        return @truncate(head);
    }

    /// Owner only: append `task`.
    pub fn push(r: *Ring, task: *Task) PushResult {
        // Acquire: a thief's release of [steal, real) (its final CAS) must
        // happen-before we overwrite those slots.
        const head = r.head.load(.acquire);
        const steal = stealOf(head);
        const tail = r.tail.load(.monotonic);
        std.debug.assert(tail -% steal <= capacity);
        if (tail -% steal < capacity) {
            r.slot(tail).* = task;
            r.tail.store(tail +% 1, .release);
            return .pushed;
        }
        return if (steal != realOf(head)) .stealing else .full;
    }

    /// Owner only, after `push` said `full`: claim the oldest half of the
    /// ring and return it as a list in FIFO order. Null when a thief or the
    /// owner's own pop moved `head` in between (there is room again: push
    /// once more).
    pub fn takeHalf(r: *Ring) ?List {
        const head = r.head.load(.acquire);
        const real = realOf(head);
        const tail = r.tail.load(.monotonic);
        if (stealOf(head) != real or tail -% real != capacity) return null;
        // Claiming the batch like a thief would, so no thief can start on
        // these slots; a concurrent thief's claim makes this CAS fail.
        if (r.head.cmpxchgStrong(head, pack(real +% half, real +% half), .acq_rel, .monotonic) != null) return null;
        var list: List = .{};
        var i: u32 = 0;
        while (i < half) : (i += 1) list.pushBack(r.slot(real +% i).*);
        return list;
    }

    /// Owner only: append every task of `list`, which must fit
    /// (`list.len <= remainingSlots()`).
    pub fn pushList(r: *Ring, list: *List) void {
        const steal = stealOf(r.head.load(.acquire));
        const tail = r.tail.load(.monotonic);
        std.debug.assert(list.len <= capacity - (tail -% steal));
        var i: u32 = 0;
        while (list.popFront()) |task| : (i += 1) {
            std.debug.assert(i < capacity);
            r.slot(tail +% i).* = task;
        }
        if (i > 0) r.tail.store(tail +% i, .release);
    }

    /// Owner only (or, with no owner left, whoever empties the ring): the
    /// oldest task.
    pub fn pop(r: *Ring) ?*Task {
        var head = r.head.load(.acquire);
        var attempts: u32 = 0;
        while (true) : (attempts += 1) {
            std.debug.assert(attempts < retry_limit);
            const steal = stealOf(head);
            const real = realOf(head);
            const tail = r.tail.load(.monotonic);
            if (real == tail) return null;
            std.debug.assert(tail -% real <= capacity);
            const next_real = real +% 1;
            // A steal in progress keeps its `steal` index; it spans at most
            // half the ring, so `real` cannot run into it.
            std.debug.assert(steal == real or next_real != steal);
            const next = if (steal == real) pack(next_real, next_real) else pack(steal, next_real);
            // The slot is ours once `real` has moved past it: thieves only
            // claim from `real` on, and only the owner writes slots.
            head = r.head.cmpxchgWeak(head, next, .acq_rel, .acquire) orelse return r.slot(real).*;
        }
    }

    /// Thief side: move half of `src`'s tasks (rounded up) into `dst`, the
    /// thief's own ring, and return the last of them to run now. Null when
    /// `src` is empty, another steal from `src` is in progress, or `dst`
    /// has less than half a ring free.
    pub fn stealInto(src: *Ring, dst: *Ring) ?Stolen {
        std.debug.assert(src != dst);
        const dst_tail = dst.tail.load(.monotonic);
        const dst_steal = stealOf(dst.head.load(.acquire));
        std.debug.assert(dst_tail -% dst_steal <= capacity);
        if (capacity - (dst_tail -% dst_steal) < half) return null;

        const claimed = src.claim() orelse return null;
        std.debug.assert(claimed.n >= 1 and claimed.n <= half);
        var i: u32 = 0;
        while (i < claimed.n) : (i += 1) {
            dst.slot(dst_tail +% i).* = src.slot(claimed.first +% i).*;
        }
        src.release(claimed.head);

        const kept = claimed.n - 1;
        const task = dst.slot(dst_tail +% kept).*;
        // Publish the copies only now: until this store no thief of `dst`
        // can see those slots.
        if (kept > 0) dst.tail.store(dst_tail +% kept, .release);
        return .{ .task = task, .count = claimed.n };
    }

    const Claim = struct { first: u32, n: u32, head: u64 };

    /// Claim [real, real + n) of `src` for a steal, n = ceil(len / 2).
    fn claim(src: *Ring) ?Claim {
        var head = src.head.load(.acquire);
        var attempts: u32 = 0;
        while (true) : (attempts += 1) {
            std.debug.assert(attempts < retry_limit);
            const real = realOf(head);
            if (stealOf(head) != real) return null;
            // Acquire: the slots below `tail` were written before it.
            const queued = src.tail.load(.acquire) -% real;
            if (queued == 0) return null;
            if (queued > capacity) {
                // Head read before the owner popped and pushed again: stale.
                head = src.head.load(.acquire);
                continue;
            }
            const n = queued - queued / 2;
            const next = pack(real, real +% n);
            head = src.head.cmpxchgWeak(head, next, .acq_rel, .acquire) orelse
                return .{ .first = real, .n = n, .head = next };
        }
    }

    /// End a steal: bring `steal` up to `real`, keeping the owner's pops.
    fn release(src: *Ring, claimed_head: u64) void {
        var head = claimed_head;
        var attempts: u32 = 0;
        while (true) : (attempts += 1) {
            std.debug.assert(attempts < retry_limit);
            // Still our steal in progress: nobody else ends it.
            std.debug.assert(stealOf(head) != realOf(head));
            const real = realOf(head);
            // Release: our reads of the copied slots happen-before the
            // owner's next writes to them (it loads `head` with acquire).
            head = src.head.cmpxchgWeak(head, pack(real, real), .acq_rel, .acquire) orelse return;
        }
    }

    /// Exact for the owner; a racy estimate (clamped to 0..capacity) for
    /// anybody else, good enough for metrics and for "is there work".
    pub fn len(r: *const Ring) u32 {
        // Head first: a later tail can only make the estimate larger, so a
        // task pushed before this call is never missed.
        const real = realOf(r.head.load(.acquire));
        const tail = r.tail.load(.acquire);
        const n = tail -% real;
        return if (n > capacity) capacity else n;
    }

    pub fn isEmpty(r: *const Ring) bool {
        return r.len() == 0;
    }

    /// Owner only: free slots, excluding slots a thief is still copying.
    pub fn remainingSlots(r: *const Ring) u32 {
        const steal = stealOf(r.head.load(.acquire));
        const tail = r.tail.load(.monotonic);
        std.debug.assert(tail -% steal <= capacity);
        return capacity - (tail -% steal);
    }
};

// ---------------------------------------------------------------- tests

const testing = std.testing;
const Rng = @import("../core/rng.zig").Rng;

fn indexOf(tasks: []Task, t: *Task) usize {
    const i = (@intFromPtr(t) - @intFromPtr(tasks.ptr)) / @sizeOf(Task);
    std.debug.assert(i < tasks.len);
    return i;
}

test "ring: push and pop in FIFO order, len and free slots" {
    var r: Ring = .{};
    var tasks: [10]Task = @splat(.{});
    try testing.expect(r.isEmpty());
    try testing.expect(r.pop() == null);
    for (&tasks) |*t| try testing.expectEqual(PushResult.pushed, r.push(t));
    try testing.expectEqual(@as(u32, 10), r.len());
    try testing.expectEqual(capacity - 10, r.remainingSlots());
    for (&tasks) |*t| try testing.expectEqual(t, r.pop().?);
    try testing.expect(r.pop() == null);
    try testing.expectEqual(capacity, r.remainingSlots());
}

test "ring: indices wrap around u32" {
    var r: Ring = .{};
    const start: u32 = std.math.maxInt(u32) - 5;
    r.head.store(Ring.pack(start, start), .monotonic);
    r.tail.store(start, .monotonic);
    var tasks: [20]Task = @splat(.{});
    for (&tasks) |*t| try testing.expectEqual(PushResult.pushed, r.push(t));
    try testing.expectEqual(@as(u32, 20), r.len());
    var dst: Ring = .{};
    const stolen = Ring.stealInto(&r, &dst).?;
    try testing.expectEqual(@as(u32, 10), stolen.count);
    try testing.expectEqual(&tasks[9], stolen.task);
    for (tasks[10..]) |*t| try testing.expectEqual(t, r.pop().?);
    for (tasks[0..9]) |*t| try testing.expectEqual(t, dst.pop().?);
    try testing.expect(r.pop() == null and dst.pop() == null);
}

test "ring: a full ring overflows its oldest half" {
    var r: Ring = .{};
    const tasks = try testing.allocator.alloc(Task, capacity + 1);
    defer testing.allocator.free(tasks);
    @memset(tasks, .{});
    for (tasks[0..capacity]) |*t| try testing.expectEqual(PushResult.pushed, r.push(t));
    try testing.expectEqual(PushResult.full, r.push(&tasks[capacity]));
    try testing.expectEqual(@as(u32, 0), r.remainingSlots());
    var batch = r.takeHalf().?;
    try testing.expectEqual(half, batch.len);
    for (tasks[0..half]) |*t| try testing.expectEqual(t, batch.popFront().?);
    try testing.expectEqual(half, r.remainingSlots());
    try testing.expectEqual(PushResult.pushed, r.push(&tasks[capacity]));
    for (tasks[half..]) |*t| try testing.expectEqual(t, r.pop().?);
    try testing.expect(r.pop() == null);
    // Not full any more: nothing to take.
    try testing.expect(r.takeHalf() == null);
}

test "ring: steal takes half rounded up, the thief runs the last one" {
    var src: Ring = .{};
    var dst: Ring = .{};
    var tasks: [11]Task = @splat(.{});
    try testing.expect(Ring.stealInto(&src, &dst) == null);
    for (&tasks) |*t| _ = src.push(t);
    const stolen = Ring.stealInto(&src, &dst).?;
    try testing.expectEqual(@as(u32, 6), stolen.count);
    try testing.expectEqual(&tasks[5], stolen.task);
    try testing.expectEqual(@as(u32, 5), dst.len());
    try testing.expectEqual(@as(u32, 5), src.len());
    for (tasks[0..5]) |*t| try testing.expectEqual(t, dst.pop().?);
    for (tasks[6..]) |*t| try testing.expectEqual(t, src.pop().?);
    // One task: the thief takes it.
    _ = src.push(&tasks[0]);
    const one = Ring.stealInto(&src, &dst).?;
    try testing.expectEqual(@as(u32, 1), one.count);
    try testing.expect(dst.isEmpty() and src.isEmpty());
}

test "ring: no steal into a thief without room for half a ring" {
    var src: Ring = .{};
    var dst: Ring = .{};
    const tasks = try testing.allocator.alloc(Task, capacity);
    defer testing.allocator.free(tasks);
    @memset(tasks, .{});
    for (tasks[0 .. half + 1]) |*t| _ = dst.push(t);
    _ = src.push(&tasks[half + 1]);
    try testing.expect(Ring.stealInto(&src, &dst) == null);
    _ = dst.pop();
    try testing.expect(Ring.stealInto(&src, &dst) != null);
}

/// Seeds of the multi-threaded stress; each replays a different mix.
const stress_seeds: u32 = 50;
const stress_tasks: u32 = 30_000;
const stress_thieves: u32 = 2;

const Stress = struct {
    src: Ring = .{},
    tasks: []Task,
    taken: []std.atomic.Value(u8),
    owner_done: std.atomic.Value(bool) = .init(false),
    stolen: std.atomic.Value(u32) = .init(0),
    overflowed: std.atomic.Value(u32) = .init(0),
    gate: @import("../testing/support.zig").StartGate = .{},

    fn take(s: *Stress, t: *Task) void {
        _ = s.taken[indexOf(s.tasks, t)].fetchAdd(1, .monotonic);
    }

    fn owner(s: *Stress, seed: u64) void {
        var rng = Rng.init(seed, 1000);
        s.gate.wait();
        var pushed: u32 = 0;
        while (pushed < s.tasks.len) {
            // Bursts, so the ring both fills up (overflow) and runs dry.
            var burst = rng.below(capacity + 64);
            while (burst > 0 and pushed < s.tasks.len) : (burst -= 1) {
                const t = &s.tasks[pushed];
                pushed += 1;
                s.pushOrOverflow(t);
            }
            var pops = rng.below(capacity);
            while (pops > 0) : (pops -= 1) s.take(s.src.pop() orelse break);
            if (rng.below(16) == 0) std.Thread.yield() catch {};
        }
        while (s.src.pop()) |t| s.take(t);
        s.owner_done.store(true, .release);
    }

    fn pushOrOverflow(s: *Stress, t: *Task) void {
        var attempts: u32 = 0;
        while (true) : (attempts += 1) {
            std.debug.assert(attempts < 1000);
            switch (s.src.push(t)) {
                .pushed => return,
                .stealing => {
                    // Stands for the injection queue.
                    s.take(t);
                    _ = s.overflowed.fetchAdd(1, .monotonic);
                    return;
                },
                .full => {
                    var batch = s.src.takeHalf() orelse continue;
                    std.debug.assert(batch.len == half);
                    _ = s.overflowed.fetchAdd(batch.len, .monotonic);
                    while (batch.popFront()) |b| s.take(b);
                },
            }
        }
    }

    fn thief(s: *Stress) void {
        var own: Ring = .{};
        s.gate.wait();
        while (true) {
            const done = s.owner_done.load(.acquire);
            if (Ring.stealInto(&s.src, &own)) |stolen| {
                _ = s.stolen.fetchAdd(stolen.count, .monotonic);
                s.take(stolen.task);
                // Run our own ring like a worker would, sometimes only
                // partly, so steals land in a non-empty ring too.
                while (own.len() > half / 2) s.take(own.pop().?);
            } else if (done) break;
        }
        while (own.pop()) |t| s.take(t);
    }
};

test "ring: stress, one owner and thieves, every task taken exactly once" {
    const tasks = try testing.allocator.alloc(Task, stress_tasks);
    defer testing.allocator.free(tasks);
    const taken = try testing.allocator.alloc(std.atomic.Value(u8), stress_tasks);
    defer testing.allocator.free(taken);
    var total_stolen: u64 = 0;
    var total_overflowed: u64 = 0;
    var seed: u64 = 1;
    while (seed <= stress_seeds) : (seed += 1) {
        @memset(tasks, .{});
        @memset(taken, .init(0));
        var s: Stress = .{ .tasks = tasks, .taken = taken };
        var thieves: [stress_thieves]std.Thread = undefined;
        for (&thieves) |*t| t.* = try std.Thread.spawn(.{}, Stress.thief, .{&s});
        const owner = try std.Thread.spawn(.{}, Stress.owner, .{ &s, seed });
        s.gate.open(stress_thieves + 1);
        owner.join();
        for (thieves) |t| t.join();
        for (taken, 0..) |*c, i| {
            const n = c.load(.monotonic);
            if (n != 1) {
                std.debug.print("ring stress: seed {d}: task {d} taken {d} times\n", .{ seed, i, n });
                return error.TestUnexpectedResult;
            }
        }
        total_stolen += s.stolen.load(.monotonic);
        total_overflowed += s.overflowed.load(.monotonic);
    }
    // Both paths were exercised somewhere in the run.
    try testing.expect(total_stolen > 0);
    try testing.expect(total_overflowed > 0);
}
