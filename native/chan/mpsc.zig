//! mpsc: many senders, one receiver, byte messages, bounded or not.
//!
//! The queue is Vyukov's intrusive MPSC queue of `Message`s: a sender
//! swaps itself in as the tail and then links the previous tail to it, so
//! senders never take a lock. The consumer side (head, the peeked `front`)
//! is guarded by `consumer`, a RawMutex, because several isolates may hold
//! the one receiver handle and must never pop concurrently.
//!
//! `count` counts messages reserved by senders and not yet received. A
//! bounded channel reserves with a CAS loop that never passes `capacity`; a
//! sender reserves before it links, so `count > 0` means a message is in
//! the queue or a few instructions away from it. The receiver uses that to
//! tell "empty" from "a sender is mid-push" and to decide when a closed
//! channel is drained.
//!
//! Wake-ups (see port.zig for the Dekker pairing):
//! - receivers wait in `recv_port`; every push wakes them all (completion
//!   0 = "try_recv now"). Usually there is one; waking all means an
//!   abandoned receive never strands a message.
//! - senders of a full bounded channel wait in `send_port`; every receive
//!   wakes one (completion 0 = "try again"); an async sender abandoned after
//!   its grant passes it on to the next (Port.enqueuePassOn).
//!
//! Lifetime: every handle holds one reference (`refs`); sender handles are
//! also counted in `senders`. The last sender handle gone closes the stream
//! (the receiver drains, then sees `closed`); the receiver handle gone
//! closes the channel and frees what is queued; the last handle frees it.
const std = @import("std");
const code = @import("../core/code.zig");
const handles = @import("../core/handles.zig");
const wq = @import("../core/wait_queue.zig");
const cq_mod = @import("../core/cq.zig");
const Deadline = @import("../os/clock.zig").Deadline;
const RawMutex = @import("../sync/raw_mutex.zig").RawMutex;
const message = @import("message.zig");
const Message = message.Message;
const port_mod = @import("port.zig");
const Port = port_mod.Port;
const Waiter = wq.Waiter;
const Cq = cq_mod.Cq;
const Code = code.Code;
const CountingAllocator = @import("counting_allocator.zig").CountingAllocator;

pub const Error = error{ Closed, WouldBlock, BufferTooSmall, TooLarge, OutOfMemory, Timeout, Limit, InvalidArgument };

/// The largest bounded capacity, and the most messages an unbounded channel
/// holds: `len` must fit a positive i32.
pub const max_capacity: u32 = std.math.maxInt(i32);

/// A consumer that finds `count > 0` but nothing linked waits this many
/// rounds for the sender to finish its push (spins first, then yields).
const busy_spins: u32 = 64;
const busy_rounds: u32 = busy_spins + 32;

