//! The handle table: the only way JavaScript names a native object.
//!
//! A handle is a 52-bit integer, `generation << 20 | index`, carried in JS
//! as a plain number (an f64 across the FFI, which keeps calls on V8's fast
//! path). Slots are never freed, only their objects, so looking a handle up
//! never touches freed memory: a stale handle fails the generation check, a
//! forged one fails the range or generation check, and a handle of another
//! kind fails the kind check.
//!
//! Each slot counts two kinds of reference in one atomic word, so every
//! transition is one compare-and-swap:
//!
//! - owners: every JS wrapper owns one (taken by `create`, `retain` or
//!   `claim`, given back by `release` or `dispose`). Operations look a
//!   handle up without taking a reference: the wrapper they come from
//!   already holds one.
//! - transit references: a handle that leaves its wrapper as a number (JS
//!   reads `.handle` to post it to a Worker) takes one with `lend`, so the
//!   object survives its wrapper being garbage-collected before the other
//!   isolate attaches. The first `claim` (a `from` in any isolate) turns one
//!   into its owner reference: attaching costs no net reference. At most
//!   `max_transit` are outstanding per object (a handle logged in a loop
//!   grows nothing).
//!
//! Why transit references and not "keep your wrapper until the other side
//! attached": nobody follows that rule, and a wrapper that goes out of scope
//! is collected at an unpredictable moment. Why not let a transit reference
//! live until claimed: a handle read and never attached (logged, posted to
//! a Worker that died) would keep its object forever. The rules that bound
//! them:
//!
//! 1. A wrapper disposed explicitly gives its owner reference back and
//!    takes back as many transit references as it lent, if still
//!    outstanding (`dispose(h, lent)`): what a disposed wrapper lent and
//!    nobody claimed dies with it, so a program that disposes its wrappers
//!    frees every object at its last dispose, as before.
//! 2. A wrapper that is garbage-collected gives back only its owner
//!    reference (`release`): its lends stay in flight. An object whose
//!    handle was never read (or whose lends were all claimed) dies at once,
//!    as before.
//! 3. An object with no owner left but transit references outstanding is
//!    an orphan: on the orphan list, stamped with the time. A `claim` takes
//!    it back; if none comes within `grace_ms` (30 s by default) a sweep
//!    destroys it. Sweeps run in `lend`, `claim` and a `dispose` or
//!    `release` that made an orphan (and in the diagnostics exports): all
//!    called from JS with no native lock held, so running a destructor
//!    there cannot invert a lock order. Never in `create`, which native
//!    code calls under its own locks.
//!
//! So every object with no owner left dies within the grace period (plus
//! the wait for the next sweep), and at once unless its handle is in
//! flight from a wrapper that was collected.
const std = @import("std");
const RawMutex = @import("raw_mutex.zig").RawMutex;
const Code = @import("code.zig").Code;
const clock = @import("../os/clock.zig");
const Rng = @import("rng.zig").Rng;

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

// The slot word: generation (bits 32..63) | transit (24..31) | owners (0..23).
// Owners and transit references together are the slot's references: the
// object is alive exactly while they are not both zero.
const owner_bits = 24;
const owner_mask: u64 = (1 << owner_bits) - 1;
const transit_shift = owner_bits;
const transit_one: u64 = 1 << transit_shift;
const refs_mask: u64 = 0xffff_ffff;
/// The most owners of one object (wrappers in all isolates, and pins).
pub const max_owners: u32 = (1 << owner_bits) - 1;
/// The most unclaimed transit references of one object; `lend` beyond it
/// adds nothing (every `from` past it retains a new owner reference).
pub const max_transit: u32 = 255;

comptime {
    std.debug.assert(max_transit << transit_shift <= refs_mask);
    std.debug.assert(owner_bits + 8 == 32);
}

fn genOf(word: u64) u32 {
    return @intCast(word >> 32);
}

fn ownersOf(word: u64) u32 {
    return @intCast(word & owner_mask);
}

fn transitOf(word: u64) u32 {
    return @intCast((word & refs_mask) >> transit_shift);
}

/// Held by transit references only: waiting for a `claim` or the sweep.
fn orphaned(word: u64) bool {
    return ownersOf(word) == 0 and transitOf(word) > 0;
}

fn nextGen(gen: u32) u32 {
    return if (gen == std.math.maxInt(u32)) 1 else gen + 1;
}

