//! The reactor contract's tests, written once: they use only `reactor.zig`'s
//! API (no `@hasDecl`: the contract is the same on every backend), so each
//! runs against whichever backend the target selects: epoll natively, IOCP
//! under wine (`zig build test-windows`), kqueue compile-checked
//! (`zig build test-macos`). The first two check the compile-time contract
//! itself.
const std = @import("std");
const builtin = @import("builtin");
const testing = std.testing;
const r = @import("reactor.zig");
const socket = r.socket;
const Loop = r.Loop;
const Op = r.Op;
const Registration = r.Registration;

const loopback = r.Address.initIp4(.{ 127, 0, 0, 1 }, 0);

/// Counts callbacks, records the last result.
const Seen = struct {
    calls: u32 = 0,
    result: i32 = 0,

    fn callback(op: *Op) void {
        const seen: *Seen = @ptrCast(@alignCast(op.context.?));
        seen.calls += 1;
        seen.result = op.result;
    }
};

/// Poll until `done` says so, at most ~5 s.
fn pollUntil(loop: *Loop, ctx: anytype, comptime done: fn (@TypeOf(ctx)) bool) !void {
    var rounds: u32 = 0;
    while (!done(ctx)) : (rounds += 1) {
        if (rounds > 5000) return error.Timeout;
        _ = loop.poll(std.time.ns_per_ms);
    }
}

fn calledOnce(seen: *Seen) bool {
    return seen.calls >= 1;
}

const Pair = struct {
    listener: socket.Socket,
    client: socket.Socket,
    server: socket.Socket,

    /// A connected TCP pair made with plain nonblocking calls.
    fn open() !Pair {
        try socket.init();
        const l = try socket.open(std.posix.AF.INET, .tcp);
        errdefer socket.close(l);
        var addr = loopback;
        try socket.bind(l, &addr);
        try socket.listen(l, 64);
        addr = try socket.localAddress(l);
        const c = try socket.open(std.posix.AF.INET, .tcp);
        errdefer socket.close(c);
        socket.connect(c, &addr) catch |e| if (e != error.EINPROGRESS and e != error.EAGAIN) return e;
        var tries: u32 = 0;
        const s = while (tries < 2000) : (tries += 1) {
            break socket.accept(l, null) catch {
                std.Thread.sleep(std.time.ns_per_ms);
                continue;
            };
        } else return error.Timeout;
        return .{ .listener = l, .client = c, .server = s };
    }

    fn close(p: Pair) void {
        socket.close(p.server);
        socket.close(p.client);
        socket.close(p.listener);
    }
};

test "reactor contract: every backend keeps it, on every target" {
    inline for (r.all_backends) |entry| {
        comptime std.debug.assert(r.contractViolation(entry[0], entry[1]) == null);
    }
    // The one the target selects is among them.
    comptime var found = false;
    inline for (r.all_backends) |entry| found = found or entry[1] == r.Backend;
    try testing.expect(found);
}

/// Backends that break the contract one way each, for the check's test.
const Broken = struct {
    fn backend(comptime L: type) type {
        return struct {
            pub const Loop = L;
            pub const OpState = struct { next: ?*Op = null };
            pub const RegistrationState = struct {};
        };
    }

    /// Every declaration the contract wants, and one more.
    const ExtraLoop = struct {
        pub fn init(_: *ExtraLoop) socket.Error!void {}
        pub fn deinit(_: *ExtraLoop) void {}
        pub fn pollable(_: *const ExtraLoop) ?i32 {
            return null;
        }
        pub fn register(_: *ExtraLoop, _: *Registration) socket.Error!void {}
        pub fn unregister(_: *ExtraLoop, _: *Registration) void {}
        pub fn submit(_: *ExtraLoop, _: *Op) void {}
        pub fn cancel(_: *ExtraLoop, _: *Op) void {}
        pub fn wake(_: *ExtraLoop) void {}
        pub fn poll(_: *ExtraLoop, _: ?u64) u32 {
            return 0;
        }
        pub fn drain(_: *ExtraLoop) void {}
    };

    /// The historical case: `pollable` on two backends of three.
    const NoPollableLoop = struct {
        pub fn init(_: *NoPollableLoop) socket.Error!void {}
        pub fn deinit(_: *NoPollableLoop) void {}
        pub fn register(_: *NoPollableLoop, _: *Registration) socket.Error!void {}
        pub fn unregister(_: *NoPollableLoop, _: *Registration) void {}
        pub fn submit(_: *NoPollableLoop, _: *Op) void {}
        pub fn cancel(_: *NoPollableLoop, _: *Op) void {}
        pub fn wake(_: *NoPollableLoop) void {}
        pub fn poll(_: *NoPollableLoop, _: ?u64) u32 {
            return 0;
        }
    };

    const WrongInitLoop = struct {
        pub fn init(_: *WrongInitLoop) void {}
    };

    const no_op_state = struct {
        pub const Loop = ExtraLoop;
        pub const RegistrationState = struct {};
    };

    const extra_decl = struct {
        pub const Loop = ExtraLoop;
        pub const OpState = struct {};
        pub const RegistrationState = struct {};
        pub const max_events = 1;
    };

    const no_default = struct {
        pub const Loop = ExtraLoop;
        pub const OpState = struct { where: u8 };
        pub const RegistrationState = struct {};
    };

    fn says(comptime B: type, comptime needle: []const u8) bool {
        const message = r.contractViolation("broken.zig", B) orelse return false;
        return std.mem.startsWith(u8, message, "broken.zig") and std.mem.indexOf(u8, message, needle) != null;
    }
};

