//! broadcast: every receiver sees every message sent after it subscribed,
//! unless it falls more than `capacity` messages behind.
//!
//! Messages live in a ring of `capacity` slots; message `seq` goes to slot
//! `seq % capacity`, replacing message `seq - capacity`. Each slot has its
//! own lock, held while a sender replaces the slot's message and while a
//! receiver copies it out, so a reader never sees a buffer being freed.
//! Senders are serialised by `send_lock`; `tail` (the next sequence) is
//! stored under the slot lock of the message it publishes, so a receiver
//! holding that lock also sees `tail` past it.
//!
//! Each receiver keeps a cursor (the next sequence it wants). If its
//! message was overwritten, it gets `lagged` with the exact number it
//! missed and its cursor moves to the oldest message still retained.
//! Every message is therefore either received or counted in exactly one
//! `lagged`.
//!
//! Waiting receivers sit in `port` and are all granted on every send.
const std = @import("std");
const code = @import("../core/code.zig");
const handles = @import("../core/handles.zig");
const wq = @import("../core/wait_queue.zig");
const cq_mod = @import("../core/cq.zig");
const Deadline = @import("../os/clock.zig").Deadline;
const RawMutex = @import("../core/raw_mutex.zig").RawMutex;
const message = @import("message.zig");
const Message = message.Message;
const port_mod = @import("port.zig");
const Port = port_mod.Port;
const Waiter = wq.Waiter;
const Cq = cq_mod.Cq;
const Code = code.Code;
const CountingAllocator = @import("counting_allocator.zig").CountingAllocator;

pub const Error = error{ Closed, WouldBlock, BufferTooSmall, TooLarge, OutOfMemory, Timeout, Limit, Lagged, InvalidArgument };

/// A ring this large is a mistake, not a need (each slot is ~24 bytes).
pub const max_capacity: u32 = 1 << 24;

const Slot = struct {
    lock: RawMutex = .{},
    /// The sequence of `msg`; meaningless while `msg` is null.
    seq: u64 = 0,
    msg: ?*Message = null,
};