const Slot = struct {
    /// generation | transit | owners, see above.
    word: std.atomic.Value(u64) = .init(0),
    kind: std.atomic.Value(Kind) = .init(.free),
    obj: std.atomic.Value(?*anyopaque) = .init(null),
    destroy: ?Destroy = null,
    next_free: u32 = 0,
    // The orphan list, guarded by `lock`: linked exactly while the object
    // is an orphan (after every `settle`; between a word's CAS and the
    // `settle` that follows it, the sweep re-checks the word anyway).
    orphan_prev: u32 = no_slot,
    orphan_next: u32 = no_slot,
    orphan_linked: bool = false,
    /// When the object became an orphan (ms, monotonic clock).
    orphaned_at_ms: u64 = 0,
};

var chunks: [max_chunks]std.atomic.Value(?*[chunk_len]Slot) = @splat(.init(null));
var chunk_count: u32 = 0;
var free_head: u32 = no_slot;
var lock: RawMutex = .{};
var live_count: std.atomic.Value(u32) = .init(0);
/// The orphan list, oldest first (appended under `lock` with the time read
/// under it, so sorted by `orphaned_at_ms`).
var orphan_head: u32 = no_slot;
var orphan_tail: u32 = no_slot;
/// Length of the orphan list; read without the lock to skip empty sweeps.
var orphan_count: std.atomic.Value(u32) = .init(0);

/// How long an orphan waits for a `claim` before the sweep destroys it.
/// Long enough for a Worker to start and attach on a loaded machine; an
/// orphan costs only its object meanwhile.
pub const default_grace_ms: u64 = 30_000;
var grace_ms: std.atomic.Value(u64) = .init(default_grace_ms);
/// The most orphans one sweep destroys (its batch lives on the stack).
const sweep_batch: u32 = 64;

const no_slot: u32 = std.math.maxInt(u32);

pub const Handle = u64;

fn slotAt(index: u32) ?*Slot {
    const chunk = chunks[index / chunk_len].load(.acquire) orelse return null;
    return &chunk[index % chunk_len];
}

fn pack(gen: u32, index: u32) Handle {
    return (@as(u64, gen) << index_bits) | index;
}