test "reactor contract: a backend that breaks it is caught, and the declaration named" {
    comptime {
        // Searching messages at compile time: a few thousand branches.
        @setEvalBranchQuota(20_000);
        std.debug.assert(Broken.says(Broken.backend(Broken.NoPollableLoop), "`Loop.pollable` is missing"));
        std.debug.assert(Broken.says(Broken.backend(Broken.WrongInitLoop), "`Loop.init` is fn"));
        std.debug.assert(Broken.says(Broken.backend(Broken.ExtraLoop), "`Loop.drain` is public but not in the contract"));
        std.debug.assert(Broken.says(Broken.backend(struct {}), "`Loop.init` is missing"));
        std.debug.assert(Broken.says(Broken.no_op_state, "lacks `OpState`"));
        std.debug.assert(Broken.says(Broken.extra_decl, "makes `max_events` public"));
        std.debug.assert(Broken.says(Broken.no_default, "`OpState.where` has no default"));
    }
}

test "reactor: poll times out, and wake from another thread ends a blocked poll" {
    var loop: Loop = undefined;
    try loop.init();
    defer loop.deinit();
    const t0 = std.time.nanoTimestamp();
    try testing.expectEqual(@as(u32, 0), loop.poll(5 * std.time.ns_per_ms));
    try testing.expect(std.time.nanoTimestamp() - t0 >= 4 * std.time.ns_per_ms);

    const Waker = struct {
        fn run(l: *Loop) void {
            std.Thread.sleep(20 * std.time.ns_per_ms);
            l.wake();
        }
    };
    const th = try std.Thread.spawn(.{}, Waker.run, .{&loop});
    const t1 = std.time.nanoTimestamp();
    _ = loop.poll(10 * std.time.ns_per_s);
    th.join();
    try testing.expect(std.time.nanoTimestamp() - t1 < 5 * std.time.ns_per_s);
    // Wakes coalesce and are consumed: the next poll times out again.
    loop.wake();
    loop.wake();
    _ = loop.poll(0);
    _ = loop.poll(0);
    const t2 = std.time.nanoTimestamp();
    _ = loop.poll(3 * std.time.ns_per_ms);
    try testing.expect(std.time.nanoTimestamp() - t2 >= 2 * std.time.ns_per_ms);
}

