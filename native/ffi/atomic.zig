//! Exports for the atomics: Counter, Flag, Box (see native/README.md).
const std = @import("std");
const abi = @import("abi.zig");
const code = @import("../core/code.zig");
const Counter = @import("../atomic/counter.zig").Counter;
const Flag = @import("../atomic/flag.zig").Flag;
const Box = @import("../atomic/box.zig").Box;

/// An integral f64 within ±2^53 as i64.
fn integer(x: f64) error{InvalidArgument}!i64 {
    if (!(x >= -9007199254740991.0 and x <= 9007199254740991.0) or @floor(x) != x) return error.InvalidArgument;
    return @intFromFloat(x);
}

fn destroyCounter(obj: *anyopaque) void {
    abi.allocator.destroy(@as(*Counter, @ptrCast(@alignCast(obj))));
}

export fn avx_counter_new(initial: f64) f64 {
    const v = integer(initial) catch |err| return abi.failF64(err);
    const c = abi.allocator.create(Counter) catch |err| return abi.failF64(err);
    c.* = Counter.init(v);
    const h = abi.register(.counter, c, destroyCounter);
    if (std.math.isNan(h)) abi.allocator.destroy(c);
    return h;
}

export fn avx_counter_load(h: f64) f64 {
    const c = abi.object(Counter, h, .counter) catch |err| return abi.failF64(err);
    return @floatFromInt(c.load());
}

export fn avx_counter_store(h: f64, v: f64) i32 {
    const c = abi.object(Counter, h, .counter) catch |err| return abi.fail(err);
    c.store(integer(v) catch |err| return abi.fail(err));
    return 0;
}

export fn avx_counter_add(h: f64, delta: f64) f64 {
    const c = abi.object(Counter, h, .counter) catch |err| return abi.failF64(err);
    const d = integer(delta) catch |err| return abi.failF64(err);
    return @floatFromInt(c.add(d) catch |err| return abi.failF64(err));
}

export fn avx_counter_cas(h: f64, expected: f64, desired: f64) f64 {
    const c = abi.object(Counter, h, .counter) catch |err| return abi.failF64(err);
    const e = integer(expected) catch |err| return abi.failF64(err);
    const d = integer(desired) catch |err| return abi.failF64(err);
    return @floatFromInt(c.compareExchange(e, d));
}

fn destroyFlag(obj: *anyopaque) void {
    abi.allocator.destroy(@as(*Flag, @ptrCast(@alignCast(obj))));
}

export fn avx_flag_new(set: u32) f64 {
    const f = abi.allocator.create(Flag) catch |err| return abi.failF64(err);
    f.* = Flag.init(set != 0);
    const h = abi.register(.flag, f, destroyFlag);
    if (std.math.isNan(h)) abi.allocator.destroy(f);
    return h;
}

export fn avx_flag_load(h: f64) i32 {
    const f = abi.object(Flag, h, .flag) catch |err| return abi.fail(err);
    return @intFromBool(f.load());
}

export fn avx_flag_set(h: f64) i32 {
    const f = abi.object(Flag, h, .flag) catch |err| return abi.fail(err);
    return @intFromBool(f.set());
}

export fn avx_flag_clear(h: f64) i32 {
    const f = abi.object(Flag, h, .flag) catch |err| return abi.fail(err);
    return @intFromBool(f.clear());
}

fn destroyBox(obj: *anyopaque) void {
    @as(*Box, @ptrCast(@alignCast(obj))).destroy();
}

export fn avx_box_new(ptr: ?[*]const u8, len: u32) f64 {
    const value = abi.bytes(ptr, len) catch |err| return abi.failF64(err);
    const b = Box.create(abi.allocator, value) catch |err| return abi.failF64(err);
    const h = abi.register(.box, b, destroyBox);
    if (std.math.isNan(h)) b.destroy();
    return h;
}

/// Length copied (version in avx_last_value), or buffer_too_small with the
/// needed length in avx_last_value.
export fn avx_box_load(h: f64, out: ?[*]u8, cap: u32) i32 {
    const b = abi.object(Box, h, .box) catch |err| return abi.fail(err);
    const buf = abi.bytesMut(out, cap) catch |err| return abi.fail(err);
    const l = b.load(buf) catch {
        code.last_value = b.length();
        return abi.Code.buffer_too_small.int();
    };
    code.last_value = l.version;
    return @intCast(l.len);
}

export fn avx_box_version(h: f64) f64 {
    const b = abi.object(Box, h, .box) catch |err| return abi.failF64(err);
    return @floatFromInt(b.currentVersion());
}

export fn avx_box_store(h: f64, ptr: ?[*]const u8, len: u32) f64 {
    const b = abi.object(Box, h, .box) catch |err| return abi.failF64(err);
    const value = abi.bytes(ptr, len) catch |err| return abi.failF64(err);
    return @floatFromInt(b.store(value) catch |err| return abi.failF64(err));
}

export fn avx_box_swap(h: f64, ptr: ?[*]const u8, len: u32, out: ?[*]u8, cap: u32) i32 {
    const b = abi.object(Box, h, .box) catch |err| return abi.fail(err);
    const value = abi.bytes(ptr, len) catch |err| return abi.fail(err);
    const buf = abi.bytesMut(out, cap) catch |err| return abi.fail(err);
    const r = b.swap(value, buf) catch |err| {
        if (err == error.BufferTooSmall) code.last_value = b.length();
        return abi.fail(err);
    };
    code.last_value = r.version;
    return @intCast(r.len);
}

export fn avx_box_cas(h: f64, version: f64, ptr: ?[*]const u8, len: u32) i32 {
    const b = abi.object(Box, h, .box) catch |err| return abi.fail(err);
    const value = abi.bytes(ptr, len) catch |err| return abi.fail(err);
    const expected = integer(version) catch |err| return abi.fail(err);
    if (expected < 0) return abi.Code.invalid_argument.int();
    const r = b.compareAndSwap(@intCast(expected), value) catch |err| return abi.fail(err);
    code.last_value = r.version;
    return @intFromBool(r.swapped);
}