pub const Broadcast = struct {
    /// The next sequence to send. Written under `send_lock` and the slot
    /// lock of the message it publishes.
    tail: std.atomic.Value(u64) align(std.atomic.cache_line) = .init(0),
    send_lock: RawMutex = .{},
    /// Set under `send_lock`: once a receiver sees it, `tail` is final.
    closed: std.atomic.Value(bool) = .init(false),
    capacity: u32,
    slots: []Slot,
    senders: std.atomic.Value(u32),
    receivers: std.atomic.Value(u32) = .init(0),
    refs: std.atomic.Value(u32),
    port: *Port,
    allocator: std.mem.Allocator,

    /// A channel with one sender reference.
    pub fn create(allocator: std.mem.Allocator, capacity: u32) Error!*Broadcast {
        if (capacity == 0 or capacity > max_capacity) return error.InvalidArgument;
        const port = try port_mod.open();
        errdefer port_mod.retire(port, Code.closed.int());
        const slots = try allocator.alloc(Slot, capacity);
        errdefer allocator.free(slots);
        @memset(slots, .{});
        const ch = try allocator.create(Broadcast);
        ch.* = .{ .capacity = capacity, .slots = slots, .senders = .init(1), .refs = .init(1), .port = port, .allocator = allocator };
        return ch;
    }

    /// Send to every subscribed receiver; returns how many there are.
    pub fn send(ch: *Broadcast, payload: []const u8) Error!u32 {
        try message.checkLen(payload.len);
        if (ch.closed.load(.monotonic)) return error.Closed;
        const m = try Message.create(ch.allocator, payload);
        const old = ch.publish(m) catch |err| {
            m.destroy(ch.allocator);
            return err;
        };
        // Freed outside every lock; no receiver can reach it any more.
        if (old) |o| o.destroy(ch.allocator);
        if (ch.port.hasWaiters()) _ = ch.port.wakeAll(0);
        return ch.receivers.load(.monotonic);
    }

    /// Put `m` in its slot; returns the message it replaced.
    fn publish(ch: *Broadcast, m: *Message) Error!?*Message {
        ch.send_lock.lock();
        defer ch.send_lock.unlock();
        if (ch.closed.load(.monotonic)) return error.Closed;
        const seq = ch.tail.load(.monotonic);
        const slot = &ch.slots[@intCast(seq % ch.capacity)];
        slot.lock.lock();
        defer slot.lock.unlock();
        const old = slot.msg;
        std.debug.assert(old == null or slot.seq + ch.capacity == seq);
        slot.msg = m;
        slot.seq = seq;
        // seq_cst: pairs with a receiver that links itself into `port` and
        // then reads `tail`.
        ch.tail.store(seq + 1, .seq_cst);
        return old;
    }

    /// Close: no more sends; receivers drain what is retained, then see
    /// `closed`.
    pub fn close(ch: *Broadcast) void {
        {
            ch.send_lock.lock();
            defer ch.send_lock.unlock();
            if (ch.closed.load(.monotonic)) return;
            ch.closed.store(true, .seq_cst);
        }
        _ = ch.port.wakeAll(0);
    }

    /// A new receiver, starting at the next message sent.
    pub fn subscribe(ch: *Broadcast) Error!*Receiver {
        const r = try ch.allocator.create(Receiver);
        _ = ch.refs.fetchAdd(1, .monotonic);
        _ = ch.receivers.fetchAdd(1, .monotonic);
        r.* = .{ .ch = ch, .cursor = ch.tail.load(.seq_cst) };
        return r;
    }

    pub fn retainSender(ch: *Broadcast) void {
        const before = ch.senders.fetchAdd(1, .monotonic);
        std.debug.assert(before > 0);
        _ = ch.refs.fetchAdd(1, .monotonic);
    }

    /// A sender handle is gone; the last one closes the channel.
    pub fn releaseSender(ch: *Broadcast) void {
        const before = ch.senders.fetchSub(1, .acq_rel);
        std.debug.assert(before > 0);
        if (before == 1) ch.close();
        ch.unref();
    }

    fn unref(ch: *Broadcast) void {
        const before = ch.refs.fetchSub(1, .acq_rel);
        std.debug.assert(before > 0);
        if (before == 1) ch.destroy();
    }

    fn destroy(ch: *Broadcast) void {
        for (ch.slots) |*slot| {
            if (slot.msg) |m| m.destroy(ch.allocator);
        }
        port_mod.retire(ch.port, Code.closed.int());
        ch.allocator.free(ch.slots);
        ch.allocator.destroy(ch);
    }
};