fn nowMs() u64 {
    return clock.nowNs() / std.time.ns_per_ms;
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

/// Register `obj` with one owner. Returns the handle or `limit`.
pub fn create(kind: Kind, obj: *anyopaque, destroy: Destroy) error{ Limit, OutOfMemory }!Handle {
    std.debug.assert(kind != .free);
    lock.lock();
    defer lock.unlock();
    if (free_head == no_slot) try grow();
    const index = free_head;
    const slot = slotAt(index).?;
    free_head = slot.next_free;
    const gen: u32 = genOf(slot.word.load(.monotonic));
    std.debug.assert(slot.word.load(.monotonic) & refs_mask == 0);
    std.debug.assert(!slot.orphan_linked);
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

const Decoded = struct { slot: *Slot, gen: u32, index: u32 };

fn decode(h: Handle) ?Decoded {
    const index: u32 = @intCast(h & (capacity - 1));
    const gen_wide = h >> index_bits;
    if (gen_wide == 0 or gen_wide > std.math.maxInt(u32)) return null;
    const slot = slotAt(index) orelse return null;
    return .{ .slot = slot, .gen = @intCast(gen_wide), .index = index };
}

/// The error for a kind that did not match: a slot dying meanwhile reads
/// `.free` (or, reused, another kind) though the word loaded before looked
/// alive, so look at the word again: a handle that died is invalid, not of
/// the wrong kind.
fn kindMismatch(d: Decoded) error{ InvalidHandle, WrongKind } {
    const word = d.slot.word.load(.acquire);
    if (genOf(word) != d.gen or word & refs_mask == 0) return error.InvalidHandle;
    return error.WrongKind;
}

/// The object behind a live handle of `kind`, without taking a reference.
pub fn lookup(h: Handle, kind: Kind) error{ InvalidHandle, WrongKind }!*anyopaque {
    const d = decode(h) orelse return error.InvalidHandle;
    const word = d.slot.word.load(.acquire);
    if (genOf(word) != d.gen or word & refs_mask == 0) return error.InvalidHandle;
    if (d.slot.kind.load(.monotonic) != kind) return kindMismatch(d);
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
    if (genOf(word) != d.gen or word & refs_mask == 0) return error.InvalidHandle;
    return d.slot.kind.load(.monotonic);
}

/// Take one more owner reference without touching transit references (a
/// pin for the length of a native operation). `kind` may be null to accept
/// any kind. An orphan cannot be retained: only `claim` takes it back.
pub fn retain(h: Handle, kind: ?Kind) error{ InvalidHandle, WrongKind }!void {
    const d = decode(h) orelse return error.InvalidHandle;
    return retainDecoded(d, kind);
}

fn retainDecoded(d: Decoded, kind: ?Kind) error{ InvalidHandle, WrongKind }!void {
    var word = d.slot.word.load(.acquire);
    while (true) {
        if (genOf(word) != d.gen or ownersOf(word) == 0) return error.InvalidHandle;
        if (kind) |k| if (d.slot.kind.load(.monotonic) != k) return kindMismatch(d);
        if (ownersOf(word) == max_owners) return error.InvalidHandle; // Saturated.
        word = d.slot.word.cmpxchgWeak(word, word + 1, .acquire, .acquire) orelse return;
    }
}

/// One more owner reference to a handle whose reference the caller holds
/// (the one `create` returned, or a pin): that reference keeps the slot
/// live and its generation current, so nothing can fail. Asserted, not
/// returned: a failure here is a reference-counting bug in native code.
pub fn retainHeld(h: Handle) void {
    const d = decode(h);
    std.debug.assert(d != null);
    var word = d.?.slot.word.load(.acquire);
    while (true) {
        std.debug.assert(genOf(word) == d.?.gen);
        std.debug.assert(ownersOf(word) > 0);
        std.debug.assert(ownersOf(word) < max_owners);
        word = d.?.slot.word.cmpxchgWeak(word, word + 1, .acquire, .acquire) orelse return;
    }
}

/// Retain `h` as an owner and return its object: a pin for the length of a
/// native operation on a handle that came from JS. Once the reference is
/// taken the slot cannot be reused, so the object read after is the one
/// the kind check saw.
pub fn pin(comptime T: type, h: Handle, kind: Kind) error{ InvalidHandle, WrongKind }!*T {
    const d = decode(h) orelse return error.InvalidHandle;
    try retainDecoded(d, kind);
    std.debug.assert(d.slot.kind.load(.monotonic) == kind);
    const obj = d.slot.obj.load(.monotonic);
    std.debug.assert(obj != null); // Set by `create` before the word published it.
    return @ptrCast(@alignCast(obj.?));
}

/// A handle leaves its wrapper as a number: take a transit reference, so
/// the object outlives its owners until a `claim` takes the reference over
/// (or the grace period passes). The caller owns a reference. Returns
/// whether one was added: at `max_transit` outstanding nothing is, and the
/// caller must not count it as its own to take back.
pub fn lend(h: Handle) error{InvalidHandle}!bool {
    const d = decode(h) orelse return error.InvalidHandle;
    sweepIfDue();
    var word = d.slot.word.load(.acquire);
    while (true) {
        if (genOf(word) != d.gen or ownersOf(word) == 0) return error.InvalidHandle;
        const transit = transitOf(word);
        std.debug.assert(transit <= max_transit);
        if (transit == max_transit) return false;
        word = d.slot.word.cmpxchgWeak(word, word + transit_one, .acquire, .acquire) orelse return true;
    }
}

/// Attach (another isolate's `from`): become an owner, turning a transit
/// reference into the owner reference when one is outstanding (no net
/// reference), retaining a new one otherwise. Takes an orphan back.
pub fn claim(h: Handle, kind: Kind) error{ InvalidHandle, WrongKind }!void {
    std.debug.assert(kind != .free);
    const d = decode(h) orelse return error.InvalidHandle;
    sweepIfDue();
    var word = d.slot.word.load(.acquire);
    while (true) {
        if (genOf(word) != d.gen or word & refs_mask == 0) return error.InvalidHandle;
        if (d.slot.kind.load(.monotonic) != kind) return kindMismatch(d);
        if (ownersOf(word) == max_owners) return error.InvalidHandle; // Saturated.
        const next = if (transitOf(word) > 0) word - transit_one + 1 else word + 1;
        word = d.slot.word.cmpxchgWeak(word, next, .acquire, .acquire) orelse {
            if (ownersOf(word) == 0) {
                // It was an orphan: off the list.
                const now = nowMs();
                lock.lock();
                defer lock.unlock();
                settle(d.slot, d.index, now);
            }
            return;
        };
    }
}

/// Give back an owner reference (a pin, or a wrapper that was
/// garbage-collected): `dispose(h, 0)`.
pub fn release(h: Handle) error{InvalidHandle}!void {
    return dispose(h, 0);
}

/// Give back an owner reference and take back up to `lent` transit
/// references still outstanding: those a disposed wrapper lent and nobody
/// claimed (transit references are interchangeable, so this takes back as
/// many, not the same ones). With no owner and no transit reference left,
/// the object is destroyed and the slot freed under a new generation; with
/// transit references left, the object becomes an orphan, which a `claim`
/// takes back or the sweep destroys after the grace period.
pub fn dispose(h: Handle, lent: u32) error{InvalidHandle}!void {
    const now = nowMs();
    const orphan = try disposeAt(h, lent, now);
    if (orphan) _ = sweepAt(now);
}

/// `dispose` at a given time, without the sweep (tests). Returns whether
/// the object became an orphan.
pub fn disposeAt(h: Handle, lent: u32, now_ms: u64) error{InvalidHandle}!bool {
    const d = decode(h) orelse return error.InvalidHandle;
    return disposeDecoded(d, lent, now_ms) orelse error.InvalidHandle;
}

/// Give back an owner reference native code holds itself (the one `create`
/// returned, or one taken with `retainHeld` or `pin`). That reference kept
/// the slot live until now, so the handle decodes and its generation
/// matches: asserted, not returned (a failure is a reference-counting bug).
pub fn releaseHeld(h: Handle) void {
    const now = nowMs();
    const d = decode(h);
    std.debug.assert(d != null);
    const orphan = disposeDecoded(d.?, 0, now);
    std.debug.assert(orphan != null);
    if (orphan.?) _ = sweepAt(now);
}

/// `disposeAt` on a decoded handle: whether the object became an orphan,
/// or null when the handle is dead (stale generation or no owner left).
fn disposeDecoded(d: Decoded, lent: u32, now_ms: u64) ?bool {
    var word = d.slot.word.load(.acquire);
    while (true) {
        const owners = ownersOf(word);
        if (genOf(word) != d.gen or owners == 0) return null;
        const taken = @min(lent, transitOf(word));
        const left = word - 1 - taken * transit_one;
        const last = left & refs_mask == 0;
        const next: u64 = if (last) @as(u64, nextGen(d.gen)) << 32 else left;
        word = d.slot.word.cmpxchgWeak(word, next, .acq_rel, .acquire) orelse {
            if (last) {
                reclaim(d.slot, d.index);
                return false;
            }
            if (owners > 1) return false;
            lock.lock();
            defer lock.unlock();
            settle(d.slot, d.index, now_ms);
            return true;
        };
    }
}

/// Bring the slot's place on the orphan list in line with its word. Called
/// under `lock` after every CAS that may make or unmake an orphan; whoever
/// settles last sees the final word, so the list ends up right whatever
/// order racing CASes and settles ran in.
fn settle(slot: *Slot, index: u32, now_ms: u64) void {
    const word = slot.word.load(.acquire);
    if (orphaned(word) and !slot.orphan_linked) {
        slot.orphaned_at_ms = now_ms;
        link(slot, index);
    } else if (!orphaned(word) and slot.orphan_linked) {
        unlink(slot, index);
    }
}

fn link(slot: *Slot, index: u32) void {
    std.debug.assert(!slot.orphan_linked);
    slot.orphan_prev = orphan_tail;
    slot.orphan_next = no_slot;
    if (orphan_tail == no_slot) {
        std.debug.assert(orphan_head == no_slot);
        orphan_head = index;
    } else {
        const tail = slotAt(orphan_tail).?;
        // Sorted by time: a caller's clock read may lag one taken under the
        // lock earlier; keep the order (the later stamp wins).
        slot.orphaned_at_ms = @max(slot.orphaned_at_ms, tail.orphaned_at_ms);
        tail.orphan_next = index;
    }
    orphan_tail = index;
    slot.orphan_linked = true;
    _ = orphan_count.fetchAdd(1, .monotonic);
}

fn unlink(slot: *Slot, index: u32) void {
    std.debug.assert(slot.orphan_linked);
    if (slot.orphan_prev == no_slot) {
        std.debug.assert(orphan_head == index);
        orphan_head = slot.orphan_next;
    } else {
        slotAt(slot.orphan_prev).?.orphan_next = slot.orphan_next;
    }
    if (slot.orphan_next == no_slot) {
        std.debug.assert(orphan_tail == index);
        orphan_tail = slot.orphan_prev;
    } else {
        slotAt(slot.orphan_next).?.orphan_prev = slot.orphan_prev;
    }
    slot.orphan_prev = no_slot;
    slot.orphan_next = no_slot;
    slot.orphan_linked = false;
    const before = orphan_count.fetchSub(1, .monotonic);
    std.debug.assert(before > 0);
}

fn sweepIfDue() void {
    if (orphan_count.load(.monotonic) > 0) _ = sweepAt(nowMs());
}

/// Destroy the orphans whose grace period has passed at `now_ms`, at most
/// `sweep_batch` of them. Returns how many it destroyed.
pub fn sweepAt(now_ms: u64) u32 {
    var reaped: [sweep_batch]u32 = undefined;
    var count: u32 = 0;
    {
        lock.lock();
        defer lock.unlock();
        const grace = grace_ms.load(.monotonic);
        // Each turn unlinks the head, stops, or retries a CAS that lost to
        // a claim (which then unlinks it next turn): bounded by the batch.
        var turns: u32 = 0;
        while (turns < 4 * sweep_batch and count < sweep_batch and orphan_head != no_slot) : (turns += 1) {
            const index = orphan_head;
            const slot = slotAt(index).?;
            const word = slot.word.load(.acquire);
            if (!orphaned(word)) {
                // Claimed (its settle is on the way) or being destroyed.
                unlink(slot, index);
                continue;
            }
            if (now_ms -| slot.orphaned_at_ms < grace) break; // The rest are younger.
            if (slot.word.cmpxchgStrong(word, @as(u64, nextGen(genOf(word))) << 32, .acq_rel, .acquire) == null) {
                unlink(slot, index);
                reaped[count] = index;
                count += 1;
            }
        }
    }
    // Destructors run without the table lock (they may release handles).
    for (reaped[0..count]) |index| reclaim(slotAt(index).?, index);
    return count;
}

/// How long orphans wait for a claim (ms).
pub fn getGrace() u64 {
    return grace_ms.load(.monotonic);
}

/// Set how long orphans wait for a claim; returns the previous value.
pub fn setGrace(ms: u64) u64 {
    return grace_ms.swap(ms, .monotonic);
}

fn reclaim(slot: *Slot, index: u32) void {
    const obj = slot.obj.swap(null, .acquire).?;
    const destroy = slot.destroy.?;
    slot.kind.store(.free, .monotonic);
    destroy(obj);
    lock.lock();
    defer lock.unlock();
    // Dead: off the orphan list before the slot can be reused.
    if (slot.orphan_linked) unlink(slot, index);
    slot.next_free = free_head;
    free_head = index;
    _ = live_count.fetchSub(1, .monotonic);
}

/// Objects alive now (for leak checks in tests and metrics).
pub fn live() u32 {
    return live_count.load(.monotonic);
}

/// Objects held only by transit references now.
pub fn orphans() u32 {
    return orphan_count.load(.monotonic);
}

/// Destroy every orphan whose grace period has passed (bounded: the list
/// cannot be longer than the table).
pub fn sweep() void {
    const now = nowMs();
    var batches: u32 = 0;
    while (batches < capacity / sweep_batch and sweepAt(now) == sweep_batch) : (batches += 1) {}
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

/// A destructor that counts, for the tests below.
const Counted = struct {
    destroyed: std.atomic.Value(u32) = .init(0),

    fn destroy(obj: *anyopaque) void {
        const c: *Counted = @ptrCast(@alignCast(obj));
        _ = c.destroyed.fetchAdd(1, .monotonic);
    }

    fn count(c: *const Counted) u32 {
        return c.destroyed.load(.monotonic);
    }
};

test "handles: a transit reference keeps an object whose wrapper was collected until a claim takes it over" {
    // An hour: no sweep on the real clock (our own `lend`, say) expires our orphans.
    const previous = setGrace(std.time.ms_per_hour);
    defer _ = setGrace(previous);
    var obj: Counted = .{};
    const live_before = live();
    const h = try create(.mutex, &obj, Counted.destroy);
    try std.testing.expect(try lend(h));
    try release(h); // The wrapper was collected before anyone attached.
    try std.testing.expectEqual(@as(u32, 0), obj.count());
    try std.testing.expectEqual(@as(*anyopaque, &obj), try lookup(h, .mutex));
    try std.testing.expectEqual(@as(u32, 1), orphans());
    // Nobody owns it: neither retain, lend nor release may touch it.
    try std.testing.expectError(error.InvalidHandle, retain(h, null));
    try std.testing.expectError(error.InvalidHandle, lend(h));
    try std.testing.expectError(error.InvalidHandle, release(h));
    try std.testing.expectError(error.WrongKind, claim(h, .counter));
    try claim(h, .mutex); // Another isolate attaches: the transit reference becomes its owner.
    try std.testing.expectEqual(@as(u32, 0), orphans());
    try std.testing.expectEqual(@as(u64, 1), wordOf(h) & refs_mask);
    try release(h);
    try std.testing.expectEqual(@as(u32, 1), obj.count());
    try std.testing.expectEqual(live_before, live());
    try std.testing.expectError(error.InvalidHandle, claim(h, .mutex));
}

/// The slot word behind a handle (tests).
fn wordOf(h: Handle) u64 {
    return decode(h).?.slot.word.load(.monotonic);
}

test "handles: dispose takes back the transit references its wrapper lent, not more" {
    const previous = setGrace(std.time.ms_per_hour);
    defer _ = setGrace(previous);
    var obj: Counted = .{};
    const h = try create(.flag, &obj, Counted.destroy);
    // Logged twice and disposed: nothing is left behind.
    _ = try lend(h);
    _ = try lend(h);
    try dispose(h, 2);
    try std.testing.expectEqual(@as(u32, 1), obj.count());
    try std.testing.expectEqual(@as(u32, 0), orphans());

    // Posted to two isolates (two lends) and collected; the first attaches
    // and disposes (it lent nothing): the second can still attach.
    var other: Counted = .{};
    const g = try create(.flag, &other, Counted.destroy);
    _ = try lend(g);
    _ = try lend(g);
    try release(g);
    try claim(g, .flag);
    try dispose(g, 0);
    try std.testing.expectEqual(@as(u32, 0), other.count());
    try claim(g, .flag);
    try std.testing.expectEqual(@as(u32, 0), orphans());
    // Taking back more than is outstanding takes what is there.
    try dispose(g, 5);
    try std.testing.expectEqual(@as(u32, 1), other.count());
    try std.testing.expectError(error.InvalidHandle, claim(g, .flag));
}

test "handles: releasing an object whose handle was never lent destroys it at once" {
    var obj: Counted = .{};
    const h = try create(.flag, &obj, Counted.destroy);
    try claim(h, .flag); // No transit reference: a second owner.
    try release(h);
    try std.testing.expectEqual(@as(u32, 0), obj.count());
    try release(h);
    try std.testing.expectEqual(@as(u32, 1), obj.count());
    try std.testing.expectEqual(@as(u32, 0), orphans());
}

test "handles: transit references are bounded; each claim takes one, then claims retain" {
    const previous = setGrace(std.time.ms_per_hour);
    defer _ = setGrace(previous);
    var obj: Counted = .{};
    const h = try create(.counter, &obj, Counted.destroy);
    var added: u32 = 0;
    var i: u32 = 0;
    while (i < 10 * max_transit) : (i += 1) added += @intFromBool(try lend(h));
    try std.testing.expectEqual(max_transit, added);
    try std.testing.expectEqual(max_transit, transitOf(wordOf(h)));
    try claim(h, .counter);
    try claim(h, .counter);
    const word = wordOf(h);
    try std.testing.expectEqual(max_transit - 2, transitOf(word));
    try std.testing.expectEqual(@as(u32, 3), ownersOf(word));
    try release(h);
    try release(h);
    try dispose(h, added);
    try std.testing.expectEqual(@as(u32, 1), obj.count());
}

test "handles: an unclaimed orphan is destroyed by the first sweep after its grace period" {
    const grace: u64 = 1000;
    const previous = setGrace(std.time.ms_per_hour);
    defer _ = setGrace(previous);
    var obj: Counted = .{};
    const live_before = live();
    const h = try create(.box, &obj, Counted.destroy);
    _ = try lend(h);
    _ = try lend(h);
    const t0 = nowMs();
    try std.testing.expect(try disposeAt(h, 0, t0));
    _ = setGrace(grace);
    try std.testing.expectEqual(@as(u32, 0), sweepAt(t0 + grace - 1));
    try std.testing.expectEqual(@as(u32, 0), obj.count());
    // A claim takes it back: the wrapper it makes owns it, no deadline.
    try claim(h, .box);
    try std.testing.expectEqual(@as(u32, 0), sweepAt(t0 + 10 * grace));
    try std.testing.expectEqual(@as(u32, 0), obj.count());
    // Collected again with one transit reference left: a new grace period.
    try std.testing.expect(try disposeAt(h, 0, t0 + 2 * grace));
    try std.testing.expectEqual(@as(u32, 0), sweepAt(t0 + 3 * grace - 1));
    try std.testing.expectEqual(@as(u32, 1), sweepAt(t0 + 3 * grace));
    try std.testing.expectEqual(@as(u32, 1), obj.count());
    try std.testing.expectEqual(@as(u32, 0), orphans());
    try std.testing.expectEqual(live_before, live());
    try std.testing.expectError(error.InvalidHandle, claim(h, .box));
    try std.testing.expectError(error.InvalidHandle, lookup(h, .box));
}

test "handles: the orphan list stays sorted and a sweep stops at the first young orphan" {
    const previous = setGrace(std.time.ms_per_hour);
    defer _ = setGrace(previous);
    var objs: [3]Counted = .{ .{}, .{}, .{} };
    var hs: [3]Handle = undefined;
    const t0 = nowMs();
    for (&objs, &hs, 0..) |*o, *h, i| {
        h.* = try create(.semaphore, o, Counted.destroy);
        _ = try lend(h.*);
        try std.testing.expect(try disposeAt(h.*, 0, t0 + i * 10));
    }
    try std.testing.expectEqual(@as(u32, 3), orphans());
    // The middle one is claimed: off the list, the others keep their order.
    try claim(hs[1], .semaphore);
    try std.testing.expectEqual(@as(u32, 2), orphans());
    _ = setGrace(100);
    try std.testing.expectEqual(@as(u32, 1), sweepAt(t0 + 100));
    try std.testing.expectEqual(@as(u32, 1), objs[0].count());
    try std.testing.expectEqual(@as(u32, 0), objs[2].count());
    try std.testing.expectEqual(@as(u32, 1), sweepAt(t0 + 120));
    try std.testing.expectEqual(@as(u32, 1), objs[2].count());
    try release(hs[1]);
    try std.testing.expectEqual(@as(u32, 1), objs[1].count());
    try std.testing.expectEqual(@as(u32, 0), orphans());
}

/// Threads race every operation on a pool of objects. Each thread knows
/// which references it owns; every object counts the owner references the
/// threads hold. Invariants: an owned handle always looks up its object; no
/// object is destroyed while a thread owns it, nor twice; once every thread
/// gave its references back and the last orphan expired, every object was
/// destroyed exactly once and the table is back where it started.
const Stress = struct {
    const threads = 4;
    const steps = 20_000;
    const pool = 8192;
    const owned_max = 32;

    const Obj = struct {
        held: std.atomic.Value(u32) = .init(0),
        destroyed: std.atomic.Value(u32) = .init(0),
        failed: *std.atomic.Value(bool),

        fn destroy(p: *anyopaque) void {
            const o: *Obj = @ptrCast(@alignCast(p));
            // Nobody owns it any more, and it dies once.
            if (o.held.load(.acquire) != 0) o.failed.store(true, .monotonic);
            if (o.destroyed.fetchAdd(1, .acq_rel) != 0) o.failed.store(true, .monotonic);
        }
    };

    objs: [pool]Obj,
    handles: [pool]std.atomic.Value(Handle) = @splat(.init(0)),
    created: std.atomic.Value(u32) = .init(0),
    /// A fake clock in ms the threads advance, so orphans expire mid-run.
    clock: std.atomic.Value(u64),
    failed: std.atomic.Value(bool) = .init(false),

    /// An owner reference a thread holds, and the transit references it lent.
    const Owned = struct { index: u32, handle: Handle, lent: u32 = 0 };

    /// Record a broken invariant and the line that saw it (the seed is
    /// printed at the end).
    fn check(s: *Stress, ok: bool, line: u32) void {
        if (!ok) {
            s.failed.store(true, .monotonic);
            std.debug.print("handles stress: the check on line {d} failed\n", .{line});
        }
    }

    fn run(s: *Stress, seed: u64, stream: u32) void {
        var rng = Rng.init(seed, stream);
        var owned: [owned_max]Owned = undefined;
        var n: u32 = 0;
        for (0..steps) |_| {
            const choice = rng.below(100);
            if (choice < 8) {
                // Create.
                if (n == owned_max) continue;
                const index = s.created.fetchAdd(1, .monotonic);
                if (index >= pool) continue;
                const o = &s.objs[index];
                const h = create(.counter, o, Obj.destroy) catch {
                    s.check(false, @src().line);
                    continue;
                };
                _ = o.held.fetchAdd(1, .acq_rel);
                s.handles[index].store(h, .release);
                owned[n] = .{ .index = index, .handle = h };
                n += 1;
            } else if (choice < 30) {
                // Claim or retain any handle ever made, perhaps dead by now.
                if (n == owned_max) continue;
                const made = @min(s.created.load(.monotonic), pool);
                if (made == 0) continue;
                // Mostly the newest objects: they are the ones alive, so
                // claims race with disposes and sweeps of the same objects.
                const index = if (rng.below(4) == 0) rng.below(made) else made - 1 - rng.below(@min(made, 8));
                const h = s.handles[index].load(.acquire);
                if (h == 0) continue;
                const attached = if (choice < 26) claim(h, .counter) else retain(h, .counter);
                attached catch |err| {
                    s.check(err == error.InvalidHandle, @src().line);
                    continue;
                };
                _ = s.objs[index].held.fetchAdd(1, .acq_rel);
                s.check(lookup(h, .counter) catch null == @as(*anyopaque, &s.objs[index]), @src().line);
                s.check(claim(h, .mutex) == error.WrongKind, @src().line);
                owned[n] = .{ .index = index, .handle = h };
                n += 1;
            } else if (n == 0) {
                continue;
            } else if (choice < 50) {
                const o = &owned[rng.below(n)];
                const added = lend(o.handle) catch blk: {
                    s.check(false, @src().line);
                    break :blk false;
                };
                o.lent += @intFromBool(added);
            } else if (choice < 80) {
                // Give one back: disposed, taking its lends back, or collected.
                const k = rng.below(n);
                const o = owned[k];
                owned[k] = owned[n - 1];
                n -= 1;
                _ = s.objs[o.index].held.fetchSub(1, .acq_rel);
                const now = s.clock.fetchAdd(rng.below(3), .monotonic);
                if (disposeAt(o.handle, if (choice < 65) o.lent else 0, now)) |_| {} else |_| s.check(false, @src().line);
            } else if (choice < 95) {
                const o = owned[rng.below(n)];
                s.check(lookup(o.handle, .counter) catch null == @as(*anyopaque, &s.objs[o.index]), @src().line);
            } else {
                _ = sweepAt(s.clock.load(.monotonic));
            }
        }
        for (owned[0..n]) |o| {
            _ = s.objs[o.index].held.fetchSub(1, .acq_rel);
            const lent = if (rng.below(2) == 0) o.lent else 0;
            if (disposeAt(o.handle, lent, s.clock.load(.monotonic))) |_| {} else |_| s.check(false, @src().line);
        }
    }
};

fn stressSeed() u64 {
    const text = std.process.getEnvVarOwned(std.testing.allocator, "AVX_HANDLES_SEED") catch {
        var seed: u64 = undefined;
        std.crypto.random.bytes(std.mem.asBytes(&seed));
        return seed;
    };
    defer std.testing.allocator.free(text);
    return std.fmt.parseInt(u64, text, 10) catch @panic("AVX_HANDLES_SEED: not a number");
}

test "handles: stress: racing retain, claim, lend, dispose, release and sweep" {
    const seed = stressSeed();
    std.debug.print("handles stress: seed {d} (AVX_HANDLES_SEED={d} replays each thread's choices)\n", .{ seed, seed });
    const previous = setGrace(20);
    defer _ = setGrace(previous);
    const live_before = live();
    const s = try std.testing.allocator.create(Stress);
    defer std.testing.allocator.destroy(s);
    s.* = .{ .objs = undefined, .clock = .init(nowMs()) };
    for (&s.objs) |*o| o.* = .{ .failed = &s.failed };
    var ts: [Stress.threads]std.Thread = undefined;
    for (&ts, 0..) |*t, i| t.* = try std.Thread.spawn(.{}, Stress.run, .{ s, seed, @as(u32, @intCast(i)) });
    for (ts) |t| t.join();
    // Every owner is gone: what is left are orphans. Expire them all.
    var turns: u32 = 0;
    while (orphans() > 0 and turns < Stress.pool) : (turns += 1) _ = sweepAt(std.math.maxInt(u64));
    const made = @min(s.created.load(.monotonic), Stress.pool);
    var wrong: u32 = 0;
    for (s.objs[0..made]) |*o| wrong += @intFromBool(o.destroyed.load(.monotonic) != 1);
    if (s.failed.load(.monotonic) or wrong > 0 or live() != live_before) {
        std.debug.print("handles stress: seed {d}: failed={}, {d} of {d} objects not destroyed exactly once, live {d} -> {d}\n", .{
            seed, s.failed.load(.monotonic), wrong, made, live_before, live(),
        });
        return error.TestUnexpectedResult;
    }
    try std.testing.expect(made > 0);
}
