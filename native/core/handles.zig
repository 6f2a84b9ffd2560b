//! The handle table: the only way JavaScript names a native object.
//!
//! A handle is a 52-bit integer, `generation << 20 | index`, carried in JS
//! as a plain number (an f64 across the FFI, which keeps calls on V8's fast
//! path). Slots are never freed, only their objects, so looking a handle up
//! never touches freed memory: a stale handle fails the generation check, a
//! forged one fails the range or generation check, and a handle of another
//! kind fails the kind check.
//!
//! Each slot counts references. Every JS wrapper owns one (taken by
//! `create` or `retain`, given back by `release`); the object is destroyed
//! when the last one goes. Operations look a handle up without taking a
//! reference: the wrapper they come from already holds one.
const std = @import("std");
const RawMutex = @import("../sync/raw_mutex.zig").RawMutex;
const Code = @import("code.zig").Code;

pub const Kind = enum(u8) {
    free = 0,
    mutex,
    rwlock,
    semaphore,
    condvar,
    counter,
    flag,
    box,
    mpsc_sender,
    mpsc_receiver,
    broadcast_sender,
    broadcast_receiver,
    oneshot_sender,
    oneshot_receiver,
    runtime,
    task,
    tcp_listener,
    tcp_stream,
    udp_socket,
    server,
    /// Kinds for later subsystems go here.
    _,
};

pub const Destroy = *const fn (obj: *anyopaque) void;

const index_bits = 20;
const chunk_len: u32 = 4096;
const max_chunks: u32 = (1 << index_bits) / chunk_len;
/// The most objects alive at once.
pub const capacity: u32 = 1 << index_bits;

const Slot = struct {
    /// generation (high 32 bits) | references (low 32 bits).
    word: std.atomic.Value(u64) = .init(0),
    kind: std.atomic.Value(Kind) = .init(.free),
    obj: std.atomic.Value(?*anyopaque) = .init(null),
    destroy: ?Destroy = null,
    next_free: u32 = 0,
};

var chunks: [max_chunks]std.atomic.Value(?*[chunk_len]Slot) = @splat(.init(null));
var chunk_count: u32 = 0;
var free_head: u32 = no_slot;
var lock: RawMutex = .{};
var live_count: std.atomic.Value(u32) = .init(0);

const no_slot: u32 = std.math.maxInt(u32);

pub const Handle = u64;

fn slotAt(index: u32) ?*Slot {
    const chunk = chunks[index / chunk_len].load(.acquire) orelse return null;
    return &chunk[index % chunk_len];
}

fn pack(gen: u32, index: u32) Handle {
    return (@as(u64, gen) << index_bits) | index;
}

/// Decode a handle passed from JS as an f64. Null when it cannot be one.
pub fn fromF64(x: f64) ?Handle {
    if (!(x >= 1 and x <= 9007199254740991.0)) return null;
    if (@floor(x) != x) return null;
    return @intFromFloat(x);
}

pub fn toF64(h: Handle) f64 {
    return @floatFromInt(h);
}

/// Register `obj` with one reference. Returns the handle or `limit`.
pub fn create(kind: Kind, obj: *anyopaque, destroy: Destroy) error{ Limit, OutOfMemory }!Handle {
    std.debug.assert(kind != .free);
    lock.lock();
    defer lock.unlock();
    if (free_head == no_slot) try grow();
    const index = free_head;
    const slot = slotAt(index).?;
    free_head = slot.next_free;
    const gen: u32 = @intCast(slot.word.load(.monotonic) >> 32);
    std.debug.assert(slot.word.load(.monotonic) & 0xffff_ffff == 0);
    slot.kind.store(kind, .monotonic);
    slot.obj.store(obj, .monotonic);
    slot.destroy = destroy;
    // Publishes kind and obj to lookups that see the new word.
    slot.word.store((@as(u64, gen) << 32) | 1, .release);
    _ = live_count.fetchAdd(1, .monotonic);
    return pack(gen, index);
}

fn grow() error{ Limit, OutOfMemory }!void {
    if (chunk_count == max_chunks) return error.Limit;
    const chunk = try std.heap.c_allocator.create([chunk_len]Slot);
    const base = chunk_count * chunk_len;
    var i: u32 = chunk_len;
    while (i > 0) {
        i -= 1;
        // Generation 1 first: handle 0 is never valid.
        chunk[i] = .{ .word = .init(@as(u64, 1) << 32), .next_free = free_head };
        free_head = base + i;
    }
    chunks[chunk_count].store(chunk, .release);
    chunk_count += 1;
}

const Decoded = struct { slot: *Slot, gen: u32 };

fn decode(h: Handle) ?Decoded {
    const index: u32 = @intCast(h & (capacity - 1));
    const gen_wide = h >> index_bits;
    if (gen_wide == 0 or gen_wide > std.math.maxInt(u32)) return null;
    const slot = slotAt(index) orelse return null;
    return .{ .slot = slot, .gen = @intCast(gen_wide) };
}

/// The object behind a live handle of `kind`, without taking a reference.
pub fn lookup(h: Handle, kind: Kind) error{ InvalidHandle, WrongKind }!*anyopaque {
    const d = decode(h) orelse return error.InvalidHandle;
    const word = d.slot.word.load(.acquire);
    if (word >> 32 != d.gen or word & 0xffff_ffff == 0) return error.InvalidHandle;
    if (d.slot.kind.load(.monotonic) != kind) return error.WrongKind;
    return d.slot.obj.load(.monotonic) orelse error.InvalidHandle;
}