pub const Mpsc = struct {
    /// Producers swap themselves in here.
    tail: std.atomic.Value(*Message) align(std.atomic.cache_line),
    /// Messages reserved and not yet received (see the file comment).
    count: std.atomic.Value(u32) align(std.atomic.cache_line) = .init(0),
    /// 0: unbounded.
    capacity: u32,
    closed: std.atomic.Value(bool) = .init(false),
    senders: std.atomic.Value(u32),
    refs: std.atomic.Value(u32),
    recv_port: *Port,
    send_port: *Port,
    allocator: std.mem.Allocator,

    // The consumer side, guarded by `consumer`.
    consumer: RawMutex align(std.atomic.cache_line) = .{},
    head: *Message,
    /// The message a receive took off the queue but could not deliver (the
    /// caller's buffer was too small). Still counted in `count`.
    front: ?*Message = null,
    stub: Message = .{ .len = 0 },

    /// A channel with one sender and one receiver reference.
    pub fn create(allocator: std.mem.Allocator, capacity: u32) Error!*Mpsc {
        if (capacity > max_capacity) return error.InvalidArgument;
        const recv_port = try port_mod.open();
        errdefer port_mod.retire(recv_port, Code.closed.int());
        const send_port = try port_mod.open();
        errdefer port_mod.retire(send_port, Code.closed.int());
        const ch = try allocator.create(Mpsc);
        ch.* = .{
            .tail = undefined,
            .head = undefined,
            .capacity = capacity,
            .senders = .init(1),
            .refs = .init(2),
            .recv_port = recv_port,
            .send_port = send_port,
            .allocator = allocator,
        };
        ch.tail = .init(&ch.stub);
        ch.head = &ch.stub;
        return ch;
    }

    // ---- sending ----

    /// Send without waiting: `WouldBlock` when a bounded channel is full.
    pub fn trySend(ch: *Mpsc, payload: []const u8) Error!void {
        try message.checkLen(payload.len);
        if (ch.closed.load(.monotonic)) return error.Closed;
        // Refuse a full channel before allocating.
        if (!ch.hasRoom()) return error.WouldBlock;
        const m = try Message.create(ch.allocator, payload);
        ch.sendMessage(m) catch |err| {
            m.destroy(ch.allocator);
            return err;
        };
    }

    /// Send, waiting while a bounded channel is full.
    pub fn send(ch: *Mpsc, payload: []const u8, deadline: Deadline) Error!void {
        try message.checkLen(payload.len);
        if (ch.closed.load(.monotonic)) return error.Closed;
        // Copied once; the same message is retried after each wake-up.
        const m = try Message.create(ch.allocator, payload);
        while (true) {
            if (ch.sendMessage(m)) |_| return else |err| switch (err) {
                error.WouldBlock => {},
                else => {
                    m.destroy(ch.allocator);
                    return err;
                },
            }
            var w = Waiter.initSync(0);
            ch.send_port.enqueue(&w);
            if (ch.closed.load(.seq_cst) or ch.hasRoom()) {
                // Room appeared before we were linked. If a receive granted
                // us anyway, the grant is ours and we use it by retrying.
                _ = wq.cancel(&w);
                continue;
            }
            // Granted 0 (room) or `closed`: retry either way, so a grant
            // is never thrown away. Only a cancelled wait times out.
            if (w.sleep(deadline, Code.timeout.int()) == Code.timeout.int()) {
                m.destroy(ch.allocator);
                return error.Timeout;
            }
        }
    }

    /// Wait for room. 0: room now (or unbounded); otherwise a token whose
    /// completion is 0 ("try again") or `closed`.
    pub fn sendAsync(ch: *Mpsc, cq: *Cq) Error!u32 {
        if (ch.closed.load(.seq_cst)) return error.Closed;
        if (ch.hasRoom()) return 0;
        const w = cq.acquire() orelse return error.Limit;
        ch.send_port.enqueuePassOn(w);
        if (ch.closed.load(.seq_cst) or ch.hasRoom()) {
            if (wq.cancel(w)) {
                cq.release(w);
                return if (ch.closed.load(.seq_cst)) error.Closed else 0;
            }
        }
        return w.token;
    }

    fn hasRoom(ch: *Mpsc) bool {
        return ch.capacity == 0 or ch.count.load(.seq_cst) < ch.capacity;
    }

    /// Reserve, link and wake: the whole send of a ready message. On error
    /// the caller still owns `m`.
    fn sendMessage(ch: *Mpsc, m: *Message) Error!void {
        if (ch.closed.load(.seq_cst)) return error.Closed;
        try ch.reserve();
        // Look at `closed` after reserving: a receiver reports the end of a
        // closed stream only when `count` is 0, so a reservation it did not
        // see must see `closed` here and back out.
        if (ch.closed.load(.seq_cst)) {
            ch.unreserve();
            return error.Closed;
        }
        ch.push(m);
        if (ch.recv_port.hasWaiters()) _ = ch.recv_port.wakeAll(0);
    }

    fn reserve(ch: *Mpsc) Error!void {
        if (ch.capacity == 0) {
            const before = ch.count.fetchAdd(1, .seq_cst);
            if (before >= max_capacity) {
                _ = ch.count.fetchSub(1, .seq_cst);
                return error.Limit;
            }
            return;
        }
        var c = ch.count.load(.monotonic);
        while (c < ch.capacity) {
            c = ch.count.cmpxchgWeak(c, c + 1, .seq_cst, .monotonic) orelse return;
        }
        return error.WouldBlock;
    }

    /// Give back a reservation that will not be pushed (the channel closed).
    /// A receiver may be waiting for `count` to drain to 0.
    fn unreserve(ch: *Mpsc) void {
        const before = ch.count.fetchSub(1, .seq_cst);
        std.debug.assert(before > 0);
        if (ch.recv_port.hasWaiters()) _ = ch.recv_port.wakeAll(0);
    }

    fn push(ch: *Mpsc, m: *Message) void {
        m.next.store(null, .monotonic);
        // The window: once the swap is done `m` is the tail, but it is not
        // reachable from the head until `prev.next` is stored. A consumer
        // that reaches `prev` in between sees `prev.next == null` with
        // `tail != prev`, and must not take it as empty. It cannot lose `m`
        // (`count` says a message is due, and after linking we wake any
        // receiver that went to sleep meanwhile); it waits a bounded while
        // and otherwise reports would_block.
        const prev = ch.tail.swap(m, .acq_rel);
        // seq_cst: pairs with a receiver that links itself into `recv_port`
        // and then looks at the queue.
        prev.next.store(m, .seq_cst);
    }

    // ---- receiving ----

    /// Receive without waiting. A message that does not fit `out` stays in
    /// place (`BufferTooSmall`, needed size in `code.last_value`).
    pub fn tryRecv(ch: *Mpsc, out: []u8) Error!u32 {
        ch.consumer.lock();
        defer ch.consumer.unlock();
        var round: u32 = 0;
        while (true) : (round += 1) {
            if (ch.receiveLocked(out)) |n| return n else |err| {
                if (err != error.WouldBlock) return err;
            }
            // Nothing linked. If nothing is counted either, it is empty;
            // otherwise a sender is between its reservation and its link.
            if (ch.count.load(.seq_cst) == 0 or round >= busy_rounds) return error.WouldBlock;
            if (round < busy_spins) std.atomic.spinLoopHint() else std.Thread.yield() catch {};
        }
    }

    /// Receive, waiting until a message arrives, the stream ends or the
    /// deadline passes.
    pub fn recv(ch: *Mpsc, out: []u8, deadline: Deadline) Error!u32 {
        while (true) {
            if (ch.tryRecv(out)) |n| return n else |err| {
                if (err != error.WouldBlock) return err;
            }
            var w = Waiter.initSync(0);
            ch.recv_port.enqueue(&w);
            if (ch.readyNow()) {
                _ = wq.cancel(&w);
                continue;
            }
            if (w.sleep(deadline, Code.timeout.int()) == Code.timeout.int()) return error.Timeout;
        }
    }

    /// 0 when a receive would not block now; otherwise a token whose
    /// completion 0 means "try_recv now".
    pub fn recvAsync(ch: *Mpsc, cq: *Cq) Error!u32 {
        if (ch.readyNow()) return 0;
        const w = cq.acquire() orelse return error.Limit;
        ch.recv_port.enqueue(w);
        if (ch.readyNow()) {
            if (wq.cancel(w)) {
                cq.release(w);
                return 0;
            }
        }
        return w.token;
    }

    /// A message can be taken now, or the stream has ended.
    fn readyNow(ch: *Mpsc) bool {
        ch.consumer.lock();
        defer ch.consumer.unlock();
        return ch.fillLocked() or ch.drainedLocked();
    }

    /// Closed, and no message is queued or on its way. Loads `closed` first:
    /// after it, no new reservation can succeed.
    fn drainedLocked(ch: *Mpsc) bool {
        return ch.closed.load(.seq_cst) and ch.count.load(.seq_cst) == 0;
    }

    fn receiveLocked(ch: *Mpsc, out: []u8) Error!u32 {
        if (!ch.fillLocked()) return if (ch.drainedLocked()) error.Closed else error.WouldBlock;
        const m = ch.front.?;
        const n = try m.copyTo(out);
        ch.front = null;
        m.destroy(ch.allocator);
        const before = ch.count.fetchSub(1, .seq_cst);
        std.debug.assert(before > 0);
        // seq_cst decrement, then the waiter check: pairs with a sender
        // that links itself and then re-checks `count`.
        if (ch.capacity != 0 and ch.send_port.hasWaiters()) _ = ch.send_port.wakeOne(0);
        return n;
    }

    /// Make `front` the next message if one is linked.
    fn fillLocked(ch: *Mpsc) bool {
        if (ch.front == null) ch.front = ch.popLocked();
        return ch.front != null;
    }

    /// Vyukov's pop: the oldest linked message, or null when the queue is
    /// empty or its next link is not stored yet (see `push`).
    fn popLocked(ch: *Mpsc) ?*Message {
        var head = ch.head;
        var next = head.next.load(.seq_cst);
        if (head == &ch.stub) {
            const first = next orelse return null;
            ch.head = first;
            head = first;
            next = first.next.load(.seq_cst);
        }
        if (next) |n| {
            ch.head = n;
            return head;
        }
        // `head` is the last linked message. If the tail moved on, a sender
        // swapped past it and has not linked it yet: not poppable now.
        if (ch.tail.load(.seq_cst) != head) return null;
        // `head` is the tail: park the stub behind it so it can be taken.
        ch.push(&ch.stub);
        next = head.next.load(.seq_cst);
        if (next) |n| {
            ch.head = n;
            return head;
        }
        return null;
    }

    // ---- closing and lifetime ----

    /// Close the channel: sends fail `closed`, waiting senders are granted
    /// `closed`, the receiver drains what is queued and then gets `closed`.
    pub fn close(ch: *Mpsc) void {
        if (ch.closed.swap(true, .seq_cst)) return;
        _ = ch.send_port.wakeAll(Code.closed.int());
        _ = ch.recv_port.wakeAll(0);
    }

    /// Messages queued (including any on their way in).
    pub fn len(ch: *Mpsc) u32 {
        return ch.count.load(.monotonic);
    }

    /// One more sender (a cloned sender handle).
    pub fn retainSender(ch: *Mpsc) void {
        const before = ch.senders.fetchAdd(1, .monotonic);
        std.debug.assert(before > 0); // Cloned from a live sender.
        _ = ch.refs.fetchAdd(1, .monotonic);
    }

    /// A sender handle is gone; the last one ends the stream.
    pub fn releaseSender(ch: *Mpsc) void {
        const before = ch.senders.fetchSub(1, .acq_rel);
        std.debug.assert(before > 0);
        if (before == 1) ch.close();
        ch.unref();
    }

    /// The receiver handle is gone: close and free what is queued.
    pub fn releaseReceiver(ch: *Mpsc) void {
        ch.close();
        {
            ch.consumer.lock();
            defer ch.consumer.unlock();
            ch.freeQueuedLocked();
        }
        ch.unref();
    }

    fn unref(ch: *Mpsc) void {
        const before = ch.refs.fetchSub(1, .acq_rel);
        std.debug.assert(before > 0);
        if (before == 1) ch.destroy();
    }

    /// Free every linked message (a sender mid-push leaves its message for
    /// `destroy`).
    fn freeQueuedLocked(ch: *Mpsc) void {
        var freed: u64 = 0;
        while (true) : (freed += 1) {
            const m = ch.front orelse ch.popLocked() orelse break;
            ch.front = null;
            m.destroy(ch.allocator);
            const before = ch.count.fetchSub(1, .seq_cst);
            std.debug.assert(before > 0);
        }
    }

    fn destroy(ch: *Mpsc) void {
        // No handle is left, so no operation runs and every push is linked.
        ch.freeQueuedLocked();
        std.debug.assert(ch.count.load(.monotonic) == 0);
        std.debug.assert(ch.head == &ch.stub or ch.head == ch.tail.load(.monotonic));
        port_mod.retire(ch.send_port, Code.closed.int());
        port_mod.retire(ch.recv_port, Code.closed.int());
        ch.allocator.destroy(ch);
    }
};

