//! The reactor contract: a completion-based event loop over sockets, one
//! file per OS backend, chosen at compile time (libxev's shape):
//!
//! - `epoll.zig` (Linux): readiness by direct syscalls, edge-triggered,
//!   an eventfd for wake-ups; an op is tried when submitted and again on
//!   each readiness edge.
//! - `kqueue.zig` (macOS, iOS, FreeBSD, DragonFly): the same through
//!   libc's kevent, EVFILT_READ/EVFILT_WRITE with EV_CLEAR, an EVFILT_USER
//!   wake-up. epoll and kqueue keep only their syscalls: the ops'
//!   bookkeeping is `readiness.zig`'s, shared by both.
//! - `iocp.zig` (Windows): overlapped AcceptEx/ConnectEx/WSARecv/WSASend
//!   completed by GetQueuedCompletionStatusEx, PostQueuedCompletionStatus
//!   to wake.
//!
//! `Backend` below is the one list of which OS uses which backend.
//!
//! The declarations are checked at compile time (`LoopContract`, checked
//! for all three backends on every target, whatever the host): a backend
//! that lacks one, gives it another type, or makes public one the
//! contract does not know fails the build with the name. So callers and
//! tests never ask `@hasDecl`: what has no meaning on a backend is still
//! declared, with a documented constant answer (IOCP's `pollable`).
//!
//! The behaviour, for every backend:
//! - A `Loop` belongs to one thread (its owner): `register`, `unregister`,
//!   `submit`, `cancel`, `poll` and `pollable` are called there only.
//!   `wake` may be called from any thread and makes a blocked `poll`
//!   return.
//! - `pollable()` is a descriptor that turns readable when the loop has
//!   events (epoll, kqueue), so a loop can be watched from another; null,
//!   always, where there is none (IOCP).
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

/// The one list of supported OSes. kqueue.zig's wake-up is EVFILT_USER,
/// which std declares correctly only for these (its NetBSD value is
/// wrong, OpenBSD has none).
pub const Backend = switch (builtin.os.tag) {
    .linux => @import("epoll.zig"),
    .macos, .ios, .tvos, .watchos, .visionos, .freebsd, .dragonfly => @import("kqueue.zig"),
    .windows => @import("iocp.zig"),
    .netbsd, .openbsd => @compileError("avx: no reactor backend for " ++ @tagName(builtin.os.tag) ++
        ": kqueue.zig wakes a loop with EVFILT_USER, which std lacks here (wrong on NetBSD, absent on OpenBSD)"),
    else => @compileError("avx: no reactor backend for " ++ @tagName(builtin.os.tag) ++
        " (epoll: Linux; kqueue: macOS, iOS, tvOS, watchOS, visionOS, FreeBSD, DragonFly; IOCP: Windows)"),
};

/// Every backend, checked against the contract on every target: the
/// backend files name OS-specific types only in function bodies and
/// struct fields, which the check does not need compiled, so each is
/// analyzable on any host. (Their bodies are compiled for their own OS by
/// `zig build test`, `test-macos` and `test-windows`.)
pub const all_backends = .{
    .{ "epoll.zig", @import("epoll.zig") },
    .{ "kqueue.zig", @import("kqueue.zig") },
    .{ "iocp.zig", @import("iocp.zig") },
};

/// A backend file's public declarations: exactly these, each a type, and
/// the two states `.{}`-initializable (`Op` and `Registration` embed them
/// with that default).
pub const backend_decls = [_][]const u8{ "Loop", "OpState", "RegistrationState" };

/// The public declarations of a backend's `Loop` `L`: exactly these, with
/// these types.
pub fn LoopContract(comptime L: type) type {
    return struct {
        pub const init = fn (*L) socket.Error!void;
        /// Every registration must have been unregistered.
        pub const deinit = fn (*L) void;
        /// A descriptor readable while the loop has events; null when the
        /// backend has none (always the same answer for a backend).
        pub const pollable = fn (*const L) ?i32;
        pub const register = fn (*L, *Registration) socket.Error!void;
        pub const unregister = fn (*L, *Registration) void;
        pub const submit = fn (*L, *Op) void;
        pub const cancel = fn (*L, *Op) void;
        /// Any thread.
        pub const wake = fn (*L) void;
        /// Callbacks run; returns how many.
        pub const poll = fn (*L, ?u64) u32;
    };
}

comptime {
    for (all_backends) |entry| {
        if (contractViolation(entry[0], entry[1])) |message| @compileError("avx reactor contract: " ++ message);
    }
}

/// What `B` (named `name`) does against the contract, or null if nothing.
/// A function rather than a bare @compileError so tests can show that a
/// broken backend is caught, and named.
pub fn contractViolation(comptime name: []const u8, comptime B: type) ?[]const u8 {
    comptime {
        for (backend_decls) |decl| {
            if (!@hasDecl(B, decl)) return name ++ " lacks `" ++ decl ++ "`";
            if (@TypeOf(@field(B, decl)) != type) return name ++ ": `" ++ decl ++ "` is no type";
        }
        for (@typeInfo(B).@"struct".decls) |decl| {
            if (!contains(&backend_decls, decl.name)) return name ++ " makes `" ++ decl.name ++ "` public, which the contract does not know";
        }
        for ([_][]const u8{ "OpState", "RegistrationState" }) |decl| {
            for (@typeInfo(@field(B, decl)).@"struct".fields) |field| {
                if (field.default_value_ptr == null) return name ++ ": `" ++ decl ++ "." ++ field.name ++ "` has no default";
            }
        }
        const L = B.Loop;
        const C = LoopContract(L);
        for (@typeInfo(C).@"struct".decls) |decl| {
            const want = @field(C, decl.name);
            if (!@hasDecl(L, decl.name)) return name ++ ": `Loop." ++ decl.name ++ "` is missing (the contract wants " ++ @typeName(want) ++ ")";
            const have = @TypeOf(@field(L, decl.name));
            if (have != want) return name ++ ": `Loop." ++ decl.name ++ "` is " ++ @typeName(have) ++ ", the contract says " ++ @typeName(want);
        }
        for (@typeInfo(L).@"struct".decls) |decl| {
            if (!@hasDecl(C, decl.name)) return name ++ ": `Loop." ++ decl.name ++ "` is public but not in the contract";
        }
        return null;
    }
}

fn contains(comptime list: []const []const u8, comptime name: []const u8) bool {
    for (list) |item| if (std.mem.eql(u8, item, name)) return true;
    return false;
}

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
