//! oneshot: one value, sent once, received once.
//!
//! Everything is decided under `lock`, a RawMutex held for a few
//! instructions (and for the one copy out); a receiver that must wait links
//! itself into `port` while still holding `lock`, so a sender, which changes
//! the state under `lock` and then grants the port, cannot miss it.
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

pub const Error = error{ Closed, WouldBlock, BufferTooSmall, TooLarge, OutOfMemory, Timeout, Limit, Disconnected, AlreadySent };

const State = enum(u8) {
    /// Nothing sent yet, the sender is still there.
    empty,
    /// A value waits in `msg`.
    sent,
    /// The receiver took the value.
    taken,
    /// The sender closed or was released without sending.
    sender_gone,
};

pub const Oneshot = struct {
    lock: RawMutex = .{},
    state: State = .empty,
    /// The receiver closed or was released; independent of `state`.
    receiver_gone: bool = false,
    msg: ?*Message = null,
    /// One per handle (sender, receiver).
    refs: std.atomic.Value(u32) = .init(2),
    port: *Port,
    allocator: std.mem.Allocator,

    pub fn create(allocator: std.mem.Allocator) Error!*Oneshot {
        const port = try port_mod.open();
        errdefer port_mod.retire(port, Code.closed.int());
        const o = try allocator.create(Oneshot);
        o.* = .{ .port = port, .allocator = allocator };
        return o;
    }

    /// Send the value: `AlreadySent` the second time, `Closed` when the
    /// receiver is gone (or the sender closed itself).
    pub fn send(o: *Oneshot, payload: []const u8) Error!void {
        try message.checkLen(payload.len);
        {
            // Refuse before allocating when it cannot succeed.
            o.lock.lock();
            defer o.lock.unlock();
            try o.checkSendLocked();
        }
        const m = try Message.create(o.allocator, payload);
        o.putLocked(m) catch |err| {
            m.destroy(o.allocator);
            return err;
        };
        _ = o.port.wakeAll(0);
    }

    fn putLocked(o: *Oneshot, m: *Message) Error!void {
        o.lock.lock();
        defer o.lock.unlock();
        try o.checkSendLocked();
        o.msg = m;
        o.state = .sent;
    }

    fn checkSendLocked(o: *Oneshot) Error!void {
        if (o.receiver_gone) return error.Closed;
        return switch (o.state) {
            .empty => {},
            .sent, .taken => error.AlreadySent,
            .sender_gone => error.Closed,
        };
    }

    /// The value's length, `WouldBlock`, `Disconnected` (the sender left
    /// without sending), `Closed` (already taken, or this receiver closed),
    /// or `BufferTooSmall` (size in `code.last_value`; the value stays).
    pub fn tryRecv(o: *Oneshot, out: []u8) Error!u32 {
        o.lock.lock();
        defer o.lock.unlock();
        return o.receiveLocked(out);
    }

    fn receiveLocked(o: *Oneshot, out: []u8) Error!u32 {
        if (o.receiver_gone) return error.Closed;
        switch (o.state) {
            .empty => return error.WouldBlock,
            .taken => return error.Closed,
            .sender_gone => return error.Disconnected,
            .sent => {
                const m = o.msg.?;
                const n = try m.copyTo(out);
                o.msg = null;
                o.state = .taken;
                // Freed under the lock: rare, and keeps this function simple.
                m.destroy(o.allocator);
                return n;
            },
        }
    }

    pub fn recv(o: *Oneshot, out: []u8, deadline: Deadline) Error!u32 {
        while (true) {
            var w = Waiter.initSync(0);
            {
                o.lock.lock();
                defer o.lock.unlock();
                if (o.receiveLocked(out)) |n| return n else |err| {
                    if (err != error.WouldBlock) return err;
                }
                o.port.enqueue(&w);
            }
            if (w.sleep(deadline, Code.timeout.int()) == Code.timeout.int()) return error.Timeout;
        }
    }

    /// 0 when a receive would not block now; otherwise a token whose
    /// completion 0 means "try_recv now".
    pub fn recvAsync(o: *Oneshot, cq: *Cq) Error!u32 {
        o.lock.lock();
        defer o.lock.unlock();
        if (o.receiver_gone or o.state != .empty) return 0;
        const w = cq.acquire() orelse return error.Limit;
        o.port.enqueue(w);
        return w.token;
    }

    /// The sender leaves; without a value, the receiver learns
    /// `disconnected`.
    pub fn closeSender(o: *Oneshot) void {
        {
            o.lock.lock();
            defer o.lock.unlock();
            if (o.state != .empty) return;
            o.state = .sender_gone;
        }
        _ = o.port.wakeAll(0);
    }

    /// The receiver no longer wants the value: sends fail `closed`.
    pub fn closeReceiver(o: *Oneshot) void {
        const m = blk: {
            o.lock.lock();
            defer o.lock.unlock();
            if (o.receiver_gone) return;
            o.receiver_gone = true;
            const m = o.msg;
            o.msg = null;
            break :blk m;
        };
        if (m) |v| v.destroy(o.allocator);
        // Other isolates waiting on the same receiver learn `closed`.
        _ = o.port.wakeAll(0);
    }

    pub fn releaseSender(o: *Oneshot) void {
        o.closeSender();
        o.unref();
    }

    pub fn releaseReceiver(o: *Oneshot) void {
        o.closeReceiver();
        o.unref();
    }

    fn unref(o: *Oneshot) void {
        const before = o.refs.fetchSub(1, .acq_rel);
        std.debug.assert(before > 0);
        if (before > 1) return;
        if (o.msg) |m| m.destroy(o.allocator);
        port_mod.retire(o.port, Code.closed.int());
        o.allocator.destroy(o);
    }
};

