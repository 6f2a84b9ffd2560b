//! Exports for chan (see native/README.md): mpsc, broadcast, oneshot.
//! Thin: decode the arguments, call the channel, encode the result.
const std = @import("std");
const abi = @import("abi.zig");
const code = @import("../core/code.zig");
const handles = @import("../core/handles.zig");
const Deadline = @import("../os/clock.zig").Deadline;
const mpsc = @import("../chan/mpsc.zig");
const broadcast = @import("../chan/broadcast.zig");
const oneshot = @import("../chan/oneshot.zig");
const Mpsc = mpsc.Mpsc;
const Broadcast = broadcast.Broadcast;
const Oneshot = oneshot.Oneshot;

/// A length or token (< 2^31) as the i32 result, or the error's code.
fn count(result: code.Error!u32) i32 {
    const n = result catch |err| return abi.fail(err);
    std.debug.assert(n <= std.math.maxInt(i32));
    return @intCast(n);
}

/// `out` is the caller's two-element pair, checked before the channel was made.
fn writePair(out: *[2]f64, tx: handles.Handle, rx: handles.Handle) void {
    out[0] = handles.toF64(tx);
    out[1] = handles.toF64(rx);
}

// ---- mpsc ----

fn mpscSender(h: f64) !*mpsc.Sender {
    return abi.object(mpsc.Sender, h, .mpsc_sender);
}

fn mpscReceiver(h: f64) !*Mpsc {
    return abi.object(Mpsc, h, .mpsc_receiver);
}

/// The channel behind either side's handle.
fn mpscAny(h: f64) !*Mpsc {
    return if (mpscSender(h)) |s| s.ch else |err| switch (err) {
        error.WrongKind => mpscReceiver(h),
        else => err,
    };
}

/// A channel; its sender and receiver handles go to `pair` (2 f64s).
export fn avx_mpsc_new(capacity: u32, pair: ?[*]f64) i32 {
    const out = abi.array(f64, 2, pair) catch |err| return abi.fail(err);
    const p = mpsc.createHandles(abi.allocator, capacity) catch |err| return abi.fail(err);
    writePair(out, p.tx, p.rx);
    return 0;
}

export fn avx_mpsc_clone_sender(tx: f64) f64 {
    const s = mpscSender(tx) catch |err| return abi.failF64(err);
    const h = mpsc.cloneSenderHandle(s.ch) catch |err| return abi.failF64(err);
    return handles.toF64(h);
}

export fn avx_mpsc_try_send(tx: f64, p: ?[*]const u8, len: u32) i32 {
    const s = mpscSender(tx) catch |err| return abi.fail(err);
    const payload = abi.bytes(p, len) catch |err| return abi.fail(err);
    return abi.status(s.trySend(payload));
}

export fn avx_mpsc_send(tx: f64, p: ?[*]const u8, len: u32, t: f64) i32 {
    const s = mpscSender(tx) catch |err| return abi.fail(err);
    const payload = abi.bytes(p, len) catch |err| return abi.fail(err);
    return abi.status(s.send(payload, Deadline.fromMs(t)));
}

/// `n` records `[u32 le length][payload]` packed in `buf[0..len]`.
export fn avx_mpsc_try_send_many(tx: f64, buf: ?[*]const u8, len: u32, n: u32) i32 {
    const s = mpscSender(tx) catch |err| return abi.fail(err);
    const records = abi.bytes(buf, len) catch |err| return abi.fail(err);
    return count(s.trySendMany(records, n));
}

export fn avx_mpsc_send_async(tx: f64, q: f64) i32 {
    const s = mpscSender(tx) catch |err| return abi.fail(err);
    const cq = abi.queue(q) catch |err| return abi.fail(err);
    return count(s.sendAsync(cq));
}

export fn avx_mpsc_try_recv(rx: f64, out: ?[*]u8, cap: u32) i32 {
    const ch = mpscReceiver(rx) catch |err| return abi.fail(err);
    const buf = abi.bytesMut(out, cap) catch |err| return abi.fail(err);
    return count(ch.tryRecv(buf));
}

