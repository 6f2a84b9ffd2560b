//! avx-echo-client: the load client of bench/compare_echo.ts, the same
//! binary for every echo server it compares, so that neither side gets a
//! different client.
//!
//!   avx-echo-client <port> <connections> <message_bytes> <seconds> [ipv4]
//!
//! Opens `connections` blocking TCP connections to `ipv4` (default
//! 127.0.0.1), one thread each (TCP_NODELAY on). Once all are connected,
//! every thread repeats, for `seconds`: write one message of
//! `message_bytes`, read it back fully, check it byte for byte. Each
//! message is a per-connection pattern whose first 8 bytes carry the
//! connection and a sequence number, so a stale, reordered or foreign echo
//! fails the check. A thread that sees its stop flag finishes the round
//! trip in flight; the clock runs from the start signal until every
//! thread has stopped.
//!
//! Prints one JSON line: `connections`, `message_bytes`, `seconds` (wall
//! time), `round_trips`, `bytes` (message bytes echoed back and checked,
//! each counted once), `max_round_trip_ms` (the slowest round trip of
//! any connection), `min_conn_round_trips` / `max_conn_round_trips` (the
//! round trips of the least and the most served connection: fairness) and
//! `errors`. Any failed connection (refused, reset,
//! closed early, no echo for 10 s, wrong bytes) is described on stderr and
//! makes the exit status 1.
const std = @import("std");
const posix = std.posix;

const usage = "usage: avx-echo-client <port> <connections> <message_bytes> <seconds> [ipv4]\n";
const max_connections = 4096;
/// A read or write that makes no progress for this long fails (a hang).
const io_timeout_s = 10;

const Failure = enum { none, write, read, closed, mismatch, out_of_memory };

const Conn = struct {
    index: u32,
    fd: posix.socket_t,
    thread: std.Thread = undefined,
    round_trips: u64 = 0,
    failure: Failure = .none,
    err: ?anyerror = null,
    /// The round trip that failed (its sequence number).
    at: u64 = 0,
    /// The slowest completed round trip.
    max_ns: u64 = 0,
};

var start_signal: std.Thread.ResetEvent = .{};
var stop_flag = std.atomic.Value(bool).init(false);

fn fill(msg: []u8, index: u32) void {
    for (msg, 0..) |*b, i| b.* = @truncate(i *% 131 +% @as(usize, index) *% 7 +% (i >> 8));
}

fn writeAll(fd: posix.socket_t, bytes: []const u8) !void {
    var off: usize = 0;
    while (off < bytes.len) off += try posix.write(fd, bytes[off..]);
}

/// Fill `buf`; false when the peer closed first.
fn readFull(fd: posix.socket_t, buf: []u8) !bool {
    var off: usize = 0;
    while (off < buf.len) {
        const n = try posix.read(fd, buf[off..]);
        if (n == 0) return false;
        off += n;
    }
    return true;
}

fn run(c: *Conn, size: usize) void {
    const alloc = std.heap.c_allocator;
    const sent = alloc.alloc(u8, size) catch {
        c.failure = .out_of_memory;
        return;
    };
    defer alloc.free(sent);
    const got = alloc.alloc(u8, size) catch {
        c.failure = .out_of_memory;
        return;
    };
    defer alloc.free(got);
    fill(sent, c.index);
    start_signal.wait();
    var seq: u64 = 0;
    var timer = std.time.Timer.start() catch unreachable; // A monotonic clock exists where this runs.
    while (!stop_flag.load(.acquire)) : (seq += 1) {
        const t0 = timer.read();
        std.mem.writeInt(u64, sent[0..8], (@as(u64, c.index) << 40) | seq, .little);
        c.at = seq;
        writeAll(c.fd, sent) catch |e| {
            c.failure = .write;
            c.err = e;
            return;
        };
        const whole = readFull(c.fd, got) catch |e| {
            c.failure = .read;
            c.err = e;
            return;
        };
        if (!whole) {
            c.failure = .closed;
            return;
        }
        if (!std.mem.eql(u8, sent, got)) {
            c.failure = .mismatch;
            return;
        }
        c.round_trips += 1;
        c.max_ns = @max(c.max_ns, timer.read() - t0);
    }
}

fn connectTo(address: std.net.Address) !posix.socket_t {
    const fd = try posix.socket(posix.AF.INET, posix.SOCK.STREAM | posix.SOCK.CLOEXEC, 0);
    errdefer posix.close(fd);
    try posix.connect(fd, &address.any, address.getOsSockLen());
    try posix.setsockopt(fd, posix.IPPROTO.TCP, posix.TCP.NODELAY, &std.mem.toBytes(@as(c_int, 1)));
    const tv: posix.timeval = .{ .sec = io_timeout_s, .usec = 0 };
    try posix.setsockopt(fd, posix.SOL.SOCKET, posix.SO.RCVTIMEO, std.mem.asBytes(&tv));
    try posix.setsockopt(fd, posix.SOL.SOCKET, posix.SO.SNDTIMEO, std.mem.asBytes(&tv));
    return fd;
}

