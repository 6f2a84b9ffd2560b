//! A hierarchical timer wheel (Varghese & Lauck, scheme 7): 1 ms ticks,
//! 6 levels of 64 slots. Level `L` slot `s` holds the timers whose expiry
//! tick first differs from `now` in the bits `6L .. 6L+5`, and those bits
//! are `s`; so a level's slots are 64^L ticks wide and the whole wheel sees
//! 64^6 ticks (2^36 ms, about 795 days) ahead.
//!
//! Each slot is a `WaitQueue` of the project's waiters (core/wait_queue.zig)
//! and all slots share the wheel's one lock, so:
//! - insert and cancel are O(1): link or unlink in a doubly linked list and
//!   set or clear one bit of the level's `occupied` bitmap;
//! - cancellation needs nothing of its own: `wait_queue.cancel` (hence
//!   `avx_cq_cancel`) takes the slot's lock (the wheel's) and unlinks; the
//!   `on_cancel` hook keeps the bitmap exact and counts the cancel;
//! - firing is `publish(w, 0)`: a sleeping thread wakes, an async waiter is
//!   posted to its isolate's completion queue.
//!
//! As time advances, a slot of level L > 0 is "cascaded" when its first
//! tick comes: each timer either fires (its tick has come) or moves to the
//! lower level that now resolves it. Timers beyond the top level's reach
//! are clamped into its last slot (the 63rd after now's) and cascaded
//! again when that slot comes, until they are in reach. A timer is never
//! fired before its tick.
//!
//! The wheel has no clock: its owner advances it to a tick (the driver to
//! the real time in ms, tests to any tick they like).
const std = @import("std");
const assert = std.debug.assert;
const wq = @import("../core/wait_queue.zig");
const Waiter = wq.Waiter;
const WaitQueue = wq.WaitQueue;
const RawMutex = @import("../core/raw_mutex.zig").RawMutex;

pub const slot_bits: u6 = 6;
pub const slots_per_level: u32 = 1 << slot_bits;
pub const levels: u32 = 6;
const slot_mask: u64 = slots_per_level - 1;
const top: u32 = levels - 1;

/// Ticks the wheel resolves without clamping: 64^6 = 2^36 (about 795 days
/// of 1 ms ticks).
pub const span: u64 = 1 << (@as(u6, slot_bits) * levels);

comptime {
    assert(levels * slot_bits < 64);
    assert(slots_per_level == @bitSizeOf(u64)); // One bitmap word per level.
}

pub const Metrics = struct {
    /// Timers ever inserted.
    armed: u64,
    /// Timers fired (granted).
    fired: u64,
    /// Timers cancelled before they fired.
    cancelled: u64,
    /// Timers in the wheel now: armed - fired - cancelled.
    pending: u64,
};

/// A slot to visit: where it is and the tick at which it is due.
pub const Expiration = struct {
    level: u32,
    slot: u32,
    deadline: u64,
};