pub const Receiver = struct {
    ch: *Broadcast,
    /// The next sequence this receiver wants; guarded by `lock` (isolates
    /// sharing the receiver handle take turns).
    cursor: u64,
    lock: RawMutex = .{},

    /// Receive without waiting: the message's length, `WouldBlock`,
    /// `Closed` (closed and drained), `Lagged` (count missed in
    /// `code.last_value`) or `BufferTooSmall` (size in `code.last_value`).
    pub fn tryRecv(r: *Receiver, out: []u8) Error!u32 {
        r.lock.lock();
        defer r.lock.unlock();
        const ch = r.ch;
        // `closed` first: once it is set, `tail` no longer moves.
        const closed = ch.closed.load(.seq_cst);
        const tail = ch.tail.load(.seq_cst);
        std.debug.assert(r.cursor <= tail);
        if (r.cursor == tail) return if (closed) error.Closed else error.WouldBlock;
        if (tail - r.cursor > ch.capacity) return r.lag(tail);
        const slot = &ch.slots[@intCast(r.cursor % ch.capacity)];
        slot.lock.lock();
        defer slot.lock.unlock();
        std.debug.assert(slot.msg != null and slot.seq >= r.cursor);
        if (slot.seq != r.cursor) {
            // Overwritten since we read `tail`; under this lock `tail` is
            // past `slot.seq`, so the lag is at least one.
            return r.lag(ch.tail.load(.seq_cst));
        }
        const n = try slot.msg.?.copyTo(out);
        r.cursor += 1;
        return n;
    }

    /// Skip to the oldest retained message (`tail - capacity`).
    fn lag(r: *Receiver, tail: u64) error{Lagged} {
        const oldest = tail - r.ch.capacity;
        std.debug.assert(oldest > r.cursor);
        code.last_value = oldest - r.cursor;
        r.cursor = oldest;
        return error.Lagged;
    }

    /// Receive, waiting until a message arrives, the channel is closed and
    /// drained, or the deadline passes.
    pub fn recv(r: *Receiver, out: []u8, deadline: Deadline) Error!u32 {
        while (true) {
            if (r.tryRecv(out)) |n| return n else |err| {
                if (err != error.WouldBlock) return err;
            }
            var w = Waiter.initSync(0);
            r.ch.port.enqueue(&w);
            if (r.readyNow()) {
                // A grant that raced us only says "try again": retrying is
                // what we do, once it has let go of `w`.
                _ = Port.withdraw(&w);
                continue;
            }
            if (w.sleep(deadline, Code.timeout.int()) == Code.timeout.int()) return error.Timeout;
        }
    }

    /// 0 when a receive would not block now; otherwise a token whose
    /// completion 0 means "try_recv now".
    pub fn recvAsync(r: *Receiver, cq: *Cq) Error!u32 {
        if (r.readyNow()) return 0;
        const w = cq.acquire() orelse return error.Limit;
        r.ch.port.enqueue(w);
        if (r.readyNow()) {
            if (wq.cancel(w)) {
                cq.release(w);
                return 0;
            }
        }
        return w.token;
    }

    fn readyNow(r: *Receiver) bool {
        r.lock.lock();
        defer r.lock.unlock();
        return r.ch.closed.load(.seq_cst) or r.ch.tail.load(.seq_cst) != r.cursor;
    }

    /// The receiver handle is gone.
    pub fn release(r: *Receiver) void {
        const ch = r.ch;
        const before = ch.receivers.fetchSub(1, .monotonic);
        std.debug.assert(before > 0);
        ch.allocator.destroy(r);
        ch.unref();
    }
};

// ---- handles ----

fn destroySenderHandle(obj: *anyopaque) void {
    const ch: *Broadcast = @ptrCast(@alignCast(obj));
    ch.releaseSender();
}

fn destroyReceiverHandle(obj: *anyopaque) void {
    const r: *Receiver = @ptrCast(@alignCast(obj));
    r.release();
}

fn mapHandleError(err: error{ Limit, OutOfMemory }) Error {
    return switch (err) {
        error.Limit => error.Limit,
        error.OutOfMemory => error.OutOfMemory,
    };
}

/// A channel and its first sender handle.
pub fn createHandle(allocator: std.mem.Allocator, capacity: u32) Error!handles.Handle {
    const ch = try Broadcast.create(allocator, capacity);
    return handles.create(.broadcast_sender, ch, destroySenderHandle) catch |err| {
        ch.releaseSender();
        return mapHandleError(err);
    };
}

pub fn cloneSenderHandle(ch: *Broadcast) Error!handles.Handle {
    ch.retainSender();
    return handles.create(.broadcast_sender, ch, destroySenderHandle) catch |err| {
        ch.releaseSender();
        return mapHandleError(err);
    };
}

pub fn subscribeHandle(ch: *Broadcast) Error!handles.Handle {
    const r = try ch.subscribe();
    return handles.create(.broadcast_receiver, r, destroyReceiverHandle) catch |err| {
        r.release();
        return mapHandleError(err);
    };
}

// ---- tests ----

const testing = std.testing;
const never = Deadline.never;

fn expectRecv(r: *Receiver, expected: []const u8) !void {
    var buf: [64]u8 = undefined;
    const n = try r.tryRecv(&buf);
    try testing.expectEqualStrings(expected, buf[0..n]);
}

fn expectLagged(r: *Receiver, missed: u64) !void {
    var buf: [64]u8 = undefined;
    try testing.expectError(error.Lagged, r.tryRecv(&buf));
    try testing.expectEqual(missed, code.last_value);
}