export fn avx_mpsc_recv(rx: f64, out: ?[*]u8, cap: u32, t: f64) i32 {
    const ch = mpscReceiver(rx) catch |err| return abi.fail(err);
    const buf = abi.bytesMut(out, cap) catch |err| return abi.fail(err);
    return count(ch.recv(buf, Deadline.fromMs(t)));
}

/// As `avx_mpsc_try_recv`, into `out[off..off + cap]`: lets JS receive
/// straight into a pooled buffer at its current offset. Contract: the
/// caller's buffer at `out` holds at least `off + cap` bytes (native code
/// cannot see its length; see `abi.bytesAt` for what is rejected).
export fn avx_mpsc_try_recv_at(rx: f64, out: ?[*]u8, off: u32, cap: u32) i32 {
    const ch = mpscReceiver(rx) catch |err| return abi.fail(err);
    const window = abi.bytesAt(out, off, cap) catch |err| return abi.fail(err);
    return count(ch.tryRecv(window));
}

/// As `avx_mpsc_recv`, into `out[off..off + cap]` (the contract of
/// `avx_mpsc_try_recv_at`).
export fn avx_mpsc_recv_at(rx: f64, out: ?[*]u8, off: u32, cap: u32, t: f64) i32 {
    const ch = mpscReceiver(rx) catch |err| return abi.fail(err);
    const window = abi.bytesAt(out, off, cap) catch |err| return abi.fail(err);
    return count(ch.recv(window, Deadline.fromMs(t)));
}

/// Up to `max` messages as records `[u32 le length][payload]` packed into
/// `out[0..cap]`: how many.
export fn avx_mpsc_try_recv_many(rx: f64, out: ?[*]u8, cap: u32, max: u32) i32 {
    const ch = mpscReceiver(rx) catch |err| return abi.fail(err);
    const buf = abi.bytesMut(out, cap) catch |err| return abi.fail(err);
    return count(ch.tryRecvMany(buf, max));
}

export fn avx_mpsc_recv_many(rx: f64, out: ?[*]u8, cap: u32, max: u32, t: f64) i32 {
    const ch = mpscReceiver(rx) catch |err| return abi.fail(err);
    const buf = abi.bytesMut(out, cap) catch |err| return abi.fail(err);
    return count(ch.recvMany(buf, max, Deadline.fromMs(t)));
}

export fn avx_mpsc_recv_async(rx: f64, q: f64) i32 {
    const ch = mpscReceiver(rx) catch |err| return abi.fail(err);
    const cq = abi.queue(q) catch |err| return abi.fail(err);
    return count(ch.recvAsync(cq));
}

export fn avx_mpsc_close(h: f64) i32 {
    const ch = mpscAny(h) catch |err| return abi.fail(err);
    ch.close();
    return 0;
}

export fn avx_mpsc_len(h: f64) i32 {
    const ch = mpscAny(h) catch |err| return abi.fail(err);
    return count(ch.len());
}

// ---- broadcast ----

fn broadcastSender(h: f64) !*Broadcast {
    return abi.object(Broadcast, h, .broadcast_sender);
}

fn broadcastReceiver(h: f64) !*broadcast.Receiver {
    return abi.object(broadcast.Receiver, h, .broadcast_receiver);
}

/// The channel behind either a sender or a receiver handle.
fn broadcastAny(h: f64) !*Broadcast {
    return broadcastSender(h) catch |err| switch (err) {
        error.WrongKind => (try broadcastReceiver(h)).ch,
        else => err,
    };
}

export fn avx_broadcast_new(capacity: u32) f64 {
    const h = broadcast.createHandle(abi.allocator, capacity) catch |err| return abi.failF64(err);
    return handles.toF64(h);
}

export fn avx_broadcast_clone_sender(tx: f64) f64 {
    const ch = broadcastSender(tx) catch |err| return abi.failF64(err);
    const h = broadcast.cloneSenderHandle(ch) catch |err| return abi.failF64(err);
    return handles.toF64(h);
}

export fn avx_broadcast_subscribe(h: f64) f64 {
    const ch = broadcastAny(h) catch |err| return abi.failF64(err);
    const rx = broadcast.subscribeHandle(ch) catch |err| return abi.failF64(err);
    return handles.toF64(rx);
}

