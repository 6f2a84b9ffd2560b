//! Exports of the sockets (native/net/). See native/README.md for the
//! table; the conventions are abi.zig's, plus:
//!
//! - Addresses go in as text (an IPv4 or IPv6 literal; names are resolved
//!   in TypeScript) and a port, and come out as 19 bytes: family (4 or 6),
//!   port (big-endian), 16 address bytes (IPv4 in the first 4).
//! - A call that would block returns `would_block`; its `*_async` twin
//!   then waits (0: call again now, a token, or a code).
//! - OS errors are codes below -100 (`Errno.code`), named in
//!   src/errors.ts after POSIX (`ECONNRESET`, `EADDRINUSE`, ...).
const std = @import("std");
const assert = std.debug.assert;
const abi = @import("abi.zig");
const Code = abi.Code;
const handles = @import("../core/handles.zig");
const code_mod = @import("../core/code.zig");
const socket = @import("../os/socket.zig");
const Address = socket.Address;
const Errno = socket.Errno;
const driver = @import("../net/driver.zig");
const sock_mod = @import("../net/sock.zig");
const Sock = sock_mod.Sock;
const Kind = handles.Kind;

pub const address_len: u32 = 19;

fn sockOf(h: f64, kind: Kind) error{ InvalidHandle, WrongKind }!*Sock {
    return abi.object(Sock, h, kind);
}

/// A stream or a UDP socket (calls that work on both).
fn anySock(h: f64) error{ InvalidHandle, WrongKind }!*Sock {
    const handle = handles.fromF64(h) orelse return error.InvalidHandle;
    const kind = try handles.kindOf(handle);
    return switch (kind) {
        .tcp_listener, .tcp_stream, .udp_socket => handles.get(Sock, handle, kind),
        else => error.WrongKind,
    };
}

fn parseAddress(ip_ptr: ?[*]const u8, ip_len: u32, port: u32) error{InvalidArgument}!Address {
    if (port > 65535 or ip_len == 0 or ip_len > 64) return error.InvalidArgument;
    const text = try abi.bytes(ip_ptr, ip_len);
    return Address.parseIp(text, @intCast(port)) catch error.InvalidArgument;
}

pub fn encodeAddress(a: Address, out: []u8) void {
    std.debug.assert(out.len >= address_len);
    @memset(out[0..address_len], 0);
    switch (a.any.family) {
        std.posix.AF.INET => {
            out[0] = 4;
            @memcpy(out[3..7], std.mem.asBytes(&a.in.sa.addr));
        },
        std.posix.AF.INET6 => {
            out[0] = 6;
            @memcpy(out[3..19], &a.in6.sa.addr);
        },
        else => return,
    }
    std.mem.writeInt(u16, out[1..3], a.getPort(), .big);
}

/// Register a new Sock; on failure the descriptor is closed.
pub fn register(d: *driver.Driver, fd: socket.Socket, protocol: sock_mod.Protocol) f64 {
    const r = registerSock(d, fd, protocol) catch |err| return abi.failF64(err);
    return handles.toF64(r.handle);
}

const Registered = struct { handle: handles.Handle, sock: *Sock };

/// `register`, returning the Sock with its handle (owned by the caller).
fn registerSock(d: *driver.Driver, fd: socket.Socket, protocol: sock_mod.Protocol) error{ Limit, OutOfMemory }!Registered {
    const s = Sock.create(d, fd, protocol) catch |err| {
        socket.close(fd);
        return err;
    };
    const kind: Kind = switch (protocol) {
        .tcp_listener => .tcp_listener,
        .tcp_stream => .tcp_stream,
        .udp => .udp_socket,
    };
    const h = handles.create(kind, s, Sock.destroyHandle) catch |err| {
        Sock.destroyHandle(s);
        return err;
    };
    return .{ .handle = h, .sock = s };
}

fn openBound(ip_ptr: ?[*]const u8, ip_len: u32, port: u32, protocol: socket.Protocol, flags: u32) error{ InvalidArgument, Limit, OutOfMemory, Os }!socket.Socket {
    const addr = try parseAddress(ip_ptr, ip_len, port);
    _ = try driver.running();
    const fd = socket.open(addr.any.family, protocol) catch |e| return osError(e);
    errdefer socket.close(fd);
    if (protocol == .tcp) socket.setOption(fd, .reuse_address, true) catch |e| return osError(e);
    if (flags & 1 != 0) socket.setOption(fd, .reuse_port, true) catch |e| return osError(e);
    socket.bind(fd, &addr) catch |e| return osError(e);
    return fd;
}

fn osError(e: socket.Error) error{Os} {
    code_mod.last_error = Errno.fromError(e).code();
    return error.Os;
}

/// The f64 an opening export returns for `err`: NaN, with `last_error`
/// already set for an OS error.
pub fn failOpen(err: error{ InvalidArgument, Limit, OutOfMemory, Os }) f64 {
    return switch (err) {
        error.Os => std.math.nan(f64),
        error.InvalidArgument, error.Limit, error.OutOfMemory => |e| abi.failF64(e),
    };
}

