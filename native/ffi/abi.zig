//! Conventions shared by every exports file.
//!
//! - Handles and queue ids cross as f64 (V8 fast calls take f64; a 64-bit
//!   integer argument given a JS number would leave the fast path).
//! - Results are i32: 0 ok, > 0 where documented (a token, a length),
//!   < 0 a `Code`.
//! - An async operation takes the caller's queue id; it returns 0 when it
//!   finished at once, a token (> 0) when a completion will be posted, or a
//!   Code.
//! - Timeouts are f64 milliseconds; negative, NaN or infinite means none.
//! - Byte buffers are a pointer and a u32 length (`bytes`, `bytesMut`), or
//!   a pointer, an offset and a length (`bytesAt`). Native code cannot see
//!   how long a JS buffer is: the contract is that the caller's buffer
//!   holds that many bytes (src/ passes `buf.byteLength`-bounded values);
//!   what can be checked here is: no null pointer with a length, no range
//!   past the 32-bit lengths JS passes.
//! - An output of a fixed size (a pair of handles, an address) is a bare
//!   pointer to that many elements (`array`); the size is part of the
//!   export's documented contract.
const std = @import("std");
const code = @import("../core/code.zig");
const handles = @import("../core/handles.zig");
const cq_mod = @import("../core/cq.zig");
pub const Code = code.Code;
pub const Handle = handles.Handle;
pub const Kind = handles.Kind;
pub const Cq = cq_mod.Cq;

/// The object behind `h` as a `*T`, or the code to return.
pub fn object(comptime T: type, h: f64, kind: Kind) error{ InvalidHandle, WrongKind }!*T {
    const handle = handles.fromF64(h) orelse return error.InvalidHandle;
    return handles.get(T, handle, kind);
}

/// Turn an error union into the i32 an export returns. Every error set
/// given here must be a subset of `code.Error` (a compile error if not).
pub fn status(result: code.Error!void) i32 {
    result catch |err| return fail(err);
    return 0;
}

/// The code of `err`.
pub fn fail(err: code.Error) i32 {
    return code.fromError(err).int();
}

/// For exports that return a value as f64: NaN with `last_error` set.
pub fn failF64(err: code.Error) f64 {
    code.last_error = code.fromError(err).int();
    return std.math.nan(f64);
}

/// The caller's completion queue.
pub fn queue(id: f64) error{InvalidArgument}!*Cq {
    return cq_mod.get(id) orelse error.InvalidArgument;
}

/// Register a new native object: its handle as f64, or NaN on failure.
pub fn register(kind: Kind, obj: *anyopaque, destroy: handles.Destroy) f64 {
    const h = handles.create(kind, obj, destroy) catch |err| return failF64(err);
    return handles.toF64(h);
}

/// A byte slice from a (pointer, length) pair; a null pointer is only
/// allowed with length 0.
pub fn bytes(ptr: ?[*]const u8, len: u32) error{InvalidArgument}![]const u8 {
    // A real address even when empty: syscalls given a dangling pointer
    // with length 0 may still fail with EFAULT.
    if (len == 0) return empty_byte[0..0];
    const p = ptr orelse return error.InvalidArgument;
    return p[0..len];
}

pub fn bytesMut(ptr: ?[*]u8, len: u32) error{InvalidArgument}![]u8 {
    if (len == 0) return empty_byte[0..0];
    const p = ptr orelse return error.InvalidArgument;
    return p[0..len];
}

/// `ptr[off..off + len]`: a window of a buffer the caller owns (receiving
/// straight into a pooled buffer at its current offset). The pointer must
/// not be null (even for an empty window: the base is the caller's buffer),
/// and the window must end within the 4 GiB a u32 offset and length can
/// name (a buffer JS describes with u32s is no longer).
pub fn bytesAt(ptr: ?[*]u8, off: u32, len: u32) error{InvalidArgument}![]u8 {
    const p = ptr orelse return error.InvalidArgument;
    const end = @as(u64, off) + len;
    if (end > std.math.maxInt(u32)) return error.InvalidArgument;
    return p[off..end];
}

/// An output of exactly `n` elements (a pair of handles, an address): the
/// export documents `n`; a null pointer is rejected.
pub fn array(comptime T: type, comptime n: usize, ptr: ?[*]T) error{InvalidArgument}!*[n]T {
    comptime std.debug.assert(n > 0);
    const p = ptr orelse return error.InvalidArgument;
    return p[0..n];
}

test "abi: byte windows and fixed outputs reject null and overflow" {
    var buf: [8]u8 = undefined;
    try std.testing.expectError(error.InvalidArgument, bytesAt(null, 0, 0));
    try std.testing.expectError(error.InvalidArgument, bytesAt(&buf, std.math.maxInt(u32), 1));
    try std.testing.expectEqual(@as(usize, 3), (try bytesAt(&buf, 5, 3)).len);
    try std.testing.expectEqual(@as(usize, 0), (try bytesAt(&buf, 8, 0)).len);
    try std.testing.expectError(error.InvalidArgument, array(f64, 2, null));
    try std.testing.expectError(error.InvalidArgument, bytes(null, 1));
    try std.testing.expectEqual(@as(usize, 0), (try bytes(null, 0)).len);
}

pub const allocator = std.heap.c_allocator;

var empty_byte: [1]u8 = .{0};
