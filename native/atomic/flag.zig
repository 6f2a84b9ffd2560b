//! A shared boolean with test-and-set.
const std = @import("std");

pub const Flag = struct {
    value: std.atomic.Value(u32),

    pub fn init(initially_set: bool) Flag {
        return .{ .value = .init(@intFromBool(initially_set)) };
    }

    pub fn load(f: *const Flag) bool {
        return f.value.load(.seq_cst) != 0;
    }

    /// Set; returns whether it was set before (test-and-set).
    pub fn set(f: *Flag) bool {
        return f.value.swap(1, .seq_cst) != 0;
    }

    /// Clear; returns whether it was set before.
    pub fn clear(f: *Flag) bool {
        return f.value.swap(0, .seq_cst) != 0;
    }
};

test "flag: test-and-set elects exactly one winner" {
    var f = Flag.init(false);
    var winners = std.atomic.Value(u32).init(0);
    const T = struct {
        fn run(ff: *Flag, w: *std.atomic.Value(u32)) void {
            if (!ff.set()) _ = w.fetchAdd(1, .monotonic);
        }
    };
    var ts: [8]std.Thread = undefined;
    for (&ts) |*t| t.* = try std.Thread.spawn(.{}, T.run, .{ &f, &winners });
    for (ts) |t| t.join();
    try std.testing.expectEqual(@as(u32, 1), winners.load(.monotonic));
    try std.testing.expect(f.clear());
    try std.testing.expect(!f.load());
}