/// The driver `openBound` started (it runs until the process exits).
fn started() *driver.Driver {
    const d = driver.runningOrNull();
    assert(d != null);
    return d.?;
}

/// A listening TCP socket on `ip`:`port` (for `avx_tcp_listen` and the
/// native server).
pub fn openListener(ip_ptr: ?[*]const u8, ip_len: u32, port: u32, backlog: u32, flags: u32) error{ InvalidArgument, Limit, OutOfMemory, Os }!socket.Socket {
    if (backlog == 0 or backlog > 65535) return error.InvalidArgument;
    const fd = try openBound(ip_ptr, ip_len, port, .tcp, flags);
    socket.listen(fd, @intCast(backlog)) catch |e| {
        socket.close(fd);
        return osError(e);
    };
    return fd;
}

/// A TCP listener on `ip`:`port` (0: any free port). `flags` bit 0: set
/// SO_REUSEPORT. Its handle, or NaN (`avx_last_error`).
export fn avx_tcp_listen(ip_ptr: ?[*]const u8, ip_len: u32, port: u32, backlog: u32, flags: u32) f64 {
    const fd = openListener(ip_ptr, ip_len, port, backlog, flags) catch |err| return failOpen(err);
    return register(started(), fd, .tcp_listener);
}

/// A UDP socket bound to `ip`:`port`. Its handle, or NaN.
export fn avx_udp_bind(ip_ptr: ?[*]const u8, ip_len: u32, port: u32, flags: u32) f64 {
    const fd = openBound(ip_ptr, ip_len, port, .udp, flags) catch |err| return failOpen(err);
    if (flags & 2 != 0) socket.setOption(fd, .broadcast, true) catch |e| {
        socket.close(fd);
        return failOpen(osError(e));
    };
    return register(started(), fd, .udp);
}

/// Start connecting to `ip`:`port`. Writes the new stream's handle to
/// `out[0]` and returns a token (completion: 0 or an OS error), or a code
/// (no handle was made).
export fn avx_tcp_connect_async(ip_ptr: ?[*]const u8, ip_len: u32, port: u32, q: f64, out: ?*f64) i32 {
    const slot = out orelse return Code.invalid_argument.int();
    const addr = parseAddress(ip_ptr, ip_len, port) catch |err| return abi.fail(err);
    if (port == 0) return Code.invalid_argument.int();
    const cq = abi.queue(q) catch |err| return abi.fail(err);
    const d = driver.running() catch |err| return abi.fail(err);
    const fd = socket.open(addr.any.family, .tcp) catch |e| return Errno.fromError(e).code();
    const registered = registerSock(d, fd, .tcp_stream) catch |err| {
        code_mod.last_error = abi.fail(err);
        return code_mod.last_error;
    };
    const s = registered.sock;
    const r = s.connectAsync(&addr, cq);
    if (r < 0) {
        s.close();
        handles.releaseHeld(registered.handle);
        return r;
    }
    slot.* = handles.toF64(registered.handle);
    return r;
}

/// A connection of listener `h`: its handle, or NaN with `avx_last_error`
/// `would_block` (wait with `avx_net_read_async`), `closed` or an OS error.
/// Writes the peer's address to `peer` (19 bytes) when given.
export fn avx_tcp_accept(h: f64, peer: ?[*]u8) f64 {
    const s = sockOf(h, .tcp_listener) catch |err| return abi.failF64(err);
    var addr: Address = undefined;
    const fd = s.accept(&addr) catch |err| switch (err) {
        error.Os => {
            code_mod.last_error = sock_mod.last_os_error.code();
            return std.math.nan(f64);
        },
        error.Closed, error.WouldBlock => |e| return abi.failF64(e),
    };
    if (peer) |p| encodeAddress(addr, p[0..address_len]);
    return register(s.driver, fd, .tcp_stream);
}

/// Read into `buf`: bytes (0: end of stream), or a code (`would_block`).
export fn avx_tcp_read(h: f64, buf: ?[*]u8, len: u32) i32 {
    const s = sockOf(h, .tcp_stream) catch |err| return abi.fail(err);
    if (len > std.math.maxInt(i32)) return Code.invalid_argument.int();
    const b = abi.bytesMut(buf, len) catch |err| return abi.fail(err);
    return s.recv(b);
}

/// Wait until a read or an accept can make progress: 0 (call again now),
/// a token (its completion is 0; call again), or a code.
export fn avx_net_read_async(h: f64, q: f64) i32 {
    const s = anySock(h) catch |err| return abi.fail(err);
    const cq = abi.queue(q) catch |err| return abi.fail(err);
    return s.readAsync(cq);
}

/// Send from `buf` now: bytes sent (maybe fewer), or a code
/// (`would_block`: use `avx_net_write_async`).
export fn avx_tcp_write(h: f64, buf: ?[*]const u8, len: u32) i32 {
    const s = sockOf(h, .tcp_stream) catch |err| return abi.fail(err);
    if (len > std.math.maxInt(i32)) return Code.invalid_argument.int();
    const b = abi.bytes(buf, len) catch |err| return abi.fail(err);
    return s.send(b, null);
}

