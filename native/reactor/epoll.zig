//! The Linux backend: epoll by direct syscalls, edge-triggered. Only the
//! syscalls live here; the ops' bookkeeping is readiness.zig's, shared
//! with kqueue.zig.
//!
//! Each socket is added once with IN|OUT|RDHUP|ET, so the kernel reports
//! each edge once and the loop never re-arms (why that is correct:
//! readiness.zig). An eventfd registered beside the sockets, with the
//! epoll data 0 (no registration lives at address 0), wakes a blocked
//! `epoll_wait`.
//!
//! epoll alone keeps a per-socket hint (`DrainHint`): a stream socket it
//! saw drained is not read again before its next edge.
const std = @import("std");
const linux = std.os.linux;
const assert = std.debug.assert;
const r = @import("reactor.zig");
const readiness = @import("readiness.zig");
const socket = r.socket;
const Kind = r.Kind;
const Errno = r.Errno;

pub const OpState = readiness.OpState;
pub const RegistrationState = readiness.RegistrationState(DrainHint);
pub const Loop = readiness.Loop(Epoll);

/// The epoll data of the eventfd.
const wake_data: usize = 0;

/// What epoll knows of a socket beyond its queues.
const DrainHint = struct {
    /// False once a stream recv saw the socket drained (EAGAIN, or fewer
    /// bytes than asked: a TCP recv returns all there is). A recv
    /// submitted then waits for the next edge instead of trying a syscall
    /// bound to fail; new data (or a FIN, a reset) always brings an edge.
    readable: bool = true,
    /// The peer's FIN, a reset or an error was reported: a short read may
    /// then be followed by end of stream with no edge to come, so reads
    /// are always tried.
    hup: bool = false,

    pub fn mayTry(hint: *const DrainHint, kind: Kind) bool {
        return !(kind == .recv and !hint.readable);
    }

    pub fn blocked(hint: *DrainHint, kind: Kind) void {
        if (kind == .recv and !hint.hup) hint.readable = false;
    }

    pub fn transferred(hint: *DrainHint, kind: Kind, n: usize, asked: usize) void {
        if (kind == .recv and n > 0 and n < asked and !hint.hup) hint.readable = false;
    }

    pub fn edge(hint: *DrainHint, io: readiness.Io) void {
        if (io.hup) hint.hup = true;
        if (io.readable) hint.readable = true;
    }
};

const Epoll = struct {
    epfd: i32 = -1,
    wake_fd: i32 = -1,
    events: [readiness.max_events]linux.epoll_event = undefined,

    pub const Hint = DrainHint;
    pub const Raw = linux.epoll_event;

    pub fn open(e: *Epoll) socket.Error!void {
        assert(e.epfd == -1 and e.wake_fd == -1);
        const ep = linux.epoll_create1(linux.EPOLL.CLOEXEC);
        if (failed(ep)) |err| return err.toError();
        e.epfd = @intCast(ep);
        const ev = linux.eventfd(0, linux.EFD.CLOEXEC | linux.EFD.NONBLOCK);
        if (failed(ev)) |err| {
            e.close();
            return err.toError();
        }
        e.wake_fd = @intCast(ev);
        var event: linux.epoll_event = .{ .events = linux.EPOLL.IN | linux.EPOLL.ET, .data = .{ .ptr = wake_data } };
        if (failed(linux.epoll_ctl(e.epfd, linux.EPOLL.CTL_ADD, e.wake_fd, &event))) |err| {
            e.close();
            return err.toError();
        }
    }

    pub fn close(e: *Epoll) void {
        if (e.wake_fd >= 0) _ = linux.close(e.wake_fd);
        if (e.epfd >= 0) _ = linux.close(e.epfd);
        e.epfd = -1;
        e.wake_fd = -1;
    }

    pub fn descriptor(e: *const Epoll) i32 {
        return e.epfd;
    }

    pub fn add(e: *Epoll, fd: socket.Socket, udata: usize) socket.Error!void {
        assert(udata != wake_data);
        var event: linux.epoll_event = .{
            .events = linux.EPOLL.IN | linux.EPOLL.OUT | linux.EPOLL.RDHUP | linux.EPOLL.ET,
            .data = .{ .ptr = udata },
        };
        if (failed(linux.epoll_ctl(e.epfd, linux.EPOLL.CTL_ADD, fd, &event))) |err| return err.toError();
    }

    pub fn remove(e: *Epoll, fd: socket.Socket) void {
        _ = linux.epoll_ctl(e.epfd, linux.EPOLL.CTL_DEL, fd, null);
    }

    /// Always sent: a write fails only when the counter would overflow,
    /// and then the eventfd is readable already.
    pub fn notify(e: *Epoll) bool {
        const one: u64 = 1;
        _ = linux.write(e.wake_fd, std.mem.asBytes(&one), 8);
        return true;
    }

    pub fn consumeWake(e: *Epoll) void {
        var value: u64 = 0;
        _ = linux.read(e.wake_fd, std.mem.asBytes(&value), 8);
    }

    pub fn wait(e: *Epoll, timeout_ns: ?u64) []const linux.epoll_event {
        // Rounded up, so a wait is never shorter than asked; capped at
        // what epoll_wait takes (the caller polls again).
        const timeout_ms: i32 = if (timeout_ns) |t|
            @intCast(@min((t + std.time.ns_per_ms - 1) / std.time.ns_per_ms, std.math.maxInt(i32)))
        else
            -1;
        const rc = linux.epoll_wait(e.epfd, &e.events, readiness.max_events, timeout_ms);
        const n: usize = if (failed(rc) == null) rc else 0;
        assert(n <= readiness.max_events);
        return e.events[0..n];
    }

    pub fn decode(ev: *const linux.epoll_event) readiness.Event {
        if (ev.data.ptr == wake_data) return .wake;
        const hup = linux.EPOLL.ERR | linux.EPOLL.HUP;
        return .{ .io = .{
            .reg = @ptrFromInt(ev.data.ptr),
            .hup = ev.events & (linux.EPOLL.RDHUP | hup) != 0,
            .readable = ev.events & (linux.EPOLL.IN | linux.EPOLL.RDHUP | hup) != 0,
            .writable = ev.events & (linux.EPOLL.OUT | hup) != 0,
        } };
    }
};

fn failed(rc: usize) ?Errno {
    return switch (linux.E.init(rc)) {
        .SUCCESS => null,
        .MFILE => .EMFILE,
        .NFILE => .ENFILE,
        .NOMEM => .ENOMEM,
        .INTR => .EINTR,
        .BADF => .EBADF,
        .EXIST, .INVAL, .LOOP, .NOENT, .PERM => .EINVAL,
        .NOSPC => .ENOBUFS,
        else => .EIO,
    };
}
