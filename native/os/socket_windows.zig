//! Sockets on Windows, through ws2_32. See socket.zig.
//!
//! Every socket is created overlapped (so the IOCP reactor can drive it),
//! nonblocking (so the plain calls here never block) and not inherited by
//! child processes. Winsock's WSAE* codes are mapped onto the portable
//! `Errno` names; the IOCP backend maps completion errors through the same
//! table (`errnoFromCode`).
const std = @import("std");
const sock = @import("socket.zig");
const Error = sock.Error;
const Errno = sock.Errno;
const Address = sock.Address;
const windows = std.os.windows;
const ws2 = windows.ws2_32;
const assert = std.debug.assert;

pub const Socket = ws2.SOCKET;
pub const invalid: Socket = ws2.INVALID_SOCKET;

/// Winsock 2.2, the version every Windows since 98 provides.
const winsock_version: u16 = 0x0202;

/// `_WSAIOW(IOC_VENDOR, 12)`: whether an ICMP port-unreachable makes the
/// next recvfrom on a UDP socket fail with WSAECONNRESET (not in std).
const SIO_UDP_CONNRESET: u32 = ws2.IOC_IN | ws2.IOC_VENDOR | 12;

const HANDLE_FLAG_INHERIT: u32 = 0x1;

/// Winsock is started once per process and never cleaned up: sockets may
/// live as long as the process, and WSACleanup would break every one.
var startup_once = std.once(startup);
var startup_code: i32 = 0;

fn startup() void {
    var data: ws2.WSADATA = undefined;
    // WSAStartup returns its error; it does not set the last error.
    startup_code = ws2.WSAStartup(winsock_version, &data);
}

pub fn init() Error!void {
    startup_once.call();
    if (startup_code != 0) return errnoFromCode(@intCast(startup_code)).toError();
}

/// A Winsock or Win32 error code by its portable name. Overlapped calls
/// report through `WSAGetOverlappedResult`, which gives WSAE* codes, but a
/// few Win32 codes (of the NTSTATUS that completed an IRP) reach us too.
pub fn errnoFromCode(code: u32) Errno {
    const E = ws2.WinsockError;
    if (code > std.math.maxInt(u16)) return .EIO;
    return switch (@as(E, @enumFromInt(@as(u16, @intCast(code))))) {
        .WSAEWOULDBLOCK => .EAGAIN,
        .WSAECONNRESET, .WSAENETRESET => .ECONNRESET,
        .WSAECONNREFUSED => .ECONNREFUSED,
        .WSAECONNABORTED => .ECONNABORTED,
        .WSAEADDRINUSE => .EADDRINUSE,
        .WSAEADDRNOTAVAIL => .EADDRNOTAVAIL,
        // A send after shutdown(SD_SEND): POSIX says EPIPE.
        .WSAESHUTDOWN => .EPIPE,
        .WSAETIMEDOUT => .ETIMEDOUT,
        .WSAENETUNREACH => .ENETUNREACH,
        .WSAEHOSTUNREACH, .WSAEHOSTDOWN => .EHOSTUNREACH,
        .WSAENETDOWN => .ENETDOWN,
        .WSAENOTCONN => .ENOTCONN,
        .WSAEISCONN => .EISCONN,
        .WSAEINPROGRESS => .EINPROGRESS,
        .WSAEALREADY => .EALREADY,
        .WSAEMFILE => .EMFILE,
        .WSAEPROCLIM => .ENFILE,
        .WSAENOBUFS => .ENOBUFS,
        .WSA_NOT_ENOUGH_MEMORY => .ENOMEM,
        .WSAEACCES => .EACCES,
        .WSAEINVAL, .WSA_INVALID_PARAMETER, .WSAEFAULT, .WSAEDESTADDRREQ, .WSAENOPROTOOPT => .EINVAL,
        .WSAEBADF, .WSAENOTSOCK, .WSA_INVALID_HANDLE => .EBADF,
        .WSAEMSGSIZE => .EMSGSIZE,
        .WSAEAFNOSUPPORT, .WSAEPFNOSUPPORT => .EAFNOSUPPORT,
        .WSAEPROTONOSUPPORT, .WSAESOCKTNOSUPPORT, .WSAEPROTOTYPE => .EPROTONOSUPPORT,
        .WSAEOPNOTSUPP => .EOPNOTSUPP,
        .WSA_OPERATION_ABORTED, .WSAECANCELLED, .WSA_E_CANCELLED => .ECANCELED,
        .WSAEINTR => .EINTR,
        else => switch (code) {
            // Win32 names of the same conditions (ERROR_*).
            64 => .ECONNRESET, // NETNAME_DELETED: the peer reset before AcceptEx took it
            1236 => .ECONNABORTED, // CONNECTION_ABORTED
            1225 => .ECONNREFUSED, // CONNECTION_REFUSED
            1231 => .ENETUNREACH, // NETWORK_UNREACHABLE
            1232 => .EHOSTUNREACH, // HOST_UNREACHABLE
            121 => .ETIMEDOUT, // SEM_TIMEOUT
            234 => .EMSGSIZE, // MORE_DATA
            14 => .ENOMEM, // OUTOFMEMORY
            1450 => .ENOBUFS, // NO_SYSTEM_RESOURCES
            5 => .EACCES, // ACCESS_DENIED
            else => .EIO,
        },
    };
}

