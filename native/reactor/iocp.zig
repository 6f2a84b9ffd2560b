//! The Windows backend: overlapped Winsock calls completed through an I/O
//! completion port.
//!
//! IOCP is completion-based already, so an op is issued to the OS as soon
//! as it is submitted (AcceptEx, ConnectEx, WSARecv, WSASend, WSARecvFrom,
//! WSASendTo) and the OS owns it, its OVERLAPPED and its buffer until the
//! port hands the OVERLAPPED back. The OS completes the ops of one socket
//! and direction in the order they were issued, which is the contract's
//! FIFO. Sockets are not put in FILE_SKIP_COMPLETION_PORT_ON_SUCCESS mode:
//! a call that succeeds at once still queues its packet, so every callback
//! runs inside `poll`. A call that fails at once queues a packet of ours
//! (PostQueuedCompletionStatus) for the same reason, and to keep its place
//! behind ops of the socket that completed before.
//!
//! Cancelling is CancelIoEx; the cancelled op still comes back through the
//! port (with STATUS_CANCELLED, which Winsock names WSA_OPERATION_ABORTED).
//! `cancel` and `unregister` wait for those packets (the OS completes a
//! cancelled socket request at once; the wait is bounded), so that, as on
//! epoll, the callbacks run in the next `poll` and the OS is done with the
//! ops' memory when they return. Other packets taken meanwhile are kept
//! in the completed queue for that `poll`.
//!
//! `wake` posts a packet with its own completion key, at most one between
//! two polls. `pollable()` is always null: a completion port is no
//! descriptor another loop could watch.
//!
//! A socket stays associated with the port until it is closed (Windows
//! has no public way back), which is why the contract registers a socket
//! once in its life.
const std = @import("std");
const windows = std.os.windows;
const kernel32 = windows.kernel32;
const ws2 = windows.ws2_32;
const assert = std.debug.assert;
const r = @import("reactor.zig");
const Queue = @import("op_queue.zig").Queue;
const socket = r.socket;
const winsock = @import("../os/socket_windows.zig");
const clock = @import("../os/clock.zig");
const Op = r.Op;
const Registration = r.Registration;
const Errno = r.Errno;
const Socket = r.Socket;

/// AcceptEx wants room for each address plus 16 bytes of its own.
const accept_address_space: u32 = @sizeOf(ws2.sockaddr.in6) + 16;

pub const OpState = struct {
    /// The OS's, from issue until the port returns it.
    overlapped: windows.OVERLAPPED = std.mem.zeroes(windows.OVERLAPPED),
    where: Where = .idle,
    /// The in-flight list of the registration while `issued`, else the
    /// loop's completed queue.
    next: ?*Op = null,
    prev: ?*Op = null,
    /// The socket, kept so a completion never needs the registration
    /// (unregister may give up on an op; see `Loop.detach`).
    socket: Socket = socket.invalid,
    /// The result was set at submit; the packet is ours (PostQueued...).
    preset: bool = false,
    /// Cancel or unregister asked for it: no retry on completion.
    cancelled: bool = false,
    /// Unregister gave up waiting: complete without the registration.
    detached: bool = false,
    /// WSARecv/WSARecvFrom flags, in and out; the OS may write them late.
    flags: u32 = 0,
    /// WSARecvFrom's address length, written by the OS at completion.
    addr_len: i32 = 0,
    /// accept: the socket AcceptEx fills, and the addresses it writes.
    accept_socket: Socket = socket.invalid,
    accept_buf: [2 * accept_address_space]u8 align(8) = undefined,
};

const Where = enum { idle, issued, completed };

pub const RegistrationState = struct {
    registered: bool = false,
    /// Issued ops whose packets have not been taken, linked through
    /// `OpState.next`/`prev`.
    head: ?*Op = null,
    waiting: u32 = 0,
    /// Learnt by the first accept: AcceptEx needs a socket of the
    /// listener's family.
    family: u16 = 0,
    /// Learnt by the first connect: ConnectEx is for streams only.
    kind: SocketKind = .unknown,
};

const SocketKind = enum { unknown, stream, datagram };

/// Completion keys: every socket is associated with `key_io`.
const key_io: usize = 0;
const key_wake: usize = 1;

/// Packets taken per GetQueuedCompletionStatusEx.
const max_events = 256;