test "broadcast: every receiver sees what was sent after it subscribed" {
    const ch = try Broadcast.create(testing.allocator, 4);
    defer ch.releaseSender();
    try testing.expectEqual(@as(u32, 0), try ch.send("before"));
    const a = try ch.subscribe();
    defer a.release();
    try testing.expectEqual(@as(u32, 1), try ch.send("one"));
    const b = try ch.subscribe();
    defer b.release();
    try testing.expectEqual(@as(u32, 2), try ch.send("two"));
    try expectRecv(a, "one");
    try expectRecv(a, "two");
    try expectRecv(b, "two");
    var buf: [8]u8 = undefined;
    try testing.expectError(error.WouldBlock, a.tryRecv(&buf));
    try testing.expectError(error.WouldBlock, b.tryRecv(&buf));
    try testing.expectError(error.Timeout, b.recv(&buf, Deadline.fromMs(1)));
}

test "broadcast: lag is counted exactly (single thread)" {
    const ch = try Broadcast.create(testing.allocator, 3);
    defer ch.releaseSender();
    const r = try ch.subscribe();
    defer r.release();
    const fast = try ch.subscribe();
    defer fast.release();
    const names = [_][]const u8{ "m0", "m1", "m2", "m3", "m4", "m5", "m6" };
    for (names[0..5]) |n| {
        _ = try ch.send(n);
        try expectRecv(fast, n);
    }
    // 5 sent, 3 retained (m2, m3, m4): `r` missed 2.
    try expectLagged(r, 2);
    try expectRecv(r, "m2");
    _ = try ch.send(names[5]);
    _ = try ch.send(names[6]);
    // m3 was overwritten by m6 while `r` was at m3: it missed m3 only.
    try expectLagged(r, 1);
    try expectRecv(r, "m4");
    try expectRecv(r, "m5");
    try expectRecv(r, "m6");
    var buf: [8]u8 = undefined;
    try testing.expectError(error.WouldBlock, r.tryRecv(&buf));
    // Far behind: the whole gap in one count.
    for (0..10) |_| _ = try ch.send("x");
    try expectLagged(r, 7);
    for (0..3) |_| try expectRecv(r, "x");
    try testing.expectError(error.WouldBlock, r.tryRecv(&buf));
}

test "broadcast: capacity 1, buffer too small, close drains, sends fail" {
    const ch = try Broadcast.create(testing.allocator, 1);
    defer ch.releaseSender();
    const r = try ch.subscribe();
    defer r.release();
    _ = try ch.send("hello world");
    var small: [4]u8 = undefined;
    try testing.expectError(error.BufferTooSmall, r.tryRecv(&small));
    try testing.expectEqual(@as(u64, 11), code.last_value);
    try testing.expectError(error.BufferTooSmall, r.recv(&small, never));
    _ = try ch.send("a");
    try expectLagged(r, 1);
    try expectRecv(r, "a");
    _ = try ch.send("b");
    ch.close();
    try testing.expectError(error.Closed, ch.send("c"));
    try expectRecv(r, "b");
    try testing.expectError(error.Closed, r.tryRecv(&small));
    try testing.expectError(error.Closed, r.recv(&small, never));
    const late = try ch.subscribe();
    defer late.release();
    try testing.expectError(error.Closed, late.tryRecv(&small));
    const fake: [*]const u8 = @ptrFromInt(@alignOf(u64));
    try testing.expectError(error.TooLarge, ch.send(fake[0 .. message.max_len + 1]));
    try testing.expectError(error.InvalidArgument, Broadcast.create(testing.allocator, 0));
}