pub const Wheel = struct {
    /// Guards everything below, and is the `shared` lock of every slot.
    lock: RawMutex = .{},
    /// Every timer with `when <= now` has fired. Moves forward only.
    now: u64 = 0,
    /// Bit `s` of `occupied[L]` is set exactly when slot `L, s` is not
    /// empty: `insert` sets it, firing, cascading and `onCancel` clear it.
    occupied: [levels]u64 = @splat(0),
    slots: [levels][slots_per_level]WaitQueue = undefined,
    armed: u64 = 0,
    fired: u64 = 0,
    cancelled: u64 = 0,
    pending: u64 = 0,

    /// Initialize in place: the slots point back at `wheel.lock`, so a
    /// wheel never moves once initialized.
    pub fn init(wheel: *Wheel) void {
        wheel.* = .{};
        for (&wheel.slots) |*level| {
            for (level) |*slot| slot.* = .{ .shared = &wheel.lock, .on_cancel = onCancel };
        }
    }

    /// Link `w` to fire at tick `when`. Caller holds `lock`; `when` is in
    /// the future (a due timer is the caller's to complete at once).
    pub fn insert(wheel: *Wheel, w: *Waiter, when: u64) void {
        assert(when > wheel.now);
        assert(w.queue.load(.monotonic) == null);
        w.when = when;
        const at = wheel.position(when);
        wheel.slots[at.level][at.slot].pushBack(w);
        wheel.occupied[at.level] |= bit(at.slot);
        wheel.armed += 1;
        wheel.pending += 1;
    }

    /// The tick of the next slot to visit (a timer fires or cascades then),
    /// or null when the wheel is empty. Never later than the earliest
    /// timer's tick; earlier when that timer still has to cascade. Caller
    /// holds `lock`.
    pub fn nextExpiration(wheel: *const Wheel) ?u64 {
        const e = wheel.nextSlot() orelse return null;
        return e.deadline;
    }

    /// Fire every timer whose tick is at most `to`, visiting at most
    /// `budget` waiters so the caller can release the lock between rounds.
    /// True when done (`now == to`); false when the budget ran out first
    /// (call again). Caller holds `lock`.
    pub fn advance(wheel: *Wheel, to: u64, budget: u32) bool {
        assert(to >= wheel.now);
        assert(budget > 0);
        var left = budget;
        var rounds: u32 = 0;
        while (wheel.nextSlot()) |e| : (rounds += 1) {
            // Every visited slot is non-empty, so each round spends budget.
            assert(rounds <= budget);
            if (e.deadline > to) break;
            if (left == 0) return false;
            // A slot left half-visited by the last call is due at or before
            // `now`; `now` never goes back.
            wheel.now = @max(wheel.now, e.deadline);
            const visited = wheel.visit(e.level, e.slot, left);
            assert(visited > 0 and visited <= left);
            left -= visited;
        }
        wheel.now = to;
        return true;
    }

    /// Counters, read under `lock`.
    pub fn metrics(wheel: *Wheel) Metrics {
        wheel.lock.lock();
        defer wheel.lock.unlock();
        assert(wheel.armed == wheel.fired + wheel.cancelled + wheel.pending);
        return .{ .armed = wheel.armed, .fired = wheel.fired, .cancelled = wheel.cancelled, .pending = wheel.pending };
    }

    const Position = struct { level: u32, slot: u32 };

    /// Where a timer due at `when` goes relative to `now`: never into the
    /// slot `now` is in (that one is being visited or already was).
    fn position(wheel: *const Wheel, when: u64) Position {
        assert(when > wheel.now);
        const level = levelFor(wheel.now, when);
        // Beyond the top level's reach: its last slot, cascaded again later.
        const at = if (level == top) @min(when, topLimit(wheel.now)) else when;
        const slot: u32 = @intCast((at >> shift(level)) & slot_mask);
        assert(slot != nowSlot(wheel.now, level));
        return .{ .level = level, .slot = slot };
    }

    /// The earliest non-empty slot. Below the top level a timer's slot is
    /// always after `now`'s in the same block of the level above; the top
    /// level is circular (a clamped timer may sit "behind" `now`'s slot,
    /// meaning the next turn). A slot at distance 0 is one the last
    /// `advance` left half-visited: it is due now.
    fn nextSlot(wheel: *const Wheel) ?Expiration {
        var best: ?Expiration = null;
        for (wheel.occupied, 0..) |occupied, l| {
            if (occupied == 0) continue;
            const level: u32 = @intCast(l);
            const s = shift(level);
            const now_slot = nowSlot(wheel.now, level);
            const distance: u32 = @ctz(std.math.rotr(u64, occupied, now_slot));
            assert(level == top or now_slot + distance < slots_per_level);
            const deadline = (wheel.now >> s << s) + (@as(u64, distance) << s);
            if (best == null or deadline < best.?.deadline) {
                best = .{ .level = level, .slot = (now_slot + distance) & @as(u32, slot_mask), .deadline = deadline };
            }
        }
        return best;
    }

    /// Fire or cascade up to `budget` waiters of one slot; returns how
    /// many were visited. Cascading moves a waiter to a slot of a lower
    /// level (or, clamped, a later top slot), never back into this one,
    /// so the loop ends.
    fn visit(wheel: *Wheel, level: u32, slot: u32, budget: u32) u32 {
        const q = &wheel.slots[level][slot];
        assert(!q.isEmpty());
        var n: u32 = 0;
        while (n < budget) : (n += 1) {
            const w = q.head orelse break;
            if (w.when <= wheel.now) {
                q.remove(w);
                wheel.fired += 1;
                wheel.pending -= 1;
                // Lock-free push to a completion queue, or a futex wake.
                wq.publish(w, 0);
            } else {
                // Level 0 slots are one tick wide: all their timers are due.
                assert(level > 0);
                const at = wheel.position(w.when);
                assert(at.level < level or level == top);
                q.moveTo(&wheel.slots[at.level][at.slot], w);
                wheel.occupied[at.level] |= bit(at.slot);
            }
        }
        if (q.isEmpty()) wheel.occupied[level] &= ~bit(slot);
        return n;
    }

    /// Runs under `lock` after `wait_queue.cancel` unlinked a waiter from
    /// slot `q`. The bitmap is kept exact here rather than lazily by the
    /// driver: `nextSlot` then never reports an empty slot, so the driver
    /// never wakes for nothing and `advance` needs no skip-empty loop.
    fn onCancel(q: *WaitQueue) void {
        const wheel: *Wheel = @alignCast(@fieldParentPtr("lock", q.shared.?));
        assert(wheel.pending > 0);
        wheel.pending -= 1;
        wheel.cancelled += 1;
        if (!q.isEmpty()) return;
        const index = (@intFromPtr(q) - @intFromPtr(&wheel.slots[0][0])) / @sizeOf(WaitQueue);
        assert(index < levels * slots_per_level);
        wheel.occupied[index / slots_per_level] &= ~bit(@intCast(index % slots_per_level));
    }
};

