//! Recycling of mpsc message nodes, so that a steady stream of small
//! messages does not malloc on the sender's thread and free on the
//! receiver's (glibc then contends on the sender arena once the receiver's
//! tcache is full).
//!
//! Size classes: a node whose payload is at most `small_max` bytes is
//! allocated rounded up to a multiple of 16 bytes (header included), which
//! is about what malloc would use anyway; any node of a class can carry any
//! payload of that class. Larger nodes are allocated to size and never
//! recycled. `allocSize` is the one rule both allocation and free follow.
//! Nodes stay as small as the messages: when the receiver lags behind, the
//! queue's memory (and how much of it the caches see) is what matters most.
//!
//! The flow, per class, all lists linked through `Message.next`:
//!
//! - the receiver (under the channel's consumer lock) keeps the nodes it has
//!   emptied in `Spares`, lists only it touches. Once a list holds `batch`
//!   nodes and the class's entry in the shared `Slot` is empty, it publishes
//!   the whole list there with one release store. Only the consumer ever
//!   stores a non-null list into the slot, so "load null, then store"
//!   cannot race with another publisher;
//! - a sender whose `Cache` has no node of the class takes the whole
//!   published list with one `swap(null)` and pops nodes from it privately.
//!
//! Nothing is ever popped from a shared list node by node, so there is no
//! ABA: a list changes hands whole, by a store of its only publisher and a
//! swap of whoever takes it.
//!
//! In a list, each node's `len` holds the number of nodes from it to the
//! end (1 for the last), so the head tells the length at no cost; a list is
//! freed knowing its class.
//!
//! Bounds: per class, spares, the slot and each sender cache hold at most
//! `hold_max` nodes; beyond that nodes go back to the allocator. Their
//! owners free every list when they go away.
const std = @import("std");
const Message = @import("message.zig").Message;

/// The largest payload of a recycled node (a node is then 256 bytes).
pub const small_max: u32 = 256 - header;
/// Node sizes are multiples of this.
const granule: u32 = 16;
/// Size classes: node sizes `header + granule * c`, c = 0 .. classes - 1.
pub const classes: u32 = small_max / granule + 1;
/// Nodes the receiver gathers in a class before it publishes them.
pub const batch: u32 = 32;
/// The most nodes spares, the slot or one sender cache hold in a class.
pub const hold_max: u32 = 2 * batch;

const header: u32 = @sizeOf(Message);
const alignment = std.mem.Alignment.of(Message);

comptime {
    std.debug.assert(header == granule);
    std.debug.assert(small_max % granule == 0);
}

/// The class of a small payload.
fn classOf(len: u32) u32 {
    std.debug.assert(len <= small_max);
    return (len + granule - 1) / granule;
}

fn classSize(class: u32) usize {
    return header + granule * class;
}

/// Bytes allocated for a node whose payload is `len` bytes.
pub fn allocSize(len: u32) usize {
    return if (len <= small_max) classSize(classOf(len)) else @as(usize, header) + len;
}

/// A fresh node for a `len`-byte payload (its bytes are not set).
pub fn allocNode(allocator: std.mem.Allocator, len: u32) error{OutOfMemory}!*Message {
    const raw = try allocator.alignedAlloc(u8, alignment, allocSize(len));
    const m: *Message = @ptrCast(raw.ptr);
    m.* = .{ .len = len };
    return m;
}

/// Free a node that holds a message (its `len` is the payload's).
pub fn freeNode(allocator: std.mem.Allocator, m: *Message) void {
    freeSized(allocator, m, allocSize(m.len));
}

fn freeSized(allocator: std.mem.Allocator, m: *Message, size: usize) void {
    const base: [*]align(alignment.toByteUnits()) u8 = @ptrCast(m);
    allocator.free(base[0..size]);
}

/// Free every node of a list of `class`.
fn freeList(allocator: std.mem.Allocator, head: ?*Message, class: u32) void {
    var it = head;
    while (it) |m| {
        it = m.next.load(.monotonic);
        freeSized(allocator, m, classSize(class));
    }
}

