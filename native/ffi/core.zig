//! Exports for the library itself, handles and completion queues.
const std = @import("std");
const abi = @import("abi.zig");
const code = @import("../core/code.zig");
const handles = @import("../core/handles.zig");
const cq_mod = @import("../core/cq.zig");
const bell = @import("../core/bell.zig");
const pin = @import("../os/pin.zig");

/// ABI version: bumped whenever an export changes shape. The loader
/// refuses a library whose version it does not expect.
pub const abi_version: i32 = 2;

var pinned = std.atomic.Value(bool).init(false);

/// Called by every isolate after it loads the library. Pins the library in
/// memory (see os/pin.zig) and returns the ABI version.
export fn avx_init() i32 {
    if (!pinned.swap(true, .acq_rel)) _ = pin.pinModuleOf(@ptrCast(&avx_init));
    return abi_version;
}

/// Does nothing: the baseline for measuring FFI call cost.
export fn avx_nop() i32 {
    return 0;
}

export fn avx_last_value() f64 {
    return @floatFromInt(code.last_value);
}

export fn avx_last_error() i32 {
    return code.last_error;
}

/// Attach another reference to `h` (of `kind`, or any kind when 0).
export fn avx_handle_retain(h: f64, kind: u32) i32 {
    const handle = handles.fromF64(h) orelse return abi.Code.invalid_handle.int();
    const k: ?handles.Kind = if (kind == 0) null else @enumFromInt(@as(u8, @truncate(kind)));
    return abi.status(handles.retain(handle, k));
}

export fn avx_handle_release(h: f64) i32 {
    const handle = handles.fromF64(h) orelse return abi.Code.invalid_handle.int();
    return abi.status(handles.release(handle));
}

/// The kind of a live handle (> 0) or a Code.
export fn avx_handle_kind(h: f64) i32 {
    const handle = handles.fromF64(h) orelse return abi.Code.invalid_handle.int();
    const k = handles.kindOf(handle) catch |err| return abi.fail(err);
    return @intFromEnum(k);
}

/// Objects alive in the process (leak checks).
export fn avx_live_handles() i32 {
    return @intCast(handles.live());
}

/// Open the calling isolate's completion queue. It is closed when the
/// isolate's thread exits, if the isolate did not close it first.
export fn avx_cq_open() i32 {
    return cq_mod.openWatched();
}

export fn avx_cq_close(id: f64) i32 {
    const cq = abi.queue(id) catch |err| return abi.fail(err);
    cq_mod.close(cq);
    return 0;
}

/// Say the isolate goes idle. 1: completions are ready, drain now; 0: the
/// bell will ring when one arrives.
export fn avx_cq_arm(id: f64) i32 {
    const cq = abi.queue(id) catch |err| return abi.fail(err);
    return @intFromBool(cq.arm());
}

/// Copy up to `cap / 2` completions into `out` as (token, result) pairs;
/// returns how many.
export fn avx_cq_drain(id: f64, out: ?[*]i32, cap: u32) i32 {
    const cq = abi.queue(id) catch |err| return abi.fail(err);
    if (cap < 2) return abi.Code.invalid_argument.int();
    const buf = (out orelse return abi.Code.invalid_argument.int())[0 .. cap & ~@as(u32, 1)];
    return @intCast(cq.drain(buf));
}

/// Cancel the operation behind `token`. 0: cancelled before completing;
/// 1: it had completed and will be undone (never reported).
export fn avx_cq_cancel(id: f64, token: u32) i32 {
    const cq = abi.queue(id) catch |err| return abi.fail(err);
    const w = cq.lookup(token) orelse return abi.Code.invalid_argument.int();
    if (w.abandoned) return 1;
    return if (cq.cancel(w)) 0 else 1;
}

/// Operations pending in this queue (registered and not yet drained).
export fn avx_cq_pending(id: f64) i32 {
    const cq = abi.queue(id) catch |err| return abi.fail(err);
    return @intCast(cq.live);
}

/// 1 when queue `id` is registered with the running bell relay; 0 when it
/// must (re)send its registration; a Code for a queue that is not open.
export fn avx_cq_registered(id: f64) i32 {
    const cq = abi.queue(id) catch |err| return abi.fail(err);
    return @intFromBool(bell.registeredNow(@as(u32, cq.gen) << 8 | cq.index));
}

/// Completion queues open in the process (leak checks).
export fn avx_cq_open_count() i32 {
    return @intCast(cq_mod.openCount());
}

/// Bell rings this queue has had.
export fn avx_cq_rings(id: f64) f64 {
    const cq = abi.queue(id) catch |err| return @floatFromInt(abi.fail(err));
    return @floatFromInt(cq.rings.load(.monotonic));
}