/// The level that resolves `when` relative to `now`: the 6-bit group of the
/// highest bit in which they differ (level 0 when only the low 6 differ),
/// capped at the top level.
fn levelFor(now: u64, when: u64) u32 {
    const significant: u32 = 63 - @as(u32, @clz((now ^ when) | slot_mask));
    return @min(significant / slot_bits, top);
}

/// The last tick of the top level's 63rd slot after `now`'s: the furthest
/// point a timer can be placed without wrapping onto `now`'s slot.
fn topLimit(now: u64) u64 {
    const width: u64 = @as(u64, 1) << shift(top);
    return (now & ~(width - 1)) + slots_per_level * width - 1;
}

fn shift(level: u32) u6 {
    assert(level < levels);
    return @intCast(level * slot_bits);
}

fn nowSlot(now: u64, level: u32) u6 {
    return @intCast((now >> shift(level)) & slot_mask);
}

fn bit(slot: u32) u64 {
    assert(slot < slots_per_level);
    return @as(u64, 1) << @intCast(slot);
}

// ---------------------------------------------------------------- tests
//
// A fake clock throughout: the tests advance the wheel to chosen ticks and
// look at the waiters' states, so nothing sleeps.

const testing = std.testing;
const granted = Waiter.granted;

fn newWheel() !*Wheel {
    const wheel = try testing.allocator.create(Wheel);
    wheel.init();
    return wheel;
}

fn destroy(wheel: *Wheel) void {
    testing.allocator.destroy(wheel);
}

fn insertAt(wheel: *Wheel, w: *Waiter, when: u64) void {
    wheel.lock.lock();
    defer wheel.lock.unlock();
    wheel.insert(w, when);
}

/// Advance to `to` with an unlimited budget.
fn advanceTo(wheel: *Wheel, to: u64) void {
    wheel.lock.lock();
    defer wheel.lock.unlock();
    while (!wheel.advance(to, 1 << 20)) {}
}

fn next(wheel: *Wheel) ?u64 {
    wheel.lock.lock();
    defer wheel.lock.unlock();
    return wheel.nextExpiration();
}

fn fired(w: *const Waiter) bool {
    return w.state.load(.acquire) == granted;
}

/// Check the invariants: `occupied` matches the slots, `pending` the sum
/// of their lengths, every linked waiter's queue is its slot, and no
/// timer is due.
fn checkInvariants(wheel: *Wheel) !void {
    wheel.lock.lock();
    defer wheel.lock.unlock();
    var total: u64 = 0;
    for (&wheel.slots, 0..) |*level, l| {
        for (level, 0..) |*slot, s| {
            try testing.expectEqual(!slot.isEmpty(), wheel.occupied[l] & bit(@intCast(s)) != 0);
            var node = slot.head;
            var n: u32 = 0;
            while (node) |w| : (node = w.next) {
                try testing.expect(w.queue.load(.monotonic) == slot);
                try testing.expect(w.when > wheel.now);
                n += 1;
            }
            try testing.expectEqual(slot.len, n);
            total += n;
        }
    }
    try testing.expectEqual(wheel.pending, total);
    try testing.expectEqual(wheel.armed, wheel.fired + wheel.cancelled + wheel.pending);
}

