//! For tests: `std.heap.c_allocator` with atomic counts of live
//! allocations, so a multi-threaded test can check it freed everything
//! without the cost of `std.testing.allocator` (which serialises every
//! allocation and records stack traces).
const std = @import("std");
const Allocator = std.mem.Allocator;
const Alignment = std.mem.Alignment;

pub const CountingAllocator = struct {
    live_allocs: std.atomic.Value(u64) = .init(0),
    live_bytes: std.atomic.Value(u64) = .init(0),

    const vtable: Allocator.VTable = .{
        .alloc = alloc,
        .resize = Allocator.noResize,
        .remap = Allocator.noRemap,
        .free = free,
    };

    pub fn allocator(c: *CountingAllocator) Allocator {
        return .{ .ptr = c, .vtable = &vtable };
    }

    /// Fails the test when anything is still allocated.
    pub fn expectNoLeaks(c: *CountingAllocator) !void {
        try std.testing.expectEqual(@as(u64, 0), c.live_allocs.load(.acquire));
        try std.testing.expectEqual(@as(u64, 0), c.live_bytes.load(.acquire));
    }

    fn alloc(ctx: *anyopaque, len: usize, alignment: Alignment, ret_addr: usize) ?[*]u8 {
        const c: *CountingAllocator = @ptrCast(@alignCast(ctx));
        const p = std.heap.c_allocator.rawAlloc(len, alignment, ret_addr) orelse return null;
        _ = c.live_allocs.fetchAdd(1, .monotonic);
        _ = c.live_bytes.fetchAdd(len, .monotonic);
        return p;
    }

    fn free(ctx: *anyopaque, memory: []u8, alignment: Alignment, ret_addr: usize) void {
        const c: *CountingAllocator = @ptrCast(@alignCast(ctx));
        std.heap.c_allocator.rawFree(memory, alignment, ret_addr);
        const allocs = c.live_allocs.fetchSub(1, .release);
        std.debug.assert(allocs > 0);
        const bytes = c.live_bytes.fetchSub(memory.len, .release);
        std.debug.assert(bytes >= memory.len);
    }
};

test "counting_allocator: counts what is live" {
    var c: CountingAllocator = .{};
    const a = c.allocator();
    const x = try a.alloc(u8, 100);
    const y = try a.create(u64);
    try std.testing.expectEqual(@as(u64, 2), c.live_allocs.load(.monotonic));
    try std.testing.expectEqual(@as(u64, 108), c.live_bytes.load(.monotonic));
    a.free(x);
    a.destroy(y);
    try c.expectNoLeaks();
}