// ---- handles ----

pub const Pair = struct { tx: handles.Handle, rx: handles.Handle };

fn destroySenderHandle(obj: *anyopaque) void {
    const ch: *Mpsc = @ptrCast(@alignCast(obj));
    ch.releaseSender();
}

fn destroyReceiverHandle(obj: *anyopaque) void {
    const ch: *Mpsc = @ptrCast(@alignCast(obj));
    ch.releaseReceiver();
}

/// A channel and its two handles.
pub fn createHandles(allocator: std.mem.Allocator, capacity: u32) Error!Pair {
    const ch = try Mpsc.create(allocator, capacity);
    const tx = handles.create(.mpsc_sender, ch, destroySenderHandle) catch |err| {
        ch.releaseSender();
        ch.releaseReceiver();
        return mapHandleError(err);
    };
    const rx = handles.create(.mpsc_receiver, ch, destroyReceiverHandle) catch |err| {
        handles.release(tx) catch unreachable;
        ch.releaseReceiver();
        return mapHandleError(err);
    };
    return .{ .tx = tx, .rx = rx };
}

/// A new sender handle for the channel behind a sender.
pub fn cloneSenderHandle(ch: *Mpsc) Error!handles.Handle {
    ch.retainSender();
    return handles.create(.mpsc_sender, ch, destroySenderHandle) catch |err| {
        ch.releaseSender();
        return mapHandleError(err);
    };
}