test "wheel: level and slot placement" {
    try testing.expectEqual(@as(u32, 0), levelFor(0, 1));
    try testing.expectEqual(@as(u32, 0), levelFor(0, 63));
    try testing.expectEqual(@as(u32, 1), levelFor(0, 64));
    try testing.expectEqual(@as(u32, 1), levelFor(0, 64 * 64 - 1));
    try testing.expectEqual(@as(u32, 2), levelFor(0, 64 * 64));
    try testing.expectEqual(@as(u32, 5), levelFor(0, span - 1));
    try testing.expectEqual(@as(u32, 5), levelFor(0, span)); // Clamped.
    try testing.expectEqual(@as(u32, 5), levelFor(0, 1 << 40)); // Clamped.
    // Levels depend on the bits that differ, not on the distance.
    try testing.expectEqual(@as(u32, 1), levelFor(63, 64));
    try testing.expectEqual(@as(u32, 0), levelFor(64, 127));
    try testing.expectEqual(span + (span - 1), topLimit(span + 5));
}

test "wheel: timers fire in deadline order and never early" {
    const wheel = try newWheel();
    defer destroy(wheel);
    const whens = [_]u64{ 300, 1, 64, 5000, 63, 65, 4095, 4096, 2, 1000, 100_000, 777 };
    var ws: [whens.len]Waiter = undefined;
    for (&ws, whens) |*w, when| {
        w.* = Waiter.initSync(0);
        insertAt(wheel, w, when);
    }
    try checkInvariants(wheel);
    var sorted = whens;
    std.mem.sort(u64, &sorted, {}, std.sort.asc(u64));
    // Step tick by tick through the interesting ticks: each fires exactly
    // the timers due by then.
    for (sorted) |t| {
        advanceTo(wheel, t - 1);
        for (&ws) |*w| try testing.expectEqual(w.when <= t - 1, fired(w));
        advanceTo(wheel, t);
        for (&ws) |*w| try testing.expectEqual(w.when <= t, fired(w));
        try checkInvariants(wheel);
    }
    try testing.expectEqual(@as(?u64, null), next(wheel));
    const m = wheel.metrics();
    try testing.expectEqual(Metrics{ .armed = whens.len, .fired = whens.len, .cancelled = 0, .pending = 0 }, m);
}

test "wheel: one big advance fires everything in deadline order" {
    const wheel = try newWheel();
    defer destroy(wheel);
    // Completion order is seen through a completion queue's `done` stack.
    const cq_mod = @import("../core/cq.zig");
    const id = cq_mod.open();
    try testing.expect(id > 0);
    const cq = cq_mod.get(@floatFromInt(id)).?;
    defer cq_mod.close(cq);
    var prng = std.Random.DefaultPrng.init(42);
    const random = prng.random();
    const count = 500;
    var when_of: std.AutoHashMapUnmanaged(u32, u64) = .empty;
    defer when_of.deinit(testing.allocator);
    for (0..count) |_| {
        const w = cq.acquire().?;
        const when = 1 + random.uintLessThan(u64, 300_000);
        try when_of.put(testing.allocator, w.token, when);
        insertAt(wheel, w, when);
    }
    advanceTo(wheel, 300_000);
    var out: [2 * count]i32 = undefined;
    try testing.expectEqual(@as(u32, count), cq.drain(&out));
    var last: u64 = 0;
    for (0..count) |i| {
        const when = when_of.get(@intCast(out[2 * i])).?;
        try testing.expect(when >= last);
        last = when;
    }
}

test "wheel: cancel unlinks in O(1); a cancelled timer never fires" {
    const wheel = try newWheel();
    defer destroy(wheel);
    var a = Waiter.initSync(0);
    var b = Waiter.initSync(0);
    var c = Waiter.initSync(0);
    insertAt(wheel, &a, 10);
    insertAt(wheel, &b, 10);
    insertAt(wheel, &c, 5000);
    try testing.expect(wq.cancel(&b));
    try testing.expect(!wq.cancel(&b));
    try checkInvariants(wheel);
    // Cancelling the only timer of a slot clears its bit at once.
    try testing.expect(wq.cancel(&c));
    try testing.expectEqual(@as(u64, 0), wheel.occupied[2]);
    try testing.expectEqual(@as(?u64, 10), next(wheel));
    advanceTo(wheel, 100_000);
    try testing.expect(fired(&a));
    try testing.expect(!fired(&b) and !fired(&c));
    try testing.expect(!wq.cancel(&a)); // Fired: too late.
    const m = wheel.metrics();
    try testing.expectEqual(Metrics{ .armed = 3, .fired = 1, .cancelled = 2, .pending = 0 }, m);
}

