//! The bell: how an idle isolate learns that its completion queue has work,
//! without native code ever calling into an isolate.
//!
//! Why not a thread-safe callback: the callback's code belongs to the
//! isolate that made it, and Deno frees it when that isolate ends, with no
//! notice to anyone (`worker.terminate()`, `self.close()`, an uncaught
//! error). A native thread that calls it a moment later jumps into freed
//! memory and the process dies (measured: 9 of 11 runs of a terminated
//! Worker looping on `await sleep(1)`). No bookkeeping on the native side
//! can close that window, because nothing tells native code in time.
//!
//! What is safe: an isolate waiting in `Atomics.waitAsync` on a
//! SharedArrayBuffer, woken by `Atomics.notify` from another isolate. A
//! notify aimed at an isolate that has ended finds no waiter and does
//! nothing. But only JavaScript can notify (V8 keeps its own waiter lists;
//! a raw futex wake reaches nobody), so one isolate of the process, the
//! *relay*, does nothing else: it sleeps here, in `wait`, on a futex, and
//! for every queue rung since, it notifies that queue's isolate. Each
//! isolate hands its SharedArrayBuffer to the relay once (over a
//! BroadcastChannel, the only permission-free path between any two
//! isolates of a process) and says so here (`registered`).
//!
//! A ring is one bit in `pending`: posting to an idle queue sets its bit and
//! wakes the relay. A bit whose queue is not registered with the current
//! relay stays set until it is, so no ring is lost while an isolate starts
//! or while a relay replaces one that has gone.
//!
//! The relay is a node:worker_threads Worker (it may be unref'd, so it never
//! keeps a program alive, and measured: it outlives the Worker that started
//! it). If its thread ever ends, `relayExited` clears the way for another:
//! the next isolate that checks (`claim`) starts one, with a new epoch, and
//! every queue registers again.
const std = @import("std");
const futex = @import("../os/futex.zig");
const clock = @import("../os/clock.zig");

/// One bit per completion-queue slot (core/cq.zig `max_queues`).
pub const slots: u32 = 256;
const words: u32 = slots / 64;

comptime {
    std.debug.assert(slots % 64 == 0);
}

/// A claim to start the relay that has not produced one after this long
/// is taken to have failed (its isolate died first): another may claim.
const claim_expiry_ns: u64 = 5 * std.time.ns_per_s;

const State = enum(u32) { none, starting, running };

/// Rung slots, waiting for the relay.
var pending: [words]std.atomic.Value(u64) = @splat(.init(0));
/// 1: the relay has something to look at (rings, or a queue to register).
var signal: futex.Word = .init(0);
var state: std.atomic.Value(State) = .init(.none);
/// Bumped by each relay that attaches: registrations name the relay that
/// took them.
var epoch: std.atomic.Value(u32) = .init(0);
var claimed_at_ns: std.atomic.Value(u64) = .init(0);

/// Per slot: the id of the open queue (0: none), and the queue id and
/// epoch of its last registration.
var open_id: [slots]std.atomic.Value(u32) = @splat(.init(0));
var reg_id: [slots]std.atomic.Value(u32) = @splat(.init(0));
var reg_epoch: [slots]std.atomic.Value(u32) = @splat(.init(0));
/// Per slot: the queue id and epoch of a registration message on its way
/// to the relay (`announce`).
var ann_id: [slots]std.atomic.Value(u32) = @splat(.init(0));
var ann_epoch: [slots]std.atomic.Value(u32) = @splat(.init(0));
var ann_at_ns: [slots]std.atomic.Value(u64) = @splat(.init(0));
/// An announced registration that has not arrived after this long is taken
/// to be lost (its post failed): the relay stops waiting for it in
/// JavaScript, and the isolate sends it again.
const announce_expiry_ns: u64 = 500 * std.time.ns_per_ms;

fn slotOf(id: u32) u32 {
    return id & (slots - 1);
}

fn isRegistered(slot: u32) bool {
    const id = open_id[slot].load(.seq_cst);
    if (id == 0) return false;
    return reg_id[slot].load(.seq_cst) == id and reg_epoch[slot].load(.seq_cst) == epoch.load(.seq_cst) and
        state.load(.seq_cst) == .running;
}

fn wakeRelay() void {
    if (signal.swap(1, .seq_cst) == 0) futex.wakeOne(&signal);
}

/// Set by `kick`, taken by the next `wait`: a kick that lands while the
/// relay is in JavaScript is not erased by `wait` consuming `signal`.
var kicked: std.atomic.Value(bool) = .init(false);

