//! The macOS and BSD backend: kqueue through libc (libSystem on Darwin,
//! whose syscall numbers are not a stable ABI), edge-triggered.
//!
//! The design is epoll.zig's. Each socket is added once with EVFILT_READ
//! and EVFILT_WRITE, both EV_CLEAR, so the kernel reports each edge once
//! and the loop never re-arms. That is only correct if the loop never
//! leaves readiness unused: an op is tried when it is submitted (the data
//! may have arrived before, its edge long consumed), and on each edge the
//! queue of that direction is run until an op would block. An op that
//! would block stays at the head of its queue and waits for the next
//! edge, which the kernel owes us since the syscall saw EAGAIN.
//!
//! An EVFILT_USER event, also EV_CLEAR, wakes a blocked `kevent`: `wake`
//! triggers it (NOTE_TRIGGER) and taking it resets it.
const std = @import("std");
const builtin = @import("builtin");
const c = std.c;
const posix = std.posix;
const assert = std.debug.assert;
const r = @import("reactor.zig");
const op_queue = @import("op_queue.zig");
const Queue = op_queue.Queue;
const socket = r.socket;
const Op = r.Op;
const Registration = r.Registration;
const Errno = r.Errno;

comptime {
    // EVFILT_USER: std's NetBSD value is wrong and OpenBSD has none.
    switch (builtin.os.tag) {
        .macos, .ios, .tvos, .watchos, .visionos, .freebsd, .dragonfly => {},
        else => @compileError("avx: the kqueue backend needs EVFILT_USER, which this OS lacks in std"),
    }
}

pub const OpState = struct {
    next: ?*Op = null,
    where: Where = .idle,
    /// connect: the handshake was started; completion is read from SO_ERROR.
    started: bool = false,
};

const Where = enum { idle, waiting, completed };

pub const RegistrationState = struct {
    readers: Queue = .{},
    writers: Queue = .{},
    registered: bool = false,
};

/// Events taken per kevent.
const max_events = 256;

/// EVFILT_USER idents are a namespace of their own: any number will do.
const wake_ident: usize = 0;

/// The longest wait per kevent, as epoll's (maxInt(i32) ms): some kernels
/// reject larger timeouts, and the caller polls again anyway.
const max_timeout_ns: u64 = std.math.maxInt(i32) * std.time.ns_per_ms;

/// How many times a syscall interrupted by a signal is retried.
const max_eintr_retries: u32 = 16;

