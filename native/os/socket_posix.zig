//! Sockets on Linux, macOS and the BSDs, through libc. See socket.zig.
const std = @import("std");
const builtin = @import("builtin");
const posix = std.posix;
const c = std.c;
const sock = @import("socket.zig");
const Error = sock.Error;
const Address = sock.Address;

pub const Socket = posix.socket_t;
pub const invalid: Socket = -1;

const is_linux = builtin.os.tag == .linux;
/// Linux sets flags atomically at creation; elsewhere `fcntl` follows.
const atomic_flags = is_linux;
const send_flags: u32 = if (is_linux) posix.MSG.NOSIGNAL else 0;

pub fn init() Error!void {}

/// The error of the last libc call, by its portable name.
fn fail() Error {
    return map(posix.errno(@as(c_int, -1)));
}

fn map(e: posix.E) Error {
    return switch (e) {
        .AGAIN => error.EAGAIN,
        .CONNRESET => error.ECONNRESET,
        .CONNREFUSED => error.ECONNREFUSED,
        .CONNABORTED => error.ECONNABORTED,
        .ADDRINUSE => error.EADDRINUSE,
        .ADDRNOTAVAIL => error.EADDRNOTAVAIL,
        .PIPE => error.EPIPE,
        .TIMEDOUT => error.ETIMEDOUT,
        .NETUNREACH => error.ENETUNREACH,
        .HOSTUNREACH => error.EHOSTUNREACH,
        .NETDOWN => error.ENETDOWN,
        .NOTCONN => error.ENOTCONN,
        .ISCONN => error.EISCONN,
        .INPROGRESS => error.EINPROGRESS,
        .ALREADY => error.EALREADY,
        .MFILE => error.EMFILE,
        .NFILE => error.ENFILE,
        .NOBUFS => error.ENOBUFS,
        .NOMEM => error.ENOMEM,
        .ACCES => error.EACCES,
        .PERM => error.EPERM,
        .INVAL => error.EINVAL,
        .BADF => error.EBADF,
        .MSGSIZE => error.EMSGSIZE,
        .AFNOSUPPORT => error.EAFNOSUPPORT,
        .PROTONOSUPPORT => error.EPROTONOSUPPORT,
        .OPNOTSUPP => error.EOPNOTSUPP,
        .CANCELED => error.ECANCELED,
        .INTR => error.EINTR,
        else => error.EIO,
    };
}

/// Make a socket nonblocking and close-on-exec where creation could not.
fn setFlags(s: Socket) Error!void {
    if (atomic_flags) return;
    const fl = c.fcntl(s, posix.F.GETFL);
    if (fl < 0) return fail();
    if (c.fcntl(s, posix.F.SETFL, fl | @as(c_int, @bitCast(posix.O{ .NONBLOCK = true }))) < 0) return fail();
    if (c.fcntl(s, posix.F.SETFD, @as(c_int, posix.FD_CLOEXEC)) < 0) return fail();
    if (@hasDecl(posix.SO, "NOSIGPIPE")) {
        const one: c_int = 1;
        if (c.setsockopt(s, posix.SOL.SOCKET, posix.SO.NOSIGPIPE, &one, @sizeOf(c_int)) < 0) return fail();
    }
}

pub fn open(family: u32, protocol: sock.Protocol) Error!Socket {
    const kind: u32 = switch (protocol) {
        .tcp => posix.SOCK.STREAM,
        .udp => posix.SOCK.DGRAM,
    };
    const flags: u32 = if (atomic_flags) posix.SOCK.NONBLOCK | posix.SOCK.CLOEXEC else 0;
    const s = c.socket(family, kind | flags, 0);
    if (s < 0) return fail();
    setFlags(s) catch |err| {
        _ = c.close(s);
        return err;
    };
    return s;
}

pub fn close(s: Socket) void {
    // EINTR on close still releases the descriptor (Linux, macOS): never
    // retry, a retry could close a descriptor another thread just got.
    _ = c.close(s);
}

pub fn bind(s: Socket, addr: *const Address) Error!void {
    if (c.bind(s, &addr.any, addr.getOsSockLen()) < 0) return fail();
}

pub fn listen(s: Socket, backlog: u31) Error!void {
    if (c.listen(s, backlog) < 0) return fail();
}

pub fn accept(s: Socket, peer: ?*Address) Error!Socket {
    var storage: posix.sockaddr.storage = undefined;
    var len: posix.socklen_t = @sizeOf(posix.sockaddr.storage);
    const addr_ptr: *posix.sockaddr = @ptrCast(&storage);
    const fd = if (is_linux)
        c.accept4(s, addr_ptr, &len, posix.SOCK.NONBLOCK | posix.SOCK.CLOEXEC)
    else
        c.accept(s, addr_ptr, &len);
    if (fd < 0) {
        const e = posix.errno(@as(c_int, -1));
        // A connection that died in the backlog: nothing to accept now.
        if (e == .CONNABORTED or e == .PROTO) return error.EAGAIN;
        return map(e);
    }
    setFlags(fd) catch |err| {
        _ = c.close(fd);
        return err;
    };
    if (peer) |p| p.* = Address.initPosix(@alignCast(addr_ptr));
    return fd;
}

