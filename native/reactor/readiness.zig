//! The readiness core shared by epoll.zig and kqueue.zig: everything but
//! the syscalls.
//!
//! Both backends add each socket once, edge-triggered for reads and
//! writes, so the kernel reports each edge once and the loop never
//! re-arms. That is only correct if the loop never leaves readiness
//! unused: an op is tried when it is submitted (the data may have arrived
//! before, its edge long consumed), and on each edge the queue of that
//! direction is run until an op would block. An op that would block stays
//! at the head of its queue and waits for the next edge, which the kernel
//! owes us since the syscall saw EAGAIN.
//!
//! `Loop(Poller)` is that bookkeeping (the two queues per socket, submit,
//! cancel, the completed list, perform, the wake flag); the `Poller` plugs
//! in the syscalls. A `Poller` is a struct whose every field has a default
//! and which declares (all `pub`):
//!
//! - `Hint`: per-socket knowledge the backend keeps to skip syscalls bound
//!   to fail (see `NoHint` for the interface; epoll's `DrainHint`).
//! - `open(*Poller) socket.Error!void`, `close(*Poller) void`: make and
//!   free the kernel objects; `close` also after a failed `open`.
//! - `descriptor(*const Poller) i32`: what `Loop.pollable` returns.
//! - `add(*Poller, Socket, udata: usize) socket.Error!void`: watch both
//!   directions, edge-triggered, with `udata` handed back in events; on
//!   failure nothing stays added. `remove(*Poller, Socket) void`.
//! - `notify(*Poller) bool`: make a blocked `wait` return (any thread,
//!   touching nothing the owner uses); false when nothing was sent.
//! - `wait(*Poller, ?u64) []const Raw`: the events of one wait of at most
//!   that many ns (null: no limit), at most `max_events` of them.
//! - `Raw`, the kernel's event record; `decode(*const Raw) Event`; and
//!   `consumeWake(*Poller) void`, called on the owner thread for each
//!   `.wake` event, before wakers may send another.
const std = @import("std");
const assert = std.debug.assert;
const r = @import("reactor.zig");
const op_queue = @import("op_queue.zig");
const Queue = op_queue.Queue;
const socket = r.socket;
const Op = r.Op;
const Kind = r.Kind;
const Registration = r.Registration;
const Errno = r.Errno;

/// Events taken per wait: a bound on the work of one `poll` before the
/// callbacks run (a busier kernel keeps the rest for the next wait).
pub const max_events: u32 = 256;

/// How many times a syscall interrupted by a signal is retried.
const max_eintr_retries: u32 = 16;

pub const OpState = struct {
    next: ?*Op = null,
    where: Where = .idle,
    /// connect: the handshake was started; completion is read from SO_ERROR.
    started: bool = false,
};

const Where = enum { idle, waiting, completed };

pub fn RegistrationState(comptime Hint: type) type {
    return struct {
        readers: Queue = .{},
        writers: Queue = .{},
        registered: bool = false,
        hint: Hint = .{},
    };
}

/// One event of a wait, as the backend decodes it.
pub const Event = union(enum) {
    /// A waker's `notify`.
    wake,
    io: Io,
};

/// Readiness of one registered socket.
pub const Io = struct {
    reg: *Registration,
    /// Run the readers' queue (data, a FIN, a reset or an error).
    readable: bool,
    /// Run the writers' queue (room, a reset or an error).
    writable: bool,
    /// The peer's FIN, a reset or an error was reported (epoll only; kqueue
    /// leaves it to the op's syscall and says false).
    hup: bool,
};

/// The hint interface, for a backend with nothing to learn per socket
/// (kqueue): every op is tried, nothing is recorded. Zero-sized.
pub const NoHint = struct {
    /// False when an op of `kind` would surely block: it then waits for
    /// the next edge without a syscall.
    pub fn mayTry(hint: *const NoHint, kind: Kind) bool {
        _ = hint;
        _ = kind;
        return true;
    }

    /// The op's syscall said EAGAIN (or EINPROGRESS).
    pub fn blocked(hint: *NoHint, kind: Kind) void {
        _ = hint;
        _ = kind;
    }

    /// The op's syscall moved `n` bytes of the `asked`.
    pub fn transferred(hint: *NoHint, kind: Kind, n: usize, asked: usize) void {
        _ = hint;
        _ = kind;
        _ = n;
        _ = asked;
    }

    /// An event for the socket, before its queues run.
    pub fn edge(hint: *NoHint, io: Io) void {
        _ = hint;
        _ = io;
    }
};

const Progress = enum { done, again };

/// What a `Poller` declares (see the file's header for each one's type).
const poller_decls = [_][]const u8{ "Hint", "Raw", "open", "close", "descriptor", "add", "remove", "notify", "wait", "decode", "consumeWake" };

/// The same for a `Hint` (see `NoHint`).
const hint_decls = [_][]const u8{ "mayTry", "blocked", "transferred", "edge" };

