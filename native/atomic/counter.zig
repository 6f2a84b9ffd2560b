//! A shared 64-bit counter. Values cross to JS as f64, so they are exact
//! within ±2^53; operations that would leave that range fail instead of
//! silently rounding.
const std = @import("std");

pub const max_safe: i64 = (1 << 53) - 1;

pub const Counter = struct {
    value: std.atomic.Value(i64),

    pub fn init(v: i64) Counter {
        std.debug.assert(inRange(v));
        return .{ .value = .init(v) };
    }

    pub fn inRange(v: i64) bool {
        return v >= -max_safe and v <= max_safe;
    }

    pub fn load(c: *const Counter) i64 {
        return c.value.load(.seq_cst);
    }

    pub fn store(c: *Counter, v: i64) void {
        std.debug.assert(inRange(v));
        c.value.store(v, .seq_cst);
    }

    /// Add `delta` (negative to subtract); the new value, or an error if it
    /// would leave the safe range (the counter is then unchanged).
    pub fn add(c: *Counter, delta: i64) error{InvalidArgument}!i64 {
        std.debug.assert(inRange(delta));
        // fetchAdd cannot overflow i64 here: both operands are within 2^53.
        const prev = c.value.fetchAdd(delta, .seq_cst);
        const next = prev + delta;
        if (inRange(next)) return next;
        _ = c.value.fetchSub(delta, .seq_cst);
        return error.InvalidArgument;
    }

    /// Compare-and-swap; returns the previous value (equal to `expected`
    /// exactly when the swap happened).
    pub fn compareExchange(c: *Counter, expected: i64, desired: i64) i64 {
        std.debug.assert(inRange(desired));
        return c.value.cmpxchgStrong(expected, desired, .seq_cst, .seq_cst) orelse expected;
    }
};

test "counter: add, cas, range" {
    var c = Counter.init(5);
    try std.testing.expectEqual(@as(i64, 8), try c.add(3));
    try std.testing.expectEqual(@as(i64, 8), c.compareExchange(8, 1));
    try std.testing.expectEqual(@as(i64, 1), c.compareExchange(8, 2));
    try std.testing.expectEqual(@as(i64, 1), c.load());
    c.store(max_safe);
    try std.testing.expectError(error.InvalidArgument, c.add(1));
    try std.testing.expectEqual(max_safe, c.load());
}

test "counter: concurrent adds are exact" {
    var c = Counter.init(0);
    const T = struct {
        fn run(cc: *Counter) void {
            for (0..50_000) |_| _ = cc.add(1) catch unreachable;
        }
    };
    var ts: [4]std.Thread = undefined;
    for (&ts) |*t| t.* = try std.Thread.spawn(.{}, T.run, .{&c});
    for (ts) |t| t.join();
    try std.testing.expectEqual(@as(i64, 200_000), c.load());
}