export fn avx_broadcast_send(tx: f64, p: ?[*]const u8, len: u32) i32 {
    const ch = broadcastSender(tx) catch |err| return abi.fail(err);
    const payload = abi.bytes(p, len) catch |err| return abi.fail(err);
    return count(ch.send(payload));
}

export fn avx_broadcast_try_recv(rx: f64, out: ?[*]u8, cap: u32) i32 {
    const r = broadcastReceiver(rx) catch |err| return abi.fail(err);
    const buf = abi.bytesMut(out, cap) catch |err| return abi.fail(err);
    return count(r.tryRecv(buf));
}

export fn avx_broadcast_recv(rx: f64, out: ?[*]u8, cap: u32, t: f64) i32 {
    const r = broadcastReceiver(rx) catch |err| return abi.fail(err);
    const buf = abi.bytesMut(out, cap) catch |err| return abi.fail(err);
    return count(r.recv(buf, Deadline.fromMs(t)));
}

export fn avx_broadcast_recv_async(rx: f64, q: f64) i32 {
    const r = broadcastReceiver(rx) catch |err| return abi.fail(err);
    const cq = abi.queue(q) catch |err| return abi.fail(err);
    return count(r.recvAsync(cq));
}

export fn avx_broadcast_close(h: f64) i32 {
    const ch = broadcastAny(h) catch |err| return abi.fail(err);
    ch.close();
    return 0;
}

// ---- oneshot ----

fn oneshotSender(h: f64) !*Oneshot {
    return abi.object(Oneshot, h, .oneshot_sender);
}

fn oneshotReceiver(h: f64) !*Oneshot {
    return abi.object(Oneshot, h, .oneshot_receiver);
}

/// A oneshot; its sender and receiver handles go to `pair` (2 f64s).
export fn avx_oneshot_new(pair: ?[*]f64) i32 {
    const out = abi.array(f64, 2, pair) catch |err| return abi.fail(err);
    const p = oneshot.createHandles(abi.allocator) catch |err| return abi.fail(err);
    writePair(out, p.tx, p.rx);
    return 0;
}

export fn avx_oneshot_send(tx: f64, p: ?[*]const u8, len: u32) i32 {
    const o = oneshotSender(tx) catch |err| return abi.fail(err);
    const payload = abi.bytes(p, len) catch |err| return abi.fail(err);
    return abi.status(o.send(payload));
}

export fn avx_oneshot_try_recv(rx: f64, out: ?[*]u8, cap: u32) i32 {
    const o = oneshotReceiver(rx) catch |err| return abi.fail(err);
    const buf = abi.bytesMut(out, cap) catch |err| return abi.fail(err);
    return count(o.tryRecv(buf));
}

export fn avx_oneshot_recv(rx: f64, out: ?[*]u8, cap: u32, t: f64) i32 {
    const o = oneshotReceiver(rx) catch |err| return abi.fail(err);
    const buf = abi.bytesMut(out, cap) catch |err| return abi.fail(err);
    return count(o.recv(buf, Deadline.fromMs(t)));
}

export fn avx_oneshot_recv_async(rx: f64, q: f64) i32 {
    const o = oneshotReceiver(rx) catch |err| return abi.fail(err);
    const cq = abi.queue(q) catch |err| return abi.fail(err);
    return count(o.recvAsync(cq));
}

/// Sender: gone without a value. Receiver: no longer wants it.
export fn avx_oneshot_close(h: f64) i32 {
    if (oneshotSender(h)) |o| {
        o.closeSender();
        return 0;
    } else |err| if (err != error.WrongKind) return abi.fail(err);
    const o = oneshotReceiver(h) catch |err| return abi.fail(err);
    o.closeReceiver();
    return 0;
}

// ---- tests (through the exports, as JS calls them) ----

const testing = std.testing;
const Code = abi.Code;
const cq_mod = @import("../core/cq.zig");

fn release(h: f64) void {
    handles.releaseHeld(handles.fromF64(h).?);
}

fn openQueue() f64 {
    const id = cq_mod.open();
    std.debug.assert(id > 0);
    return @floatFromInt(id);
}

