//! Linux futex through the raw syscall (private futexes: one process).
const std = @import("std");
const linux = std.os.linux;
const WaitResult = @import("futex.zig").WaitResult;

const FUTEX_WAIT_PRIVATE: usize = 0 | 128;
const FUTEX_WAKE_PRIVATE: usize = 1 | 128;

pub fn wait(ptr: *const u32, expect: u32, timeout_ns: ?u64) WaitResult {
    var ts: linux.timespec = undefined;
    var ts_ptr: usize = 0;
    if (timeout_ns) |ns| {
        ts = .{
            .sec = @intCast(@min(ns / std.time.ns_per_s, std.math.maxInt(i32))),
            .nsec = @intCast(ns % std.time.ns_per_s),
        };
        ts_ptr = @intFromPtr(&ts);
    }
    const rc = linux.syscall4(.futex, @intFromPtr(ptr), FUTEX_WAIT_PRIVATE, expect, ts_ptr);
    return switch (linux.E.init(rc)) {
        .TIMEDOUT => .timed_out,
        // SUCCESS, AGAIN (value differed), INTR: the caller re-checks.
        else => .woken,
    };
}

pub fn wake(ptr: *const u32, all: bool) void {
    const n: usize = if (all) std.math.maxInt(i32) else 1;
    _ = linux.syscall3(.futex, @intFromPtr(ptr), FUTEX_WAKE_PRIVATE, n);
}