fn listLen(head: ?*Message) u32 {
    return if (head) |m| m.len else 0;
}

/// Link `m` in front of `head`; returns the new head.
fn listPush(head: ?*Message, m: *Message) *Message {
    m.len = listLen(head) + 1;
    m.next.store(head, .monotonic);
    return m;
}

/// The shared hand-over point between the receiver and the senders: one
/// list per class, on a line of their own.
pub const Slot = struct {
    lists: [classes]std.atomic.Value(?*Message) align(std.atomic.cache_line) = @splat(.init(null)),

    /// Everything published and not taken; the channel is going away.
    pub fn deinit(s: *Slot, allocator: std.mem.Allocator) void {
        for (&s.lists, 0..) |*l, c| freeList(allocator, l.swap(null, .acquire), @intCast(c));
    }
};

/// The receiver's emptied nodes. Guarded by the channel's consumer lock.
pub const Spares = struct {
    heads: [classes]?*Message = @splat(null),

    /// Take back a node whose message was delivered (or dropped).
    pub fn put(sp: *Spares, slot: *Slot, allocator: std.mem.Allocator, m: *Message) void {
        if (m.len > small_max) return freeNode(allocator, m);
        const c = classOf(m.len);
        const head = &sp.heads[c];
        const n = listLen(head.*);
        if (n >= batch and slot.lists[c].load(.monotonic) == null) {
            // Only we store a non-null list, so the entry stays empty until
            // this store. Release: the sender that takes the list sees
            // every link and count written before.
            slot.lists[c].store(head.*, .release);
            head.* = null;
        } else if (n >= hold_max) return freeNode(allocator, m);
        head.* = listPush(head.*, m);
    }

    pub fn deinit(sp: *Spares, allocator: std.mem.Allocator) void {
        for (&sp.heads, 0..) |*h, c| {
            freeList(allocator, h.*, @intCast(c));
            h.* = null;
        }
    }
};

/// A sender's private nodes. A sender handle may be shared by several
/// isolates, so the cache is guarded by a try-lock: whoever does not get
/// it simply allocates.
pub const Cache = struct {
    busy: std.atomic.Value(bool) = .init(false),
    heads: [classes]?*Message = @splat(null),

    /// A node for a `len`-byte payload from the cache, or else from the
    /// slot; null when neither has one of its class (or another thread
    /// holds the cache, or `len` is not small). The node's `len` is set,
    /// its `next` is stale.
    pub fn take(c: *Cache, slot: *Slot, len: u32) ?*Message {
        if (len > small_max or !c.tryLock()) return null;
        defer c.unlock();
        return c.takeLocked(slot, len);
    }

    /// For a sender that takes several nodes in a row: one lock for all.
    pub fn tryLock(c: *Cache) bool {
        return !c.busy.swap(true, .acquire);
    }

    pub fn unlock(c: *Cache) void {
        c.busy.store(false, .release);
    }

    /// `take`, with the cache locked by the caller.
    pub fn takeLocked(c: *Cache, slot: *Slot, len: u32) ?*Message {
        std.debug.assert(c.busy.load(.monotonic));
        if (len > small_max) return null;
        const class = classOf(len);
        const head = &c.heads[class];
        if (head.* == null) {
            // A plain load first: an empty entry costs no write to its line.
            if (slot.lists[class].load(.monotonic) == null) return null;
            head.* = slot.lists[class].swap(null, .acquire);
        }
        const m = head.* orelse return null;
        head.* = m.next.load(.monotonic);
        // The receiver wrote the next node last: fetch it for writing
        // before the next send needs it.
        if (head.*) |n| @prefetch(n, .{ .rw = .write });
        m.len = len;
        return m;
    }

    /// Give back a node that was not sent; frees it when the cache is busy
    /// or full, or when it is not a small node.
    pub fn give(c: *Cache, allocator: std.mem.Allocator, m: *Message) void {
        if (m.len > small_max) return freeNode(allocator, m);
        const head = &c.heads[classOf(m.len)];
        if (!c.tryLock()) return freeNode(allocator, m);
        defer c.unlock();
        if (listLen(head.*) >= hold_max) return freeNode(allocator, m);
        head.* = listPush(head.*, m);
    }

    /// The sender handle is going away (no thread uses it any more).
    pub fn deinit(c: *Cache, allocator: std.mem.Allocator) void {
        std.debug.assert(!c.busy.load(.monotonic));
        for (&c.heads, 0..) |*h, class| {
            freeList(allocator, h.*, @intCast(class));
            h.* = null;
        }
    }
};

