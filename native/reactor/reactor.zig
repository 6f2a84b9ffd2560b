//! The reactor contract: a completion-based event loop over sockets, one
//! file per OS backend, chosen at compile time (libxev's shape):
//!
//! - `epoll.zig` (Linux): readiness by direct syscalls, edge-triggered,
//!   an eventfd for wake-ups; an op is tried when submitted and again on
//!   each readiness edge.
//! - `kqueue.zig` (macOS, FreeBSD, DragonFly): the same through libc's
//!   kevent, EVFILT_READ/EVFILT_WRITE with EV_CLEAR, an EVFILT_USER
//!   wake-up (NetBSD and OpenBSD have no usable EVFILT_USER in std).
//! - `iocp.zig` (Windows): overlapped AcceptEx/ConnectEx/WSARecv/WSASend
//!   completed by GetQueuedCompletionStatusEx, PostQueuedCompletionStatus
//!   to wake.
//!
//! The contract, for every backend:
//! - A `Loop` belongs to one thread (its owner): `register`, `unregister`,
//!   `submit`, `cancel` and `poll` are called there only. `wake` may be
//!   called from any thread and makes a blocked `poll` return.
//! - A socket is registered once in its life (`register(*Registration)`)
//!   before any op on it and unregistered before it is closed: IOCP ties
//!   a socket to one port until it is closed, so it cannot be registered
//!   again, with this loop or another.
//! - Unregistering completes the socket's pending ops with `ECANCELED`,
//!   and `cancel(op)` one pending op; an op the OS finished first keeps
//!   its result. The callbacks run in a later `poll` (the next one, unless
//!   Windows takes over 2 s to hand a cancelled request back), so the ops
//!   and their buffers must stay alive until then, as for any op.
//! - `submit(*Op)` never calls the callback itself: every callback runs
//!   inside `poll`, on the owner thread, exactly once per submit. An op and
//!   its buffer stay put and untouched until its callback ran.
//! - Ops of one kind class on one socket complete in submission order
//!   (reads: accept, recv, recvfrom; writes: connect, send, sendto).
//! - `result` is >= 0 (bytes; 0 on recv is end of stream) or
//!   `-@intFromEnum(Errno)`; an accept's socket is in `accepted`.
//! - Memory: the loop allocates nothing after `init`; ops and
//!   registrations are the caller's.
const std = @import("std");
const builtin = @import("builtin");
pub const socket = @import("../os/socket.zig");
pub const Socket = socket.Socket;
pub const Address = socket.Address;
pub const Errno = socket.Errno;

pub const Backend = switch (builtin.os.tag) {
    .linux => @import("epoll.zig"),
    .macos, .ios, .tvos, .watchos, .visionos, .freebsd, .netbsd, .openbsd, .dragonfly => @import("kqueue.zig"),
    .windows => @import("iocp.zig"),
    else => @compileError("avx: no reactor backend for this OS"),
};

pub const Loop = Backend.Loop;

pub const Kind = enum(u8) {
    accept,
    connect,
    recv,
    send,
    recvfrom,
    sendto,

    /// Whether the op waits for readability (else writability).
    pub fn reads(k: Kind) bool {
        return switch (k) {
            .accept, .recv, .recvfrom => true,
            .connect, .send, .sendto => false,
        };
    }
};

/// One socket known to a loop.
pub const Registration = struct {
    socket: Socket,
    internal: Backend.RegistrationState = .{},
};

pub const Callback = *const fn (op: *Op) void;

/// One operation in flight.
pub const Op = struct {
    kind: Kind,
    reg: *Registration,
    /// recv/recvfrom: filled; send/sendto: sent. Unused by accept/connect.
    buf: []u8 = &.{},
    /// connect/sendto: the peer; recvfrom and accept: filled with it.
    addr: Address = undefined,
    callback: Callback,
    /// The caller's, untouched by the loop.
    context: ?*anyopaque = null,
    /// Set before the callback: bytes (>= 0) or `-Errno`.
    result: i32 = 0,
    /// An accept's new socket (nonblocking), valid when `result` >= 0.
    accepted: Socket = socket.invalid,
    internal: Backend.OpState = .{},

    pub fn err(op: *const Op) ?Errno {
        if (op.result >= 0) return null;
        return @enumFromInt(@as(u8, @intCast(-op.result)));
    }

    pub fn fail(op: *Op, e: Errno) void {
        op.result = -@as(i32, @intFromEnum(e));
    }
};

test {
    _ = @import("backend_test.zig");
}