fn closeQueue(q: f64) void {
    cq_mod.close(cq_mod.get(q).?);
}

test "ffi chan: mpsc round trip, codes, stale handles" {
    const live = handles.live();
    var pair: [2]f64 = undefined;
    try testing.expectEqual(Code.invalid_argument.int(), avx_mpsc_new(0, null));
    try testing.expectEqual(@as(i32, 0), avx_mpsc_new(2, &pair));
    const tx = pair[0];
    const rx = pair[1];
    try testing.expectEqual(@as(i32, 0), avx_mpsc_try_send(tx, "abc", 3));
    try testing.expectEqual(@as(i32, 0), avx_mpsc_send(tx, null, 0, -1));
    try testing.expectEqual(Code.would_block.int(), avx_mpsc_try_send(tx, "x", 1));
    try testing.expectEqual(Code.timeout.int(), avx_mpsc_send(tx, "x", 1, 0));
    try testing.expectEqual(Code.invalid_argument.int(), avx_mpsc_try_send(tx, null, 1));
    try testing.expectEqual(Code.too_large.int(), avx_mpsc_try_send(tx, "x", (1 << 30) + 1));
    try testing.expectEqual(@as(i32, 2), avx_mpsc_len(rx));
    try testing.expectEqual(@as(i32, 2), avx_mpsc_len(tx));
    // Wrong side, wrong kind, forged.
    var buf: [8]u8 = undefined;
    try testing.expectEqual(Code.wrong_kind.int(), avx_mpsc_try_recv(tx, &buf, 8));
    try testing.expectEqual(Code.wrong_kind.int(), avx_mpsc_try_send(rx, "x", 1));
    try testing.expectEqual(Code.invalid_handle.int(), avx_mpsc_try_send(12345, "x", 1));
    try testing.expectEqual(Code.invalid_handle.int(), avx_mpsc_close(-1));
    try testing.expectEqual(Code.invalid_handle.int(), avx_mpsc_len(std.math.nan(f64)));
    try testing.expectEqual(Code.buffer_too_small.int(), avx_mpsc_try_recv(rx, null, 0));
    try testing.expectEqual(@as(u64, 3), code.last_value);
    try testing.expectEqual(Code.buffer_too_small.int(), avx_mpsc_try_recv_at(rx, &buf, 6, 2));
    try testing.expectEqual(@as(i32, 3), avx_mpsc_try_recv_at(rx, &buf, 5, 3));
    try testing.expectEqualStrings("abc", buf[5..8]);
    try testing.expectEqual(@as(i32, 0), avx_mpsc_recv(rx, &buf, 8, -1));
    try testing.expectEqual(Code.timeout.int(), avx_mpsc_recv(rx, &buf, 8, 0));
    try testing.expectEqual(Code.would_block.int(), avx_mpsc_try_recv(rx, &buf, 8));
    // Async through a queue id.
    const q = openQueue();
    defer closeQueue(q);
    try testing.expectEqual(Code.invalid_argument.int(), avx_mpsc_recv_async(rx, 0));
    const token = avx_mpsc_recv_async(rx, q);
    try testing.expect(token > 0);
    try testing.expectEqual(@as(i32, 0), avx_mpsc_send_async(tx, q));
    // A clone keeps the stream open after the first sender goes.
    const tx2 = avx_mpsc_clone_sender(tx);
    try testing.expect(!std.math.isNan(tx2));
    try testing.expect(std.math.isNan(avx_mpsc_clone_sender(rx)));
    try testing.expectEqual(Code.wrong_kind.int(), code.last_error);
    release(tx);
    try testing.expectEqual(Code.invalid_handle.int(), avx_mpsc_try_send(tx, "x", 1));
    try testing.expectEqual(@as(i32, 0), avx_mpsc_try_send(tx2, "y", 1));
    var completions: [4]i32 = undefined;
    try testing.expectEqual(@as(u32, 1), cq_mod.get(q).?.drain(&completions));
    try testing.expectEqual(token, completions[0]);
    try testing.expectEqual(@as(i32, 0), completions[1]);
    release(tx2);
    try testing.expectEqual(@as(i32, 1), avx_mpsc_try_recv(rx, &buf, 8));
    try testing.expectEqual(Code.closed.int(), avx_mpsc_try_recv(rx, &buf, 8));
    try testing.expectEqual(@as(i32, 0), avx_mpsc_close(rx));
    release(rx);
    try testing.expectEqual(live, handles.live());
}

