//! Exports of the native server (native/serve/). A server is created by
//! the owner isolate; each worker isolate drives one station from its own
//! thread: `start`, then `next`/`respond` in a loop, then `stop`.
//!
//! `next` writes records into the caller's buffer (little-endian, each
//! 8-aligned):
//!
//!   0  u8  kind: 1 request
//!   1  u8  method id (native/http/parser.zig Method)
//!   2  u8  flags: bit 0 keep-alive, bit 1 HTTP/1.0
//!   4  u32 connection id (request)
//!   8  u32 record length, padding included
//!   12 u16 method length   14 u16 target length
//!   16 u16 header count    18 u16 0
//!   20 u32 header block length
//!   24 u32 body length     28 u32 0
//!   32 u64 0
//!   40 method, target, header block (u16 name length, u16 value length,
//!      name, value; repeated), body
//!
//! `respond` reads records from the caller's buffer (each 4-aligned):
//!
//!   0  u32 connection id   4 u16 status   6 u16 flags: bit 0 close
//!   8  u32 header block length            12 u32 body length
//!   16 header block (as above), body
const std = @import("std");
const abi = @import("abi.zig");
const Code = abi.Code;
const socket = @import("../os/socket.zig");
const Errno = socket.Errno;
const net = @import("net.zig");
const server_mod = @import("../serve/server.zig");
const Server = server_mod.Server;
const Station = server_mod.Station;
const parser = @import("../http/parser.zig");

const record_head: u32 = 40;

fn destroyServer(obj: *anyopaque) void {
    const s: *Server = @ptrCast(@alignCast(obj));
    s.close();
    s.destroy();
}

fn stationOf(h: f64, index: u32) error{ InvalidHandle, WrongKind, InvalidArgument }!*Station {
    const s = try abi.object(Server, h, .server);
    if (index >= s.stations.len) return error.InvalidArgument;
    return &s.stations[index];
}

/// An HTTP/1.1 server listening on `ip`:`port` for `stations` workers.
/// `flags` bit 0: SO_REUSEPORT. `max_body`: bytes (0: the parser's
/// default). Its handle, or NaN (`avx_last_error`).
export fn avx_serve_new(ip_ptr: ?[*]const u8, ip_len: u32, port: u32, backlog: u32, flags: u32, stations: u32, max_body: u32) f64 {
    if (stations == 0 or stations > server_mod.max_stations) return abi.failF64(error.InvalidArgument);
    var limits: parser.Limits = .{};
    if (max_body != 0) {
        if (max_body > 1 << 30) return abi.failF64(error.InvalidArgument);
        limits.max_body = max_body;
    }
    const fd = net.openListener(ip_ptr, ip_len, port, backlog, flags) catch |err| return net.failOpen(err);
    const s = Server.create(fd, stations, limits) catch |err| {
        socket.close(fd);
        return abi.failF64(err);
    };
    const h = abi.register(.server, s, destroyServer);
    if (std.math.isNan(h)) destroyServer(s);
    return h;
}

/// The listening address (19 bytes, see net.zig).
export fn avx_serve_address(h: f64, out: ?[*]u8) i32 {
    const s = abi.object(Server, h, .server) catch |err| return abi.fail(err);
    const o = abi.array(u8, net.address_len, out) catch |err| return abi.fail(err);
    const a = socket.localAddress(s.listener) catch |e| return Errno.fromError(e).code();
    net.encodeAddress(a, o);
    return @intCast(net.address_len);
}

/// Start station `index` on the calling thread (a worker isolate).
export fn avx_serve_start(h: f64, index: u32) i32 {
    const st = stationOf(h, index) catch |err| return abi.fail(err);
    if (st.started) return Code.invalid_state.int();
    st.start() catch |e| return Errno.fromError(e).code();
    return 0;
}

/// Poll station `index` for up to `timeout_ms` unless something is ready
/// or (with `q` > 0) a completion arrives in the caller's queue `q`;
/// write ready records into `buf`. The number of records, 0, or `closed`
/// once the server is closed (then call `avx_serve_stop`): a server that is
/// shutting down does not wait for busy connections to go idle.
export fn avx_serve_next(h: f64, index: u32, buf: ?[*]u8, cap: u32, timeout_ms: f64, q: f64) i32 {
    const st = stationOf(h, index) catch |err| return abi.fail(err);
    if (!st.started) return Code.invalid_state.int();
    const out = abi.bytesMut(buf, cap) catch |err| return abi.fail(err);
    if (!(timeout_ms >= 0)) return Code.invalid_argument.int();
    const timeout_ns: u64 = @intFromFloat(@min(timeout_ms, 60_000) * std.time.ns_per_ms);
    // Closed: the worker stops its station, which closes every connection
    // (requests not yet handed over are dropped with them).
    if (st.server.closed.load(.acquire)) return Code.closed.int();
    const now_s: u64 = @intCast(@max(0, std.time.timestamp()));
    const cq: ?*abi.Cq = if (q == 0) null else abi.queue(q) catch |err| return abi.fail(err);
    var wait_ns = timeout_ns;
    if (cq) |c| {
        if (c.block(&st.interrupt)) wait_ns = 0;
    }
    st.poll(wait_ns, now_s);
    if (cq) |c| c.unblock();
    var off: u32 = 0;
    var count: i32 = 0;
    while (st.take()) |c| {
        const n = writeRecord(out[off..], c) orelse {
            if (count == 0) {
                // Cannot happen with a buffer of `limits.maxRequest()` and
                // more; close rather than stall.
                c.close();
                continue;
            }
            st.untake(c);
            break;
        };
        off += n;
        count += 1;
    }
    return count;
}