/// How long `cancel` and `unregister` wait for the OS to hand cancelled
/// ops back. Real Windows completes a cancelled socket request inside
/// CancelIoEx; this bound only keeps a broken driver from hanging us.
const settle_limit_ns: u64 = 2 * std.time.ns_per_s;
const settle_max_rounds: u32 = 100_000;

/// A GetQueuedCompletionStatusEx that wakes too early (Windows timers
/// round to ticks) waits again, this many times at most.
const poll_max_rounds: u32 = 8;

/// Not in std: ConnectEx, fetched with WSAIoctl like AcceptEx.
const LPFN_CONNECTEX = *const fn (
    s: Socket,
    name: *const ws2.sockaddr,
    namelen: i32,
    send_buffer: ?*const anyopaque,
    send_length: u32,
    bytes_sent: ?*u32,
    overlapped: *windows.OVERLAPPED,
) callconv(.winapi) windows.BOOL;

pub const Loop = struct {
    port: ?windows.HANDLE = null,
    /// Set while a wake is on its way, so wakers post one packet at most
    /// between two polls.
    wake_pending: std.atomic.Value(bool) = .init(false),
    /// A wake packet was taken outside `poll` (by cancel or unregister):
    /// the next poll must not block.
    wake_seen: bool = false,
    /// The wake packet's OVERLAPPED: never given to the OS for I/O, only
    /// so every packet carries one.
    wake_overlapped: windows.OVERLAPPED = std.mem.zeroes(windows.OVERLAPPED),
    completed: Queue = .{},
    /// Ops issued whose packets have not been taken (for tests, metrics
    /// and deinit's check).
    waiting: u32 = 0,
    /// Winsock extension functions, fetched on first use (per provider
    /// in principle; every TCP socket here is the Microsoft provider's).
    /// Untyped here and typed at each call (`typed`): a winapi function
    /// type cannot even be formed on some hosts (aarch64 outside
    /// Windows), and reactor.zig's contract check reads this struct's
    /// fields on every host.
    accept_ex: ?*const anyopaque = null,
    accept_sockaddrs: ?*const anyopaque = null,
    connect_ex: ?*const anyopaque = null,
    events: [max_events]windows.OVERLAPPED_ENTRY = undefined,

    pub fn init(loop: *Loop) socket.Error!void {
        loop.* = .{};
        // One thread runs the loop: concurrency 1.
        const port = kernel32.CreateIoCompletionPort(windows.INVALID_HANDLE_VALUE, null, 0, 1);
        loop.port = port orelse return lastError().toError();
    }

    /// Every registration must have been unregistered.
    pub fn deinit(loop: *Loop) void {
        assert(loop.waiting == 0);
        if (loop.port) |port| windows.CloseHandle(port);
        loop.port = null;
    }

    /// Always null, the contract's answer for "no descriptor": a
    /// completion port cannot be watched by poll(2) or another loop.
    pub fn pollable(loop: *const Loop) ?i32 {
        assert(loop.port != null);
        return null;
    }

    /// Associate the socket with the port. A socket stays associated
    /// until it is closed: it can be registered once in its life.
    pub fn register(loop: *Loop, reg: *Registration) socket.Error!void {
        assert(!reg.internal.registered);
        assert(reg.socket != socket.invalid);
        const handle: windows.HANDLE = @ptrCast(reg.socket);
        if (kernel32.CreateIoCompletionPort(handle, loop.port, key_io, 0) == null) return lastError().toError();
        reg.internal = .{ .registered = true };
    }

    /// Forget the socket: its issued ops are cancelled and come back
    /// (ECANCELED, or their result if the OS finished them first) before
    /// this returns; their callbacks run in the next poll.
    pub fn unregister(loop: *Loop, reg: *Registration) void {
        assert(reg.internal.registered);
        var node = reg.internal.head;
        while (node) |op| : (node = op.internal.next) op.internal.cancelled = true;
        if (reg.internal.head != null) {
            // ERROR_NOT_FOUND: nothing the OS still holds; our own
            // packets (preset results) are on their way regardless.
            _ = kernel32.CancelIoEx(@ptrCast(reg.socket), null);
            loop.settle(reg, regSettled);
        }
        // Still issued after the bound: leave those to a later poll,
        // which must not touch the registration any more.
        while (reg.internal.head) |op| loop.detach(op);
        assert(reg.internal.waiting == 0);
        reg.internal.registered = false;
    }

    fn regSettled(reg: *Registration) bool {
        return reg.internal.head == null;
    }

    fn opSettled(op: *Op) bool {
        return op.internal.where != .issued;
    }

    /// Cancel an issued op: it comes back with ECANCELED (or its result,
    /// if the OS finished it first) and its callback runs in the next
    /// poll. An op already completed keeps its result.
    pub fn cancel(loop: *Loop, op: *Op) void {
        if (op.internal.where != .issued) return;
        op.internal.cancelled = true;
        _ = kernel32.CancelIoEx(@ptrCast(op.internal.socket), &op.internal.overlapped);
        loop.settle(op, opSettled);
    }

    pub fn submit(loop: *Loop, op: *Op) void {
        const reg = op.reg;
        assert(reg.internal.registered);
        assert(op.internal.where == .idle);
        assert(op.buf.len <= std.math.maxInt(i32));
        op.internal = .{ .where = .issued, .socket = reg.socket };
        op.result = 0;
        op.accepted = socket.invalid;
        loop.track(op);
        loop.issue(op) catch |e| loop.completeAtSubmit(op, Errno.fromError(e));
    }

    /// Make a blocked `poll` return (any thread).
    pub fn wake(loop: *Loop) void {
        if (loop.wake_pending.swap(true, .acq_rel)) return;
        if (kernel32.PostQueuedCompletionStatus(loop.port.?, 0, key_wake, &loop.wake_overlapped) == 0) {
            // No packet (out of kernel memory): let the next waker try.
            loop.wake_pending.store(false, .release);
        }
    }

    /// Wait up to `timeout_ns` (null: no limit; 0: just look) for
    /// completions, then run the callbacks of every op completed so far.
    /// Returns how many callbacks ran.
    pub fn poll(loop: *Loop, timeout_ns: ?u64) u32 {
        const ready = loop.completed.head != null or loop.wake_seen;
        const wait_ns: ?u64 = if (ready) 0 else timeout_ns;
        const deadline: ?u64 = if (wait_ns) |t| clock.nowNs() +| t else null;
        var rounds: u32 = 0;
        while (rounds < poll_max_rounds) : (rounds += 1) {
            const left: ?u64 = if (deadline) |d| d -| clock.nowNs() else null;
            if (loop.take(timeoutMs(left)) > 0) break;
            if (left == null or left.? == 0) break;
        }
        loop.wake_seen = false;
        return loop.completed.runCompleted();
    }

    /// Take packets until `settled(ctx)`, at most `settle_limit_ns`.
    fn settle(loop: *Loop, ctx: anytype, comptime settled: fn (@TypeOf(ctx)) bool) void {
        const deadline = clock.nowNs() +| settle_limit_ns;
        var rounds: u32 = 0;
        while (!settled(ctx) and rounds < settle_max_rounds) : (rounds += 1) {
            const left = deadline -| clock.nowNs();
            if (left == 0) return;
            _ = loop.take(timeoutMs(left));
        }
    }

    /// One GetQueuedCompletionStatusEx: move each packet's op to the
    /// completed queue (no callbacks). Returns how many packets it took.
    fn take(loop: *Loop, timeout_ms: u32) u32 {
        var count: u32 = 0;
        const ok = kernel32.GetQueuedCompletionStatusEx(loop.port.?, &loop.events, max_events, &count, timeout_ms, windows.FALSE);
        // WAIT_TIMEOUT, or the port is gone: nothing taken.
        if (ok == 0) return 0;
        assert(count <= max_events);
        for (loop.events[0..count]) |*entry| {
            if (entry.lpCompletionKey == key_wake) {
                loop.wake_pending.store(false, .release);
                loop.wake_seen = true;
                continue;
            }
            assert(entry.lpCompletionKey == key_io);
            const state: *OpState = @fieldParentPtr("overlapped", entry.lpOverlapped);
            assert(state.socket != socket.invalid);
            loop.finish(@fieldParentPtr("internal", state), entry.dwNumberOfBytesTransferred);
        }
        return count;
    }

    /// The op's packet came: set its result and complete it (or issue an
    /// accept again when the connection it took died in the backlog).
    fn finish(loop: *Loop, op: *Op, bytes: u32) void {
        assert(op.internal.where == .issued);
        if (op.internal.preset) return loop.complete(op);
        if (op.internal.detached) {
            closeAcceptSocket(op);
            op.fail(.ECANCELED);
            return loop.complete(op);
        }
        var status = overlappedResult(op);
        // A datagram longer than the buffer fills it: POSIX's truncation,
        // where Windows reports EMSGSIZE (see socket_windows.recvFrom).
        if (op.kind == .recvfrom and status == .EMSGSIZE) status = null;
        if (status) |e| {
            closeAcceptSocket(op);
            const retry = op.kind == .accept and !op.internal.cancelled and (e == .ECONNRESET or e == .ECONNABORTED);
            if (retry) {
                // Like accept(2)'s ECONNABORTED: nothing to accept after
                // all; wait for the next connection.
                loop.reissue(op);
                return;
            }
            op.fail(e);
            return loop.complete(op);
        }
        op.result = @intCast(@min(bytes, std.math.maxInt(i32)));
        switch (op.kind) {
            .accept => loop.finishAccept(op),
            .connect => finishConnect(op),
            .recv, .send, .recvfrom, .sendto => {},
        }
        loop.complete(op);
    }

    fn reissue(loop: *Loop, op: *Op) void {
        assert(op.kind == .accept and op.internal.accept_socket == socket.invalid);
        op.internal.overlapped = std.mem.zeroes(windows.OVERLAPPED);
        loop.issue(op) catch |e| loop.completeAtSubmit(op, Errno.fromError(e));
    }

    fn finishAccept(loop: *Loop, op: *Op) void {
        const accepted = op.internal.accept_socket;
        op.internal.accept_socket = socket.invalid;
        assert(accepted != socket.invalid);
        // Gives the accepted socket the listener's properties, without
        // which getpeername, shutdown and friends fail on it.
        const listener = op.internal.socket;
        if (ws2.setsockopt(accepted, ws2.SOL.SOCKET, ws2.SO.UPDATE_ACCEPT_CONTEXT, std.mem.asBytes(&listener), @sizeOf(Socket)) != 0) {
            const e = winsock.lastErrno();
            socket.close(accepted);
            return op.fail(e);
        }
        winsock.adoptAccepted(accepted) catch |e| {
            socket.close(accepted);
            return op.fail(Errno.fromError(e));
        };
        var local: *ws2.sockaddr = undefined;
        var remote: *ws2.sockaddr = undefined;
        var local_len: i32 = 0;
        var remote_len: i32 = 0;
        typed(ws2.LPFN_GETACCEPTEXSOCKADDRS, loop.accept_sockaddrs)(&op.internal.accept_buf, 0, accept_address_space, accept_address_space, &local, &local_len, &remote, &remote_len);
        // The addresses sit unaligned inside the buffer.
        var storage: ws2.sockaddr.storage = undefined;
        const len: usize = @intCast(std.math.clamp(remote_len, 0, @sizeOf(ws2.sockaddr.in6)));
        @memcpy(std.mem.asBytes(&storage)[0..len], @as([*]const u8, @ptrCast(remote))[0..len]);
        op.addr = winsock.addressFrom(@ptrCast(&storage));
        op.accepted = accepted;
        op.result = 0;
    }

    /// Put the op on the completed queue; its callback runs in `poll`.
    fn complete(loop: *Loop, op: *Op) void {
        assert(op.internal.where == .issued);
        loop.untrack(op);
        op.internal.where = .completed;
        loop.completed.push(op);
    }

    /// A call that failed (or, for a datagram connect, succeeded) without
    /// the OS queueing a packet: queue one of ours, so the callback runs
    /// in poll and after the socket's earlier completions.
    fn completeAtSubmit(loop: *Loop, op: *Op, e: ?Errno) void {
        assert(op.internal.where == .issued);
        if (e) |err| op.fail(err) else op.result = 0;
        op.internal.preset = true;
        op.internal.overlapped = std.mem.zeroes(windows.OVERLAPPED);
        if (kernel32.PostQueuedCompletionStatus(loop.port.?, 0, key_io, &op.internal.overlapped) == 0) {
            // No packet: complete now; poll runs it all the same.
            loop.complete(op);
        }
    }

    /// Link an issued op into its registration's in-flight list.
    fn track(loop: *Loop, op: *Op) void {
        const reg = &op.reg.internal;
        assert(op.internal.next == null and op.internal.prev == null);
        op.internal.next = reg.head;
        if (reg.head) |h| h.internal.prev = op;
        reg.head = op;
        reg.waiting += 1;
        loop.waiting += 1;
    }

    fn untrack(loop: *Loop, op: *Op) void {
        loop.waiting -= 1;
        if (op.internal.detached) return;
        const reg = &op.reg.internal;
        if (op.internal.prev) |p| p.internal.next = op.internal.next else reg.head = op.internal.next;
        if (op.internal.next) |n| n.internal.prev = op.internal.prev;
        op.internal.next = null;
        op.internal.prev = null;
        reg.waiting -= 1;
    }

    /// Unlink an op the OS still holds from its registration, which is
    /// going away; the op completes (ECANCELED) when its packet comes.
    fn detach(loop: *Loop, op: *Op) void {
        _ = loop;
        const reg = &op.reg.internal;
        assert(op.internal.where == .issued and !op.internal.detached);
        assert(op.internal.prev == null and reg.head == op);
        reg.head = op.internal.next;
        if (reg.head) |h| h.internal.prev = null;
        op.internal.next = null;
        reg.waiting -= 1;
        op.internal.detached = true;
    }

    /// Start the op's overlapped call. Returning means a packet will come;
    /// an error means none will.
    fn issue(loop: *Loop, op: *Op) socket.Error!void {
        const s = op.internal.socket;
        const ov = &op.internal.overlapped;
        switch (op.kind) {
            .accept => try loop.issueAccept(op),
            .connect => try loop.issueConnect(op),
            .recv => {
                var buf = wsaBuf(op.buf);
                try pending(ws2.WSARecv(s, @ptrCast(&buf), 1, null, &op.internal.flags, ov, null));
            },
            .send => {
                var buf = wsaBuf(op.buf);
                try pending(ws2.WSASend(s, @ptrCast(&buf), 1, null, 0, ov, null));
            },
            .recvfrom => {
                var buf = wsaBuf(op.buf);
                op.internal.addr_len = @sizeOf(r.Address);
                try pending(ws2.WSARecvFrom(s, @ptrCast(&buf), 1, null, &op.internal.flags, &op.addr.any, &op.internal.addr_len, ov, null));
            },
            .sendto => {
                var buf = wsaBuf(op.buf);
                const len: i32 = @intCast(op.addr.getOsSockLen());
                try pending(ws2.WSASendTo(s, @ptrCast(&buf), 1, null, 0, &op.addr.any, len, ov, null));
            },
        }
    }

    fn issueAccept(loop: *Loop, op: *Op) socket.Error!void {
        const listener = op.internal.socket;
        const reg = &op.reg.internal;
        if (reg.family == 0) reg.family = (try socket.localAddress(listener)).any.family;
        try loop.loadExtensions(listener);
        const accepted = try socket.open(reg.family, .tcp);
        var bytes: u32 = 0;
        const ok = typed(ws2.LPFN_ACCEPTEX, loop.accept_ex)(listener, accepted, &op.internal.accept_buf, 0, accept_address_space, accept_address_space, &bytes, &op.internal.overlapped);
        pendingBool(ok) catch |e| {
            socket.close(accepted);
            return e;
        };
        op.internal.accept_socket = accepted;
    }

    fn issueConnect(loop: *Loop, op: *Op) socket.Error!void {
        const s = op.internal.socket;
        const reg = &op.reg.internal;
        if (reg.kind == .unknown) reg.kind = try socketKind(s);
        if (reg.kind == .datagram) {
            // A datagram connect only sets the peer: done at once.
            try socket.connect(s, &op.addr);
            return loop.completeAtSubmit(op, null);
        }
        // ConnectEx insists on a bound socket; bind to the any-address of
        // the peer's family unless the caller bound it already (EINVAL).
        var any = if (op.addr.any.family == ws2.AF.INET6)
            r.Address.initIp6(.{0} ** 16, 0, 0, 0)
        else
            r.Address.initIp4(.{ 0, 0, 0, 0 }, 0);
        socket.bind(s, &any) catch |e| if (e != error.EINVAL) return e;
        try loop.loadExtensions(s);
        const len: i32 = @intCast(op.addr.getOsSockLen());
        try pendingBool(typed(LPFN_CONNECTEX, loop.connect_ex)(s, &op.addr.any, len, null, 0, null, &op.internal.overlapped));
    }

    /// Fetch AcceptEx, GetAcceptExSockaddrs and ConnectEx through `s`,
    /// once per loop.
    fn loadExtensions(loop: *Loop, s: Socket) socket.Error!void {
        if (loop.connect_ex != null) return;
        loop.accept_ex = try extension(s, ws2.WSAID_ACCEPTEX);
        loop.accept_sockaddrs = try extension(s, ws2.WSAID_GETACCEPTEXSOCKADDRS);
        loop.connect_ex = try extension(s, ws2.WSAID_CONNECTEX);
    }
};