pub const Loop = struct {
    kq: i32 = -1,
    /// Set while a wake is on its way, so wakers make one syscall at most
    /// between two polls.
    wake_pending: std.atomic.Value(bool) = .init(false),
    completed: Queue = .{},
    /// Ops waiting in some registration's queue (for tests and metrics).
    waiting: u32 = 0,
    events: [max_events]c.Kevent = undefined,

    pub fn init(loop: *Loop) socket.Error!void {
        loop.* = .{};
        const kq = c.kqueue();
        if (kq < 0) return lastErrno().toError();
        loop.kq = kq;
        errdefer loop.deinit();
        // Darwin and the BSDs do not pass a kqueue to a forked child, but
        // say it for exec too.
        if (c.fcntl(kq, posix.F.SETFD, @as(c_int, posix.FD_CLOEXEC)) < 0) return lastErrno().toError();
        const add = [1]c.Kevent{event(wake_ident, c.EVFILT.USER, c.EV.ADD | c.EV.CLEAR, 0, 0)};
        try loop.change(&add);
    }

    /// Every registration must have been unregistered.
    pub fn deinit(loop: *Loop) void {
        assert(loop.waiting == 0);
        if (loop.kq >= 0) _ = c.close(loop.kq);
        loop.kq = -1;
    }

    /// The kqueue descriptor: readable when this loop has events, so a
    /// loop can be watched from another (a parked worker's loop from the
    /// shared driver).
    pub fn pollable(loop: *const Loop) i32 {
        return loop.kq;
    }

    pub fn register(loop: *Loop, reg: *Registration) socket.Error!void {
        assert(!reg.internal.registered);
        const fd: usize = @intCast(reg.socket);
        const udata = @intFromPtr(reg);
        const add = [2]c.Kevent{
            event(fd, c.EVFILT.READ, c.EV.ADD | c.EV.CLEAR, 0, udata),
            event(fd, c.EVFILT.WRITE, c.EV.ADD | c.EV.CLEAR, 0, udata),
        };
        loop.change(&add) catch |e| {
            // The first filter may have been added before the second
            // failed: take both away (a missing one is ENOENT, ignored).
            loop.deleteFilters(reg.socket);
            return e;
        };
        reg.internal = .{ .registered = true };
    }

    /// Forget the socket; its pending ops complete with ECANCELED.
    pub fn unregister(loop: *Loop, reg: *Registration) void {
        assert(reg.internal.registered);
        // Fails only if the socket was closed already, which the contract
        // forbids (closing would have removed the filters anyway).
        loop.deleteFilters(reg.socket);
        loop.cancelAll(&reg.internal.readers);
        loop.cancelAll(&reg.internal.writers);
        reg.internal.registered = false;
    }

    fn deleteFilters(loop: *Loop, fd: socket.Socket) void {
        const ident: usize = @intCast(fd);
        // One call each: a failed change stops kevent at that change.
        const read = [1]c.Kevent{event(ident, c.EVFILT.READ, c.EV.DELETE, 0, 0)};
        const write = [1]c.Kevent{event(ident, c.EVFILT.WRITE, c.EV.DELETE, 0, 0)};
        loop.change(&read) catch {};
        loop.change(&write) catch {};
    }

    fn cancelAll(loop: *Loop, q: *Queue) void {
        while (q.pop()) |op| {
            loop.waiting -= 1;
            op.fail(.ECANCELED);
            loop.complete(op);
        }
    }

    pub fn submit(loop: *Loop, op: *Op) void {
        assert(op.reg.internal.registered);
        assert(op.internal.where == .idle);
        assert(op.buf.len <= std.math.maxInt(i32));
        op.internal = .{};
        const q = if (op.kind.reads()) &op.reg.internal.readers else &op.reg.internal.writers;
        // Behind others: they wait for an edge, so would this one.
        if (q.head == null and perform(op) == .done) {
            loop.complete(op);
            return;
        }
        op.internal.where = .waiting;
        q.push(op);
        loop.waiting += 1;
    }

    /// Complete a waiting op with ECANCELED (its callback runs in the next
    /// poll). An op already completed keeps its result.
    pub fn cancel(loop: *Loop, op: *Op) void {
        if (op.internal.where != .waiting) return;
        const q = if (op.kind.reads()) &op.reg.internal.readers else &op.reg.internal.writers;
        const found = q.remove(op);
        assert(found);
        loop.waiting -= 1;
        op.fail(.ECANCELED);
        loop.complete(op);
    }

    fn complete(loop: *Loop, op: *Op) void {
        op.internal.where = .completed;
        loop.completed.push(op);
    }

    /// Make a blocked `poll` return (any thread).
    pub fn wake(loop: *Loop) void {
        if (loop.wake_pending.swap(true, .acq_rel)) return;
        const trigger = [1]c.Kevent{event(wake_ident, c.EVFILT.USER, 0, c.NOTE.TRIGGER, 0)};
        // Not through `change`: that uses the owner's event buffer.
        var none: [1]c.Kevent = undefined;
        if (c.kevent(loop.kq, &trigger, 1, &none, 0, null) < 0) {
            // Not triggered: let the next waker try.
            loop.wake_pending.store(false, .release);
        }
    }

    /// Wait up to `timeout_ns` (null: no limit; 0: just look) for events,
    /// then run the callbacks of every op completed so far. Returns how
    /// many callbacks ran.
    pub fn poll(loop: *Loop, timeout_ns: ?u64) u32 {
        const wait_ns: ?u64 = if (loop.completed.head != null) 0 else timeout_ns;
        var ts: c.timespec = undefined;
        const ts_ptr: ?*const c.timespec = if (wait_ns) |t| blk: {
            const capped = @min(t, max_timeout_ns);
            ts = .{
                .sec = @intCast(capped / std.time.ns_per_s),
                .nsec = @intCast(capped % std.time.ns_per_s),
            };
            break :blk &ts;
        } else null;
        const rc = c.kevent(loop.kq, &loop.events, 0, &loop.events, max_events, ts_ptr);
        // EINTR: a signal; the caller polls again.
        const n: usize = if (rc > 0) @intCast(rc) else 0;
        assert(n <= max_events);
        for (loop.events[0..n]) |*ev| {
            if (ev.filter == c.EVFILT.USER) {
                assert(ev.ident == wake_ident);
                loop.wake_pending.store(false, .release);
                continue;
            }
            // EV_ERROR reports a failed change; poll passes none.
            assert(ev.flags & c.EV.ERROR == 0);
            const reg: *Registration = @ptrFromInt(ev.udata);
            assert(reg.internal.registered);
            // EV_EOF (peer closed, reset, or a failed connect) rides on
            // the filter it concerns: the op's syscall reports it.
            if (ev.filter == c.EVFILT.READ) loop.run(&reg.internal.readers);
            if (ev.filter == c.EVFILT.WRITE) loop.run(&reg.internal.writers);
        }
        return loop.runCompleted();
    }

    /// Perform the queue's ops in order until one would block.
    fn run(loop: *Loop, q: *Queue) void {
        while (q.head) |op| {
            if (perform(op) == .again) return;
            _ = q.pop();
            loop.waiting -= 1;
            loop.complete(op);
        }
    }

    fn runCompleted(loop: *Loop) u32 {
        // Only the ops completed so far: callbacks that submit again are
        // run by the next poll, so one poll does bounded work.
        var batch = loop.completed;
        loop.completed = .{};
        var count: u32 = 0;
        while (batch.pop()) |op| {
            op.internal.where = .idle;
            op.callback(op);
            count += 1;
        }
        return count;
    }

    /// Apply changes (no events taken).
    fn change(loop: *Loop, changes: []const c.Kevent) socket.Error!void {
        assert(changes.len > 0 and changes.len <= 2);
        var tries: u32 = 0;
        while (c.kevent(loop.kq, changes.ptr, @intCast(changes.len), &loop.events, 0, null) < 0) : (tries += 1) {
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

const Progress = enum { done, again };

/// Try the op's syscall once (again if a signal interrupted it); on
/// `done` its result is set.
fn perform(op: *Op) Progress {
    var tries: u32 = 0;
    while (true) : (tries += 1) {
        const n = op_queue.attempt(op) catch |e| switch (e) {
            error.EAGAIN, error.EINPROGRESS => return .again,
            error.EINTR => if (tries < max_eintr_retries) continue else {
                op.fail(.EINTR);
                return .done;
            },
            else => {
                op.fail(Errno.fromError(e));
                return .done;
            },
        };
        op.result = @intCast(@min(n, std.math.maxInt(i32)));
        return .done;
    }
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