pub fn Loop(comptime Poller: type) type {
    // Named here, so a backend missing one fails with that name on every
    // host (reactor.zig's contract check instantiates this for both).
    for (poller_decls) |decl| {
        if (!@hasDecl(Poller, decl)) @compileError("avx readiness: " ++ @typeName(Poller) ++ " lacks `" ++ decl ++ "`");
    }
    for (hint_decls) |decl| {
        if (!@hasDecl(Poller.Hint, decl)) @compileError("avx readiness: " ++ @typeName(Poller.Hint) ++ " lacks `" ++ decl ++ "`");
    }
    return struct {
        const Self = @This();
        const State = RegistrationState(Poller.Hint);

        poller: Poller = .{},
        /// Set while a wake is on its way, so wakers make one syscall at
        /// most between two polls.
        wake_pending: std.atomic.Value(bool) = .init(false),
        completed: Queue = .{},
        /// Ops waiting in some registration's queue (for tests and metrics).
        waiting: u32 = 0,

        pub fn init(loop: *Self) socket.Error!void {
            loop.* = .{};
            try loop.poller.open();
        }

        /// Every registration must have been unregistered.
        pub fn deinit(loop: *Self) void {
            assert(loop.waiting == 0);
            loop.poller.close();
        }

        /// The kernel queue's descriptor (never null here): readable when
        /// this loop has events, so a loop can be watched from another (a
        /// parked worker's loop from the shared driver).
        pub fn pollable(loop: *const Self) ?i32 {
            const fd = loop.poller.descriptor();
            assert(fd >= 0);
            return fd;
        }

        pub fn register(loop: *Self, reg: *Registration) socket.Error!void {
            // The backend's `RegistrationState` is this core's.
            comptime assert(@FieldType(Registration, "internal") == State);
            assert(!reg.internal.registered);
            try loop.poller.add(reg.socket, @intFromPtr(reg));
            reg.internal = .{ .registered = true };
        }

        /// Forget the socket; its pending ops complete with ECANCELED.
        pub fn unregister(loop: *Self, reg: *Registration) void {
            assert(reg.internal.registered);
            // Fails only if the socket was closed already, which the
            // contract forbids; the registration is forgotten either way.
            loop.poller.remove(reg.socket);
            loop.cancelAll(&reg.internal.readers);
            loop.cancelAll(&reg.internal.writers);
            reg.internal.registered = false;
        }

        pub fn submit(loop: *Self, op: *Op) void {
            assert(op.reg.internal.registered);
            assert(op.internal.where == .idle);
            assert(op.buf.len <= std.math.maxInt(i32));
            op.internal = .{};
            const q = queueOf(op);
            // Behind others: they wait for an edge, so would this one.
            if (q.head == null and op.reg.internal.hint.mayTry(op.kind) and perform(op) == .done) {
                loop.complete(op);
                return;
            }
            op.internal.where = .waiting;
            q.push(op);
            loop.waiting += 1;
        }

        /// Complete a waiting op with ECANCELED (its callback runs in the
        /// next poll). An op already completed keeps its result.
        pub fn cancel(loop: *Self, op: *Op) void {
            if (op.internal.where != .waiting) return;
            const found = queueOf(op).remove(op);
            assert(found);
            loop.waiting -= 1;
            op.fail(.ECANCELED);
            loop.complete(op);
        }

        /// Make a blocked `poll` return (any thread).
        pub fn wake(loop: *Self) void {
            if (loop.wake_pending.swap(true, .acq_rel)) return;
            // Not sent: let the next waker try.
            if (!loop.poller.notify()) loop.wake_pending.store(false, .release);
        }

        /// Wait up to `timeout_ns` (null: no limit; 0: just look) for
        /// events, then run the callbacks of every op completed so far.
        /// Returns how many callbacks ran.
        pub fn poll(loop: *Self, timeout_ns: ?u64) u32 {
            // Callbacks are due already: only look.
            const wait_ns: ?u64 = if (loop.completed.head != null) 0 else timeout_ns;
            // EINTR: no events; the caller polls again.
            const events = loop.poller.wait(wait_ns);
            assert(events.len <= max_events);
            for (events) |*raw| switch (Poller.decode(raw)) {
                .wake => {
                    loop.poller.consumeWake();
                    loop.wake_pending.store(false, .release);
                },
                .io => |io| loop.ready(io),
            };
            return loop.completed.runCompleted();
        }

        fn ready(loop: *Self, io: Io) void {
            const state = &io.reg.internal;
            assert(state.registered);
            state.hint.edge(io);
            if (io.readable) loop.run(&state.readers);
            if (io.writable) loop.run(&state.writers);
        }

        fn cancelAll(loop: *Self, q: *Queue) void {
            while (q.pop()) |op| {
                assert(op.internal.where == .waiting);
                loop.waiting -= 1;
                op.fail(.ECANCELED);
                loop.complete(op);
            }
        }

        fn complete(loop: *Self, op: *Op) void {
            op.internal.where = .completed;
            loop.completed.push(op);
        }

        /// Perform the queue's ops in order until one would block.
        fn run(loop: *Self, q: *Queue) void {
            while (q.head) |op| {
                if (perform(op) == .again) return;
                _ = q.pop();
                loop.waiting -= 1;
                loop.complete(op);
            }
        }

        fn queueOf(op: *Op) *Queue {
            return if (op.kind.reads()) &op.reg.internal.readers else &op.reg.internal.writers;
        }

        /// Try the op's syscall once (again if a signal interrupted it);
        /// on `done` its result is set.
        fn perform(op: *Op) Progress {
            const hint = &op.reg.internal.hint;
            var tries: u32 = 0;
            while (tries <= max_eintr_retries) : (tries += 1) {
                const n = op_queue.attempt(op) catch |e| switch (e) {
                    error.EAGAIN, error.EINPROGRESS => {
                        hint.blocked(op.kind);
                        return .again;
                    },
                    error.EINTR => continue,
                    else => {
                        op.fail(Errno.fromError(e));
                        return .done;
                    },
                };
                // Never more than the buffer (accept and connect: 0 of 0).
                assert(n <= op.buf.len);
                op.result = @intCast(@min(n, std.math.maxInt(i32)));
                hint.transferred(op.kind, n, op.buf.len);
                return .done;
            }
            op.fail(.EINTR);
            return .done;
        }
    };
}