test "reactor: accept, connect, send and recv through callbacks" {
    try socket.init();
    var loop: Loop = undefined;
    try loop.init();
    defer loop.deinit();
    const l = try socket.open(std.posix.AF.INET, .tcp);
    defer socket.close(l);
    var addr = loopback;
    try socket.bind(l, &addr);
    try socket.listen(l, 16);
    addr = try socket.localAddress(l);
    var lreg: Registration = .{ .socket = l };
    try loop.register(&lreg);
    defer loop.unregister(&lreg);

    var accepted: Seen = .{};
    var accept_op: Op = .{ .kind = .accept, .reg = &lreg, .callback = Seen.callback, .context = &accepted };
    loop.submit(&accept_op);
    // Nothing to accept yet: no callback, even after polling.
    _ = loop.poll(0);
    try testing.expectEqual(@as(u32, 0), accepted.calls);

    const c = try socket.open(std.posix.AF.INET, .tcp);
    defer socket.close(c);
    var creg: Registration = .{ .socket = c };
    try loop.register(&creg);
    defer loop.unregister(&creg);
    var connected: Seen = .{};
    var connect_op: Op = .{ .kind = .connect, .reg = &creg, .addr = addr, .callback = Seen.callback, .context = &connected };
    loop.submit(&connect_op);
    try testing.expectEqual(@as(u32, 0), connected.calls); // never inline

    const Both = struct {
        a: *Seen,
        b: *Seen,
        fn done(self: @This()) bool {
            return self.a.calls == 1 and self.b.calls == 1;
        }
    };
    try pollUntil(&loop, Both{ .a = &accepted, .b = &connected }, Both.done);
    try testing.expectEqual(@as(i32, 0), connected.result);
    try testing.expectEqual(@as(i32, 0), accepted.result);
    const s = accept_op.accepted;
    defer socket.close(s);
    try testing.expectEqual((try socket.localAddress(c)).getPort(), accept_op.addr.getPort());

    var sreg: Registration = .{ .socket = s };
    try loop.register(&sreg);
    defer loop.unregister(&sreg);
    var buf: [64]u8 = undefined;
    var got: Seen = .{};
    var recv_op: Op = .{ .kind = .recv, .reg = &sreg, .buf = &buf, .callback = Seen.callback, .context = &got };
    loop.submit(&recv_op);
    var sent: Seen = .{};
    var msg = "ping".*;
    var send_op: Op = .{ .kind = .send, .reg = &creg, .buf = &msg, .callback = Seen.callback, .context = &sent };
    loop.submit(&send_op);
    try pollUntil(&loop, Both{ .a = &got, .b = &sent }, Both.done);
    try testing.expectEqual(@as(i32, 4), sent.result);
    try testing.expectEqual(@as(i32, 4), got.result);
    try testing.expectEqualStrings("ping", buf[0..4]);

    // End of stream: a half-close reads as 0.
    try socket.shutdownWrite(c);
    got = .{};
    loop.submit(&recv_op);
    try pollUntil(&loop, &got, calledOnce);
    try testing.expectEqual(@as(i32, 0), got.result);
}

test "reactor: data that arrived before the recv was submitted is not missed" {
    const p = try Pair.open();
    defer p.close();
    var loop: Loop = undefined;
    try loop.init();
    defer loop.deinit();
    var reg: Registration = .{ .socket = p.server };
    try loop.register(&reg);
    defer loop.unregister(&reg);
    _ = try socket.send(p.client, "early");
    // Let the edge come and go with nobody waiting.
    std.Thread.sleep(5 * std.time.ns_per_ms);
    _ = loop.poll(0);
    _ = loop.poll(0);
    var buf: [2]u8 = undefined;
    var got: Seen = .{};
    var op: Op = .{ .kind = .recv, .reg = &reg, .buf = &buf, .callback = Seen.callback, .context = &got };
    // Reads of 2 bytes: each later part still arrives, with no new edge.
    var text: [5]u8 = undefined;
    var len: usize = 0;
    while (len < 5) {
        got = .{};
        loop.submit(&op);
        try pollUntil(&loop, &got, calledOnce);
        try testing.expect(got.result > 0);
        const n: usize = @intCast(got.result);
        @memcpy(text[len..][0..n], buf[0..n]);
        len += n;
    }
    try testing.expectEqualStrings("early", &text);
}

test "reactor: cancel and unregister complete pending ops with ECANCELED" {
    const p = try Pair.open();
    defer p.close();
    var loop: Loop = undefined;
    try loop.init();
    defer loop.deinit();
    var reg: Registration = .{ .socket = p.server };
    try loop.register(&reg);
    var buf: [8]u8 = undefined;
    var a: Seen = .{};
    var b: Seen = .{};
    var op_a: Op = .{ .kind = .recv, .reg = &reg, .buf = &buf, .callback = Seen.callback, .context = &a };
    var op_b: Op = .{ .kind = .recv, .reg = &reg, .buf = &buf, .callback = Seen.callback, .context = &b };
    loop.submit(&op_a);
    loop.submit(&op_b);
    loop.cancel(&op_a);
    _ = loop.poll(0);
    try testing.expectEqual(@as(u32, 1), a.calls);
    try testing.expectEqual(r.Errno.ECANCELED, op_a.err().?);
    try testing.expectEqual(@as(u32, 0), b.calls);
    loop.unregister(&reg);
    _ = loop.poll(0);
    try testing.expectEqual(@as(u32, 1), b.calls);
    try testing.expectEqual(r.Errno.ECANCELED, op_b.err().?);
    // Cancelling a completed op changes nothing.
    loop.cancel(&op_b);
    try testing.expectEqual(@as(u32, 0), loop.poll(0));
}