fn describe(c: *const Conn) void {
    const what = switch (c.failure) {
        .none => return,
        .write => "write failed",
        .read => "read failed",
        .closed => "the server closed the connection before echoing the whole message",
        .mismatch => "the echoed bytes differ from the message sent",
        .out_of_memory => "out of memory",
    };
    if (c.err) |e| {
        // A socket timeout reads as WouldBlock.
        const hint = if (e == error.WouldBlock) " (no progress for 10 s: a hang?)" else "";
        std.debug.print("avx-echo-client: connection {d}, round trip {d}: {s}: {s}{s}\n", .{ c.index, c.at, what, @errorName(e), hint });
    } else {
        std.debug.print("avx-echo-client: connection {d}, round trip {d}: {s}\n", .{ c.index, c.at, what });
    }
}

pub fn main() !u8 {
    const alloc = std.heap.c_allocator;
    const args = try std.process.argsAlloc(alloc);
    defer std.process.argsFree(alloc, args);
    if (args.len != 5 and args.len != 6) return fail();
    const port = std.fmt.parseInt(u16, args[1], 10) catch return fail();
    const connections = std.fmt.parseInt(u32, args[2], 10) catch return fail();
    const size = std.fmt.parseInt(usize, args[3], 10) catch return fail();
    const seconds = std.fmt.parseFloat(f64, args[4]) catch return fail();
    if (port == 0 or connections < 1 or connections > max_connections) return fail();
    if (size < 8 or size > 1 << 30 or !(seconds > 0 and seconds <= 3600)) return fail();
    const address = std.net.Address.parseIp4(if (args.len == 6) args[5] else "127.0.0.1", port) catch return fail();

    const conns = try alloc.alloc(Conn, connections);
    defer alloc.free(conns);
    var opened: u32 = 0;
    defer for (conns[0..opened]) |c| posix.close(c.fd);
    for (conns, 0..) |*c, i| {
        const fd = connectTo(address) catch |e| {
            std.debug.print("avx-echo-client: connection {d} to port {d}: {s}\n", .{ i, port, @errorName(e) });
            return 1;
        };
        c.* = .{ .index = @intCast(i), .fd = fd };
        opened += 1;
    }
    var spawned: u32 = 0;
    defer for (conns[0..spawned]) |c| c.thread.join();
    for (conns) |*c| {
        c.thread = std.Thread.spawn(.{ .stack_size = 256 * 1024 }, run, .{ c, size }) catch |e| {
            std.debug.print("avx-echo-client: spawning a thread: {s}\n", .{@errorName(e)});
            stop_flag.store(true, .release);
            start_signal.set();
            return 1;
        };
        spawned += 1;
    }

    var timer = try std.time.Timer.start();
    start_signal.set();
    std.Thread.sleep(@intFromFloat(seconds * std.time.ns_per_s));
    stop_flag.store(true, .release);
    for (conns) |c| c.thread.join();
    spawned = 0;
    const elapsed_ns = timer.read();

    var round_trips: u64 = 0;
    var errors: u32 = 0;
    var max_ns: u64 = 0;
    var fewest: u64 = std.math.maxInt(u64);
    var most: u64 = 0;
    for (conns) |*c| {
        round_trips += c.round_trips;
        max_ns = @max(max_ns, c.max_ns);
        fewest = @min(fewest, c.round_trips);
        most = @max(most, c.round_trips);
        if (c.failure != .none) {
            errors += 1;
            describe(c);
        }
    }
    var stdout_buf: [512]u8 = undefined;
    var stdout = std.fs.File.stdout().writerStreaming(&stdout_buf);
    const out = &stdout.interface;
    try out.print(
        "{{\"connections\":{d},\"message_bytes\":{d},\"seconds\":{d:.6},\"round_trips\":{d},\"bytes\":{d},\"max_round_trip_ms\":{d:.3},\"min_conn_round_trips\":{d},\"max_conn_round_trips\":{d},\"errors\":{d}}}\n",
        .{ connections, size, @as(f64, @floatFromInt(elapsed_ns)) / std.time.ns_per_s, round_trips, round_trips * size, @as(f64, @floatFromInt(max_ns)) / std.time.ns_per_ms, fewest, most, errors },
    );
    try out.flush();
    return if (errors == 0) 0 else 1;
}

fn fail() u8 {
    std.fs.File.stderr().writeAll(usage) catch {};
    return 2;
}