test "wheel: cancel after a timer cascaded finds it in its new slot" {
    const wheel = try newWheel();
    defer destroy(wheel);
    var w = Waiter.initSync(0);
    insertAt(wheel, &w, 64 * 64 * 3 + 70);
    const first = w.queue.load(.acquire).?;
    advanceTo(wheel, 64 * 64 * 3 + 1);
    try testing.expect(!fired(&w));
    try testing.expect(w.queue.load(.acquire).? != first);
    try testing.expect(wq.cancel(&w));
    try checkInvariants(wheel);
    try testing.expectEqual(@as(?u64, null), next(wheel));
}

test "wheel: cascading across every level boundary" {
    const wheel = try newWheel();
    defer destroy(wheel);
    // Just below, at and just above 64^k for every level, from a `now`
    // that is not aligned to anything.
    const start: u64 = 12_345;
    advanceTo(wheel, start);
    var whens: [3 * levels]u64 = undefined;
    var ws: [3 * levels]Waiter = undefined;
    for (0..levels) |k| {
        const boundary: u64 = @as(u64, 1) << @intCast(6 * (k + 1));
        for (0..3) |j| {
            const i = 3 * k + j;
            whens[i] = start + boundary - 1 + j;
            ws[i] = Waiter.initSync(0);
            insertAt(wheel, &ws[i], whens[i]);
        }
    }
    try checkInvariants(wheel);
    for (whens, 0..) |when, i| {
        // The next expiration is never after the earliest pending timer.
        const e = next(wheel).?;
        try testing.expect(e <= when);
        advanceTo(wheel, when - 1);
        try testing.expect(!fired(&ws[i]));
        advanceTo(wheel, when);
        try testing.expect(fired(&ws[i]));
        for (ws[i + 1 ..]) |*later| try testing.expect(!fired(later));
        try checkInvariants(wheel);
    }
}

test "wheel: a timer far in the future is clamped, re-cascaded, and fires on its tick" {
    const wheel = try newWheel();
    defer destroy(wheel);
    var w = Waiter.initSync(0);
    var near = Waiter.initSync(0);
    const far: u64 = 1 << 40;
    advanceTo(wheel, 3);
    insertAt(wheel, &w, far);
    insertAt(wheel, &near, span + 7); // Just past the top level's reach.
    try checkInvariants(wheel);
    // Clamped into the top level's last slot.
    try testing.expectEqual(bit(63), wheel.occupied[top]);
    var visits: u32 = 0;
    while (next(wheel)) |e| : (visits += 1) {
        try testing.expect(visits < 1000);
        if (e > far) break;
        // Stop one tick short of each visit, then at it: never early.
        if (e > 0) advanceTo(wheel, @max(e - 1, wheel.now));
        try testing.expect(!fired(&w));
        advanceTo(wheel, e);
        try testing.expectEqual(far <= e, fired(&w));
        try testing.expectEqual(span + 7 <= e, fired(&near));
        try checkInvariants(wheel);
    }
    try testing.expect(fired(&w) and fired(&near));
    // 2^40 / 2^36 top-level turns, plus cascading down: a handful of visits.
    try testing.expect(visits > 16 and visits < 200);
}

test "wheel: many timers in one slot, visited within a budget" {
    const wheel = try newWheel();
    defer destroy(wheel);
    const count = 5000;
    const ws = try testing.allocator.alloc(Waiter, count);
    defer testing.allocator.free(ws);
    for (ws) |*w| {
        w.* = Waiter.initSync(0);
        insertAt(wheel, w, 200_000); // One level-2 slot.
    }
    try testing.expectEqual(@as(u32, count), ws[0].queue.load(.monotonic).?.len);
    // Cancel every third one: O(1) each.
    var cancelled: u32 = 0;
    for (ws, 0..) |*w, i| {
        if (i % 3 == 0) {
            try testing.expect(wq.cancel(w));
            cancelled += 1;
        }
    }
    wheel.lock.lock();
    var rounds: u32 = 0;
    while (!wheel.advance(200_000, 100)) rounds += 1;
    wheel.lock.unlock();
    // Each live timer is visited at most once per level it cascades through.
    try testing.expect(rounds >= (count - cancelled) / 100 and rounds <= 3 * (count - cancelled) / 100 + 3);
    for (ws, 0..) |*w, i| try testing.expectEqual(i % 3 != 0, fired(w));
    try checkInvariants(wheel);
    const m = wheel.metrics();
    try testing.expectEqual(Metrics{ .armed = count, .fired = count - cancelled, .cancelled = cancelled, .pending = 0 }, m);
}