test "ffi chan: mpsc batches" {
    const live = handles.live();
    var pair: [2]f64 = undefined;
    try testing.expectEqual(@as(i32, 0), avx_mpsc_new(3, &pair));
    const tx = pair[0];
    const rx = pair[1];
    // Records: [u32 le length][payload], back to back.
    const records = "\x02\x00\x00\x00hi" ++ "\x00\x00\x00\x00" ++ "\x03\x00\x00\x00abc" ++ "\x01\x00\x00\x00z";
    try testing.expectEqual(@as(i32, 3), avx_mpsc_try_send_many(tx, records, records.len, 4));
    try testing.expectEqual(Code.would_block.int(), avx_mpsc_try_send_many(tx, records[17..], 5, 1));
    try testing.expectEqual(Code.invalid_argument.int(), avx_mpsc_try_send_many(tx, records, records.len, 3));
    try testing.expectEqual(Code.invalid_argument.int(), avx_mpsc_try_send_many(tx, records, records.len - 1, 4));
    try testing.expectEqual(Code.invalid_argument.int(), avx_mpsc_try_send_many(tx, null, 4, 1));
    try testing.expectEqual(Code.invalid_argument.int(), avx_mpsc_try_send_many(tx, null, 0, 0));
    try testing.expectEqual(Code.wrong_kind.int(), avx_mpsc_try_send_many(rx, records, records.len, 4));
    var out: [32]u8 = undefined;
    try testing.expectEqual(Code.wrong_kind.int(), avx_mpsc_try_recv_many(tx, &out, 32, 8));
    try testing.expectEqual(Code.invalid_argument.int(), avx_mpsc_try_recv_many(rx, &out, 32, 0));
    try testing.expectEqual(Code.buffer_too_small.int(), avx_mpsc_try_recv_many(rx, null, 0, 8));
    try testing.expectEqual(@as(u64, 6), code.last_value);
    try testing.expectEqual(@as(i32, 2), avx_mpsc_try_recv_many(rx, &out, 12, 8));
    try testing.expectEqualStrings(records[0..10], out[0..10]);
    try testing.expectEqual(@as(i32, 1), avx_mpsc_recv_many(rx, &out, 32, 8, -1));
    try testing.expectEqualStrings(records[10..17], out[0..7]);
    try testing.expectEqual(Code.would_block.int(), avx_mpsc_try_recv_many(rx, &out, 32, 8));
    try testing.expectEqual(Code.timeout.int(), avx_mpsc_recv_many(rx, &out, 32, 8, 0));
    try testing.expectEqual(@as(i32, 1), avx_mpsc_try_send_many(tx, records[17..], 5, 1));
    // The sender goes: the receiver drains, then sees `closed`.
    release(tx);
    try testing.expectEqual(@as(i32, 1), avx_mpsc_recv_many(rx, &out, 32, 8, -1));
    try testing.expectEqualStrings(records[17..], out[0..5]);
    try testing.expectEqual(Code.closed.int(), avx_mpsc_recv_many(rx, &out, 32, 8, -1));
    try testing.expectEqual(Code.closed.int(), avx_mpsc_try_recv_many(rx, &out, 32, 8));
    release(rx);
    try testing.expectEqual(live, handles.live());
}