/// Typed lookup: `get(Mutex, h, .mutex)`.
pub fn get(comptime T: type, h: Handle, kind: Kind) error{ InvalidHandle, WrongKind }!*T {
    return @ptrCast(@alignCast(try lookup(h, kind)));
}

/// The kind of a live handle.
pub fn kindOf(h: Handle) error{InvalidHandle}!Kind {
    const d = decode(h) orelse return error.InvalidHandle;
    const word = d.slot.word.load(.acquire);
    if (word >> 32 != d.gen or word & 0xffff_ffff == 0) return error.InvalidHandle;
    return d.slot.kind.load(.monotonic);
}

/// Take one more reference (another isolate attaching to the object).
/// `kind` may be null to accept any kind.
pub fn retain(h: Handle, kind: ?Kind) error{ InvalidHandle, WrongKind }!void {
    const d = decode(h) orelse return error.InvalidHandle;
    var word = d.slot.word.load(.acquire);
    while (true) {
        if (word >> 32 != d.gen or word & 0xffff_ffff == 0) return error.InvalidHandle;
        if (kind) |k| if (d.slot.kind.load(.monotonic) != k) return error.WrongKind;
        if (word & 0xffff_ffff == 0xffff_ffff) return error.InvalidHandle; // Saturated.
        word = d.slot.word.cmpxchgWeak(word, word + 1, .acquire, .acquire) orelse return;
    }
}

/// Give back one reference; the last one destroys the object and frees
/// the slot under a new generation.
pub fn release(h: Handle) error{InvalidHandle}!void {
    const d = decode(h) orelse return error.InvalidHandle;
    var word = d.slot.word.load(.acquire);
    while (true) {
        const refs = word & 0xffff_ffff;
        if (word >> 32 != d.gen or refs == 0) return error.InvalidHandle;
        const next_gen: u32 = if (d.gen == std.math.maxInt(u32)) 1 else d.gen + 1;
        const next: u64 = if (refs == 1) @as(u64, next_gen) << 32 else word - 1;
        word = d.slot.word.cmpxchgWeak(word, next, .acq_rel, .acquire) orelse {
            if (refs == 1) reclaim(d.slot, @intCast(h & (capacity - 1)));
            return;
        };
    }
}

fn reclaim(slot: *Slot, index: u32) void {
    const obj = slot.obj.swap(null, .acquire).?;
    const destroy = slot.destroy.?;
    slot.kind.store(.free, .monotonic);
    destroy(obj);
    lock.lock();
    defer lock.unlock();
    slot.next_free = free_head;
    free_head = index;
    _ = live_count.fetchSub(1, .monotonic);
}

/// Objects alive now (for leak checks in tests and metrics).
pub fn live() u32 {
    return live_count.load(.monotonic);
}

test "handles: create, lookup, retain, release" {
    const T = struct {
        var destroyed: u32 = 0;
        fn destroy(_: *anyopaque) void {
            destroyed += 1;
        }
    };
    var obj: u32 = 7;
    const h = try create(.counter, &obj, T.destroy);
    try std.testing.expect(h >= 1 << index_bits);
    try std.testing.expectEqual(@as(*anyopaque, &obj), try lookup(h, .counter));
    try std.testing.expectError(error.WrongKind, lookup(h, .mutex));
    try retain(h, .counter);
    try release(h);
    try std.testing.expectEqual(@as(u32, 0), T.destroyed);
    try release(h);
    try std.testing.expectEqual(@as(u32, 1), T.destroyed);
    // Stale: the slot has a new generation now.
    try std.testing.expectError(error.InvalidHandle, lookup(h, .counter));
    try std.testing.expectError(error.InvalidHandle, retain(h, null));
    try std.testing.expectError(error.InvalidHandle, release(h));
    // Forged.
    try std.testing.expect(fromF64(-1) == null);
    try std.testing.expect(fromF64(1.5) == null);
    try std.testing.expect(fromF64(std.math.nan(f64)) == null);
    try std.testing.expectError(error.InvalidHandle, lookup(fromF64(12345).?, .counter));
    try std.testing.expectError(error.InvalidHandle, lookup(fromF64(9007199254740991).?, .counter));
}

test "handles: concurrent retain and release never double-free" {
    const T = struct {
        var destroyed = std.atomic.Value(u32).init(0);
        fn destroy(_: *anyopaque) void {
            _ = destroyed.fetchAdd(1, .monotonic);
        }
        fn churn(h: Handle) void {
            for (0..10_000) |_| {
                retain(h, null) catch return;
                release(h) catch unreachable;
            }
        }
    };
    var obj: u32 = 0;
    for (0..20) |_| {
        const h = try create(.flag, &obj, T.destroy);
        var ts: [3]std.Thread = undefined;
        for (&ts) |*t| t.* = try std.Thread.spawn(.{}, T.churn, .{h});
        try release(h);
        for (ts) |t| t.join();
    }
    try std.testing.expectEqual(@as(u32, 20), T.destroyed.load(.monotonic));
}