fn mapHandleError(err: error{ Limit, OutOfMemory }) Error {
    return switch (err) {
        error.Limit => error.Limit,
        error.OutOfMemory => error.OutOfMemory,
    };
}

// ---- tests ----

const testing = std.testing;
const never = Deadline.never;

fn openQueue() !*Cq {
    const id = cq_mod.open(null);
    try testing.expect(id > 0);
    return cq_mod.get(@floatFromInt(id)).?;
}

/// Drain `cq` until the completion for `token` arrives; its result.
fn awaitToken(cq: *Cq, token: u32) i32 {
    var out: [16]i32 = undefined;
    var rounds: u64 = 0;
    while (true) : (rounds += 1) {
        std.debug.assert(rounds < 100_000_000);
        if (cq.drain(&out) > 0) {
            // One operation at a time per queue in these tests.
            std.debug.assert(out[0] == @as(i32, @intCast(token)));
            return out[1];
        }
        std.Thread.yield() catch {};
    }
}

test "mpsc: unbounded send and receive in order" {
    const ch = try Mpsc.create(testing.allocator, 0);
    defer {
        ch.releaseSender();
        ch.releaseReceiver();
    }
    var buf: [16]u8 = undefined;
    try testing.expectError(error.WouldBlock, ch.tryRecv(&buf));
    try ch.trySend("one");
    try ch.trySend("two");
    try ch.send("", never);
    try testing.expectEqual(@as(u32, 3), ch.len());
    try testing.expectEqualStrings("one", buf[0..try ch.tryRecv(&buf)]);
    try testing.expectEqualStrings("two", buf[0..try ch.recv(&buf, never)]);
    try testing.expectEqual(@as(u32, 0), try ch.tryRecv(&buf));
    try testing.expectEqual(@as(u32, 0), ch.len());
    try testing.expectError(error.WouldBlock, ch.tryRecv(&buf));
    // The queue reuses its stub many times over.
    for (0..100) |i| {
        var b: [1]u8 = .{@intCast(i)};
        try ch.trySend(&b);
        try testing.expectEqual(@as(u32, 1), try ch.tryRecv(&buf));
        try testing.expectEqual(@as(u8, @intCast(i)), buf[0]);
    }
}