test "broadcast: async receive; every waiting receiver is granted" {
    const ch = try Broadcast.create(testing.allocator, 8);
    defer ch.releaseSender();
    const a = try ch.subscribe();
    defer a.release();
    const b = try ch.subscribe();
    defer b.release();
    const id = cq_mod.open();
    const cq = cq_mod.get(@floatFromInt(id)).?;
    defer cq_mod.close(cq);
    const ta = try a.recvAsync(cq);
    const tb = try b.recvAsync(cq);
    try testing.expect(ta > 0 and tb > 0);
    _ = try ch.send("x");
    var out: [8]i32 = undefined;
    try testing.expectEqual(@as(u32, 2), cq.drain(&out));
    try testing.expectEqual(@as(i32, @intCast(ta)), out[0]);
    try testing.expectEqual(@as(i32, 0), out[1]);
    try testing.expectEqual(@as(i32, @intCast(tb)), out[2]);
    try testing.expectEqual(@as(u32, 0), try a.recvAsync(cq));
    try expectRecv(a, "x");
    try expectRecv(b, "x");
    // Pending when closed: granted 0, then try_recv says closed.
    const t2 = try a.recvAsync(cq);
    try testing.expect(t2 > 0);
    ch.close();
    try testing.expectEqual(@as(u32, 1), cq.drain(&out));
    try testing.expectEqual(@as(i32, 0), out[1]);
    var buf: [4]u8 = undefined;
    try testing.expectError(error.Closed, a.tryRecv(&buf));
    try testing.expectEqual(@as(u32, 0), try b.recvAsync(cq));
}

test "broadcast: handles; the last sender gone closes" {
    const live = handles.live();
    const tx = try createHandle(testing.allocator, 16);
    const ch = try handles.get(Broadcast, tx, .broadcast_sender);
    const tx2 = try cloneSenderHandle(ch);
    const rx = try subscribeHandle(ch);
    const r = try handles.get(Receiver, rx, .broadcast_receiver);
    // Subscribing from a receiver reaches the same channel.
    const rx2 = try subscribeHandle(r.ch);
    try testing.expectEqual(@as(u32, 2), try ch.send("m"));
    try handles.release(tx);
    try testing.expectEqual(@as(u32, 2), try ch.send("n"));
    try handles.release(tx2);
    try expectRecv(r, "m");
    try expectRecv(r, "n");
    var buf: [4]u8 = undefined;
    try testing.expectError(error.Closed, r.tryRecv(&buf));
    try handles.release(rx);
    try handles.release(rx2); // Frees the channel and its retained messages.
    try testing.expectEqual(live, handles.live());
}

const LagStress = struct {
    const receivers: u32 = 4;
    const sent: u64 = 40_000;

    ch: *Broadcast,
    rs: [receivers]*Receiver = undefined,
    failures: std.atomic.Value(u32) = .init(0),
    lagged_total: std.atomic.Value(u64) = .init(0),

    /// Every message carries its sequence; check the receiver sees an
    /// increasing run with gaps exactly equal to the reported lags.
    fn receive(s: *LagStress, r: *Receiver, small_buffer: bool) void {
        var buf: [16]u8 = undefined;
        var expected: u64 = 0;
        var received: u64 = 0;
        var lagged: u64 = 0;
        var rounds: u64 = 0;
        while (true) : (rounds += 1) {
            const out = if (small_buffer and rounds % 7 == 0) buf[0..4] else buf[0..];
            const n = r.recv(out, never) catch |err| switch (err) {
                error.Closed => break,
                error.Lagged => {
                    lagged += code.last_value;
                    expected += code.last_value;
                    continue;
                },
                error.BufferTooSmall => continue,
                else => unreachable,
            };
            if (n != 8 or std.mem.readInt(u64, buf[0..8], .little) != expected) {
                _ = s.failures.fetchAdd(1, .monotonic);
                return;
            }
            expected += 1;
            received += 1;
            // Slow down now and then, so this receiver does fall behind.
            if (received % 512 == 0) std.Thread.sleep(200 * std.time.ns_per_us);
        }
        if (received + lagged != sent or expected != sent) _ = s.failures.fetchAdd(1, .monotonic);
        _ = s.lagged_total.fetchAdd(lagged, .monotonic);
    }
};

