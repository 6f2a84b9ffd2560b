//! The socket contract: nonblocking TCP and UDP sockets, one small file
//! of raw calls per OS family (`socket_posix.zig` through libc, which is
//! the only stable ABI on Darwin; `socket_windows.zig` through ws2_32).
//! Everything above (the reactor, `net/`) speaks only this file.
//!
//! Every socket this layer opens or accepts is nonblocking and not
//! inherited by child processes. Calls never block: a call that would
//! returns `error.EAGAIN`.
//!
//! OS errors cross as `Errno`, a portable enum whose names are the POSIX
//! names (Windows' WSAE* codes are mapped onto them), so JavaScript sees
//! `ECONNRESET` whatever the OS.
const std = @import("std");
const builtin = @import("builtin");

const backend = if (builtin.os.tag == .windows) @import("socket_windows.zig") else @import("socket_posix.zig");

pub const Socket = backend.Socket;
pub const invalid: Socket = backend.invalid;
pub const Address = std.net.Address;

/// Portable OS error names. The numbers are part of the FFI ABI
/// (`Errno.code`), mirrored in `src/errors.ts`: only ever append.
pub const Errno = enum(u8) {
    EAGAIN = 1,
    ECONNRESET,
    ECONNREFUSED,
    ECONNABORTED,
    EADDRINUSE,
    EADDRNOTAVAIL,
    EPIPE,
    ETIMEDOUT,
    ENETUNREACH,
    EHOSTUNREACH,
    ENETDOWN,
    ENOTCONN,
    EISCONN,
    EINPROGRESS,
    EALREADY,
    EMFILE,
    ENFILE,
    ENOBUFS,
    ENOMEM,
    EACCES,
    EPERM,
    EINVAL,
    EBADF,
    EMSGSIZE,
    EAFNOSUPPORT,
    EPROTONOSUPPORT,
    EOPNOTSUPP,
    ECANCELED,
    EINTR,
    /// Any error without a name above (its number is lost; it is rare).
    EIO,

    /// The negative i32 an FFI result carries: below every `Code`.
    pub fn code(e: Errno) i32 {
        return -(code_base + @as(i32, @intFromEnum(e)));
    }

    /// The Errno behind a negative FFI result, if it is one.
    pub fn fromCode(c: i32) ?Errno {
        const v = -c - code_base;
        if (v < 1 or v > @intFromEnum(Errno.EIO)) return null;
        return @enumFromInt(v);
    }

    pub fn toError(e: Errno) Error {
        return switch (e) {
            inline else => |tag| @field(Error, @tagName(tag)),
        };
    }

    pub fn fromError(err: Error) Errno {
        return switch (err) {
            inline else => |tag| @field(Errno, @errorName(tag)),
        };
    }
};

/// FFI results at or below `-code_base - 1` are OS errors.
pub const code_base: i32 = 100;

/// The same names as an error set, for `try`.
pub const Error = blk: {
    const fields = @typeInfo(Errno).@"enum".fields;
    var errors: [fields.len]std.builtin.Type.Error = undefined;
    for (fields, 0..) |f, i| errors[i] = .{ .name = f.name };
    break :blk @Type(.{ .error_set = &errors });
};

pub const Protocol = enum { tcp, udp };

/// Process-wide set-up (Winsock's WSAStartup); idempotent, thread-safe.
pub fn init() Error!void {
    return backend.init();
}

/// A new nonblocking socket for `family` (posix.AF.INET or INET6).
pub fn open(family: u32, protocol: Protocol) Error!Socket {
    return backend.open(family, protocol);
}

pub fn close(s: Socket) void {
    std.debug.assert(s != invalid);
    backend.close(s);
}

pub fn bind(s: Socket, addr: *const Address) Error!void {
    return backend.bind(s, addr);
}

pub fn listen(s: Socket, backlog: u31) Error!void {
    return backend.listen(s, backlog);
}

/// A pending connection (nonblocking itself), with its peer's address.
pub fn accept(s: Socket, peer: ?*Address) Error!Socket {
    return backend.accept(s, peer);
}

/// Start connecting: `error.EINPROGRESS` while the handshake runs (wait
/// for writability, then read `takeError`).
pub fn connect(s: Socket, addr: *const Address) Error!void {
    return backend.connect(s, addr);
}

/// The pending error of a socket (SO_ERROR), cleared by reading it.
pub fn takeError(s: Socket) Error!void {
    return backend.takeError(s);
}

/// Bytes received; 0 is end of stream (or an empty datagram).
pub fn recv(s: Socket, buf: []u8) Error!usize {
    return backend.recv(s, buf);
}

/// Bytes sent (maybe fewer than `buf.len`). Never raises SIGPIPE.
pub fn send(s: Socket, buf: []const u8) Error!usize {
    return backend.send(s, buf);
}

pub fn recvFrom(s: Socket, buf: []u8, from: *Address) Error!usize {
    return backend.recvFrom(s, buf, from);
}

pub fn sendTo(s: Socket, buf: []const u8, to: *const Address) Error!usize {
    return backend.sendTo(s, buf, to);
}

/// Half-close: no more sends; the peer reads end of stream.
pub fn shutdownWrite(s: Socket) Error!void {
    return backend.shutdownWrite(s);
}

pub fn localAddress(s: Socket) Error!Address {
    return backend.localAddress(s);
}

