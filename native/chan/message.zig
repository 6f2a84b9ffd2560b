//! A message: one allocation holding a small header and the payload bytes,
//! copied once when sent and once when received.
//!
//! The header carries the intrusive link the mpsc queue uses, so a message
//! is also that queue's node; broadcast and oneshot leave `next` unused.
const std = @import("std");
const code = @import("../core/code.zig");

/// The largest payload a channel carries (1 GiB); it keeps every length a
/// positive i32 across the ABI.
pub const max_len: u32 = 1 << 30;

pub const Message = struct {
    /// Link to the next message in an mpsc queue.
    next: std.atomic.Value(?*Message) = .init(null),
    len: u32,

    const header = @sizeOf(Message);
    const alignment = std.mem.Alignment.of(Message);

    /// A message holding a copy of `payload`.
    pub fn create(allocator: std.mem.Allocator, payload: []const u8) error{ TooLarge, OutOfMemory }!*Message {
        if (payload.len > max_len) return error.TooLarge;
        const raw = try allocator.alignedAlloc(u8, alignment, header + payload.len);
        const m: *Message = @ptrCast(raw.ptr);
        m.* = .{ .len = @intCast(payload.len) };
        @memcpy(raw[header..], payload);
        return m;
    }

    pub fn destroy(m: *Message, allocator: std.mem.Allocator) void {
        std.debug.assert(m.len <= max_len);
        const base: [*]align(alignment.toByteUnits()) u8 = @ptrCast(m);
        allocator.free(base[0 .. header + m.len]);
    }

    pub fn bytes(m: *Message) []u8 {
        const base: [*]u8 = @ptrCast(m);
        return base[header..][0..m.len];
    }

    /// Copy the payload into `out`. When it does not fit, the needed size
    /// goes to `code.last_value` and nothing is copied.
    pub fn copyTo(m: *Message, out: []u8) error{BufferTooSmall}!u32 {
        if (m.len > out.len) {
            code.last_value = m.len;
            return error.BufferTooSmall;
        }
        @memcpy(out[0..m.len], m.bytes());
        return m.len;
    }
};

/// A payload length the ABI accepts.
pub fn checkLen(len: usize) error{TooLarge}!void {
    if (len > max_len) return error.TooLarge;
}

test "message: copy in, copy out, too small" {
    const a = std.testing.allocator;
    const m = try Message.create(a, "hello");
    defer m.destroy(a);
    try std.testing.expectEqualStrings("hello", m.bytes());
    var small: [3]u8 = undefined;
    try std.testing.expectError(error.BufferTooSmall, m.copyTo(&small));
    try std.testing.expectEqual(@as(u64, 5), code.last_value);
    var big: [8]u8 = undefined;
    try std.testing.expectEqual(@as(u32, 5), try m.copyTo(&big));
    try std.testing.expectEqualStrings("hello", big[0..5]);
    const empty = try Message.create(a, "");
    defer empty.destroy(a);
    try std.testing.expectEqual(@as(u32, 0), try empty.copyTo(&.{}));
}

test "message: larger than 1 GiB is refused before allocating" {
    // A slice whose length alone is too large; never dereferenced.
    const fake: [*]const u8 = @ptrFromInt(@alignOf(u64));
    try std.testing.expectError(error.TooLarge, Message.create(std.testing.failing_allocator, fake[0 .. max_len + 1]));
    try checkLen(max_len);
}