test "reactor: a refused connect and a reset peer are named errors" {
    try socket.init();
    var loop: Loop = undefined;
    try loop.init();
    defer loop.deinit();
    // A port nobody listens on: bind one, learn it, close it.
    const tmp = try socket.open(std.posix.AF.INET, .tcp);
    var addr = loopback;
    try socket.bind(tmp, &addr);
    addr = try socket.localAddress(tmp);
    socket.close(tmp);
    const c = try socket.open(std.posix.AF.INET, .tcp);
    defer socket.close(c);
    var reg: Registration = .{ .socket = c };
    try loop.register(&reg);
    defer loop.unregister(&reg);
    var seen: Seen = .{};
    var op: Op = .{ .kind = .connect, .reg = &reg, .addr = addr, .callback = Seen.callback, .context = &seen };
    loop.submit(&op);
    try pollUntil(&loop, &seen, calledOnce);
    try testing.expectEqual(r.Errno.ECONNREFUSED, op.err().?);

    const p = try Pair.open();
    defer socket.close(p.listener);
    defer socket.close(p.server);
    var sreg: Registration = .{ .socket = p.server };
    try loop.register(&sreg);
    defer loop.unregister(&sreg);
    var buf: [8]u8 = undefined;
    var got: Seen = .{};
    var rop: Op = .{ .kind = .recv, .reg = &sreg, .buf = &buf, .callback = Seen.callback, .context = &got };
    loop.submit(&rop);
    try socket.setLingerZero(p.client);
    socket.close(p.client);
    try pollUntil(&loop, &got, calledOnce);
    try testing.expectEqual(r.Errno.ECONNRESET, rop.err().?);
}

test "reactor: UDP sendto and recvfrom" {
    try socket.init();
    var loop: Loop = undefined;
    try loop.init();
    defer loop.deinit();
    const a = try socket.open(std.posix.AF.INET, .udp);
    defer socket.close(a);
    const b = try socket.open(std.posix.AF.INET, .udp);
    defer socket.close(b);
    var addr = loopback;
    try socket.bind(a, &addr);
    try socket.bind(b, &addr);
    const addr_a = try socket.localAddress(a);
    const addr_b = try socket.localAddress(b);
    var ra: Registration = .{ .socket = a };
    var rb: Registration = .{ .socket = b };
    try loop.register(&ra);
    defer loop.unregister(&ra);
    try loop.register(&rb);
    defer loop.unregister(&rb);
    var buf: [32]u8 = undefined;
    var got: Seen = .{};
    var rop: Op = .{ .kind = .recvfrom, .reg = &ra, .buf = &buf, .callback = Seen.callback, .context = &got };
    loop.submit(&rop);
    var msg = "datagram".*;
    var sent: Seen = .{};
    var sop: Op = .{ .kind = .sendto, .reg = &rb, .buf = &msg, .addr = addr_a, .callback = Seen.callback, .context = &sent };
    loop.submit(&sop);
    try pollUntil(&loop, &got, calledOnce);
    try testing.expectEqual(@as(i32, 8), got.result);
    try testing.expectEqualStrings("datagram", buf[0..8]);
    try testing.expectEqual(addr_b.getPort(), rop.addr.getPort());
}