test "mpsc: bounded channel is full at capacity" {
    const ch = try Mpsc.create(testing.allocator, 2);
    defer {
        ch.releaseSender();
        ch.releaseReceiver();
    }
    try ch.trySend("a");
    try ch.trySend("b");
    try testing.expectError(error.WouldBlock, ch.trySend("c"));
    try testing.expectError(error.Timeout, ch.send("c", Deadline.fromMs(1)));
    try testing.expectEqual(@as(u32, 2), ch.len());
    var buf: [4]u8 = undefined;
    try testing.expectEqual(@as(u32, 1), try ch.tryRecv(&buf));
    try ch.trySend("c");
    try testing.expectEqualStrings("b", buf[0..try ch.tryRecv(&buf)]);
    try testing.expectEqualStrings("c", buf[0..try ch.tryRecv(&buf)]);
    try testing.expectError(error.Timeout, ch.recv(&buf, Deadline.fromMs(1)));
    try testing.expect(!ch.send_port.hasWaiters() and !ch.recv_port.hasWaiters());
}

test "mpsc: buffer too small leaves the message in place" {
    const ch = try Mpsc.create(testing.allocator, 0);
    defer {
        ch.releaseSender();
        ch.releaseReceiver();
    }
    try ch.trySend("hello world");
    try ch.trySend("x");
    var small: [4]u8 = undefined;
    try testing.expectError(error.BufferTooSmall, ch.tryRecv(&small));
    try testing.expectEqual(@as(u64, 11), code.last_value);
    try testing.expectError(error.BufferTooSmall, ch.recv(&small, never));
    try testing.expectError(error.BufferTooSmall, ch.tryRecv(&.{}));
    try testing.expectEqual(@as(u32, 2), ch.len());
    var buf: [16]u8 = undefined;
    try testing.expectEqualStrings("hello world", buf[0..try ch.tryRecv(&buf)]);
    try testing.expectEqualStrings("x", small[0..try ch.tryRecv(&small)]);
}