test "ffi chan: broadcast subscribe, lag, close" {
    const live = handles.live();
    try testing.expect(std.math.isNan(avx_broadcast_new(0)));
    try testing.expectEqual(Code.invalid_argument.int(), code.last_error);
    const tx = avx_broadcast_new(2);
    try testing.expect(!std.math.isNan(tx));
    try testing.expectEqual(@as(i32, 0), avx_broadcast_send(tx, "lost", 4));
    const rx = avx_broadcast_subscribe(tx);
    const rx2 = avx_broadcast_subscribe(rx);
    try testing.expect(!std.math.isNan(rx) and !std.math.isNan(rx2));
    for ("abc") |c| try testing.expectEqual(@as(i32, 2), avx_broadcast_send(tx, &[_]u8{c}, 1));
    var buf: [4]u8 = undefined;
    try testing.expectEqual(Code.lagged.int(), avx_broadcast_try_recv(rx, &buf, 4));
    try testing.expectEqual(@as(u64, 1), code.last_value);
    try testing.expectEqual(@as(i32, 1), avx_broadcast_recv(rx, &buf, 4, -1));
    try testing.expectEqual(@as(u8, 'b'), buf[0]);
    try testing.expectEqual(Code.buffer_too_small.int(), avx_broadcast_try_recv(rx, null, 0));
    try testing.expectEqual(@as(u64, 1), code.last_value);
    try testing.expectEqual(Code.wrong_kind.int(), avx_broadcast_send(rx, "x", 1));
    try testing.expectEqual(Code.wrong_kind.int(), avx_broadcast_try_recv(tx, &buf, 4));
    const q = openQueue();
    defer closeQueue(q);
    try testing.expectEqual(@as(i32, 0), avx_broadcast_recv_async(rx, q));
    const tx2 = avx_broadcast_clone_sender(tx);
    release(tx);
    try testing.expectEqual(@as(i32, 0), avx_broadcast_close(rx2));
    try testing.expectEqual(Code.closed.int(), avx_broadcast_send(tx2, "x", 1));
    try testing.expectEqual(@as(i32, 1), avx_broadcast_try_recv(rx, &buf, 4));
    try testing.expectEqual(Code.closed.int(), avx_broadcast_recv(rx, &buf, 4, -1));
    release(tx2);
    release(rx);
    release(rx2);
    try testing.expectEqual(live, handles.live());
}

test "ffi chan: oneshot" {
    const live = handles.live();
    var pair: [2]f64 = undefined;
    try testing.expectEqual(Code.invalid_argument.int(), avx_oneshot_new(null));
    try testing.expectEqual(@as(i32, 0), avx_oneshot_new(&pair));
    var buf: [8]u8 = undefined;
    try testing.expectEqual(Code.would_block.int(), avx_oneshot_try_recv(pair[1], &buf, 8));
    try testing.expectEqual(Code.timeout.int(), avx_oneshot_recv(pair[1], &buf, 8, 0));
    const q = openQueue();
    defer closeQueue(q);
    const token = avx_oneshot_recv_async(pair[1], q);
    try testing.expect(token > 0);
    try testing.expectEqual(@as(i32, 0), avx_oneshot_send(pair[0], "done", 4));
    try testing.expectEqual(Code.already_sent.int(), avx_oneshot_send(pair[0], "x", 1));
    try testing.expectEqual(@as(i32, 0), avx_oneshot_recv_async(pair[1], q));
    try testing.expectEqual(@as(i32, 4), avx_oneshot_recv(pair[1], &buf, 8, -1));
    try testing.expectEqual(Code.closed.int(), avx_oneshot_try_recv(pair[1], &buf, 8));
    release(pair[0]);
    release(pair[1]);
    // Sender closes without a value; receiver closes.
    try testing.expectEqual(@as(i32, 0), avx_oneshot_new(&pair));
    try testing.expectEqual(@as(i32, 0), avx_oneshot_close(pair[0]));
    try testing.expectEqual(Code.disconnected.int(), avx_oneshot_try_recv(pair[1], &buf, 8));
    try testing.expectEqual(@as(i32, 0), avx_oneshot_close(pair[1]));
    try testing.expectEqual(Code.closed.int(), avx_oneshot_send(pair[0], "x", 1));
    try testing.expectEqual(Code.invalid_handle.int(), avx_oneshot_close(0));
    release(pair[0]);
    release(pair[1]);
    try testing.expectEqual(Code.invalid_handle.int(), avx_oneshot_close(pair[1]));
    var drained: [8]i32 = undefined;
    try testing.expectEqual(@as(u32, 1), cq_mod.get(q).?.drain(&drained));
    try testing.expectEqual(token, drained[0]);
    try testing.expectEqual(live, handles.live());
}