// ---- handles ----

pub const Pair = struct { tx: handles.Handle, rx: handles.Handle };

fn destroySenderHandle(obj: *anyopaque) void {
    const o: *Oneshot = @ptrCast(@alignCast(obj));
    o.releaseSender();
}

fn destroyReceiverHandle(obj: *anyopaque) void {
    const o: *Oneshot = @ptrCast(@alignCast(obj));
    o.releaseReceiver();
}

fn mapHandleError(err: error{ Limit, OutOfMemory }) Error {
    return switch (err) {
        error.Limit => error.Limit,
        error.OutOfMemory => error.OutOfMemory,
    };
}

pub fn createHandles(allocator: std.mem.Allocator) Error!Pair {
    const o = try Oneshot.create(allocator);
    const tx = handles.create(.oneshot_sender, o, destroySenderHandle) catch |err| {
        o.releaseSender();
        o.releaseReceiver();
        return mapHandleError(err);
    };
    const rx = handles.create(.oneshot_receiver, o, destroyReceiverHandle) catch |err| {
        handles.releaseHeld(tx); // Destroys the sender (ours, just created).
        o.releaseReceiver();
        return mapHandleError(err);
    };
    return .{ .tx = tx, .rx = rx };
}

// ---- tests ----

const testing = std.testing;
const never = Deadline.never;

test "oneshot: send once, receive once" {
    const o = try Oneshot.create(testing.allocator);
    defer {
        o.releaseSender();
        o.releaseReceiver();
    }
    var buf: [16]u8 = undefined;
    try testing.expectError(error.WouldBlock, o.tryRecv(&buf));
    try testing.expectError(error.Timeout, o.recv(&buf, Deadline.fromMs(1)));
    try o.send("value");
    try testing.expectError(error.AlreadySent, o.send("again"));
    var small: [2]u8 = undefined;
    try testing.expectError(error.BufferTooSmall, o.tryRecv(&small));
    try testing.expectEqual(@as(u64, 5), code.last_value);
    try testing.expectEqualStrings("value", buf[0..try o.recv(&buf, never)]);
    try testing.expectError(error.Closed, o.tryRecv(&buf));
    try testing.expectError(error.Closed, o.recv(&buf, never));
    try testing.expectError(error.AlreadySent, o.send("late"));
    // The sender leaving after the value was sent changes nothing.
    o.closeSender();
    try testing.expectError(error.Closed, o.tryRecv(&buf));
}

test "oneshot: the sender leaves without a value" {
    const o = try Oneshot.create(testing.allocator);
    var buf: [4]u8 = undefined;
    o.closeSender();
    try testing.expectError(error.Disconnected, o.tryRecv(&buf));
    try testing.expectError(error.Disconnected, o.recv(&buf, never));
    try testing.expectError(error.Closed, o.send("x"));
    o.releaseSender();
    o.releaseReceiver();
    // Released without closing first: the same.
    const p = try Oneshot.create(testing.allocator);
    p.releaseSender();
    try testing.expectError(error.Disconnected, p.tryRecv(&buf));
    p.releaseReceiver();
}

