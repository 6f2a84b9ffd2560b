//! The Linux backend: epoll by direct syscalls, edge-triggered.
//!
//! Each socket is added once with IN|OUT|RDHUP|ET, so the kernel reports
//! each edge once and the loop never re-arms. That is only correct if the
//! loop never leaves readiness unused: an op is tried when it is
//! submitted (the data may have arrived before, its edge long consumed),
//! and on each edge the queue of that direction is run until an op would
//! block. An op that would block stays at the head of its queue and waits
//! for the next edge, which the kernel owes us since the syscall saw EAGAIN.
//!
//! An eventfd registered beside the sockets wakes a blocked `epoll_wait`.
const std = @import("std");
const linux = std.os.linux;
const assert = std.debug.assert;
const r = @import("reactor.zig");
const op_queue = @import("op_queue.zig");
const Queue = op_queue.Queue;
const socket = r.socket;
const Op = r.Op;
const Registration = r.Registration;
const Errno = r.Errno;

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
    /// False once a stream recv saw the socket drained (EAGAIN, or fewer
    /// bytes than asked: a TCP recv returns all there is). A recv
    /// submitted then waits for the next edge instead of trying a syscall
    /// bound to fail; new data (or a FIN, a reset) always brings an edge.
    readable: bool = true,
    /// The peer's FIN, a reset or an error was reported: a short read may
    /// then be followed by end of stream with no edge to come, so reads
    /// are always tried.
    hup: bool = false,
};

/// Events taken per epoll_wait.
const max_events = 256;

pub const Loop = struct {
    epfd: i32 = -1,
    wake_fd: i32 = -1,
    /// Set while a wake is on its way, so wakers make one syscall at most
    /// between two polls.
    wake_pending: std.atomic.Value(bool) = .init(false),
    completed: Queue = .{},
    /// Ops waiting in some registration's queue (for tests and metrics).
    waiting: u32 = 0,
    events: [max_events]linux.epoll_event = undefined,

    pub fn init(loop: *Loop) socket.Error!void {
        loop.* = .{};
        const ep = linux.epoll_create1(linux.EPOLL.CLOEXEC);
        if (failed(ep)) |e| return e.toError();
        loop.epfd = @intCast(ep);
        const ev = linux.eventfd(0, linux.EFD.CLOEXEC | linux.EFD.NONBLOCK);
        if (failed(ev)) |e| {
            _ = linux.close(loop.epfd);
            return e.toError();
        }
        loop.wake_fd = @intCast(ev);
        var event: linux.epoll_event = .{ .events = linux.EPOLL.IN | linux.EPOLL.ET, .data = .{ .ptr = 0 } };
        if (failed(linux.epoll_ctl(loop.epfd, linux.EPOLL.CTL_ADD, loop.wake_fd, &event))) |e| {
            loop.deinit();
            return e.toError();
        }
    }

    /// Every registration must have been unregistered.
    pub fn deinit(loop: *Loop) void {
        assert(loop.waiting == 0);
        if (loop.wake_fd >= 0) _ = linux.close(loop.wake_fd);
        if (loop.epfd >= 0) _ = linux.close(loop.epfd);
        loop.epfd = -1;
        loop.wake_fd = -1;
    }

    /// The epoll descriptor: readable when this loop has events, so a
    /// loop can be watched from another (a parked worker's loop from the
    /// shared driver).
    pub fn pollable(loop: *const Loop) i32 {
        return loop.epfd;
    }

    pub fn register(loop: *Loop, reg: *Registration) socket.Error!void {
        assert(!reg.internal.registered);
        var event: linux.epoll_event = .{
            .events = linux.EPOLL.IN | linux.EPOLL.OUT | linux.EPOLL.RDHUP | linux.EPOLL.ET,
            .data = .{ .ptr = @intFromPtr(reg) },
        };
        if (failed(linux.epoll_ctl(loop.epfd, linux.EPOLL.CTL_ADD, reg.socket, &event))) |e| return e.toError();
        reg.internal = .{ .registered = true };
    }

    /// Forget the socket; its pending ops complete with ECANCELED.
    pub fn unregister(loop: *Loop, reg: *Registration) void {
        assert(reg.internal.registered);
        // Fails only if the socket was closed already, which the contract
        // forbids; the registration is forgotten either way.
        _ = linux.epoll_ctl(loop.epfd, linux.EPOLL.CTL_DEL, reg.socket, null);
        loop.cancelAll(&reg.internal.readers);
        loop.cancelAll(&reg.internal.writers);
        reg.internal.registered = false;
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
        const drained = op.kind == .recv and !op.reg.internal.readable;
        if (q.head == null and !drained and perform(op) == .done) {
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
        const one: u64 = 1;
        _ = linux.write(loop.wake_fd, std.mem.asBytes(&one), 8);
    }

    /// Wait up to `timeout_ns` (null: no limit; 0: just look) for events,
    /// then run the callbacks of every op completed so far. Returns how
    /// many callbacks ran.
    pub fn poll(loop: *Loop, timeout_ns: ?u64) u32 {
        const timeout_ms: i32 = if (loop.completed.head != null) 0 else if (timeout_ns) |t|
            @intCast(@min((t + std.time.ns_per_ms - 1) / std.time.ns_per_ms, std.math.maxInt(i32)))
        else
            -1;
        const rc = linux.epoll_wait(loop.epfd, &loop.events, max_events, timeout_ms);
        // EINTR: a signal; the caller polls again.
        const n: usize = if (failed(rc) == null) rc else 0;
        for (loop.events[0..n]) |ev| {
            if (ev.data.ptr == 0) {
                var value: u64 = 0;
                _ = linux.read(loop.wake_fd, std.mem.asBytes(&value), 8);
                loop.wake_pending.store(false, .release);
                continue;
            }
            const reg: *Registration = @ptrFromInt(ev.data.ptr);
            const hup = linux.EPOLL.ERR | linux.EPOLL.HUP;
            if (ev.events & (linux.EPOLL.RDHUP | hup) != 0) reg.internal.hup = true;
            if (ev.events & (linux.EPOLL.IN | linux.EPOLL.RDHUP | hup) != 0) {
                reg.internal.readable = true;
                loop.run(&reg.internal.readers);
            }
            if (ev.events & (linux.EPOLL.OUT | hup) != 0) loop.run(&reg.internal.writers);
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
};

const Progress = enum { done, again };

/// How many times a syscall interrupted by a signal is retried.
const max_eintr_retries: u32 = 16;

/// Try the op's syscall once (again if a signal interrupted it); on
/// `done` its result is set.
fn perform(op: *Op) Progress {
    var tries: u32 = 0;
    while (true) : (tries += 1) {
        const n = op_queue.attempt(op) catch |e| switch (e) {
            error.EAGAIN, error.EINPROGRESS => {
                if (op.kind == .recv and !op.reg.internal.hup) op.reg.internal.readable = false;
                return .again;
            },
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
        if (op.kind == .recv and n > 0 and n < op.buf.len and !op.reg.internal.hup) op.reg.internal.readable = false;
        return .done;
    }
}

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