pub fn connect(s: Socket, addr: *const Address) Error!void {
    if (c.connect(s, &addr.any, addr.getOsSockLen()) < 0) return fail();
}

pub fn takeError(s: Socket) Error!void {
    var err: c_int = 0;
    var len: posix.socklen_t = @sizeOf(c_int);
    if (c.getsockopt(s, posix.SOL.SOCKET, posix.SO.ERROR, @ptrCast(&err), &len) < 0) return fail();
    if (err != 0) return map(@enumFromInt(err));
}

// On Linux, the two calls of every request are direct syscalls: libc's
// wrappers are cancellation points, whose bookkeeping cost about a tenth
// of a server's user time in a profile.

pub fn recv(s: Socket, buf: []u8) Error!usize {
    if (is_linux) {
        const rc = std.os.linux.recvfrom(s, buf.ptr, buf.len, 0, null, null);
        return linuxResult(rc);
    }
    const n = c.recv(s, buf.ptr, buf.len, 0);
    if (n < 0) return fail();
    return @intCast(n);
}

pub fn send(s: Socket, buf: []const u8) Error!usize {
    if (is_linux) {
        const rc = std.os.linux.sendto(s, buf.ptr, buf.len, send_flags, null, 0);
        return linuxResult(rc);
    }
    const n = c.send(s, buf.ptr, buf.len, send_flags);
    if (n < 0) return fail();
    return @intCast(n);
}

fn linuxResult(rc: usize) Error!usize {
    const e = std.os.linux.E.init(rc);
    if (e != .SUCCESS) return map(@enumFromInt(@intFromEnum(e)));
    return rc;
}

pub fn recvFrom(s: Socket, buf: []u8, from: *Address) Error!usize {
    var storage: posix.sockaddr.storage = undefined;
    var len: posix.socklen_t = @sizeOf(posix.sockaddr.storage);
    const addr_ptr: *posix.sockaddr = @ptrCast(&storage);
    const n = c.recvfrom(s, buf.ptr, buf.len, 0, addr_ptr, &len);
    if (n < 0) return fail();
    from.* = Address.initPosix(@alignCast(addr_ptr));
    return @intCast(n);
}

pub fn sendTo(s: Socket, buf: []const u8, to: *const Address) Error!usize {
    const n = c.sendto(s, buf.ptr, buf.len, send_flags, &to.any, to.getOsSockLen());
    if (n < 0) return fail();
    return @intCast(n);
}

pub fn shutdownWrite(s: Socket) Error!void {
    if (c.shutdown(s, posix.SHUT.WR) < 0) return fail();
}

fn name(s: Socket, comptime peer: bool) Error!Address {
    var storage: posix.sockaddr.storage = undefined;
    var len: posix.socklen_t = @sizeOf(posix.sockaddr.storage);
    const addr_ptr: *posix.sockaddr = @ptrCast(&storage);
    const rc = if (peer) c.getpeername(s, addr_ptr, &len) else c.getsockname(s, addr_ptr, &len);
    if (rc < 0) return fail();
    return Address.initPosix(@alignCast(addr_ptr));
}

pub fn localAddress(s: Socket) Error!Address {
    return name(s, false);
}

pub fn peerAddress(s: Socket) Error!Address {
    return name(s, true);
}

fn setInt(s: Socket, level: i32, option: u32, value: c_int) Error!void {
    if (c.setsockopt(s, level, option, &value, @sizeOf(c_int)) < 0) return fail();
}

pub fn setOption(s: Socket, option: sock.Option, on: bool) Error!void {
    const v: c_int = @intFromBool(on);
    switch (option) {
        .reuse_address => try setInt(s, posix.SOL.SOCKET, posix.SO.REUSEADDR, v),
        .reuse_port => {
            if (!@hasDecl(posix.SO, "REUSEPORT")) return error.EOPNOTSUPP;
            try setInt(s, posix.SOL.SOCKET, posix.SO.REUSEPORT, v);
        },
        .no_delay => try setInt(s, posix.IPPROTO.TCP, posix.TCP.NODELAY, v),
        .keep_alive => try setInt(s, posix.SOL.SOCKET, posix.SO.KEEPALIVE, v),
        .broadcast => try setInt(s, posix.SOL.SOCKET, posix.SO.BROADCAST, v),
    }
}

pub fn setLingerZero(s: Socket) Error!void {
    const linger = extern struct { onoff: c_int, seconds: c_int }{ .onoff = 1, .seconds = 0 };
    if (c.setsockopt(s, posix.SOL.SOCKET, posix.SO.LINGER, &linger, @sizeOf(@TypeOf(linger))) < 0) return fail();
}
