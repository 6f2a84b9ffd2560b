//! macOS futex: `__ulock_wait2`/`__ulock_wake` from libSystem (macOS 11+).
//! Darwin has no stable syscall ABI, so these go through libc.
const std = @import("std");
const WaitResult = @import("futex.zig").WaitResult;

const UL_COMPARE_AND_WAIT: u32 = 1;
const ULF_WAKE_ALL: u32 = 0x100;
const ULF_NO_ERRNO: u32 = 0x0100_0000;
const ETIMEDOUT: c_int = 60;

extern "c" fn __ulock_wait2(op: u32, addr: ?*const anyopaque, value: u64, timeout_ns: u64, value2: u64) c_int;
extern "c" fn __ulock_wake(op: u32, addr: ?*const anyopaque, wake_value: u64) c_int;

pub fn wait(ptr: *const u32, expect: u32, timeout_ns: ?u64) WaitResult {
    // 0 means "no timeout" to the kernel; clamp a real 0 up to 1 ns.
    const t: u64 = if (timeout_ns) |ns| @max(ns, 1) else 0;
    const rc = __ulock_wait2(UL_COMPARE_AND_WAIT | ULF_NO_ERRNO, ptr, expect, t, 0);
    return if (rc == -ETIMEDOUT) .timed_out else .woken;
}

pub fn wake(ptr: *const u32, all: bool) void {
    const op = UL_COMPARE_AND_WAIT | ULF_NO_ERRNO | (if (all) ULF_WAKE_ALL else 0);
    _ = __ulock_wake(op, ptr, 0);
}
