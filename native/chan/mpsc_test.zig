//! Tests of the mpsc channel (mpsc.zig): ordering, batches, bounded
//! capacity, close, handles, async waits, and seeded stress runs.
const std = @import("std");
const code = @import("../core/code.zig");
const handles = @import("../core/handles.zig");
const wq = @import("../core/wait_queue.zig");
const cq_mod = @import("../core/cq.zig");
const Deadline = @import("../os/clock.zig").Deadline;
const message = @import("message.zig");
const node_cache = @import("node_cache.zig");
const Message = message.Message;
const port_mod = @import("port.zig");
const Port = port_mod.Port;
const Cq = cq_mod.Cq;
const Code = code.Code;
const CountingAllocator = @import("counting_allocator.zig").CountingAllocator;
const mpsc = @import("mpsc.zig");
const Mpsc = mpsc.Mpsc;
const Sender = mpsc.Sender;
const Error = mpsc.Error;
const max_capacity = mpsc.max_capacity;
const createHandles = mpsc.createHandles;
const cloneSenderHandle = mpsc.cloneSenderHandle;

const testing = std.testing;
const never = Deadline.never;

fn openQueue() !*Cq {
    const id = cq_mod.open();
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

test "mpsc: senders, the consumer and the rest live on separate lines" {
    const line = std.atomic.cache_line;
    const groups = [_][]const u8{ "producers", "consumer", "recycled" };
    inline for (groups) |g| {
        try testing.expect(@offsetOf(Mpsc, g) % line == 0);
        try testing.expect(@sizeOf(@FieldType(Mpsc, g)) % line == 0);
    }
    inline for (.{ "capacity", "closed", "senders", "refs", "recv_port", "send_port", "allocator", "nodes" }) |f| {
        inline for (groups) |g| {
            const start = @offsetOf(Mpsc, g);
            const off = @offsetOf(Mpsc, f);
            try testing.expect(off < start or off >= start + @sizeOf(@FieldType(Mpsc, g)));
        }
    }
    try testing.expect(@alignOf(Sender) == line and @sizeOf(Sender) % line == 0);
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
    const s1 = try handles.get(Sender, pair.tx, .mpsc_sender);
    const ch = s1.ch;
    try testing.expectEqual(ch, try handles.get(Mpsc, pair.rx, .mpsc_receiver));
    try testing.expectError(error.WrongKind, handles.get(Mpsc, pair.rx, .mpsc_sender));
    const tx2 = try cloneSenderHandle(ch);
    const s2 = try handles.get(Sender, tx2, .mpsc_sender);
    try testing.expect(s1 != s2 and s2.ch == ch);
    try s1.trySend("from tx");
    try handles.release(pair.tx);
    try s2.trySend("from tx2");
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

/// Pack `payloads` as batch records into `buf`; the packed bytes.
fn pack(buf: []u8, payloads: []const []const u8) []u8 {
    var at: usize = 0;
    for (payloads) |p| {
        std.mem.writeInt(u32, buf[at..][0..4], @intCast(p.len), .little);
        @memcpy(buf[at + 4 ..][0..p.len], p);
        at += 4 + p.len;
    }
    return buf[0..at];
}

/// Split `n` records packed in `bytes` (exactly) into `into`.
fn unpack(bytes: []const u8, n: u32, into: [][]const u8) !void {
    var at: usize = 0;
    for (into[0..n]) |*p| {
        const len = std.mem.readInt(u32, bytes[at..][0..4], .little);
        p.* = bytes[at + 4 ..][0..len];
        at += 4 + len;
    }
    try testing.expect(at <= bytes.len);
}

fn expectRecords(bytes: []const u8, want: []const []const u8) !void {
    var got: [16][]const u8 = undefined;
    try unpack(bytes, @intCast(want.len), &got);
    for (want, got[0..want.len]) |w, g| try testing.expectEqualStrings(w, g);
}

test "mpsc: batch send and receive keep order; partial fits" {
    const ch = try Mpsc.create(testing.allocator, 0);
    defer {
        ch.releaseSender();
        ch.releaseReceiver();
    }
    var in: [256]u8 = undefined;
    var out: [256]u8 = undefined;
    try testing.expectError(error.WouldBlock, ch.tryRecvMany(&out, 8));
    try testing.expectError(error.InvalidArgument, ch.tryRecvMany(&out, 0));
    const first = [_][]const u8{ "a", "bb", "", "dddd" };
    try testing.expectEqual(@as(u32, 4), try ch.trySendMany(null, pack(&in, &first), 4));
    try ch.trySend("e");
    try testing.expectEqual(@as(u32, 5), ch.len());
    // Batches and single receives interleave in order.
    try testing.expectEqualStrings("a", out[0..try ch.tryRecv(&out)]);
    try testing.expectEqual(@as(u32, 4), try ch.tryRecvMany(&out, 100));
    try expectRecords(out[0 .. 4 * 4 + 2 + 0 + 4 + 1], &.{ "bb", "", "dddd", "e" });
    try testing.expectEqual(@as(u32, 0), ch.len());
    // `max` caps the count; the rest stays queued.
    const three = [_][]const u8{ "hello", "world", "again" };
    try testing.expectEqual(@as(u32, 3), try ch.trySendMany(null, pack(&in, &three), 3));
    try testing.expectEqual(@as(u32, 1), try ch.tryRecvMany(&out, 1));
    try expectRecords(out[0..9], &.{"hello"});
    // The second record does not fit the space left: one, and it stays.
    try testing.expectEqual(@as(u32, 1), try ch.tryRecvMany(out[0..17], 8));
    try expectRecords(out[0..9], &.{"world"});
    // Not even the first fits: the record size, and the message stays.
    try testing.expectError(error.BufferTooSmall, ch.tryRecvMany(out[0..8], 8));
    try testing.expectEqual(@as(u64, 9), code.last_value);
    try testing.expectError(error.BufferTooSmall, ch.recvMany(&.{}, 8, never));
    try testing.expectEqual(@as(u64, 9), code.last_value);
    try testing.expectEqual(@as(u32, 1), ch.len());
    try testing.expectEqual(@as(u32, 1), try ch.tryRecvMany(out[0..9], 8));
    try expectRecords(out[0..9], &.{"again"});
    try testing.expectError(error.Timeout, ch.recvMany(&out, 8, Deadline.fromMs(1)));
    // A message left in place by a too small single receive goes first.
    try ch.trySend("long message");
    try ch.trySend("x");
    try testing.expectError(error.BufferTooSmall, ch.tryRecv(out[0..3]));
    try testing.expectEqual(@as(u32, 2), try ch.recvMany(&out, 8, never));
    try expectRecords(out[0 .. 16 + 5], &.{ "long message", "x" });
    // Closed and drained.
    try ch.trySend("tail");
    ch.close();
    try testing.expectError(error.Closed, ch.trySendMany(null, pack(&in, &first), 4));
    try testing.expectEqual(@as(u32, 1), try ch.tryRecvMany(&out, 8));
    try testing.expectError(error.Closed, ch.tryRecvMany(&out, 8));
    try testing.expectError(error.Closed, ch.recvMany(&out, 8, never));
}

test "mpsc: batch send checks every record before sending any" {
    const ch = try Mpsc.create(testing.allocator, 0);
    defer {
        ch.releaseSender();
        ch.releaseReceiver();
    }
    var in: [64]u8 = undefined;
    const two = pack(&in, &.{ "ok", "fine" });
    try testing.expectEqual(@as(usize, 14), two.len);
    // Count mismatches: fewer records than said, or bytes left over.
    try testing.expectError(error.InvalidArgument, ch.trySendMany(null, two, 3));
    try testing.expectError(error.InvalidArgument, ch.trySendMany(null, two, 1));
    try testing.expectError(error.InvalidArgument, ch.trySendMany(null, two, 0));
    try testing.expectError(error.InvalidArgument, ch.trySendMany(null, &.{}, 1));
    // A length running past the end; a cut header.
    try testing.expectError(error.InvalidArgument, ch.trySendMany(null, two[0..13], 2));
    try testing.expectError(error.InvalidArgument, ch.trySendMany(null, two[0..8], 2));
    var bad: [14]u8 = undefined;
    @memcpy(&bad, two);
    std.mem.writeInt(u32, bad[6..10], 5, .little);
    try testing.expectError(error.InvalidArgument, ch.trySendMany(null, &bad, 2));
    std.mem.writeInt(u32, bad[6..10], message.max_len + 1, .little);
    try testing.expectError(error.TooLarge, ch.trySendMany(null, &bad, 2));
    // Nothing was sent by any of them.
    try testing.expectEqual(@as(u32, 0), ch.len());
    try testing.expectEqual(@as(u32, 2), try ch.trySendMany(null, two, 2));
    var out: [64]u8 = undefined;
    try testing.expectEqual(@as(u32, 2), try ch.tryRecvMany(&out, 8));
    try expectRecords(out[0..14], &.{ "ok", "fine" });
}

test "mpsc: bounded batch send sends what fits" {
    const ch = try Mpsc.create(testing.allocator, 3);
    defer {
        ch.releaseSender();
        ch.releaseReceiver();
    }
    var in: [64]u8 = undefined;
    var out: [64]u8 = undefined;
    const five = [_][]const u8{ "1", "2", "3", "4", "5" };
    try testing.expectEqual(@as(u32, 3), try ch.trySendMany(null, pack(&in, &five), 5));
    try testing.expectEqual(@as(u32, 3), ch.len());
    try testing.expectError(error.WouldBlock, ch.trySendMany(null, pack(&in, five[3..]), 2));
    try testing.expectEqual(@as(u32, 1), try ch.tryRecvMany(&out, 1));
    try testing.expectEqual(@as(u32, 1), try ch.trySendMany(null, pack(&in, five[3..]), 2));
    try testing.expectEqual(@as(u32, 3), ch.len());
    try testing.expectEqual(@as(u32, 3), try ch.tryRecvMany(&out, 8));
    try expectRecords(out[0..15], &.{ "2", "3", "4" });
    try testing.expectEqual(@as(u32, 1), try ch.trySendMany(null, pack(&in, five[4..]), 1));
    try testing.expectEqualStrings("5", out[0..try ch.tryRecv(&out)]);
    try testing.expect(!ch.send_port.hasWaiters() and !ch.recv_port.hasWaiters());
}

test "mpsc: a batch receive makes room for several waiting senders" {
    const ch = try Mpsc.create(testing.allocator, 2);
    defer {
        ch.releaseSender();
        ch.releaseReceiver();
    }
    const cq = try openQueue();
    defer cq_mod.close(cq);
    try ch.trySend("a");
    try ch.trySend("b");
    const t1 = try ch.sendAsync(cq);
    const t2 = try ch.sendAsync(cq);
    try testing.expect(t1 > 0 and t2 > 0);
    var out: [32]u8 = undefined;
    try testing.expectEqual(@as(u32, 2), try ch.tryRecvMany(&out, 8));
    var done: [8]i32 = undefined;
    try testing.expectEqual(@as(u32, 2), cq.drain(&done));
    try testing.expectEqual(@as(u32, 0), cq.live);
}

test "mpsc: blocking batch receive wakes on a batch send" {
    const ch = try Mpsc.create(testing.allocator, 0);
    defer {
        ch.releaseSender();
        ch.releaseReceiver();
    }
    const T = struct {
        fn later(c: *Mpsc) void {
            std.Thread.sleep(2 * std.time.ns_per_ms);
            var in: [32]u8 = undefined;
            _ = c.trySendMany(null, pack(&in, &.{ "late", "r" }), 2) catch unreachable;
        }
    };
    const th = try std.Thread.spawn(.{}, T.later, .{ch});
    var out: [32]u8 = undefined;
    // One link makes both reachable at once.
    const got = try ch.recvMany(&out, 8, never);
    th.join();
    try testing.expectEqual(@as(u32, 2), got);
    try expectRecords(out[0..14], &.{ "late", "r" });
}

test "mpsc: a sender handle recycles nodes and frees its cache" {
    var counting: CountingAllocator = .{};
    const ch = try Mpsc.create(counting.allocator(), 0);
    const s = try Sender.create(ch);
    var out: [512]u8 = undefined;
    var in: [600]u8 = undefined;
    const msg: [64]u8 = @splat(9);
    const big: [node_cache.small_max + 1]u8 = @splat(1);
    for (0..20) |round| {
        // Queue up a good number, then drain: nodes travel back in batches.
        for (0..100) |_| try s.trySend(&msg);
        try s.send(&big, never);
        try testing.expectEqual(@as(u32, 1), try s.trySendMany(pack(&in, &.{&msg}), 1));
        var left: u32 = 102;
        while (left > 0) left -= try ch.tryRecvMany(&out, 3);
        // What is allocated stays bounded: the caches, the slot, spares.
        try testing.expect(counting.live_allocs.load(.monotonic) <= 2 + 3 * node_cache.hold_max);
        const c = (node_cache.allocSize(msg.len) - @sizeOf(Message)) / 16;
        if (round > 2) try testing.expect(s.cache.heads[c] != null or ch.recycled.lists[c].load(.monotonic) != null);
    }
    s.destroy();
    ch.releaseReceiver();
    try counting.expectNoLeaks();
}

const Stress = struct {
    const senders: u32 = 8;
    /// Threads 6 and 7 share one `Sender`, like two isolates holding one
    /// sender handle.
    const shared_from: u32 = 6;
    const max_len = 8 + 13;

    const SendMode = enum { blocking, async_, batch, mixed };
    const RecvMode = enum { blocking, async_, batch };

    ch: *Mpsc,
    per_sender: u32,
    modes: [senders]SendMode,
    txs: [senders]*Sender,
    shared_users: std.atomic.Value(u32) = .init(senders - shared_from),

    /// Payload: sender id, sequence, then `seq % 13` filler bytes.
    fn payload(buf: *[max_len]u8, id: u32, seq: u32) []u8 {
        std.mem.writeInt(u32, buf[0..4], id, .little);
        std.mem.writeInt(u32, buf[4..8], seq, .little);
        const n = 8 + seq % 13;
        @memset(buf[8..n], @truncate(seq));
        return buf[0..n];
    }

    fn sendAll(s: *Stress, id: u32) void {
        const tx = s.txs[id];
        const mode = s.modes[id];
        var buf: [max_len]u8 = undefined;
        var records: [17 * (4 + max_len)]u8 = undefined;
        const cq: ?*Cq = if (mode == .async_) cq_mod.get(@floatFromInt(cq_mod.open())).? else null;
        defer if (cq) |q| cq_mod.close(q);
        var seq: u32 = 0;
        while (seq < s.per_sender) {
            const batch = mode == .batch or (mode == .mixed and seq % 3 != 0);
            if (batch) {
                const k = @min(1 + (seq * 7 + id) % 17, s.per_sender - seq);
                var at: usize = 0;
                for (0..k) |i| {
                    const p = payload(&buf, id, seq + @as(u32, @intCast(i)));
                    at += pack(records[at..], &.{p}).len;
                }
                const sent = tx.trySendMany(records[0..at], k) catch |err| switch (err) {
                    error.WouldBlock => {
                        // Full: wait for room by sending the next one the
                        // blocking way (as sendManySync does).
                        tx.send(payload(&buf, id, seq), never) catch unreachable;
                        seq += 1;
                        continue;
                    },
                    else => unreachable,
                };
                std.debug.assert(sent >= 1 and sent <= k);
                seq += sent;
            } else if (cq) |q| {
                // The JS pattern: try, and when full await room and retry.
                while (true) {
                    tx.trySend(payload(&buf, id, seq)) catch |err| switch (err) {
                        error.WouldBlock => {
                            const token = tx.sendAsync(q) catch unreachable;
                            if (token != 0) std.debug.assert(awaitToken(q, token) == 0);
                            continue;
                        },
                        else => unreachable,
                    };
                    break;
                }
                seq += 1;
            } else {
                tx.send(payload(&buf, id, seq), never) catch unreachable;
                seq += 1;
            }
        }
    }

    /// Send everything, then drop this thread's sender: the last one to
    /// finish ends the stream.
    fn sendDrop(s: *Stress, id: u32) void {
        s.sendAll(id);
        if (id < shared_from or s.shared_users.fetchSub(1, .acq_rel) == 1) s.txs[id].destroy();
    }

    const Check = struct {
        next: [senders]u32 = @splat(0),
        total: u64 = 0,

        fn one(c: *Check, capacity: u32, ch: *Mpsc, bytes: []const u8) !void {
            try testing.expect(bytes.len >= 8);
            const id = std.mem.readInt(u32, bytes[0..4], .little);
            const seq = std.mem.readInt(u32, bytes[4..8], .little);
            try testing.expect(id < senders);
            try testing.expectEqual(c.next[id], seq);
            try testing.expectEqual(8 + seq % 13, bytes.len);
            for (bytes[8..]) |byte| try testing.expectEqual(@as(u8, @truncate(seq)), byte);
            if (capacity != 0) try testing.expect(ch.len() <= capacity);
            c.next[id] += 1;
            c.total += 1;
        }
    };

    fn run(capacity: u32, per_sender: u32, modes: [senders]SendMode, recv_mode: RecvMode) !void {
        var counting: CountingAllocator = .{};
        const ch = try Mpsc.create(counting.allocator(), capacity);
        var s: Stress = .{ .ch = ch, .per_sender = per_sender, .modes = modes, .txs = undefined };
        // Each sender exists before any can finish and drop its own. The
        // first takes the reference `create` made.
        for (0..shared_from + 1) |i| {
            if (i > 0) ch.retainSender();
            s.txs[i] = try Sender.create(ch);
        }
        for (shared_from + 1..senders) |i| s.txs[i] = s.txs[shared_from];
        var ts: [senders]std.Thread = undefined;
        for (&ts, 0..) |*t, i| t.* = try std.Thread.spawn(.{}, sendDrop, .{ &s, @as(u32, @intCast(i)) });
        var check: Check = .{};
        var buf: [40 * (4 + max_len)]u8 = undefined;
        const cq: ?*Cq = if (recv_mode == .async_) try openQueue() else null;
        defer if (cq) |q| cq_mod.close(q);
        var round: u32 = 0;
        while (true) : (round += 1) {
            switch (recv_mode) {
                .blocking, .async_ => {
                    const n = if (cq) |q| blk: {
                        break :blk ch.tryRecv(buf[0..max_len]) catch |err| switch (err) {
                            error.WouldBlock => {
                                const token = try ch.recvAsync(q);
                                if (token != 0) try testing.expectEqual(@as(i32, 0), awaitToken(q, token));
                                continue;
                            },
                            error.Closed => break,
                            else => return err,
                        };
                    } else ch.recv(buf[0..max_len], never) catch |err| switch (err) {
                        error.Closed => break,
                        else => return err,
                    };
                    try check.one(capacity, ch, buf[0..n]);
                },
                .batch => {
                    // Vary the count and the room, single receives too.
                    if (round % 5 == 0) {
                        const n = ch.recv(buf[0..max_len], never) catch |err| switch (err) {
                            error.Closed => break,
                            else => return err,
                        };
                        try check.one(capacity, ch, buf[0..n]);
                        continue;
                    }
                    const max = 1 + round % 40;
                    const room = if (round % 3 == 0) 2 * (4 + max_len) else buf.len;
                    const got = ch.recvMany(buf[0..room], max, never) catch |err| switch (err) {
                        error.Closed => break,
                        else => return err,
                    };
                    try testing.expect(got >= 1 and got <= max);
                    var at: usize = 0;
                    for (0..got) |_| {
                        const len = std.mem.readInt(u32, buf[at..][0..4], .little);
                        try check.one(capacity, ch, buf[at + 4 ..][0..len]);
                        at += 4 + len;
                    }
                },
            }
        }
        for (ts) |t| t.join();
        try testing.expectEqual(@as(u64, senders) * per_sender, check.total);
        for (check.next) |n| try testing.expectEqual(per_sender, n);
        try testing.expectEqual(@as(u32, 0), ch.len());
        ch.releaseReceiver();
        try counting.expectNoLeaks();
    }
};

const all_blocking: [Stress.senders]Stress.SendMode = @splat(.blocking);
const all_async: [Stress.senders]Stress.SendMode = @splat(.async_);
const mixed: [Stress.senders]Stress.SendMode = .{ .blocking, .blocking, .batch, .batch, .mixed, .async_, .mixed, .batch };

test "mpsc: stress, 8 senders, unbounded" {
    try Stress.run(0, 20_000, all_blocking, .blocking);
}

test "mpsc: stress, 8 senders, bounded capacity 4 (senders block)" {
    try Stress.run(4, 5_000, all_blocking, .blocking);
}

test "mpsc: stress, capacity 1, async senders and async receiver" {
    try Stress.run(1, 5_000, all_async, .async_);
}

test "mpsc: stress, unbounded, async receiver" {
    try Stress.run(0, 20_000, all_blocking, .async_);
}

test "mpsc: stress, 8 senders mixing single and batch sends, batch receives, unbounded" {
    try Stress.run(0, 20_000, mixed, .batch);
}

test "mpsc: stress, mixed single and batch, bounded capacity 16" {
    try Stress.run(16, 5_000, mixed, .batch);
}

test "mpsc: stress, mixed single and batch, capacity 1, async receiver" {
    try Stress.run(1, 2_000, mixed, .async_);
}

test "mpsc: stress, bounded, every grant preempted before it lands" {
    // Blocking senders and receiver whose re-check finds they need not wait
    // lose their `cancel` to a grant now and then; such a waiter must not be
    // reused before the grant lands (Port.withdraw). Without that, this
    // reliably trips an assertion in `publish` or the wait queue.
    port_mod.test_hooks = &port_mod.test_stretch;
    defer port_mod.test_hooks = null;
    try Stress.run(4, 1_000, all_blocking, .blocking);
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

// Throughput, one sender thread to one receiver thread, 64-byte messages:
// one at a time (with no other work, and with other work per message on
// each side, like the JS around a call), and in batches of 64. Only prints;
// runs when AVX_BENCH is set (it takes a few seconds):
//   AVX_BENCH=1 zig build test -Dtest-filter="mpsc: bench" -Dtest-optimize=ReleaseFast
test "mpsc: bench 1 -> 1, 64-byte messages" {
    if (!std.process.hasEnvVarConstant("AVX_BENCH")) return error.SkipZigTest;
    const B = struct {
        const n: u32 = 2_000_000;
        const size = 64;
        const per_batch = 64;

        /// About `iters` loop rounds of busy work.
        fn work(iters: u32) void {
            var x: u32 = 0;
            for (0..iters) |_| {
                x +%= 1;
                std.mem.doNotOptimizeAway(x);
            }
        }

        fn produce(s: *Sender, batched: bool, iters: u32) void {
            const msg: [size]u8 = @splat(7);
            if (!batched) {
                for (0..n) |_| {
                    work(iters);
                    s.send(&msg, never) catch unreachable;
                }
                return;
            }
            var records: [per_batch * (4 + size)]u8 = undefined;
            for (0..per_batch) |i| _ = pack(records[i * (4 + size) ..], &.{&msg});
            var left: u32 = n;
            while (left > 0) {
                const k: u32 = @min(left, per_batch);
                left -= s.trySendMany(records[0 .. k * (4 + size)], k) catch unreachable;
            }
        }

        fn run(name: []const u8, batched: bool, send_iters: u32, recv_iters: u32) !void {
            for (0..3) |_| {
                const ch = try Mpsc.create(std.heap.c_allocator, 0);
                const s = try Sender.create(ch);
                var timer = try std.time.Timer.start();
                const th = try std.Thread.spawn(.{}, produce, .{ s, batched, send_iters });
                var buf: [per_batch * (4 + size)]u8 = undefined;
                var got: u32 = 0;
                while (got < n) {
                    if (batched) {
                        got += try ch.recvMany(&buf, per_batch, never);
                    } else {
                        _ = try ch.recv(buf[0..size], never);
                        work(recv_iters);
                        got += 1;
                    }
                }
                const ns: f64 = @floatFromInt(timer.read());
                th.join();
                std.debug.print("mpsc bench {s}: {d:.1} ns/msg, {d:.2} M msg/s\n", .{ name, ns / n, @as(f64, n) * 1000.0 / ns });
                s.destroy();
                ch.releaseReceiver();
            }
        }
    };
    // Rounds of `work` per 50 ns.
    var timer = try std.time.Timer.start();
    B.work(10_000_000);
    const per50: u32 = @intFromFloat(50.0 * 10_000_000.0 / @as(f64, @floatFromInt(timer.read())));
    try B.run("single                           ", false, 0, 0);
    try B.run("single, +50 ns send, +100 ns recv", false, per50, 2 * per50);
    try B.run("single, +100 ns send, +50 ns recv", false, 2 * per50, per50);
    try B.run("batches of 64                    ", true, 0, 0);
}