/// Wake the relay with nothing to do (process teardown): its next `wait`
/// returns at once, so a terminated relay notices.
pub fn kick() void {
    kicked.store(true, .seq_cst);
    wakeRelay();
}

/// A queue slot has work and its isolate is idle. Any thread.
pub fn ring(slot: u32) void {
    std.debug.assert(slot < slots);
    _ = pending[slot / 64].fetchOr(@as(u64, 1) << @intCast(slot % 64), .seq_cst);
    wakeRelay();
}

/// Queue `id` opened. Its isolate registers next (`announce`).
pub fn queueOpened(id: u32) void {
    std.debug.assert(id != 0);
    open_id[slotOf(id)].store(id, .seq_cst);
}

/// The isolate of queue `id` is posting its registration to the running
/// relay: the relay stays in JavaScript until it has arrived.
pub fn announce(id: u32) bool {
    const slot = slotOf(id);
    if (open_id[slot].load(.seq_cst) != id or !ready()) return false;
    ann_epoch[slot].store(epoch.load(.seq_cst), .seq_cst);
    ann_at_ns[slot].store(clock.nowNs(), .seq_cst);
    ann_id[slot].store(id, .seq_cst);
    wakeRelay();
    return true;
}

/// Registrations announced to the running relay that have not arrived.
pub fn awaited() u32 {
    const e = epoch.load(.seq_cst);
    const now = clock.nowNs();
    var n: u32 = 0;
    for (0..slots) |slot| {
        const id = open_id[slot].load(.seq_cst);
        if (id == 0 or ann_id[slot].load(.seq_cst) != id or ann_epoch[slot].load(.seq_cst) != e) continue;
        if (now -| ann_at_ns[slot].load(.seq_cst) > announce_expiry_ns) continue;
        if (!isRegistered(@intCast(slot))) n += 1;
    }
    return n;
}

/// Queue `id` closed: rings for its slot are dropped.
pub fn queueClosed(id: u32) void {
    // Compare first: tests of this file reset the table under open queues.
    _ = open_id[slotOf(id)].cmpxchgStrong(id, 0, .seq_cst, .seq_cst);
}

/// Whether queue `id` is registered with the running relay.
pub fn registeredNow(id: u32) bool {
    const slot = slotOf(id);
    return open_id[slot].load(.seq_cst) == id and isRegistered(slot);
}

/// The relay took queue `id`'s SharedArrayBuffer. Returns false when that
/// queue is no longer open or the epoch is not the current relay's.
pub fn registered(id: u32, relay_epoch: u32) bool {
    const slot = slotOf(id);
    if (open_id[slot].load(.seq_cst) != id) return false;
    if (relay_epoch != epoch.load(.seq_cst)) return false;
    reg_epoch[slot].store(relay_epoch, .seq_cst);
    reg_id[slot].store(id, .seq_cst);
    // Rings that waited for this registration go out now.
    wakeRelay();
    return true;
}

/// Open queues the running relay has not registered yet.
pub fn unregistered() u32 {
    var n: u32 = 0;
    for (0..slots) |slot| {
        if (open_id[slot].load(.seq_cst) != 0 and !isRegistered(@intCast(slot))) n += 1;
    }
    return n;
}

/// True when the caller must start a relay: there is none, or a claim to
/// start one expired. Any isolate.
pub fn claim() bool {
    const now = clock.nowNs();
    switch (state.load(.seq_cst)) {
        .running => return false,
        .none => {
            // The time first: a claimer that sees `starting` must never
            // read an old time and take over a claim just made.
            claimed_at_ns.store(now, .seq_cst);
            return state.cmpxchgStrong(.none, .starting, .seq_cst, .seq_cst) == null;
        },
        .starting => {
            const at = claimed_at_ns.load(.seq_cst);
            if (now -| at < claim_expiry_ns) return false;
            // Whoever claimed it is gone: take the claim over.
            return claimed_at_ns.cmpxchgStrong(at, now, .seq_cst, .seq_cst) == null;
        },
    }
}

/// Whether a relay runs.
pub fn ready() bool {
    return state.load(.seq_cst) == .running;
}