/// The error of the last Winsock call.
pub fn lastErrno() Errno {
    return errnoFromCode(@intFromEnum(ws2.WSAGetLastError()));
}

fn fail() Error {
    return lastErrno().toError();
}

pub fn setNonblocking(s: Socket) Error!void {
    var on: u32 = 1;
    if (ws2.ioctlsocket(s, ws2.FIONBIO, &on) == ws2.SOCKET_ERROR) return fail();
}

pub fn open(family: u32, protocol: sock.Protocol) Error!Socket {
    // Another family is the OS's to refuse (WSAEAFNOSUPPORT), as on POSIX.
    const kind: i32, const proto: i32 = switch (protocol) {
        .tcp => .{ ws2.SOCK.STREAM, ws2.IPPROTO.TCP },
        .udp => .{ ws2.SOCK.DGRAM, ws2.IPPROTO.UDP },
    };
    const flags: u32 = ws2.WSA_FLAG_OVERLAPPED | ws2.WSA_FLAG_NO_HANDLE_INHERIT;
    const s = ws2.WSASocketW(@intCast(family), kind, proto, null, 0, flags);
    if (s == invalid) return fail();
    errdefer _ = ws2.closesocket(s);
    try setNonblocking(s);
    if (protocol == .udp) disableUdpConnReset(s);
    return s;
}

/// On POSIX an unconnected UDP socket never learns that an earlier
/// datagram hit a closed port; Windows reports it as WSAECONNRESET on the
/// next recvfrom, which would fail a server's receive for a client's
/// mistake. Best effort: a provider without the ioctl keeps its behaviour.
fn disableUdpConnReset(s: Socket) void {
    var off: u32 = 0;
    var returned: u32 = 0;
    _ = ws2.WSAIoctl(s, SIO_UDP_CONNRESET, &off, @sizeOf(u32), null, 0, &returned, null, null);
}

pub fn close(s: Socket) void {
    _ = ws2.closesocket(s);
}

fn sockLen(addr: *const Address) i32 {
    return @intCast(addr.getOsSockLen());
}

pub fn bind(s: Socket, addr: *const Address) Error!void {
    if (ws2.bind(s, &addr.any, sockLen(addr)) == ws2.SOCKET_ERROR) return fail();
}

pub fn listen(s: Socket, backlog: u31) Error!void {
    if (ws2.listen(s, backlog) == ws2.SOCKET_ERROR) return fail();
}

/// An address Winsock wrote into `storage` (IPv4 or IPv6 only).
pub fn addressFrom(storage: *align(4) const ws2.sockaddr) Address {
    assert(storage.family == ws2.AF.INET or storage.family == ws2.AF.INET6);
    return Address.initPosix(storage);
}

pub fn accept(s: Socket, peer: ?*Address) Error!Socket {
    var storage: ws2.sockaddr.storage = undefined;
    var len: i32 = @sizeOf(ws2.sockaddr.storage);
    const fd = ws2.accept(s, @ptrCast(&storage), &len);
    if (fd == invalid) {
        const e = lastErrno();
        // A connection that died in the backlog: nothing to accept now.
        if (e == .ECONNRESET or e == .ECONNABORTED) return error.EAGAIN;
        return e.toError();
    }
    errdefer _ = ws2.closesocket(fd);
    try adoptAccepted(fd);
    if (peer) |p| p.* = addressFrom(@ptrCast(&storage));
    return fd;
}

/// An accepted socket inherits the listener's properties; say the ones
/// this layer promises explicitly rather than rely on that.
pub fn adoptAccepted(fd: Socket) Error!void {
    try setNonblocking(fd);
    if (windows.kernel32.SetHandleInformation(@ptrCast(fd), HANDLE_FLAG_INHERIT, 0) == 0) return error.EIO;
}

pub fn connect(s: Socket, addr: *const Address) Error!void {
    if (ws2.connect(s, &addr.any, sockLen(addr)) == ws2.SOCKET_ERROR) {
        // A nonblocking connect under way is WSAEWOULDBLOCK on Windows.
        const e = lastErrno();
        return if (e == .EAGAIN) error.EINPROGRESS else e.toError();
    }
}