test "wheel: a half-visited slot stays first and keeps deadline order" {
    const wheel = try newWheel();
    defer destroy(wheel);
    var early: [10]Waiter = undefined;
    for (&early) |*w| {
        w.* = Waiter.initSync(0);
        insertAt(wheel, w, 4096 + 3); // A level-2 slot that starts at 4096.
    }
    var later = Waiter.initSync(0);
    insertAt(wheel, &later, 4096 + 2000);
    wheel.lock.lock();
    // Budget 4: the level-2 slot is only partly cascaded.
    try testing.expect(!wheel.advance(4096 + 3, 4));
    try testing.expectEqual(@as(?u64, 4096), wheel.nextExpiration());
    while (!wheel.advance(4096 + 3, 4)) {}
    wheel.lock.unlock();
    for (&early) |*w| try testing.expect(fired(w));
    try testing.expect(!fired(&later));
    try checkInvariants(wheel);
}

test "wheel: nextExpiration follows inserts, cancels and advances" {
    const wheel = try newWheel();
    defer destroy(wheel);
    try testing.expectEqual(@as(?u64, null), next(wheel));
    var a = Waiter.initSync(0);
    var b = Waiter.initSync(0);
    var c = Waiter.initSync(0);
    insertAt(wheel, &a, 50);
    try testing.expectEqual(@as(?u64, 50), next(wheel));
    // Level 1: reported at its slot's start, when it must cascade.
    insertAt(wheel, &b, 200);
    try testing.expectEqual(@as(?u64, 50), next(wheel));
    try testing.expect(wq.cancel(&a));
    try testing.expectEqual(@as(?u64, 192), next(wheel));
    insertAt(wheel, &c, 10);
    try testing.expectEqual(@as(?u64, 10), next(wheel));
    advanceTo(wheel, 10);
    try testing.expect(fired(&c));
    advanceTo(wheel, 192);
    // Cascaded to level 0: now exact.
    try testing.expectEqual(@as(?u64, 200), next(wheel));
    advanceTo(wheel, 199);
    try testing.expect(!fired(&b));
    advanceTo(wheel, 200);
    try testing.expect(fired(&b));
    try testing.expectEqual(@as(?u64, null), next(wheel));
}

test "wheel: random inserts, cancels and advances against a model" {
    const wheel = try newWheel();
    defer destroy(wheel);
    var prng = std.Random.DefaultPrng.init(7);
    const random = prng.random();
    const count = 2000;
    const ws = try testing.allocator.alloc(Waiter, count);
    defer testing.allocator.free(ws);
    const cancelled = try testing.allocator.alloc(bool, count);
    defer testing.allocator.free(cancelled);
    @memset(cancelled, false);
    for (ws) |*w| w.* = Waiter.initSync(0);
    var armed: u32 = 0;
    var rounds: u32 = 0;
    while (armed < count or wheel.pending > 0) : (rounds += 1) {
        try testing.expect(rounds < 100_000);
        switch (random.uintLessThan(u32, 4)) {
            0, 1 => if (armed < count) {
                // Delays spread over every level, some beyond the top.
                const magnitude = random.uintLessThan(u6, 40);
                const delay = 1 + random.uintLessThan(u64, @as(u64, 1) << magnitude);
                insertAt(wheel, &ws[armed], wheel.now + delay);
                armed += 1;
            },
            2 => if (armed > 0) {
                const i = random.uintLessThan(u32, armed);
                if (wq.cancel(&ws[i])) cancelled[i] = true;
            },
            else => {
                const to = if (next(wheel)) |e| e + random.uintLessThan(u64, 3) else wheel.now + 1;
                advanceTo(wheel, to);
                for (ws[0..armed], cancelled[0..armed]) |*w, c| {
                    // Fired exactly when due and not cancelled.
                    try testing.expectEqual(!c and w.when <= to, fired(w));
                }
            },
        }
    }
    try checkInvariants(wheel);
    const m = wheel.metrics();
    try testing.expectEqual(@as(u64, count), m.armed);
    try testing.expectEqual(m.armed, m.fired + m.cancelled);
}