/// The calling isolate becomes the relay. Returns its epoch (> 0), or 0
/// when another relay runs already (this one should leave).
pub fn attach() u32 {
    if (state.swap(.running, .seq_cst) == .running) {
        return 0;
    }
    const e = epoch.fetchAdd(1, .seq_cst) + 1;
    // A relay that died may have taken rings it never delivered: every open
    // queue gets one ring from the new relay once registered (at worst a
    // spurious drain).
    for (0..slots) |slot| {
        if (open_id[slot].load(.seq_cst) != 0) _ = pending[slot / 64].fetchOr(@as(u64, 1) << @intCast(slot % 64), .seq_cst);
    }
    wakeRelay();
    return e;
}

/// The relay's thread ended (or the relay left): another may start.
pub fn relayExited(relay_epoch: u32) void {
    if (epoch.load(.seq_cst) != relay_epoch) return;
    _ = state.cmpxchgStrong(.running, .none, .seq_cst, .seq_cst);
}

pub fn currentEpoch() u32 {
    return epoch.load(.seq_cst);
}

/// Relay only: collect up to `out.len` queue ids to notify. Sleeps once
/// while there is nothing to do, at most `timeout_ns` (null: no limit; 0:
/// do not sleep), and returns after any wake-up (a ring, a registration on
/// its way, a kick): the relay calls again.
pub fn wait(out: []u32, timeout_ns: ?u64) u32 {
    std.debug.assert(out.len > 0);
    // Consume the signal before looking: a ring after the look sets it
    // again, so the sleep below returns at once.
    signal.store(0, .seq_cst);
    const n = collect(out);
    if (n > 0 or awaited() > 0) return n;
    if (timeout_ns) |t| if (t == 0) return 0;
    if (kicked.swap(false, .seq_cst)) return 0;
    _ = futex.wait(&signal, 0, timeout_ns);
    return collect(out);
}

fn collect(out: []u32) u32 {
    var n: u32 = 0;
    for (0..words) |i| {
        var bits = pending[i].swap(0, .seq_cst);
        var keep: u64 = 0;
        while (bits != 0) {
            const bit: u6 = @intCast(@ctz(bits));
            bits &= bits - 1;
            const slot: u32 = @as(u32, @intCast(i)) * 64 + bit;
            if (open_id[slot].load(.seq_cst) == 0) continue; // closed: dropped
            if (n == out.len or !isRegistered(slot)) {
                keep |= @as(u64, 1) << bit;
                continue;
            }
            out[n] = open_id[slot].load(.seq_cst);
            n += 1;
        }
        if (keep != 0) _ = pending[i].fetchOr(keep, .seq_cst);
    }
    return n;
}

/// Tests only: forget every relay and queue.
pub fn resetForTest() void {
    for (&pending) |*p| p.store(0, .seq_cst);
    for (0..slots) |s| {
        open_id[s].store(0, .seq_cst);
        reg_id[s].store(0, .seq_cst);
        reg_epoch[s].store(0, .seq_cst);
        ann_id[s].store(0, .seq_cst);
        ann_epoch[s].store(0, .seq_cst);
        ann_at_ns[s].store(0, .seq_cst);
    }
    state.store(.none, .seq_cst);
    signal.store(0, .seq_cst);
    kicked.store(false, .seq_cst);
}

test "bell: a ring waits for its queue's registration, then goes out once" {
    resetForTest();
    try std.testing.expect(claim());
    try std.testing.expect(!claim()); // one claimer at a time
    const e = attach();
    try std.testing.expect(e > 0);
    const id: u32 = 3 << 8 | 7;
    queueOpened(id);
    try std.testing.expectEqual(@as(u32, 1), unregistered());
    ring(7);
    var out: [4]u32 = undefined;
    // Not registered yet: nothing to notify.
    try std.testing.expectEqual(@as(u32, 0), wait(&out, 0));
    // Announced: the wait returns at once, so the relay can take the
    // registration message.
    try std.testing.expect(announce(id));
    try std.testing.expectEqual(@as(u32, 1), awaited());
    try std.testing.expectEqual(@as(u32, 0), wait(&out, null));
    try std.testing.expect(registered(id, e));
    try std.testing.expectEqual(@as(u32, 0), awaited());
    try std.testing.expectEqual(@as(u32, 0), unregistered());
    try std.testing.expectEqual(@as(u32, 1), wait(&out, 0));
    try std.testing.expectEqual(id, out[0]);
    try std.testing.expectEqual(@as(u32, 0), wait(&out, 0));
    queueClosed(id);
}