test "node_cache: size classes" {
    try std.testing.expectEqual(@as(usize, 16), allocSize(0));
    try std.testing.expectEqual(@as(usize, 32), allocSize(1));
    try std.testing.expectEqual(@as(usize, 32), allocSize(16));
    try std.testing.expectEqual(@as(usize, 80), allocSize(64));
    try std.testing.expectEqual(@as(usize, 96), allocSize(65));
    try std.testing.expectEqual(@as(usize, 256), allocSize(small_max));
    try std.testing.expectEqual(@as(usize, 16 + small_max + 1), allocSize(small_max + 1));
    try std.testing.expectEqual(@as(u32, 16), classes);
}

test "node_cache: spares publish a batch, a cache takes it whole" {
    const CountingAllocator = @import("counting_allocator.zig").CountingAllocator;
    var counting: CountingAllocator = .{};
    const a = counting.allocator();
    var slot: Slot = .{};
    var spares: Spares = .{};
    var cache: Cache = .{};
    const c64 = classOf(64);
    // Nothing to take yet; a large node is never kept.
    try std.testing.expect(cache.take(&slot, 64) == null);
    try std.testing.expect(cache.take(&slot, small_max + 1) == null);
    spares.put(&slot, a, try allocNode(a, small_max + 1));
    try std.testing.expectEqual(@as(u64, 0), counting.live_allocs.load(.monotonic));
    // 49 .. 64 bytes share a class.
    for (0..batch) |i| spares.put(&slot, a, try allocNode(a, 49 + @as(u32, @intCast(i % 16))));
    try std.testing.expectEqual(batch, listLen(spares.heads[c64]));
    try std.testing.expect(slot.lists[c64].load(.monotonic) == null);
    // Another class is kept apart.
    spares.put(&slot, a, try allocNode(a, 3));
    try std.testing.expectEqual(@as(u32, 1), listLen(spares.heads[classOf(3)]));
    // The next one publishes the class's list and starts a new one.
    spares.put(&slot, a, try allocNode(a, 64));
    try std.testing.expectEqual(@as(u32, 1), listLen(spares.heads[c64]));
    try std.testing.expectEqual(batch, listLen(slot.lists[c64].load(.monotonic)));
    // The slot is full: spares keep up to hold_max, then free.
    for (0..hold_max + 5) |_| spares.put(&slot, a, try allocNode(a, 60));
    try std.testing.expectEqual(hold_max, listLen(spares.heads[c64]));
    try std.testing.expectEqual(@as(u64, batch + hold_max + 1), counting.live_allocs.load(.monotonic));
    // A sender takes the published list in one go, for any size of the class.
    try std.testing.expect(cache.take(&slot, 65) == null);
    const m = cache.take(&slot, 50).?;
    try std.testing.expectEqual(@as(u32, 50), m.len);
    try std.testing.expect(slot.lists[c64].load(.monotonic) == null);
    try std.testing.expectEqual(batch - 1, listLen(cache.heads[c64]));
    cache.give(a, m);
    try std.testing.expectEqual(batch, listLen(cache.heads[c64]));
    // Busy: the other isolate allocates instead.
    cache.busy.store(true, .monotonic);
    try std.testing.expect(cache.take(&slot, 64) == null);
    cache.busy.store(false, .monotonic);
    cache.deinit(a);
    spares.deinit(a);
    slot.deinit(a);
    try counting.expectNoLeaks();
}