test "mpsc: too large" {
    const ch = try Mpsc.create(testing.allocator, 0);
    defer {
        ch.releaseSender();
        ch.releaseReceiver();
    }
    const fake: [*]const u8 = @ptrFromInt(@alignOf(u64));
    const huge = fake[0 .. message.max_len + 1];
    try testing.expectError(error.TooLarge, ch.trySend(huge));
    try testing.expectError(error.TooLarge, ch.send(huge, never));
    try testing.expectEqual(@as(u32, 0), ch.len());
    try testing.expectError(error.InvalidArgument, Mpsc.create(testing.allocator, max_capacity + 1));
}

test "mpsc: close drains, then reports closed; sends fail" {
    const ch = try Mpsc.create(testing.allocator, 1);
    defer {
        ch.releaseSender();
        ch.releaseReceiver();
    }
    try ch.trySend("last");
    // A sender blocked on the full channel is released with `closed`.
    const T = struct {
        fn blockedSend(c: *Mpsc, result: *?Error) void {
            c.send("never", never) catch |err| {
                result.* = err;
                return;
            };
            result.* = null;
        }
    };
    var result: ?Error = null;
    const th = try std.Thread.spawn(.{}, T.blockedSend, .{ ch, &result });
    while (!ch.send_port.hasWaiters()) std.Thread.yield() catch {};
    ch.close();
    th.join();
    try testing.expectEqual(@as(?Error, error.Closed), result);
    try testing.expectError(error.Closed, ch.trySend("x"));
    var buf: [8]u8 = undefined;
    try testing.expectEqualStrings("last", buf[0..try ch.recv(&buf, never)]);
    try testing.expectError(error.Closed, ch.tryRecv(&buf));
    try testing.expectError(error.Closed, ch.recv(&buf, never));
    const cq = try openQueue();
    defer cq_mod.close(cq);
    try testing.expectEqual(@as(u32, 0), try ch.recvAsync(cq));
    try testing.expectError(error.Closed, ch.sendAsync(cq));
}

test "mpsc: releasing the receiver fails sends and frees the queue" {
    const ch = try Mpsc.create(testing.allocator, 0);
    try ch.trySend("queued");
    try ch.trySend("queued too");
    ch.releaseReceiver();
    try testing.expectError(error.Closed, ch.trySend("x"));
    try testing.expectEqual(@as(u32, 0), ch.len());
    ch.releaseSender(); // Frees the channel; the testing allocator checks.
}

test "mpsc: handles; the last sender gone ends the stream" {
    const live = handles.live();
    const pair = try createHandles(testing.allocator, 0);
    const ch = try handles.get(Mpsc, pair.tx, .mpsc_sender);
    try testing.expectEqual(ch, try handles.get(Mpsc, pair.rx, .mpsc_receiver));
    try testing.expectError(error.WrongKind, handles.get(Mpsc, pair.rx, .mpsc_sender));
    const tx2 = try cloneSenderHandle(ch);
    try ch.trySend("from tx");
    try handles.release(pair.tx);
    try ch.trySend("from tx2");
    try handles.release(tx2);
    try testing.expectEqual(@as(u32, 0), ch.senders.load(.monotonic));
    var buf: [16]u8 = undefined;
    try testing.expectEqualStrings("from tx", buf[0..try ch.tryRecv(&buf)]);
    try testing.expectEqualStrings("from tx2", buf[0..try ch.tryRecv(&buf)]);
    try testing.expectError(error.Closed, ch.tryRecv(&buf));
    try handles.release(pair.rx);
    try testing.expectEqual(live, handles.live());
    try testing.expectError(error.InvalidHandle, handles.get(Mpsc, pair.rx, .mpsc_receiver));
}

test "mpsc: async receive completes on send" {
    const ch = try Mpsc.create(testing.allocator, 0);
    defer {
        ch.releaseSender();
        ch.releaseReceiver();
    }
    const cq = try openQueue();
    defer cq_mod.close(cq);
    const token = try ch.recvAsync(cq);
    try testing.expect(token > 0);
    var out: [4]i32 = undefined;
    try testing.expectEqual(@as(u32, 0), cq.drain(&out));
    try ch.trySend("ping");
    try testing.expectEqual(@as(u32, 1), cq.drain(&out));
    try testing.expectEqual(@as(i32, @intCast(token)), out[0]);
    try testing.expectEqual(@as(i32, 0), out[1]);
    // Ready now: 0 without a token.
    try testing.expectEqual(@as(u32, 0), try ch.recvAsync(cq));
    var buf: [8]u8 = undefined;
    try testing.expectEqualStrings("ping", buf[0..try ch.tryRecv(&buf)]);
    // A pending receive is released (0) by close, then sees `closed`.
    const t2 = try ch.recvAsync(cq);
    try testing.expect(t2 > 0);
    ch.close();
    try testing.expectEqual(@as(u32, 1), cq.drain(&out));
    try testing.expectEqual(@as(i32, 0), out[1]);
    try testing.expectError(error.Closed, ch.tryRecv(&buf));
    // A cancelled receive leaves nothing behind.
    try testing.expectEqual(@as(u32, 0), cq.live);
}