// Many connections at once: each client sends `rounds` messages and the
// server echoes them; every byte comes back, in order.
test "reactor: 64 connections echo 100 messages each" {
    const conns = 64;
    const rounds = 100;
    try socket.init();
    var loop: Loop = undefined;
    try loop.init();
    defer loop.deinit();

    const Echo = struct {
        reg: Registration,
        peer_reg: Registration,
        server_recv: Op,
        server_send: Op,
        client_recv: Op,
        client_send: Op,
        sbuf: [16]u8 = undefined,
        cbuf: [16]u8 = undefined,
        out: [16]u8 = undefined,
        round: u32 = 0,
        echoed: u32 = 0,
        loop: *Loop,
        failed: bool = false,

        fn serverRecv(op: *Op) void {
            const e: *@This() = @fieldParentPtr("server_recv", op);
            if (op.result <= 0) return;
            e.server_send.buf = e.sbuf[0..@intCast(op.result)];
            e.loop.submit(&e.server_send);
        }
        fn serverSent(op: *Op) void {
            const e: *@This() = @fieldParentPtr("server_send", op);
            if (op.result < 0) e.failed = true;
            e.echoed += 1;
            e.loop.submit(&e.server_recv);
        }
        fn clientSend(e: *@This()) void {
            _ = std.fmt.bufPrint(&e.out, "msg {d:0>11}", .{e.round}) catch unreachable;
            e.client_send.buf = &e.out;
            e.loop.submit(&e.client_send);
        }
        fn clientSent(op: *Op) void {
            const e: *@This() = @fieldParentPtr("client_send", op);
            if (op.result != 16) e.failed = true;
            e.client_recv.buf = &e.cbuf;
            e.loop.submit(&e.client_recv);
        }
        fn clientRecv(op: *Op) void {
            const e: *@This() = @fieldParentPtr("client_recv", op);
            // 16 bytes may come in pieces.
            const n: usize = if (op.result > 0) @intCast(op.result) else {
                e.failed = true;
                return;
            };
            const have = 16 - e.client_recv.buf.len + n;
            if (have < 16) {
                e.client_recv.buf = e.cbuf[have..];
                e.loop.submit(&e.client_recv);
                return;
            }
            if (!std.mem.eql(u8, &e.cbuf, &e.out)) e.failed = true;
            e.round += 1;
            if (e.round < rounds) e.clientSend();
        }
    };

    const echoes = try testing.allocator.alloc(Echo, conns);
    defer testing.allocator.free(echoes);
    var pairs: [conns]Pair = undefined;
    for (&pairs, echoes) |*p, *e| {
        p.* = try Pair.open();
        e.* = .{
            .reg = .{ .socket = p.server },
            .peer_reg = .{ .socket = p.client },
            .server_recv = .{ .kind = .recv, .reg = undefined, .callback = Echo.serverRecv },
            .server_send = .{ .kind = .send, .reg = undefined, .callback = Echo.serverSent },
            .client_recv = .{ .kind = .recv, .reg = undefined, .callback = Echo.clientRecv },
            .client_send = .{ .kind = .send, .reg = undefined, .callback = Echo.clientSent },
            .loop = &loop,
        };
    }
    defer for (pairs) |p| p.close();
    for (echoes) |*e| {
        e.server_recv.reg = &e.reg;
        e.server_send.reg = &e.reg;
        e.client_recv.reg = &e.peer_reg;
        e.client_send.reg = &e.peer_reg;
        e.server_recv.buf = &e.sbuf;
        try loop.register(&e.reg);
        try loop.register(&e.peer_reg);
        loop.submit(&e.server_recv);
        e.clientSend();
    }
    const All = struct {
        list: []Echo,
        fn done(self: @This()) bool {
            for (self.list) |e| if (e.round < rounds and !e.failed) return false;
            return true;
        }
    };
    try pollUntil(&loop, All{ .list = echoes }, All.done);
    for (echoes) |*e| {
        try testing.expect(!e.failed);
        try testing.expectEqual(@as(u32, rounds), e.round);
        loop.unregister(&e.reg);
        loop.unregister(&e.peer_reg);
    }
    _ = loop.poll(0);
}

test "reactor: an op that fails at once still completes inside poll" {
    try socket.init();
    var loop: Loop = undefined;
    try loop.init();
    defer loop.deinit();
    // A TCP socket that never connected: recv fails at once (ENOTCONN).
    const s = try socket.open(std.posix.AF.INET, .tcp);
    defer socket.close(s);
    var reg: Registration = .{ .socket = s };
    try loop.register(&reg);
    defer loop.unregister(&reg);
    var buf: [8]u8 = undefined;
    var got: Seen = .{};
    var op: Op = .{ .kind = .recv, .reg = &reg, .buf = &buf, .callback = Seen.callback, .context = &got };
    loop.submit(&op);
    try testing.expectEqual(@as(u32, 0), got.calls);
    try pollUntil(&loop, &got, calledOnce);
    try testing.expectEqual(@as(u32, 1), got.calls);
    try testing.expectEqual(r.Errno.ENOTCONN, op.err().?);
}

test "reactor: a UDP connect completes at once, then send reaches the peer" {
    try socket.init();
    var loop: Loop = undefined;
    try loop.init();
    defer loop.deinit();
    const a = try socket.open(std.posix.AF.INET, .udp);
    defer socket.close(a);
    const b = try socket.open(std.posix.AF.INET, .udp);
    defer socket.close(b);
    var addr = loopback;
    try socket.bind(a, &addr);
    const addr_a = try socket.localAddress(a);
    var ra: Registration = .{ .socket = a };
    var rb: Registration = .{ .socket = b };
    try loop.register(&ra);
    defer loop.unregister(&ra);
    try loop.register(&rb);
    defer loop.unregister(&rb);
    var connected: Seen = .{};
    var cop: Op = .{ .kind = .connect, .reg = &rb, .addr = addr_a, .callback = Seen.callback, .context = &connected };
    loop.submit(&cop);
    try testing.expectEqual(@as(u32, 0), connected.calls);
    try pollUntil(&loop, &connected, calledOnce);
    try testing.expectEqual(@as(i32, 0), connected.result);

    var buf: [16]u8 = undefined;
    var got: Seen = .{};
    var rop: Op = .{ .kind = .recvfrom, .reg = &ra, .buf = &buf, .callback = Seen.callback, .context = &got };
    loop.submit(&rop);
    var msg = "connected".*;
    var sent: Seen = .{};
    var sop: Op = .{ .kind = .send, .reg = &rb, .buf = &msg, .callback = Seen.callback, .context = &sent };
    loop.submit(&sop);
    try pollUntil(&loop, &got, calledOnce);
    try testing.expectEqual(@as(i32, 9), got.result);
    try testing.expectEqualStrings("connected", buf[0..9]);
    try testing.expectEqual((try socket.localAddress(b)).getPort(), rop.addr.getPort());
}