test "broadcast: stress, received + lagged == sent for every receiver" {
    var counting: CountingAllocator = .{};
    var s: LagStress = .{ .ch = try Broadcast.create(counting.allocator(), 64) };
    for (&s.rs) |*r| r.* = try s.ch.subscribe();
    var ts: [LagStress.receivers]std.Thread = undefined;
    for (&ts, 0..) |*t, i| t.* = try std.Thread.spawn(.{}, LagStress.receive, .{ &s, s.rs[i], i % 2 == 0 });
    var seq: u64 = 0;
    while (seq < LagStress.sent) : (seq += 1) {
        var msg: [8]u8 = undefined;
        std.mem.writeInt(u64, &msg, seq, .little);
        try testing.expectEqual(LagStress.receivers, try s.ch.send(&msg));
    }
    s.ch.releaseSender();
    for (ts) |t| t.join();
    for (s.rs) |r| r.release();
    try testing.expectEqual(@as(u32, 0), s.failures.load(.monotonic));
    // The receivers pause now and then: some of them must have lagged.
    try testing.expect(s.lagged_total.load(.monotonic) > 0);
    try counting.expectNoLeaks();
}

test "broadcast: stress, every grant preempted before it lands" {
    // Receivers whose re-check finds a message lose their `cancel` to the
    // sender's grant now and then; such a waiter must not be reused before
    // the grant lands (Port.withdraw). Nothing lags: the ring holds all.
    port_mod.test_hooks = &port_mod.test_stretch;
    defer port_mod.test_hooks = null;
    const count: u32 = 2_000;
    const ch = try Broadcast.create(testing.allocator, count);
    const T = struct {
        fn receive(r: *Receiver, failures: *std.atomic.Value(u32)) void {
            var buf: [8]u8 = undefined;
            var expected: u32 = 0;
            while (true) {
                const n = r.recv(&buf, never) catch |err| {
                    if (err != error.Closed or expected != count) _ = failures.fetchAdd(1, .monotonic);
                    return;
                };
                if (n != 4 or std.mem.readInt(u32, buf[0..4], .little) != expected) {
                    _ = failures.fetchAdd(1, .monotonic);
                    return;
                }
                expected += 1;
            }
        }
    };
    var failures: std.atomic.Value(u32) = .init(0);
    var rs: [3]*Receiver = undefined;
    for (&rs) |*r| r.* = try ch.subscribe();
    var ts: [rs.len]std.Thread = undefined;
    for (&ts, rs) |*t, r| t.* = try std.Thread.spawn(.{}, T.receive, .{ r, &failures });
    var seq: u32 = 0;
    while (seq < count) : (seq += 1) {
        var msg: [4]u8 = undefined;
        std.mem.writeInt(u32, &msg, seq, .little);
        _ = try ch.send(&msg);
        // Let the receivers catch up and wait again, now and then.
        if (seq % 8 == 0) std.Thread.yield() catch {};
    }
    ch.releaseSender();
    for (ts) |t| t.join();
    for (rs) |r| r.release();
    try testing.expectEqual(@as(u32, 0), failures.load(.monotonic));
}

test "broadcast: stress, two senders, every receiver sees each message once" {
    const ch = try Broadcast.create(testing.allocator, 1024);
    const per_sender: u32 = 300;
    const T = struct {
        fn sendAll(c: *Broadcast, id: u8) void {
            var i: u32 = 0;
            while (i < per_sender) : (i += 1) {
                var msg: [5]u8 = undefined;
                msg[0] = id;
                std.mem.writeInt(u32, msg[1..5], i, .little);
                _ = c.send(&msg) catch unreachable;
            }
            c.releaseSender();
        }
    };
    const r = try ch.subscribe();
    ch.retainSender();
    const t1 = try std.Thread.spawn(.{}, T.sendAll, .{ ch, 0 });
    const t2 = try std.Thread.spawn(.{}, T.sendAll, .{ ch, 1 });
    var next: [2]u32 = .{ 0, 0 };
    var buf: [8]u8 = undefined;
    while (true) {
        const n = r.recv(&buf, never) catch |err| switch (err) {
            error.Closed => break,
            else => return err,
        };
        try testing.expectEqual(@as(u32, 5), n);
        const id = buf[0];
        try testing.expectEqual(next[id], std.mem.readInt(u32, buf[1..5], .little));
        next[id] += 1;
    }
    t1.join();
    t2.join();
    try testing.expectEqual(per_sender, next[0]);
    try testing.expectEqual(per_sender, next[1]);
    r.release();
}
