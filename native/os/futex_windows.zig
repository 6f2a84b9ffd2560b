//! Windows futex: `RtlWaitOnAddress`/`RtlWakeAddress*` from ntdll (the
//! functions `WaitOnAddress` forwards to).
const std = @import("std");
const WaitResult = @import("futex.zig").WaitResult;

const STATUS_TIMEOUT: i32 = 0x102;

extern "ntdll" fn RtlWaitOnAddress(addr: *const anyopaque, compare: *const anyopaque, size: usize, timeout: ?*const i64) callconv(.winapi) i32;
extern "ntdll" fn RtlWakeAddressSingle(addr: *const anyopaque) callconv(.winapi) void;
extern "ntdll" fn RtlWakeAddressAll(addr: *const anyopaque) callconv(.winapi) void;

pub fn wait(ptr: *const u32, expect: u32, timeout_ns: ?u64) WaitResult {
    var cmp = expect;
    // Negative: a relative timeout in 100 ns units.
    var t: i64 = 0;
    const tp: ?*const i64 = if (timeout_ns) |ns| blk: {
        t = -@as(i64, @intCast(@min(ns / 100, std.math.maxInt(i63))));
        if (t == 0) t = -1;
        break :blk &t;
    } else null;
    const rc = RtlWaitOnAddress(ptr, &cmp, @sizeOf(u32), tp);
    return if (rc == STATUS_TIMEOUT) .timed_out else .woken;
}

pub fn wake(ptr: *const u32, all: bool) void {
    if (all) RtlWakeAddressAll(ptr) else RtlWakeAddressSingle(ptr);
}