/// Records the order in which ops' callbacks ran.
const Order = struct {
    seen: [4]?*Op = .{null} ** 4,
    count: u32 = 0,

    fn callback(op: *Op) void {
        const order: *Order = @ptrCast(@alignCast(op.context.?));
        order.seen[order.count] = op;
        order.count += 1;
    }

    fn all(order: *Order) bool {
        return order.count == 3;
    }
};

test "reactor: recvs queued on one socket complete in submission order" {
    const p = try Pair.open();
    defer p.close();
    var loop: Loop = undefined;
    try loop.init();
    defer loop.deinit();
    var reg: Registration = .{ .socket = p.server };
    try loop.register(&reg);
    defer loop.unregister(&reg);
    var order: Order = .{};
    var bufs: [3][4]u8 = undefined;
    var ops: [3]Op = undefined;
    for (&ops, &bufs) |*op, *buf| {
        op.* = .{ .kind = .recv, .reg = &reg, .buf = buf, .callback = Order.callback, .context = &order };
        loop.submit(op);
    }
    _ = loop.poll(0);
    try testing.expectEqual(@as(u32, 0), order.count);
    // One write of all three parts: each recv's buffer takes exactly one.
    _ = try socket.send(p.client, "aaaabbbbcccc");
    try pollUntil(&loop, &order, Order.all);
    for (&ops, bufs, 0..) |*op, buf, i| {
        try testing.expectEqual(@as(?*Op, op), order.seen[i]);
        try testing.expectEqual(@as(i32, 4), op.result);
        try testing.expectEqualStrings(&([_]u8{"abc"[i]} ** 4), &buf);
    }
}

test "reactor: a cancelled accept leaves the listener usable, and a bound socket connects" {
    try socket.init();
    var loop: Loop = undefined;
    try loop.init();
    defer loop.deinit();
    const l = try socket.open(std.posix.AF.INET, .tcp);
    defer socket.close(l);
    var addr = loopback;
    try socket.bind(l, &addr);
    try socket.listen(l, 16);
    addr = try socket.localAddress(l);
    var lreg: Registration = .{ .socket = l };
    try loop.register(&lreg);
    defer loop.unregister(&lreg);

    var accepted: Seen = .{};
    var accept_op: Op = .{ .kind = .accept, .reg = &lreg, .callback = Seen.callback, .context = &accepted };
    loop.submit(&accept_op);
    loop.cancel(&accept_op);
    _ = loop.poll(0);
    try testing.expectEqual(@as(u32, 1), accepted.calls);
    try testing.expectEqual(r.Errno.ECANCELED, accept_op.err().?);

    accepted = .{};
    loop.submit(&accept_op);
    // A socket bound by its owner before connecting keeps its address.
    const c = try socket.open(std.posix.AF.INET, .tcp);
    defer socket.close(c);
    var local = loopback;
    try socket.bind(c, &local);
    local = try socket.localAddress(c);
    var creg: Registration = .{ .socket = c };
    try loop.register(&creg);
    defer loop.unregister(&creg);
    var connected: Seen = .{};
    var connect_op: Op = .{ .kind = .connect, .reg = &creg, .addr = addr, .callback = Seen.callback, .context = &connected };
    loop.submit(&connect_op);
    const Both = struct {
        a: *Seen,
        b: *Seen,
        fn done(self: @This()) bool {
            return self.a.calls == 1 and self.b.calls == 1;
        }
    };
    try pollUntil(&loop, Both{ .a = &accepted, .b = &connected }, Both.done);
    try testing.expectEqual(@as(i32, 0), connected.result);
    try testing.expectEqual(@as(i32, 0), accepted.result);
    defer socket.close(accept_op.accepted);
    try testing.expectEqual(local.getPort(), accept_op.addr.getPort());
    try testing.expectEqual(local.getPort(), (try socket.peerAddress(accept_op.accepted)).getPort());
    try testing.expectEqual(addr.getPort(), (try socket.peerAddress(c)).getPort());
}

