//! The sockets through their exports, with real completion queues and
//! the process driver: what JavaScript does, from Zig threads.
const std = @import("std");
const testing = std.testing;
const cq_mod = @import("../core/cq.zig");
const handles = @import("../core/handles.zig");
const code = @import("../core/code.zig");
const Code = code.Code;
const Errno = @import("../os/socket.zig").Errno;
const ffi = @import("../ffi/net.zig");
const sock_mod = @import("sock.zig");

const ip = "127.0.0.1";

extern fn avx_tcp_listen(?[*]const u8, u32, u32, u32, u32) f64;
extern fn avx_tcp_connect_async(?[*]const u8, u32, u32, f64, ?*f64) i32;
extern fn avx_tcp_accept(f64, ?[*]u8) f64;
extern fn avx_tcp_read(f64, ?[*]u8, u32) i32;
extern fn avx_net_read_async(f64, f64) i32;
extern fn avx_tcp_write(f64, ?[*]const u8, u32) i32;
extern fn avx_tcp_write_async(f64, ?[*]const u8, u32, f64) i32;
extern fn avx_tcp_close_write(f64) i32;
extern fn avx_net_close(f64) i32;
extern fn avx_handle_release(f64) i32;

/// Close and give the reference back, as the TypeScript wrapper does.
fn closeAndRelease(h: f64) i32 {
    const r = avx_net_close(h);
    if (r != 0) return r;
    return avx_handle_release(h);
}
extern fn avx_net_address(f64, u32, ?[*]u8) i32;

/// A Zig thread standing in for an isolate: its queue, and a blocking
/// wait for one token.
const Isolate = struct {
    id: f64,
    cq: *cq_mod.Cq,

    fn open() Isolate {
        const id: f64 = @floatFromInt(cq_mod.open());
        return .{ .id = id, .cq = cq_mod.get(id).? };
    }

    fn close(self: Isolate) void {
        cq_mod.close(self.cq);
    }

    /// The result of `token`'s completion (within 5 s).
    fn wait(self: Isolate, token: i32) !i32 {
        try testing.expect(token > 0);
        var out: [2]i32 = undefined;
        var rounds: u32 = 0;
        while (rounds < 50_000) : (rounds += 1) {
            if (self.cq.drain(&out) == 1) {
                try testing.expectEqual(token, out[0]);
                return out[1];
            }
            std.Thread.sleep(100 * std.time.ns_per_us);
        }
        return error.Timeout;
    }

    /// Read into `buf` like JS does: try, wait, try again.
    fn read(self: Isolate, h: f64, buf: []u8) !i32 {
        while (true) {
            const n = avx_tcp_read(h, buf.ptr, @intCast(buf.len));
            if (n != Code.would_block.int()) return n;
            const t = avx_net_read_async(h, self.id);
            if (t < 0) return t;
            if (t > 0) try testing.expectEqual(@as(i32, 0), try self.wait(t));
        }
    }

    fn writeAll(self: Isolate, h: f64, data: []const u8) !void {
        var off: usize = 0;
        while (off < data.len) {
            const rest = data[off..];
            const n = avx_tcp_write(h, rest.ptr, @intCast(rest.len));
            if (n >= 0) {
                off += @intCast(n);
                continue;
            }
            try testing.expectEqual(Code.would_block.int(), n);
            const t = avx_tcp_write_async(h, rest.ptr, @intCast(rest.len), self.id);
            const sent = if (t == 0) 0 else try self.wait(t);
            try testing.expect(sent >= 0);
            off += @intCast(sent);
        }
    }

    fn accept(self: Isolate, l: f64) !f64 {
        while (true) {
            const h = avx_tcp_accept(l, null);
            if (!std.math.isNan(h)) return h;
            try testing.expectEqual(Code.would_block.int(), code.last_error);
            const t = avx_net_read_async(l, self.id);
            if (t > 0) try testing.expectEqual(@as(i32, 0), try self.wait(t));
        }
    }

    fn connect(self: Isolate, port: u16) !f64 {
        var h: f64 = 0;
        const t = avx_tcp_connect_async(ip, ip.len, port, self.id, &h);
        try testing.expectEqual(@as(i32, 0), try self.wait(t));
        return h;
    }
};

