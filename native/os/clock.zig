//! Monotonic time and deadlines for timed waits.
const std = @import("std");

/// Nanoseconds on a monotonic clock with an arbitrary origin.
pub fn nowNs() u64 {
    if (@import("builtin").os.tag == .windows) {
        const w = std.os.windows;
        const counts = w.QueryPerformanceCounter();
        const freq = w.QueryPerformanceFrequency();
        // Split to avoid overflowing u64 on long uptimes.
        return (counts / freq) * std.time.ns_per_s + (counts % freq) * std.time.ns_per_s / freq;
    }
    var ts: std.posix.timespec = undefined;
    const rc = std.posix.system.clock_gettime(.MONOTONIC, &ts);
    // CLOCK_MONOTONIC exists on every OS we build for, and `ts` is ours:
    // the call cannot fail (EINVAL and EFAULT are its only errors).
    std.debug.assert(std.posix.errno(rc) == .SUCCESS);
    return @as(u64, @intCast(ts.sec)) * std.time.ns_per_s + @as(u64, @intCast(ts.nsec));
}

/// An absolute point on `nowNs`'s clock, or none (wait forever).
pub const Deadline = struct {
    at_ns: ?u64,

    pub const never: Deadline = .{ .at_ns = null };

    /// `timeout_ms` < 0, NaN or infinite means no deadline.
    pub fn fromMs(timeout_ms: f64) Deadline {
        if (!(timeout_ms >= 0) or std.math.isInf(timeout_ms)) return never;
        const ns = @min(timeout_ms * std.time.ns_per_ms, 1.0e18);
        return .{ .at_ns = nowNs() + @as(u64, @intFromFloat(ns)) };
    }

    /// Time left, or null for no deadline; 0 once it has passed.
    pub fn remainingNs(d: Deadline) ?u64 {
        const at = d.at_ns orelse return null;
        const now = nowNs();
        return if (now >= at) 0 else at - now;
    }
};

test "clock: deadline from a negative timeout never expires" {
    try std.testing.expectEqual(@as(?u64, null), Deadline.fromMs(-1).remainingNs());
    try std.testing.expectEqual(@as(?u64, null), Deadline.fromMs(std.math.nan(f64)).remainingNs());
    try std.testing.expectEqual(@as(?u64, 0), Deadline.fromMs(0).remainingNs());
}
