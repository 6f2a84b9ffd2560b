//! A box holding one byte payload that any isolate can load, store, swap
//! or compare-and-swap by version, atomically.
//!
//! Payloads are arbitrary in size, so the box is guarded by a RawMutex
//! rather than a single atomic word; every operation is short (one copy)
//! and never blocks on anything else. Each change bumps `version`, which is
//! what `compareAndSwap` compares: comparing by version instead of by bytes
//! is O(1) and has no ABA problem.
const std = @import("std");
const RawMutex = @import("../core/raw_mutex.zig").RawMutex;

pub const max_len: u32 = 1 << 30;

pub const Box = struct {
    lock: RawMutex = .{},
    bytes: []u8,
    version: u64,
    allocator: std.mem.Allocator,

    pub fn create(allocator: std.mem.Allocator, initial: []const u8) error{ OutOfMemory, TooLarge }!*Box {
        if (initial.len > max_len) return error.TooLarge;
        const b = try allocator.create(Box);
        errdefer allocator.destroy(b);
        b.* = .{ .bytes = try allocator.dupe(u8, initial), .version = 1, .allocator = allocator };
        return b;
    }

    pub fn destroy(b: *Box) void {
        b.allocator.free(b.bytes);
        b.allocator.destroy(b);
    }

    pub const Loaded = struct { len: u32, version: u64 };

    /// Copy the payload into `out`; if it does not fit, copy nothing and
    /// return the length needed.
    pub fn load(b: *Box, out: []u8) error{BufferTooSmall}!Loaded {
        b.lock.lock();
        defer b.lock.unlock();
        const len: u32 = @intCast(b.bytes.len);
        if (len > out.len) return error.BufferTooSmall;
        @memcpy(out[0..len], b.bytes);
        return .{ .len = len, .version = b.version };
    }

    pub fn length(b: *Box) u32 {
        b.lock.lock();
        defer b.lock.unlock();
        return @intCast(b.bytes.len);
    }

    pub fn currentVersion(b: *Box) u64 {
        b.lock.lock();
        defer b.lock.unlock();
        return b.version;
    }

    /// Replace the payload; returns the new version.
    pub fn store(b: *Box, value: []const u8) error{ OutOfMemory, TooLarge }!u64 {
        if (value.len > max_len) return error.TooLarge;
        // Copy outside the lock: allocation must not stall other isolates.
        const copy = try b.allocator.dupe(u8, value);
        b.lock.lock();
        const old = b.bytes;
        b.bytes = copy;
        b.version += 1;
        const v = b.version;
        b.lock.unlock();
        b.allocator.free(old);
        return v;
    }

    /// Replace the payload and copy the old one into `out`. If the old one
    /// does not fit, nothing changes and BufferTooSmall is returned (the
    /// needed length is `length()`; the caller grows its buffer and retries).
    pub fn swap(b: *Box, value: []const u8, out: []u8) error{ OutOfMemory, TooLarge, BufferTooSmall }!Loaded {
        if (value.len > max_len) return error.TooLarge;
        const copy = try b.allocator.dupe(u8, value);
        b.lock.lock();
        if (b.bytes.len > out.len) {
            b.lock.unlock();
            b.allocator.free(copy);
            return error.BufferTooSmall;
        }
        const old = b.bytes;
        const old_len: u32 = @intCast(old.len);
        @memcpy(out[0..old_len], old);
        b.bytes = copy;
        b.version += 1;
        const v = b.version;
        b.lock.unlock();
        b.allocator.free(old);
        return .{ .len = old_len, .version = v };
    }

    /// Store `value` only if the version is still `expected`. Returns
    /// whether it swapped and the version now current.
    pub fn compareAndSwap(b: *Box, expected: u64, value: []const u8) error{ OutOfMemory, TooLarge }!struct { swapped: bool, version: u64 } {
        if (value.len > max_len) return error.TooLarge;
        const copy = try b.allocator.dupe(u8, value);
        b.lock.lock();
        if (b.version != expected) {
            const v = b.version;
            b.lock.unlock();
            b.allocator.free(copy);
            return .{ .swapped = false, .version = v };
        }
        const old = b.bytes;
        b.bytes = copy;
        b.version += 1;
        const v = b.version;
        b.lock.unlock();
        b.allocator.free(old);
        return .{ .swapped = true, .version = v };
    }
};

test "box: load, store, swap, cas" {
    const b = try Box.create(std.testing.allocator, "hello");
    defer b.destroy();
    var buf: [16]u8 = undefined;
    const l = try b.load(&buf);
    try std.testing.expectEqualStrings("hello", buf[0..l.len]);
    try std.testing.expectEqual(@as(u64, 1), l.version);
    try std.testing.expectError(error.BufferTooSmall, b.load(buf[0..2]));
    try std.testing.expectEqual(@as(u64, 2), try b.store("world!"));
    const s = try b.swap("x", &buf);
    try std.testing.expectEqualStrings("world!", buf[0..s.len]);
    try std.testing.expectEqual(@as(u64, 3), s.version);
    const miss = try b.compareAndSwap(2, "no");
    try std.testing.expect(!miss.swapped);
    const hit = try b.compareAndSwap(3, "yes");
    try std.testing.expect(hit.swapped);
    try std.testing.expectEqual(@as(u64, 4), hit.version);
}

test "box: concurrent cas increments lose nothing" {
    const b = try Box.create(std.heap.c_allocator, &std.mem.toBytes(@as(u64, 0)));
    defer b.destroy();
    const T = struct {
        fn run(bb: *Box) void {
            var buf: [8]u8 = undefined;
            for (0..5_000) |_| {
                var tries: u32 = 0;
                while (true) : (tries += 1) {
                    std.debug.assert(tries < 1_000_000);
                    const l = bb.load(&buf) catch unreachable;
                    const n = std.mem.bytesToValue(u64, &buf) + 1;
                    const r = bb.compareAndSwap(l.version, &std.mem.toBytes(n)) catch unreachable;
                    if (r.swapped) break;
                }
            }
        }
    };
    var ts: [4]std.Thread = undefined;
    for (&ts) |*t| t.* = try std.Thread.spawn(.{}, T.run, .{b});
    for (ts) |t| t.join();
    var buf: [8]u8 = undefined;
    _ = try b.load(&buf);
    try std.testing.expectEqual(@as(u64, 20_000), std.mem.bytesToValue(u64, &buf));
}