fn listen() !struct { h: f64, port: u16 } {
    const l = avx_tcp_listen(ip, ip.len, 0, 128, 0);
    try testing.expect(!std.math.isNan(l));
    var addr: [ffi.address_len]u8 = undefined;
    try testing.expectEqual(@as(i32, ffi.address_len), avx_net_address(l, 0, &addr));
    try testing.expectEqual(@as(u8, 4), addr[0]);
    return .{ .h = l, .port = std.mem.readInt(u16, addr[1..3], .big) };
}

test "net: a megabyte each way through the driver, then end of stream" {
    const iso = Isolate.open();
    defer iso.close();
    const live_before = sock_mod.live.load(.monotonic);
    const l = try listen();
    const c = try iso.connect(l.port);
    const s = try iso.accept(l.h);

    // A writer thread with its own queue pushes 1 MiB (far more than the
    // socket buffers hold, so writes must wait) while we read it back.
    const Writer = struct {
        fn run(h: f64, ok: *bool) void {
            const me = Isolate.open();
            defer me.close();
            var data: [1 << 20]u8 = undefined;
            for (&data, 0..) |*b, i| b.* = @truncate(i *% 7);
            me.writeAll(h, &data) catch return;
            ok.* = avx_tcp_close_write(h) == 0;
        }
    };
    var ok = false;
    const th = try std.Thread.spawn(.{}, Writer.run, .{ c, &ok });
    var buf: [7000]u8 = undefined;
    var total: usize = 0;
    while (true) {
        const n = try iso.read(s, &buf);
        try testing.expect(n >= 0);
        if (n == 0) break;
        for (buf[0..@intCast(n)], total..) |b, i| try testing.expectEqual(@as(u8, @truncate(i *% 7)), b);
        total += @intCast(n);
    }
    th.join();
    try testing.expect(ok);
    try testing.expectEqual(@as(usize, 1 << 20), total);
    // End of stream is sticky.
    try testing.expectEqual(@as(i32, 0), try iso.read(s, &buf));
    for ([_]f64{ s, c, l.h }) |h| try testing.expectEqual(@as(i32, 0), closeAndRelease(h));
    // The driver closes registered sockets on its thread.
    var spins: u32 = 0;
    while (sock_mod.live.load(.monotonic) != live_before) : (spins += 1) {
        try testing.expect(spins < 5000);
        std.Thread.sleep(std.time.ns_per_ms);
    }
}

test "net: close while a read waits; reset and refused are named" {
    const iso = Isolate.open();
    defer iso.close();
    const l = try listen();
    const c = try iso.connect(l.port);
    const s = try iso.accept(l.h);
    const t = avx_net_read_async(s, iso.id);
    try testing.expect(t > 0);
    try testing.expectEqual(@as(i32, 0), closeAndRelease(s));
    try testing.expectEqual(Code.closed.int(), try iso.wait(t));
    // Our close was a FIN: the client reads end of stream.
    var buf: [8]u8 = undefined;
    try testing.expectEqual(@as(i32, 0), try iso.read(c, &buf));
    try testing.expectEqual(@as(i32, 0), closeAndRelease(c));
    // A stale handle is refused.
    try testing.expectEqual(Code.invalid_handle.int(), avx_tcp_read(c, &buf, buf.len));

    // Reset: the client lingers 0 and closes; the server's read fails.
    const c2 = try iso.connect(l.port);
    const s2 = try iso.accept(l.h);
    const s2obj = try handles.get(sock_mod.Sock, handles.fromF64(c2).?, .tcp_stream);
    try @import("../os/socket.zig").setLingerZero(s2obj.fd);
    try testing.expectEqual(@as(i32, 0), closeAndRelease(c2));
    try testing.expectEqual(Errno.ECONNRESET.code(), try iso.read(s2, &buf));
    try testing.expectEqual(@as(i32, 0), closeAndRelease(s2));
    try testing.expectEqual(@as(i32, 0), closeAndRelease(l.h));

    // Nobody listens on that port any more.
    var h: f64 = 0;
    const t3 = avx_tcp_connect_async(ip, ip.len, l.port, iso.id, &h);
    try testing.expectEqual(Errno.ECONNREFUSED.code(), try iso.wait(t3));
    try testing.expectEqual(@as(i32, 0), closeAndRelease(h));
}