test "reactor: cancelling an op whose data already came keeps its result" {
    const p = try Pair.open();
    defer p.close();
    var loop: Loop = undefined;
    try loop.init();
    defer loop.deinit();
    var reg: Registration = .{ .socket = p.server };
    try loop.register(&reg);
    defer loop.unregister(&reg);
    _ = try socket.send(p.client, "here");
    // Let the bytes reach the server socket, so the recv finds them.
    std.Thread.sleep(20 * std.time.ns_per_ms);
    var buf: [8]u8 = undefined;
    var got: Seen = .{};
    var op: Op = .{ .kind = .recv, .reg = &reg, .buf = &buf, .callback = Seen.callback, .context = &got };
    loop.submit(&op);
    loop.cancel(&op);
    try pollUntil(&loop, &got, calledOnce);
    try testing.expectEqual(@as(u32, 1), got.calls);
    try testing.expectEqual(@as(i32, 4), got.result);
    try testing.expectEqualStrings("here", buf[0..4]);
    try testing.expectEqual(@as(u32, 0), loop.poll(0));
}

test "reactor: unregister cancels a pending accept" {
    try socket.init();
    var loop: Loop = undefined;
    try loop.init();
    defer loop.deinit();
    const l = try socket.open(std.posix.AF.INET, .tcp);
    defer socket.close(l);
    var addr = loopback;
    try socket.bind(l, &addr);
    try socket.listen(l, 16);
    var lreg: Registration = .{ .socket = l };
    try loop.register(&lreg);
    var accepted: Seen = .{};
    var accept_op: Op = .{ .kind = .accept, .reg = &lreg, .callback = Seen.callback, .context = &accepted };
    loop.submit(&accept_op);
    _ = loop.poll(0);
    try testing.expectEqual(@as(u32, 0), accepted.calls);
    loop.unregister(&lreg);
    _ = loop.poll(0);
    try testing.expectEqual(@as(u32, 1), accepted.calls);
    try testing.expectEqual(r.Errno.ECANCELED, accept_op.err().?);
}

test "reactor: IPv6 accept, connect and echo" {
    try socket.init();
    var loop: Loop = undefined;
    try loop.init();
    defer loop.deinit();
    const l = socket.open(std.posix.AF.INET6, .tcp) catch |e| switch (e) {
        error.EAFNOSUPPORT => return error.SkipZigTest,
        else => return e,
    };
    defer socket.close(l);
    var addr = r.Address.initIp6(.{0} ** 15 ++ .{1}, 0, 0, 0);
    socket.bind(l, &addr) catch |e| switch (e) {
        // No IPv6 loopback on this machine.
        error.EADDRNOTAVAIL, error.EAFNOSUPPORT => return error.SkipZigTest,
        else => return e,
    };
    try socket.listen(l, 16);
    addr = try socket.localAddress(l);
    var lreg: Registration = .{ .socket = l };
    try loop.register(&lreg);
    defer loop.unregister(&lreg);
    var accepted: Seen = .{};
    var accept_op: Op = .{ .kind = .accept, .reg = &lreg, .callback = Seen.callback, .context = &accepted };
    loop.submit(&accept_op);

    const c = try socket.open(std.posix.AF.INET6, .tcp);
    defer socket.close(c);
    var creg: Registration = .{ .socket = c };
    try loop.register(&creg);
    defer loop.unregister(&creg);
    var connected: Seen = .{};
    var connect_op: Op = .{ .kind = .connect, .reg = &creg, .addr = addr, .callback = Seen.callback, .context = &connected };
    loop.submit(&connect_op);
    try pollUntil(&loop, &accepted, calledOnce);
    try pollUntil(&loop, &connected, calledOnce);
    try testing.expectEqual(@as(i32, 0), accepted.result);
    try testing.expectEqual(@as(i32, 0), connected.result);
    const s = accept_op.accepted;
    defer socket.close(s);
    try testing.expectEqual(@as(u32, std.posix.AF.INET6), accept_op.addr.any.family);
    try testing.expectEqual((try socket.localAddress(c)).getPort(), accept_op.addr.getPort());

    var sreg: Registration = .{ .socket = s };
    try loop.register(&sreg);
    defer loop.unregister(&sreg);
    var buf: [8]u8 = undefined;
    var got: Seen = .{};
    var rop: Op = .{ .kind = .recv, .reg = &sreg, .buf = &buf, .callback = Seen.callback, .context = &got };
    loop.submit(&rop);
    var msg = "six".*;
    var sent: Seen = .{};
    var sop: Op = .{ .kind = .send, .reg = &creg, .buf = &msg, .callback = Seen.callback, .context = &sent };
    loop.submit(&sop);
    try pollUntil(&loop, &got, calledOnce);
    try testing.expectEqual(@as(i32, 3), got.result);
    try testing.expectEqualStrings("six", buf[0..3]);
}