test "bell: rings of a closed queue are dropped; a stale epoch does not register" {
    resetForTest();
    try std.testing.expect(claim());
    const e = attach();
    const id: u32 = 1 << 8 | 200;
    queueOpened(id);
    try std.testing.expect(!registered(id, e + 1));
    try std.testing.expect(registered(id, e));
    ring(200);
    queueClosed(id);
    var out: [4]u32 = undefined;
    try std.testing.expectEqual(@as(u32, 0), wait(&out, 0));
    try std.testing.expect(!registered(id, e));
}

test "bell: a new relay makes every queue register again" {
    resetForTest();
    try std.testing.expect(claim());
    const e1 = attach();
    const id: u32 = 9 << 8 | 1;
    queueOpened(id);
    try std.testing.expect(registered(id, e1));
    ring(1);
    relayExited(e1);
    try std.testing.expect(!ready());
    try std.testing.expect(!registeredNow(id));
    try std.testing.expect(claim());
    const e2 = attach();
    try std.testing.expect(e2 > e1);
    var out: [4]u32 = undefined;
    try std.testing.expectEqual(@as(u32, 0), wait(&out, 0)); // kept until registered
    try std.testing.expect(registered(id, e2));
    try std.testing.expectEqual(@as(u32, 1), wait(&out, 0));
    queueClosed(id);
}

test "bell: rings from many threads all reach the relay (stress)" {
    resetForTest();
    try std.testing.expect(claim());
    const e = attach();
    const queues = 64;
    var ids: [queues]u32 = undefined;
    for (0..queues) |i| {
        ids[i] = @intCast(1 << 8 | i);
        queueOpened(ids[i]);
        try std.testing.expect(registered(ids[i], e));
    }
    const rounds = 2000;
    const Ringer = struct {
        fn run(base: u32) void {
            for (0..rounds) |r| ring(@intCast((base + r) % queues));
        }
    };
    var threads: [4]std.Thread = undefined;
    for (&threads, 0..) |*t, i| t.* = try std.Thread.spawn(.{}, Ringer.run, .{@as(u32, @intCast(i * 16))});
    // Every slot gets rung; the relay must see each at least once and never
    // a slot that was not rung or not open.
    var seen: [queues]bool = @splat(false);
    var out: [16]u32 = undefined;
    var seen_count: u32 = 0;
    var loops: u32 = 0;
    while (seen_count < queues and loops < 100_000) : (loops += 1) {
        const n = wait(&out, 10 * std.time.ns_per_ms);
        for (out[0..n]) |id| {
            try std.testing.expect(id >> 8 == 1);
            const i = id & 0xff;
            try std.testing.expect(i < queues);
            if (!seen[i]) seen_count += 1;
            seen[i] = true;
        }
    }
    for (&threads) |t| t.join();
    try std.testing.expectEqual(@as(u32, queues), seen_count);
    for (ids) |id| queueClosed(id);
}

test "bell: a kick made while the relay was away ends its next sleep" {
    resetForTest();
    try std.testing.expect(claim());
    _ = attach();
    var out: [4]u32 = undefined;
    _ = wait(&out, 0); // consume the attach's signal
    kick();
    // Would sleep forever without the kick (a failure here is a hang).
    try std.testing.expectEqual(@as(u32, 0), wait(&out, null));
}

test "bell: a new relay rings every open queue once (rings the old one took are not lost)" {
    resetForTest();
    try std.testing.expect(claim());
    const e1 = attach();
    const id: u32 = 4 << 8 | 9;
    queueOpened(id);
    try std.testing.expect(registered(id, e1));
    var out: [4]u32 = undefined;
    ring(9);
    // The old relay collects the ring, then dies before notifying.
    try std.testing.expectEqual(@as(u32, 1), wait(&out, 0));
    relayExited(e1);
    try std.testing.expect(claim());
    const e2 = attach();
    try std.testing.expect(registered(id, e2));
    try std.testing.expectEqual(@as(u32, 1), wait(&out, 0));
    try std.testing.expectEqual(id, out[0]);
    queueClosed(id);
}

test "bell: a registration announced and never delivered stops holding the relay in JavaScript" {
    resetForTest();
    try std.testing.expect(claim());
    _ = attach();
    const id: u32 = 2 << 8 | 33;
    queueOpened(id);
    try std.testing.expect(announce(id));
    try std.testing.expectEqual(@as(u32, 1), awaited());
    ann_at_ns[33].store(clock.nowNs() -| (announce_expiry_ns + std.time.ns_per_ms), .seq_cst);
    try std.testing.expectEqual(@as(u32, 0), awaited());
    queueClosed(id);
}
