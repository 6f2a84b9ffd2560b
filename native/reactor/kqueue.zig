//! The macOS and BSD backend: kqueue through libc (libSystem on Darwin,
//! whose syscall numbers are not a stable ABI), edge-triggered. Only the
//! syscalls live here; the ops' bookkeeping is readiness.zig's, shared
//! with epoll.zig. Which OSes use it is reactor.zig's `Backend` (the one
//! list): those whose std has EVFILT_USER.
//!
//! Each socket is added once with EVFILT_READ and EVFILT_WRITE, both
//! EV_CLEAR, so the kernel reports each edge once and the loop never
//! re-arms (why that is correct: readiness.zig). EV_EOF (peer closed,
//! reset, or a failed connect) rides on the filter it concerns and the
//! op's syscall reports it, so kqueue keeps no per-socket hint.
//!
//! An EVFILT_USER event, also EV_CLEAR, wakes a blocked `kevent`: `wake`
//! triggers it (NOTE_TRIGGER) and taking it resets it.
const std = @import("std");
const c = std.c;
const posix = std.posix;
const assert = std.debug.assert;
const r = @import("reactor.zig");
const readiness = @import("readiness.zig");
const socket = r.socket;
const Errno = r.Errno;

pub const OpState = readiness.OpState;
pub const RegistrationState = readiness.RegistrationState(readiness.NoHint);
pub const Loop = readiness.Loop(Kqueue);

/// EVFILT_USER idents are a namespace of their own: any number will do.
const wake_ident: usize = 0;

/// The longest wait per kevent, as epoll's (maxInt(i32) ms): some kernels
/// reject larger timeouts, and the caller polls again anyway.
const max_timeout_ns: u64 = std.math.maxInt(i32) * std.time.ns_per_ms;

/// How many times a change interrupted by a signal is retried.
const max_eintr_retries: u32 = 16;

const Kqueue = struct {
    kq: i32 = -1,
    events: [readiness.max_events]c.Kevent = undefined,

    pub const Hint = readiness.NoHint;
    pub const Raw = c.Kevent;

    pub fn open(k: *Kqueue) socket.Error!void {
        assert(k.kq == -1);
        const kq = c.kqueue();
        if (kq < 0) return lastErrno().toError();
        k.kq = kq;
        errdefer k.close();
        // Darwin and the BSDs do not pass a kqueue to a forked child, but
        // say it for exec too.
        if (c.fcntl(kq, posix.F.SETFD, @as(c_int, posix.FD_CLOEXEC)) < 0) return lastErrno().toError();
        const wake_filter = [1]c.Kevent{event(wake_ident, c.EVFILT.USER, c.EV.ADD | c.EV.CLEAR, 0, 0)};
        try k.change(&wake_filter);
    }

    pub fn close(k: *Kqueue) void {
        if (k.kq >= 0) _ = c.close(k.kq);
        k.kq = -1;
    }

    pub fn descriptor(k: *const Kqueue) i32 {
        return k.kq;
    }

    pub fn add(k: *Kqueue, fd: socket.Socket, udata: usize) socket.Error!void {
        const ident: usize = @intCast(fd);
        const changes = [2]c.Kevent{
            event(ident, c.EVFILT.READ, c.EV.ADD | c.EV.CLEAR, 0, udata),
            event(ident, c.EVFILT.WRITE, c.EV.ADD | c.EV.CLEAR, 0, udata),
        };
        k.change(&changes) catch |e| {
            // The first filter may have been added before the second
            // failed: take both away (a missing one is ENOENT, ignored).
            k.remove(fd);
            return e;
        };
    }

    /// Closing the socket would have removed the filters anyway.
    pub fn remove(k: *Kqueue, fd: socket.Socket) void {
        const ident: usize = @intCast(fd);
        // One call each: a failed change stops kevent at that change.
        const read = [1]c.Kevent{event(ident, c.EVFILT.READ, c.EV.DELETE, 0, 0)};
        const write = [1]c.Kevent{event(ident, c.EVFILT.WRITE, c.EV.DELETE, 0, 0)};
        k.change(&read) catch {};
        k.change(&write) catch {};
    }

    pub fn notify(k: *Kqueue) bool {
        const trigger = [1]c.Kevent{event(wake_ident, c.EVFILT.USER, 0, c.NOTE.TRIGGER, 0)};
        // Not through `change`: that uses the owner's event buffer.
        var none: [1]c.Kevent = undefined;
        return c.kevent(k.kq, &trigger, 1, &none, 0, null) >= 0;
    }

    /// EV_CLEAR: taking the event reset it.
    pub fn consumeWake(k: *Kqueue) void {
        assert(k.kq >= 0);
    }

    pub fn wait(k: *Kqueue, timeout_ns: ?u64) []const c.Kevent {
        var ts: c.timespec = undefined;
        const ts_ptr: ?*const c.timespec = if (timeout_ns) |t| blk: {
            const capped = @min(t, max_timeout_ns);
            ts = .{
                .sec = @intCast(capped / std.time.ns_per_s),
                .nsec = @intCast(capped % std.time.ns_per_s),
            };
            break :blk &ts;
        } else null;
        const rc = c.kevent(k.kq, &k.events, 0, &k.events, readiness.max_events, ts_ptr);
        const n: usize = if (rc > 0) @intCast(rc) else 0;
        assert(n <= readiness.max_events);
        return k.events[0..n];
    }

    pub fn decode(ev: *const c.Kevent) readiness.Event {
        if (ev.filter == c.EVFILT.USER) {
            assert(ev.ident == wake_ident);
            return .wake;
        }
        // EV_ERROR reports a failed change; a wait passes none.
        assert(ev.flags & c.EV.ERROR == 0);
        return .{ .io = .{
            .reg = @ptrFromInt(ev.udata),
            .readable = ev.filter == c.EVFILT.READ,
            .writable = ev.filter == c.EVFILT.WRITE,
            .hup = false,
        } };
    }

    /// Apply changes (no events taken).
    fn change(k: *Kqueue, changes: []const c.Kevent) socket.Error!void {
        assert(changes.len > 0 and changes.len <= 2);
        var tries: u32 = 0;
        while (c.kevent(k.kq, changes.ptr, @intCast(changes.len), &k.events, 0, null) < 0) : (tries += 1) {
            const e = lastErrno();
            if (e != .EINTR or tries >= max_eintr_retries) return e.toError();
        }
    }
};

/// A kevent record; every field not named is zero (FreeBSD's `ext`).
fn event(ident: usize, comptime filter: comptime_int, comptime flags: comptime_int, comptime fflags: comptime_int, udata: usize) c.Kevent {
    var ev = std.mem.zeroes(c.Kevent);
    ev.ident = ident;
    ev.filter = filter;
    ev.flags = flags;
    ev.fflags = fflags;
    ev.udata = udata;
    return ev;
}

/// The error of the last libc call, by its portable name.
fn lastErrno() Errno {
    return switch (posix.errno(@as(c_int, -1))) {
        .SUCCESS => .EIO,
        .MFILE => .EMFILE,
        .NFILE => .ENFILE,
        .NOMEM => .ENOMEM,
        .INTR => .EINTR,
        .BADF => .EBADF,
        .ACCES => .EACCES,
        .INVAL, .NOENT, .SRCH, .PERM => .EINVAL,
        else => .EIO,
    };
}