test "mpsc: async send waits for room; an abandoned grant passes on" {
    const ch = try Mpsc.create(testing.allocator, 1);
    defer {
        ch.releaseSender();
        ch.releaseReceiver();
    }
    const cq = try openQueue();
    defer cq_mod.close(cq);
    try testing.expectEqual(@as(u32, 0), try ch.sendAsync(cq));
    try ch.trySend("1");
    const a = try ch.sendAsync(cq);
    const b = try ch.sendAsync(cq);
    const c = try ch.sendAsync(cq);
    try testing.expect(a > 0 and b > 0 and c > 0);
    // A cancelled pending waiter is simply gone.
    try testing.expect(cq.cancel(cq.lookup(c).?));
    var buf: [4]u8 = undefined;
    _ = try ch.tryRecv(&buf);
    // `a` was granted; the isolate abandons it before draining: the grant
    // goes to `b` instead of being lost.
    try testing.expect(!cq.cancel(cq.lookup(a).?));
    var out: [8]i32 = undefined;
    try testing.expectEqual(@as(u32, 1), cq.drain(&out));
    try testing.expectEqual(@as(i32, @intCast(b)), out[0]);
    try testing.expectEqual(@as(i32, 0), out[1]);
    try ch.trySend("2");
    // Closing grants waiting senders `closed`.
    const d = try ch.sendAsync(cq);
    try testing.expect(d > 0);
    ch.close();
    try testing.expectEqual(@as(u32, 1), cq.drain(&out));
    try testing.expectEqual(@as(i32, @intCast(d)), out[0]);
    try testing.expectEqual(Code.closed.int(), out[1]);
    try testing.expectEqual(@as(u32, 0), cq.live);
}

test "mpsc: a waiter pending when the last handle goes is released" {
    const cq = try openQueue();
    defer cq_mod.close(cq);
    const ch = try Mpsc.create(testing.allocator, 1);
    try ch.trySend("x");
    const s = try ch.sendAsync(cq);
    const r = try ch.recvAsync(cq); // Ready: a message is queued.
    try testing.expectEqual(@as(u32, 0), r);
    ch.releaseReceiver();
    ch.releaseSender();
    var out: [4]i32 = undefined;
    try testing.expectEqual(@as(u32, 1), cq.drain(&out));
    try testing.expectEqual(@as(i32, @intCast(s)), out[0]);
    try testing.expectEqual(Code.closed.int(), out[1]);
}