/// The address of the extension function `guid` names.
fn extension(s: Socket, guid: windows.GUID) socket.Error!*const anyopaque {
    var id = guid;
    var func: ?*const anyopaque = null;
    var returned: u32 = 0;
    const rc = ws2.WSAIoctl(s, ws2.SIO_GET_EXTENSION_FUNCTION_POINTER, &id, @sizeOf(windows.GUID), @ptrCast(&func), @sizeOf(*const anyopaque), &returned, null, null);
    if (rc != 0) return winsock.lastErrno().toError();
    return func orelse error.EOPNOTSUPP;
}

/// An extension function fetched by `loadExtensions`, as the type `T` it
/// has (see `Loop.accept_ex`).
fn typed(comptime T: type, address: ?*const anyopaque) T {
    return @ptrCast(address.?);
}

fn socketKind(s: Socket) socket.Error!SocketKind {
    var kind: i32 = 0;
    var len: i32 = @sizeOf(i32);
    if (ws2.getsockopt(s, ws2.SOL.SOCKET, ws2.SO.TYPE, @ptrCast(&kind), &len) != 0) return winsock.lastErrno().toError();
    return if (kind == ws2.SOCK.STREAM) .stream else .datagram;
}

fn finishConnect(op: *Op) void {
    // Gives the socket its connected state for getpeername, shutdown and
    // the like; the connection itself is made.
    if (ws2.setsockopt(op.internal.socket, ws2.SOL.SOCKET, ws2.SO.UPDATE_CONNECT_CONTEXT, null, 0) != 0) {
        return op.fail(winsock.lastErrno());
    }
    op.result = 0;
}