test "oneshot: the receiver leaves; a value never taken is freed" {
    const o = try Oneshot.create(testing.allocator);
    o.closeReceiver();
    try testing.expectError(error.Closed, o.send("x"));
    var buf: [4]u8 = undefined;
    try testing.expectError(error.Closed, o.tryRecv(&buf));
    o.releaseReceiver();
    o.releaseSender();
    const p = try Oneshot.create(testing.allocator);
    try p.send("never taken");
    p.releaseReceiver();
    p.releaseSender();
    const q = try Oneshot.create(testing.allocator);
    try q.send("taken by nobody, freed last");
    q.releaseSender();
    q.releaseReceiver();
    const fake: [*]const u8 = @ptrFromInt(@alignOf(u64));
    const r = try Oneshot.create(testing.allocator);
    defer r.releaseReceiver();
    defer r.releaseSender();
    try testing.expectError(error.TooLarge, r.send(fake[0 .. message.max_len + 1]));
}

test "oneshot: async receive completes on send and on the sender leaving" {
    const id = cq_mod.open();
    const cq = cq_mod.get(@floatFromInt(id)).?;
    defer cq_mod.close(cq);
    var out: [4]i32 = undefined;
    const o = try Oneshot.create(testing.allocator);
    const t = try o.recvAsync(cq);
    try testing.expect(t > 0);
    try o.send("v");
    try testing.expectEqual(@as(u32, 1), cq.drain(&out));
    try testing.expectEqual(@as(i32, @intCast(t)), out[0]);
    try testing.expectEqual(@as(i32, 0), out[1]);
    try testing.expectEqual(@as(u32, 0), try o.recvAsync(cq));
    var buf: [4]u8 = undefined;
    try testing.expectEqual(@as(u32, 1), try o.tryRecv(&buf));
    o.releaseSender();
    o.releaseReceiver();
    const p = try Oneshot.create(testing.allocator);
    const t2 = try p.recvAsync(cq);
    try testing.expect(t2 > 0);
    p.releaseSender();
    try testing.expectEqual(@as(u32, 1), cq.drain(&out));
    try testing.expectEqual(@as(i32, 0), out[1]);
    try testing.expectError(error.Disconnected, p.tryRecv(&buf));
    p.releaseReceiver();
    try testing.expectEqual(@as(u32, 0), cq.live);
}

test "oneshot: handles" {
    const live = handles.live();
    const pair = try createHandles(testing.allocator);
    const o = try handles.get(Oneshot, pair.tx, .oneshot_sender);
    try testing.expectError(error.WrongKind, handles.get(Oneshot, pair.tx, .oneshot_receiver));
    try handles.release(pair.tx);
    var buf: [4]u8 = undefined;
    try testing.expectError(error.Disconnected, o.tryRecv(&buf));
    try handles.release(pair.rx);
    try testing.expectEqual(live, handles.live());
}

test "oneshot: across threads, both orders" {
    const T = struct {
        fn sendLater(o: *Oneshot, i: u32) void {
            if (i % 4 == 0) std.Thread.sleep(50 * std.time.ns_per_us);
            var msg: [4]u8 = undefined;
            std.mem.writeInt(u32, &msg, i, .little);
            o.send(&msg) catch unreachable;
            o.releaseSender();
        }
        fn recvOne(o: *Oneshot, i: u32, ok: *bool) void {
            var buf: [4]u8 = undefined;
            const n = o.recv(&buf, never) catch return;
            ok.* = n == 4 and std.mem.readInt(u32, &buf, .little) == i;
            o.releaseReceiver();
        }
    };
    var counting: CountingAllocator = .{};
    var i: u32 = 0;
    while (i < 300) : (i += 1) {
        const o = try Oneshot.create(counting.allocator());
        if (i % 2 == 0) {
            const th = try std.Thread.spawn(.{}, T.sendLater, .{ o, i });
            var buf: [4]u8 = undefined;
            try testing.expectEqual(@as(u32, 4), try o.recv(&buf, never));
            try testing.expectEqual(i, std.mem.readInt(u32, &buf, .little));
            th.join();
            o.releaseReceiver();
        } else {
            var ok = false;
            const th = try std.Thread.spawn(.{}, T.recvOne, .{ o, i, &ok });
            if (i % 4 == 1) std.Thread.sleep(50 * std.time.ns_per_us);
            var msg: [4]u8 = undefined;
            std.mem.writeInt(u32, &msg, i, .little);
            try o.send(&msg);
            o.releaseSender();
            th.join();
            try testing.expect(ok);
        }
    }
    try counting.expectNoLeaks();
}
