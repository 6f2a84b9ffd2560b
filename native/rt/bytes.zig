//! An owned byte string with room for a small payload inline: the
//! arguments and results of most tasks fit, so spawning and completing
//! them allocates nothing.
const std = @import("std");
const message = @import("../chan/message.zig");
const code = @import("../core/code.zig");

pub const inline_len: u32 = 48;

pub const Bytes = struct {
    len: u32 = 0,
    small: [inline_len]u8 = undefined,
    heap: ?[*]u8 = null,

    /// A copy of `src` (at most `message.max_len` bytes).
    pub fn copy(src: []const u8) error{ TooLarge, OutOfMemory }!Bytes {
        try message.checkLen(src.len);
        var b: Bytes = .{ .len = @intCast(src.len) };
        if (src.len > inline_len) {
            const buf = try std.heap.c_allocator.alloc(u8, src.len);
            b.heap = buf.ptr;
        }
        @memcpy(b.slice(), src);
        return b;
    }

    pub fn slice(b: *Bytes) []u8 {
        if (b.heap) |p| return p[0..b.len];
        std.debug.assert(b.len <= inline_len);
        return b.small[0..b.len];
    }

    /// Copy into `out`; when it does not fit, the needed size goes to
    /// `code.last_value` and nothing is copied.
    pub fn copyTo(b: *Bytes, out: []u8) error{BufferTooSmall}!u32 {
        if (b.len > out.len) {
            code.last_value = b.len;
            return error.BufferTooSmall;
        }
        @memcpy(out[0..b.len], b.slice());
        return b.len;
    }

    pub fn deinit(b: *Bytes) void {
        if (b.heap) |p| std.heap.c_allocator.free(p[0..b.len]);
        b.* = .{};
    }
};

test "bytes: inline and heap" {
    var a = try Bytes.copy("short");
    defer a.deinit();
    try std.testing.expect(a.heap == null);
    try std.testing.expectEqualStrings("short", a.slice());
    const long = "x" ** 100;
    var b = try Bytes.copy(long);
    defer b.deinit();
    try std.testing.expect(b.heap != null);
    var small: [10]u8 = undefined;
    try std.testing.expectError(error.BufferTooSmall, b.copyTo(&small));
    try std.testing.expectEqual(@as(u64, 100), code.last_value);
    var big: [128]u8 = undefined;
    try std.testing.expectEqual(@as(u32, 100), try b.copyTo(&big));
}