pub fn takeError(s: Socket) Error!void {
    var err: i32 = 0;
    var len: i32 = @sizeOf(i32);
    if (ws2.getsockopt(s, ws2.SOL.SOCKET, ws2.SO.ERROR, @ptrCast(&err), &len) == ws2.SOCKET_ERROR) return fail();
    if (err != 0) return errnoFromCode(@intCast(err)).toError();
}

/// Winsock lengths are i32: a larger buffer is used in part.
fn clampLen(len: usize) i32 {
    return @intCast(@min(len, std.math.maxInt(i32)));
}

pub fn recv(s: Socket, buf: []u8) Error!usize {
    const n = ws2.recv(s, buf.ptr, clampLen(buf.len), 0);
    if (n == ws2.SOCKET_ERROR) return fail();
    return @intCast(n);
}

pub fn send(s: Socket, buf: []const u8) Error!usize {
    const n = ws2.send(s, buf.ptr, clampLen(buf.len), 0);
    if (n == ws2.SOCKET_ERROR) return fail();
    return @intCast(n);
}

pub fn recvFrom(s: Socket, buf: []u8, from: *Address) Error!usize {
    var storage: ws2.sockaddr.storage = undefined;
    var len: i32 = @sizeOf(ws2.sockaddr.storage);
    const n = ws2.recvfrom(s, buf.ptr, clampLen(buf.len), 0, @ptrCast(&storage), &len);
    if (n == ws2.SOCKET_ERROR) {
        const e = lastErrno();
        // A datagram longer than `buf`: POSIX hands over its first
        // `buf.len` bytes; Windows fills `buf` the same but says EMSGSIZE.
        if (e != .EMSGSIZE) return e.toError();
        from.* = addressFrom(@ptrCast(&storage));
        return buf.len;
    }
    from.* = addressFrom(@ptrCast(&storage));
    return @intCast(n);
}

pub fn sendTo(s: Socket, buf: []const u8, to: *const Address) Error!usize {
    const n = ws2.sendto(s, buf.ptr, clampLen(buf.len), 0, &to.any, sockLen(to));
    if (n == ws2.SOCKET_ERROR) return fail();
    return @intCast(n);
}

pub fn shutdownWrite(s: Socket) Error!void {
    if (ws2.shutdown(s, ws2.SD_SEND) == ws2.SOCKET_ERROR) return fail();
}

fn name(s: Socket, comptime peer: bool) Error!Address {
    var storage: ws2.sockaddr.storage = undefined;
    var len: i32 = @sizeOf(ws2.sockaddr.storage);
    const addr_ptr: *ws2.sockaddr = @ptrCast(&storage);
    const rc = if (peer) ws2.getpeername(s, addr_ptr, &len) else ws2.getsockname(s, addr_ptr, &len);
    if (rc == ws2.SOCKET_ERROR) return fail();
    return addressFrom(@ptrCast(&storage));
}

pub fn localAddress(s: Socket) Error!Address {
    return name(s, false);
}

pub fn peerAddress(s: Socket) Error!Address {
    return name(s, true);
}

fn setInt(s: Socket, level: i32, option: i32, value: i32) Error!void {
    if (ws2.setsockopt(s, level, option, std.mem.asBytes(&value), @sizeOf(i32)) == ws2.SOCKET_ERROR) return fail();
}

pub fn setOption(s: Socket, option: sock.Option, on: bool) Error!void {
    const v: i32 = @intFromBool(on);
    switch (option) {
        // What POSIX's SO_REUSEADDR is for (binding a port whose old
        // connections linger in TIME_WAIT) is Windows' default; Windows'
        // SO_REUSEADDR instead lets a second socket take over a port in
        // active use. So this is a no-op, as in libuv and Rust's std.
        .reuse_address => {},
        .reuse_port => return error.EOPNOTSUPP,
        .no_delay => try setInt(s, ws2.IPPROTO.TCP, ws2.TCP.NODELAY, v),
        .keep_alive => try setInt(s, ws2.SOL.SOCKET, ws2.SO.KEEPALIVE, v),
        .broadcast => try setInt(s, ws2.SOL.SOCKET, ws2.SO.BROADCAST, v),
    }
}

pub fn setLingerZero(s: Socket) Error!void {
    const linger: ws2.linger = .{ .onoff = 1, .linger = 0 };
    if (ws2.setsockopt(s, ws2.SOL.SOCKET, ws2.SO.LINGER, std.mem.asBytes(&linger), @sizeOf(ws2.linger)) == ws2.SOCKET_ERROR) return fail();
}