test "net: bad input is refused, not crashed on" {
    try testing.expect(std.math.isNan(avx_tcp_listen("nope", 4, 0, 16, 0)));
    try testing.expectEqual(Code.invalid_argument.int(), code.last_error);
    try testing.expect(std.math.isNan(avx_tcp_listen(ip, ip.len, 70000, 16, 0)));
    try testing.expect(std.math.isNan(avx_tcp_listen(null, 0, 0, 16, 0)));
    try testing.expect(std.math.isNan(avx_tcp_listen(ip, ip.len, 0, 0, 0)));
    const l = try listen();
    defer _ = closeAndRelease(l.h);
    // The port is taken.
    try testing.expect(std.math.isNan(avx_tcp_listen(ip, ip.len, l.port, 16, 0)));
    try testing.expectEqual(Errno.EADDRINUSE.code(), code.last_error);
    // A listener is not a stream.
    var buf: [4]u8 = undefined;
    try testing.expectEqual(Code.wrong_kind.int(), avx_tcp_read(l.h, &buf, 4));
    try testing.expectEqual(Code.invalid_handle.int(), avx_tcp_read(12345, &buf, 4));
    var h: f64 = 0;
    try testing.expectEqual(Code.invalid_argument.int(), avx_tcp_connect_async(ip, ip.len, l.port, 0, &h));
}

test "net: 8 threads, 16 connections each, echo concurrently" {
    const l = try listen();
    defer _ = closeAndRelease(l.h);
    const threads = 8;
    const per = 16;
    const Server = struct {
        fn run(lh: f64, n: u32) void {
            const me = Isolate.open();
            defer me.close();
            var i: u32 = 0;
            while (i < n) : (i += 1) {
                const s = me.accept(lh) catch return;
                var buf: [256]u8 = undefined;
                while (true) {
                    const got = me.read(s, &buf) catch break;
                    if (got <= 0) break;
                    me.writeAll(s, buf[0..@intCast(got)]) catch break;
                }
                _ = closeAndRelease(s);
            }
        }
    };
    const Client = struct {
        fn run(port: u16, failures: *std.atomic.Value(u32)) void {
            const me = Isolate.open();
            defer me.close();
            for (0..per) |i| {
                const c = me.connect(port) catch {
                    _ = failures.fetchAdd(1, .monotonic);
                    continue;
                };
                var msg: [100]u8 = undefined;
                @memset(&msg, @truncate(i));
                me.writeAll(c, &msg) catch {};
                _ = avx_tcp_close_write(c);
                var back: [100]u8 = undefined;
                var got: usize = 0;
                while (got < back.len) {
                    const n = me.read(c, back[got..]) catch break;
                    if (n <= 0) break;
                    got += @intCast(n);
                }
                if (got != msg.len or !std.mem.eql(u8, &msg, &back)) _ = failures.fetchAdd(1, .monotonic);
                _ = closeAndRelease(c);
            }
        }
    };
    var failures = std.atomic.Value(u32).init(0);
    const server = try std.Thread.spawn(.{}, Server.run, .{ l.h, threads * per });
    var clients: [threads]std.Thread = undefined;
    for (&clients) |*t| t.* = try std.Thread.spawn(.{}, Client.run, .{ l.port, &failures });
    for (clients) |t| t.join();
    server.join();
    try testing.expectEqual(@as(u32, 0), failures.load(.monotonic));
}