/// Hand up to 64 KiB of `buf` to the I/O thread: a token whose completion
/// is how many bytes were taken (all sent) or an OS error; 0 from a write
/// that queued behind another (call again); or a code.
export fn avx_tcp_write_async(h: f64, buf: ?[*]const u8, len: u32, q: f64) i32 {
    const s = sockOf(h, .tcp_stream) catch |err| return abi.fail(err);
    if (len == 0 or len > std.math.maxInt(i32)) return Code.invalid_argument.int();
    const b = abi.bytes(buf, len) catch |err| return abi.fail(err);
    const cq = abi.queue(q) catch |err| return abi.fail(err);
    return s.writeAsync(b, null, cq);
}

/// Half-close the stream (the peer reads end of stream).
export fn avx_tcp_close_write(h: f64) i32 {
    const s = sockOf(h, .tcp_stream) catch |err| return abi.fail(err);
    return s.shutdownWrite();
}

/// Close the socket now (the caller still gives its reference back with
/// `avx_handle_release`). Waiters get `closed`; so does every later call,
/// from any isolate. Idempotent.
export fn avx_net_close(h: f64) i32 {
    const s = anySock(h) catch |err| return abi.fail(err);
    s.close();
    return 0;
}

/// Write the local (`which` 0) or peer (1) address to `out` (19 bytes).
export fn avx_net_address(h: f64, which: u32, out: ?[*]u8) i32 {
    const s = anySock(h) catch |err| return abi.fail(err);
    const o = abi.array(u8, address_len, out) catch |err| return abi.fail(err);
    const a = switch (which) {
        0 => socket.localAddress(s.fd),
        1 => socket.peerAddress(s.fd),
        else => return Code.invalid_argument.int(),
    } catch |e| return Errno.fromError(e).code();
    encodeAddress(a, o);
    return @intCast(address_len);
}

/// Set an option: 0 TCP_NODELAY, 1 SO_KEEPALIVE, 2 SO_BROADCAST.
export fn avx_net_set_option(h: f64, option: u32, on: u32) i32 {
    const s = anySock(h) catch |err| return abi.fail(err);
    const o: socket.Option = switch (option) {
        0 => .no_delay,
        1 => .keep_alive,
        2 => .broadcast,
        else => return Code.invalid_argument.int(),
    };
    socket.setOption(s.fd, o, on != 0) catch |e| return Errno.fromError(e).code();
    return 0;
}

/// A datagram into `buf` (truncated if longer), its sender's address into
/// `from` (19 bytes): its length, or a code (`would_block`).
export fn avx_udp_recv(h: f64, buf: ?[*]u8, len: u32, from: ?[*]u8) i32 {
    const s = sockOf(h, .udp_socket) catch |err| return abi.fail(err);
    if (len > std.math.maxInt(i32)) return Code.invalid_argument.int();
    const b = abi.bytesMut(buf, len) catch |err| return abi.fail(err);
    const f = abi.array(u8, address_len, from) catch |err| return abi.fail(err);
    var addr: Address = undefined;
    const n = s.recvFrom(b, &addr);
    if (n >= 0) encodeAddress(addr, f);
    return n;
}

/// Send one datagram to `ip`:`port` now: its length, or a code.
export fn avx_udp_send(h: f64, buf: ?[*]const u8, len: u32, ip_ptr: ?[*]const u8, ip_len: u32, port: u32) i32 {
    const s = sockOf(h, .udp_socket) catch |err| return abi.fail(err);
    const b = abi.bytes(buf, len) catch |err| return abi.fail(err);
    const addr = parseAddress(ip_ptr, ip_len, port) catch |err| return abi.fail(err);
    return s.send(b, &addr);
}

/// Send one datagram from the I/O thread: a token (completion: its
/// length or an OS error), 0 (call again), or a code.
export fn avx_udp_send_async(h: f64, buf: ?[*]const u8, len: u32, ip_ptr: ?[*]const u8, ip_len: u32, port: u32, q: f64) i32 {
    const s = sockOf(h, .udp_socket) catch |err| return abi.fail(err);
    const b = abi.bytes(buf, len) catch |err| return abi.fail(err);
    const addr = parseAddress(ip_ptr, ip_len, port) catch |err| return abi.fail(err);
    const cq = abi.queue(q) catch |err| return abi.fail(err);
    return s.writeAsync(b, &addr, cq);
}

/// Write up to `len` f64s [sockets alive, driver commands run].
export fn avx_net_metrics(out: ?[*]f64, len: u32) i32 {
    const p = out orelse return if (len == 0) 0 else Code.invalid_argument.int();
    const commands: u64 = if (driver.runningOrNull()) |d| d.commands.load(.monotonic) else 0;
    const values = [_]u64{ sock_mod.live.load(.monotonic), commands };
    const n = @min(len, values.len);
    for (values[0..n], p[0..n]) |v, *slot| slot.* = @floatFromInt(v);
    return @intCast(n);
}