fn closeAcceptSocket(op: *Op) void {
    if (op.internal.accept_socket == socket.invalid) return;
    socket.close(op.internal.accept_socket);
    op.internal.accept_socket = socket.invalid;
}

/// The error a completed OVERLAPPED carries, or null for success.
fn overlappedResult(op: *Op) ?Errno {
    // STATUS_SUCCESS: the common case needs no call.
    if (op.internal.overlapped.Internal == 0) return null;
    var bytes: u32 = 0;
    var flags: u32 = 0;
    if (ws2.WSAGetOverlappedResult(op.internal.socket, &op.internal.overlapped, &bytes, windows.FALSE, &flags) != 0) return null;
    return winsock.lastErrno();
}

/// A Winsock overlapped call's return: 0 (done, its packet queued) or
/// pending are fine; anything else failed and queues nothing.
fn pending(rc: i32) socket.Error!void {
    if (rc == 0) return;
    return switch (ws2.WSAGetLastError()) {
        .WSA_IO_PENDING => {},
        // On an overlapped call: too many requests outstanding, not "try
        // again later" (the ops of this loop never end with EAGAIN).
        .WSAEWOULDBLOCK => error.ENOBUFS,
        else => |code| winsock.errnoFromCode(@intFromEnum(code)).toError(),
    };
}

/// The same for the extension functions, which return a BOOL.
fn pendingBool(ok: windows.BOOL) socket.Error!void {
    if (ok != 0) return;
    return pending(ws2.SOCKET_ERROR);
}

fn wsaBuf(buf: []u8) ws2.WSABUF {
    return .{ .len = @intCast(buf.len), .buf = buf.ptr };
}

fn timeoutMs(timeout_ns: ?u64) u32 {
    const ns = timeout_ns orelse return windows.INFINITE;
    const ms = (ns +| (std.time.ns_per_ms - 1)) / std.time.ns_per_ms;
    // INFINITE is maxInt(u32): stay below it.
    return @intCast(@min(ms, windows.INFINITE - 1));
}

fn lastError() Errno {
    return switch (kernel32.GetLastError()) {
        .NOT_ENOUGH_MEMORY, .OUTOFMEMORY => .ENOMEM,
        .NO_SYSTEM_RESOURCES => .ENOBUFS,
        .INVALID_HANDLE => .EBADF,
        .INVALID_PARAMETER => .EINVAL,
        .TOO_MANY_OPEN_FILES => .EMFILE,
        else => .EIO,
    };
}
