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

/// Give an owner reference back: a pin, or a wrapper that was
/// garbage-collected (transit references it lent stay in flight). The
/// object dies with its last reference, owner or transit.
export fn avx_handle_release(h: f64) i32 {
    const handle = handles.fromF64(h) orelse return abi.Code.invalid_handle.int();
    return abi.status(handles.release(handle));
}

/// Dispose a wrapper: give its owner reference back and take back up to
/// `lent` unclaimed transit references (those its `.handle` reads lent).
export fn avx_handle_dispose(h: f64, lent: u32) i32 {
    const handle = handles.fromF64(h) orelse return abi.Code.invalid_handle.int();
    return abi.status(handles.dispose(handle, lent));
}

/// The handle leaves its wrapper (JS read `.handle`): take a transit
/// reference. Returns 1 if one was added, 0 if 255 are outstanding already
/// (the caller must not take it back), or a Code.
export fn avx_handle_lend(h: f64) i32 {
    const handle = handles.fromF64(h) orelse return abi.Code.invalid_handle.int();
    const added = handles.lend(handle) catch |err| return abi.fail(err);
    return @intFromBool(added);
}

/// Attach to `h` of `kind` (`from`): take over a transit reference, or
/// retain a new owner reference when none is outstanding.
export fn avx_handle_claim(h: f64, kind: u32) i32 {
    const handle = handles.fromF64(h) orelse return abi.Code.invalid_handle.int();
    if (kind == 0 or kind > std.math.maxInt(u8)) return abi.Code.invalid_argument.int();
    return abi.status(handles.claim(handle, @enumFromInt(@as(u8, @intCast(kind)))));
}

/// How long (ms) an object held only by transit references waits for a
/// claim. Sets it when `ms` is finite and >= 0; returns the previous value.
export fn avx_handle_grace(ms: f64) f64 {
    if (!(ms >= 0) or std.math.isInf(ms)) return @floatFromInt(handles.getGrace());
    return @floatFromInt(handles.setGrace(@intFromFloat(@min(ms, 1.0e15))));
}

/// Objects held only by transit references, after destroying those whose
/// grace period has passed.
export fn avx_handle_orphans() i32 {
    handles.sweep();
    return @intCast(handles.orphans());
}

/// The kind of a live handle (> 0) or a Code.
export fn avx_handle_kind(h: f64) i32 {
    const handle = handles.fromF64(h) orelse return abi.Code.invalid_handle.int();
    const k = handles.kindOf(handle) catch |err| return abi.fail(err);
    return @intFromEnum(k);
}

/// Objects alive in the process (leak checks), after destroying the
/// orphans whose grace period has passed.
export fn avx_live_handles() i32 {
    handles.sweep();
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

/// Say the isolate goes idle. Bit 0: completions are ready, drain now
/// (else the bell will ring when one arrives). Bit 1: the queue is not
/// registered with a running relay, so no ring can reach it yet: poll.
/// One call, since every wait that goes idle asks both.
export fn avx_cq_arm(id: f64) i32 {
    const cq = abi.queue(id) catch |err| return abi.fail(err);
    const ready: i32 = if (cq.arm()) arm_ready else 0;
    const unregistered: i32 = if (bell.registeredNow(@as(u32, cq.gen) << 8 | cq.index)) 0 else arm_unregistered;
    return ready | unregistered;
}

/// Bits of `avx_cq_arm`'s result.
pub const arm_ready: i32 = 1;
pub const arm_unregistered: i32 = 2;

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