const Stress = struct {
    const senders: u32 = 8;

    ch: *Mpsc,
    per_sender: u32,

    /// Payload: sender id, sequence, then `seq % 13` filler bytes.
    fn sendAll(s: *Stress, id: u32, use_async: bool) void {
        var buf: [8 + 13]u8 = undefined;
        const cq: ?*Cq = if (use_async) cq_mod.get(@floatFromInt(cq_mod.open(null))).? else null;
        defer if (cq) |q| cq_mod.close(q);
        var seq: u32 = 0;
        while (seq < s.per_sender) : (seq += 1) {
            std.mem.writeInt(u32, buf[0..4], id, .little);
            std.mem.writeInt(u32, buf[4..8], seq, .little);
            const n = 8 + seq % 13;
            @memset(buf[8..n], @truncate(seq));
            if (cq) |q| {
                // The JS pattern: try, and when full await room and retry.
                while (true) {
                    s.ch.trySend(buf[0..n]) catch |err| switch (err) {
                        error.WouldBlock => {
                            const token = s.ch.sendAsync(q) catch unreachable;
                            if (token != 0) std.debug.assert(awaitToken(q, token) == 0);
                            continue;
                        },
                        else => unreachable,
                    };
                    break;
                }
            } else {
                s.ch.send(buf[0..n], never) catch unreachable;
            }
        }
    }

    fn run(capacity: u32, per_sender: u32, async_senders: bool, async_receiver: bool) !void {
        var counting: CountingAllocator = .{};
        var s: Stress = .{ .ch = try Mpsc.create(counting.allocator(), capacity), .per_sender = per_sender };
        // Each thread is a sender of its own; all exist before any can
        // finish and drop its own.
        for (1..senders) |_| s.ch.retainSender();
        var ts: [senders]std.Thread = undefined;
        for (&ts, 0..) |*t, i| {
            t.* = try std.Thread.spawn(.{}, sendDrop, .{ &s, @as(u32, @intCast(i)), async_senders });
        }
        var next: [senders]u32 = @splat(0);
        var total: u64 = 0;
        var buf: [64]u8 = undefined;
        const cq: ?*Cq = if (async_receiver) try openQueue() else null;
        defer if (cq) |q| cq_mod.close(q);
        while (true) {
            const n = if (cq) |q| blk: {
                break :blk s.ch.tryRecv(&buf) catch |err| switch (err) {
                    error.WouldBlock => {
                        const token = try s.ch.recvAsync(q);
                        if (token != 0) try testing.expectEqual(@as(i32, 0), awaitToken(q, token));
                        continue;
                    },
                    error.Closed => break,
                    else => return err,
                };
            } else s.ch.recv(&buf, never) catch |err| switch (err) {
                error.Closed => break,
                else => return err,
            };
            try testing.expect(n >= 8);
            const id = std.mem.readInt(u32, buf[0..4], .little);
            const seq = std.mem.readInt(u32, buf[4..8], .little);
            try testing.expect(id < senders);
            try testing.expectEqual(next[id], seq);
            try testing.expectEqual(8 + seq % 13, n);
            for (buf[8..n]) |byte| try testing.expectEqual(@as(u8, @truncate(seq)), byte);
            if (capacity != 0) try testing.expect(s.ch.len() <= capacity);
            next[id] += 1;
            total += 1;
        }
        for (ts) |t| t.join();
        try testing.expectEqual(@as(u64, senders) * per_sender, total);
        for (next) |n| try testing.expectEqual(per_sender, n);
        try testing.expectEqual(@as(u32, 0), s.ch.len());
        s.ch.releaseReceiver();
        try counting.expectNoLeaks();
    }

    /// Send everything, then drop this thread's sender: the last one to
    /// finish ends the stream.
    fn sendDrop(s: *Stress, id: u32, use_async: bool) void {
        s.sendAll(id, use_async);
        s.ch.releaseSender();
    }
};

test "mpsc: stress, 8 senders, unbounded" {
    try Stress.run(0, 20_000, false, false);
}

test "mpsc: stress, 8 senders, bounded capacity 4 (senders block)" {
    try Stress.run(4, 5_000, false, false);
}

test "mpsc: stress, capacity 1, async senders and async receiver" {
    try Stress.run(1, 5_000, true, true);
}

test "mpsc: stress, unbounded, async receiver" {
    try Stress.run(0, 20_000, false, true);
}

test "mpsc: ping-pong between two threads" {
    var counting: CountingAllocator = .{};
    const a = try Mpsc.create(counting.allocator(), 0);
    const b = try Mpsc.create(counting.allocator(), 0);
    const rounds: u32 = 5_000;
    const T = struct {
        fn echo(in: *Mpsc, out: *Mpsc) void {
            var buf: [8]u8 = undefined;
            while (true) {
                const n = in.recv(&buf, never) catch |err| {
                    std.debug.assert(err == error.Closed);
                    return;
                };
                out.trySend(buf[0..n]) catch unreachable;
            }
        }
    };
    const th = try std.Thread.spawn(.{}, T.echo, .{ a, b });
    var buf: [8]u8 = undefined;
    var i: u32 = 0;
    while (i < rounds) : (i += 1) {
        var msg: [4]u8 = undefined;
        std.mem.writeInt(u32, &msg, i, .little);
        try a.trySend(&msg);
        try testing.expectEqual(@as(u32, 4), try b.recv(&buf, never));
        try testing.expectEqual(i, std.mem.readInt(u32, buf[0..4], .little));
    }
    a.releaseSender();
    th.join();
    a.releaseReceiver();
    b.releaseSender();
    b.releaseReceiver();
    try counting.expectNoLeaks();
}