pub fn peerAddress(s: Socket) Error!Address {
    return backend.peerAddress(s);
}

pub const Option = enum { reuse_address, reuse_port, no_delay, keep_alive, broadcast };

/// `reuse_port` is `error.EOPNOTSUPP` where the OS has no such option.
pub fn setOption(s: Socket, option: Option, on: bool) Error!void {
    return backend.setOption(s, option, on);
}

/// Close a socket abortively: the peer sees a reset (SO_LINGER 0).
pub fn setLingerZero(s: Socket) Error!void {
    return backend.setLingerZero(s);
}

test "socket: errno codes round-trip and sit below every Code" {
    inline for (@typeInfo(Errno).@"enum".fields) |f| {
        const e: Errno = @enumFromInt(f.value);
        try std.testing.expectEqual(e, Errno.fromCode(e.code()).?);
        try std.testing.expect(e.code() <= -101);
        try std.testing.expectEqual(e, Errno.fromError(e.toError()));
    }
    try std.testing.expectEqual(@as(?Errno, null), Errno.fromCode(-1));
    try std.testing.expectEqual(@as(?Errno, null), Errno.fromCode(-100));
}

test "socket: TCP over loopback, nonblocking" {
    try init();
    const l = try open(std.posix.AF.INET, .tcp);
    defer close(l);
    try setOption(l, .reuse_address, true);
    var addr = Address.initIp4(.{ 127, 0, 0, 1 }, 0);
    try bind(l, &addr);
    try listen(l, 16);
    addr = try localAddress(l);
    try std.testing.expect(addr.getPort() != 0);
    try std.testing.expectError(error.EAGAIN, accept(l, null));

    const c = try open(std.posix.AF.INET, .tcp);
    defer close(c);
    connect(c, &addr) catch |err| try std.testing.expectEqual(error.EINPROGRESS, err);
    var peer: Address = undefined;
    const s = accept_retry: {
        var tries: u32 = 0;
        while (tries < 1000) : (tries += 1) {
            break :accept_retry accept(l, &peer) catch |err| {
                try std.testing.expectEqual(error.EAGAIN, err);
                std.Thread.sleep(std.time.ns_per_ms);
                continue;
            };
        }
        return error.TestUnexpectedResult;
    };
    defer close(s);
    try takeError(c);
    try setOption(s, .no_delay, true);
    try setOption(s, .keep_alive, true);
    try std.testing.expectEqual((try localAddress(c)).getPort(), peer.getPort());
    try std.testing.expectEqual(addr.getPort(), (try peerAddress(c)).getPort());

    var buf: [16]u8 = undefined;
    try std.testing.expectError(error.EAGAIN, recv(s, &buf));
    try std.testing.expectEqual(@as(usize, 5), try send(c, "hello"));
    var got: usize = 0;
    var tries: u32 = 0;
    while (got < 5 and tries < 1000) : (tries += 1) {
        got += recv(s, buf[got..]) catch |err| blk: {
            try std.testing.expectEqual(error.EAGAIN, err);
            std.Thread.sleep(std.time.ns_per_ms);
            break :blk 0;
        };
    }
    try std.testing.expectEqualStrings("hello", buf[0..got]);
    try shutdownWrite(c);
    tries = 0;
    while (tries < 1000) : (tries += 1) {
        const n = recv(s, &buf) catch |err| {
            try std.testing.expectEqual(error.EAGAIN, err);
            std.Thread.sleep(std.time.ns_per_ms);
            continue;
        };
        try std.testing.expectEqual(@as(usize, 0), n);
        break;
    } else return error.TestUnexpectedResult;
}

test "socket: a port in use is EADDRINUSE; a closed port refuses" {
    try init();
    const a = try open(std.posix.AF.INET, .tcp);
    defer close(a);
    var addr = Address.initIp4(.{ 127, 0, 0, 1 }, 0);
    try bind(a, &addr);
    try listen(a, 1);
    addr = try localAddress(a);
    const b = try open(std.posix.AF.INET, .tcp);
    defer close(b);
    try std.testing.expectError(error.EADDRINUSE, bind(b, &addr));
}

test "socket: UDP datagrams keep their boundaries and sender" {
    try init();
    const a = try open(std.posix.AF.INET, .udp);
    defer close(a);
    const b = try open(std.posix.AF.INET, .udp);
    defer close(b);
    var any = Address.initIp4(.{ 127, 0, 0, 1 }, 0);
    try bind(a, &any);
    try bind(b, &any);
    const addr_a = try localAddress(a);
    const addr_b = try localAddress(b);
    try std.testing.expectEqual(@as(usize, 3), try sendTo(b, "one", &addr_a));
    try std.testing.expectEqual(@as(usize, 3), try sendTo(b, "two", &addr_a));
    var buf: [8]u8 = undefined;
    var from: Address = undefined;
    var seen: u32 = 0;
    var tries: u32 = 0;
    while (seen < 2 and tries < 1000) : (tries += 1) {
        const n = recvFrom(a, &buf, &from) catch |err| {
            try std.testing.expectEqual(error.EAGAIN, err);
            std.Thread.sleep(std.time.ns_per_ms);
            continue;
        };
        try std.testing.expectEqualStrings(if (seen == 0) "one" else "two", buf[0..n]);
        try std.testing.expectEqual(addr_b.getPort(), from.getPort());
        seen += 1;
    }
    try std.testing.expectEqual(@as(u32, 2), seen);
}
