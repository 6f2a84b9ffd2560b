//! Sockets on Windows (ws2_32). Placeholder until the IOCP backend lands:
//! every call reports EOPNOTSUPP.
const std = @import("std");
const sock = @import("socket.zig");
const Error = sock.Error;
const Address = sock.Address;
const ws2 = std.os.windows.ws2_32;

pub const Socket = ws2.SOCKET;
pub const invalid: Socket = ws2.INVALID_SOCKET;

pub fn init() Error!void {
    return error.EOPNOTSUPP;
}
pub fn open(_: u32, _: sock.Protocol) Error!Socket {
    return error.EOPNOTSUPP;
}
pub fn close(_: Socket) void {}
pub fn bind(_: Socket, _: *const Address) Error!void {
    return error.EOPNOTSUPP;
}
pub fn listen(_: Socket, _: u31) Error!void {
    return error.EOPNOTSUPP;
}
pub fn accept(_: Socket, _: ?*Address) Error!Socket {
    return error.EOPNOTSUPP;
}
pub fn connect(_: Socket, _: *const Address) Error!void {
    return error.EOPNOTSUPP;
}
pub fn takeError(_: Socket) Error!void {
    return error.EOPNOTSUPP;
}
pub fn recv(_: Socket, _: []u8) Error!usize {
    return error.EOPNOTSUPP;
}
pub fn send(_: Socket, _: []const u8) Error!usize {
    return error.EOPNOTSUPP;
}
pub fn recvFrom(_: Socket, _: []u8, _: *Address) Error!usize {
    return error.EOPNOTSUPP;
}
pub fn sendTo(_: Socket, _: []const u8, _: *const Address) Error!usize {
    return error.EOPNOTSUPP;
}
pub fn shutdownWrite(_: Socket) Error!void {
    return error.EOPNOTSUPP;
}
pub fn localAddress(_: Socket) Error!Address {
    return error.EOPNOTSUPP;
}
pub fn peerAddress(_: Socket) Error!Address {
    return error.EOPNOTSUPP;
}
pub fn setOption(_: Socket, _: sock.Option, _: bool) Error!void {
    return error.EOPNOTSUPP;
}
pub fn setLingerZero(_: Socket) Error!void {
    return error.EOPNOTSUPP;
}