test "reactor: a datagram longer than the buffer is truncated to it" {
    try socket.init();
    var loop: Loop = undefined;
    try loop.init();
    defer loop.deinit();
    const a = try socket.open(std.posix.AF.INET, .udp);
    defer socket.close(a);
    const b = try socket.open(std.posix.AF.INET, .udp);
    defer socket.close(b);
    var addr = loopback;
    try socket.bind(a, &addr);
    try socket.bind(b, &addr);
    const addr_a = try socket.localAddress(a);
    var ra: Registration = .{ .socket = a };
    try loop.register(&ra);
    defer loop.unregister(&ra);
    var buf: [4]u8 = undefined;
    var got: Seen = .{};
    var rop: Op = .{ .kind = .recvfrom, .reg = &ra, .buf = &buf, .callback = Seen.callback, .context = &got };
    loop.submit(&rop);
    _ = try socket.sendTo(b, "truncated", &addr_a);
    try pollUntil(&loop, &got, calledOnce);
    try testing.expectEqual(@as(i32, 4), got.result);
    try testing.expectEqualStrings("trun", &buf);
    try testing.expectEqual((try socket.localAddress(b)).getPort(), rop.addr.getPort());
    // The plain call truncates the same way.
    _ = try socket.sendTo(b, "again!", &addr_a);
    var from: r.Address = undefined;
    var tries: u32 = 0;
    const n = while (tries < 1000) : (tries += 1) {
        break socket.recvFrom(a, &buf, &from) catch |e| {
            try testing.expectEqual(error.EAGAIN, e);
            std.Thread.sleep(std.time.ns_per_ms);
            continue;
        };
    } else return error.Timeout;
    try testing.expectEqual(@as(usize, 4), n);
    try testing.expectEqualStrings("agai", &buf);
}

// epoll and kqueue hand out a descriptor that another loop (or poll(2))
// can watch; IOCP answers null, and must keep answering it.
test "reactor: the pollable descriptor turns readable on a wake, and back after poll" {
    var loop: Loop = undefined;
    try loop.init();
    defer loop.deinit();
    const fd = loop.pollable() orelse {
        loop.wake();
        try testing.expectEqual(@as(?i32, null), loop.pollable());
        _ = loop.poll(0);
        try testing.expectEqual(@as(?i32, null), loop.pollable());
        return;
    };
    try testing.expect(fd >= 0);
    try testing.expectEqual(@as(usize, 0), try readableWithin(fd, 0));
    loop.wake();
    try testing.expectEqual(@as(usize, 1), try readableWithin(fd, 1000));
    _ = loop.poll(0);
    try testing.expectEqual(@as(usize, 0), try readableWithin(fd, 0));
    try testing.expectEqual(@as(?i32, fd), loop.pollable());
}

/// poll(2) on a descriptor: how many are readable within `timeout_ms`.
/// Reached only where `pollable` gives a descriptor, which Windows never
/// does (its poll takes sockets, not descriptors).
fn readableWithin(fd: i32, timeout_ms: i32) !usize {
    if (builtin.os.tag == .windows) unreachable;
    var fds = [1]std.posix.pollfd{.{ .fd = fd, .events = std.posix.POLL.IN, .revents = 0 }};
    return std.posix.poll(&fds, timeout_ms);
}

test "reactor: a FIN that came with the data is seen after a short read" {
    // The request and the peer's FIN arrive together: the first recv gets
    // the bytes (fewer than asked), the next must get end of stream
    // although no new readiness edge will come.
    const p = try Pair.open();
    defer socket.close(p.listener);
    defer socket.close(p.server);
    var loop: Loop = undefined;
    try loop.init();
    defer loop.deinit();
    var reg: Registration = .{ .socket = p.server };
    try loop.register(&reg);
    defer loop.unregister(&reg);
    _ = try socket.send(p.client, "bye");
    socket.close(p.client);
    std.Thread.sleep(5 * std.time.ns_per_ms);
    // The data's and the FIN's edges come and go with nobody waiting.
    _ = loop.poll(0);
    _ = loop.poll(0);
    var buf: [64]u8 = undefined;
    var got: Seen = .{};
    var op: Op = .{ .kind = .recv, .reg = &reg, .buf = &buf, .callback = Seen.callback, .context = &got };
    loop.submit(&op);
    try pollUntil(&loop, &got, calledOnce);
    try testing.expectEqual(@as(i32, 3), got.result);
    // Let the loop consume every edge there is, then read again.
    _ = loop.poll(0);
    _ = loop.poll(0);
    got = .{};
    loop.submit(&op);
    try pollUntil(&loop, &got, calledOnce);
    try testing.expectEqual(@as(i32, 0), got.result);
}