fn writeRecord(out: []u8, c: *server_mod.Conn) ?u32 {
    {
        {
            const r = &c.request;
            var headers_len: u32 = 0;
            for (r.headerList()) |hd| headers_len += 4 + @as(u32, @intCast(hd.name.len + hd.value.len));
            const body_len: u32 = @intCast(r.body.len);
            const raw = record_head + @as(u32, @intCast(r.method.len + r.target.len)) + headers_len + body_len;
            const total = std.mem.alignForward(u32, raw, 8);
            if (out.len < total) return null;
            @memset(out[0..record_head], 0);
            out[0] = 1;
            out[1] = @intFromEnum(r.method_id);
            out[2] = @as(u8, @intFromBool(r.keep_alive)) | (@as(u8, @intFromBool(r.version_minor == 0)) << 1);
            std.mem.writeInt(u32, out[4..8], c.id, .little);
            std.mem.writeInt(u32, out[8..12], total, .little);
            std.mem.writeInt(u16, out[12..14], @intCast(r.method.len), .little);
            std.mem.writeInt(u16, out[14..16], @intCast(r.target.len), .little);
            std.mem.writeInt(u16, out[16..18], @intCast(r.header_count), .little);
            std.mem.writeInt(u32, out[20..24], headers_len, .little);
            std.mem.writeInt(u32, out[24..28], body_len, .little);
            var p: u32 = record_head;
            p = put(out, p, r.method);
            p = put(out, p, r.target);
            for (r.headerList()) |hd| {
                std.mem.writeInt(u16, out[p..][0..2], @intCast(hd.name.len), .little);
                std.mem.writeInt(u16, out[p + 2 ..][0..2], @intCast(hd.value.len), .little);
                p = put(out, p + 4, hd.name);
                p = put(out, p, hd.value);
            }
            p = put(out, p, r.body);
            std.debug.assert(p == raw);
            return total;
        }
    }
}

fn put(out: []u8, at: u32, bytes: []const u8) u32 {
    @memcpy(out[at..][0..bytes.len], bytes);
    return at + @as(u32, @intCast(bytes.len));
}

/// Answer requests of station `index` from the records in `buf`. Returns
/// the number of records read, or a code for a malformed buffer.
export fn avx_serve_respond(h: f64, index: u32, buf: ?[*]const u8, len: u32) i32 {
    const st = stationOf(h, index) catch |err| return abi.fail(err);
    if (!st.started) return Code.invalid_state.int();
    const in = abi.bytes(buf, len) catch |err| return abi.fail(err);
    var off: u32 = 0;
    var count: i32 = 0;
    var headers: [parser.header_capacity]parser.Header = undefined;
    while (off < in.len) : (count += 1) {
        if (in.len - off < 16) return Code.invalid_argument.int();
        const rec = in[off..];
        const id = std.mem.readInt(u32, rec[0..4], .little);
        const status = std.mem.readInt(u16, rec[4..6], .little);
        const flags = std.mem.readInt(u16, rec[6..8], .little);
        const headers_len = std.mem.readInt(u32, rec[8..12], .little);
        const body_len = std.mem.readInt(u32, rec[12..16], .little);
        const raw = @as(u64, 16) + headers_len + body_len;
        if (raw > rec.len) return Code.invalid_argument.int();
        const block = rec[16..][0..headers_len];
        const body = rec[16 + headers_len ..][0..body_len];
        off += @intCast(std.mem.alignForward(u64, raw, 4));
        if (off > in.len) off = @intCast(in.len);
        var n: u32 = 0;
        var p: u32 = 0;
        while (p < block.len) : (n += 1) {
            if (n == headers.len or block.len - p < 4) return Code.invalid_argument.int();
            const nl = std.mem.readInt(u16, block[p..][0..2], .little);
            const vl = std.mem.readInt(u16, block[p + 2 ..][0..2], .little);
            if (block.len - p - 4 < @as(u32, nl) + vl) return Code.invalid_argument.int();
            headers[n] = .{ .name = block[p + 4 ..][0..nl], .value = block[p + 4 + nl ..][0..vl] };
            p += 4 + nl + vl;
        }
        const c = st.lookup(id) orelse {
            _ = st.server.metrics.dropped.fetchAdd(1, .monotonic);
            continue;
        };
        if (c.state != .dispatched) continue;
        c.respond(status, headers[0..n], body, flags & 1 != 0) catch {
            // A status or header the writer refuses: the client gets a 500
            // rather than a malformed response.
            c.respond(500, &.{}, "invalid response\n", true) catch c.close();
        };
    }
    return count;
}

/// Close station `index`'s connections and free its loop (the worker is
/// leaving).
export fn avx_serve_stop(h: f64, index: u32) i32 {
    const st = stationOf(h, index) catch |err| return abi.fail(err);
    st.stop();
    return 0;
}

/// Stop accepting; stations' `next` then returns `closed`.
export fn avx_serve_close(h: f64) i32 {
    const s = abi.object(Server, h, .server) catch |err| return abi.fail(err);
    s.close();
    return 0;
}

/// Write up to `len` f64s: accepted, requests, responses, rejected, open
/// connections, dropped responses.
export fn avx_serve_metrics(h: f64, out: ?[*]f64, len: u32) i32 {
    const s = abi.object(Server, h, .server) catch |err| return abi.fail(err);
    const p = out orelse return if (len == 0) 0 else Code.invalid_argument.int();
    const m = &s.metrics;
    const values = [_]u64{ m.accepted.load(.monotonic), m.requests.load(.monotonic), m.responses.load(.monotonic), m.rejected.load(.monotonic), m.open.load(.monotonic), m.dropped.load(.monotonic) };
    const n = @min(len, values.len);
    for (values[0..n], p[0..n]) |v, *slot| slot.* = @floatFromInt(v);
    return @intCast(n);
}
