//! Pieces every backend shares: the intrusive FIFO of ops and the run of
//! completed callbacks, and (for the
//! readiness core, readiness.zig, under epoll and kqueue) the one
//! nonblocking syscall an op stands for. A backend's `OpState` must have `next: ?*Op` (the queue's
//! link) and, for `attempt`, `started: bool` (a connect in progress).
const std = @import("std");
const assert = std.debug.assert;
const r = @import("reactor.zig");
const socket = r.socket;
const Op = r.Op;

/// A FIFO of ops linked through `internal.next`.
pub const Queue = struct {
    head: ?*Op = null,
    tail: ?*Op = null,

    pub fn push(q: *Queue, op: *Op) void {
        assert(op.internal.next == null);
        if (q.tail) |t| t.internal.next = op else q.head = op;
        q.tail = op;
    }

    pub fn pop(q: *Queue) ?*Op {
        const op = q.head orelse return null;
        q.head = op.internal.next;
        if (q.head == null) q.tail = null;
        op.internal.next = null;
        return op;
    }

    /// Unlink `op`; false when it is not in this queue.
    pub fn remove(q: *Queue, op: *Op) bool {
        var prev: ?*Op = null;
        var node = q.head;
        while (node) |n| : ({
            prev = n;
            node = n.internal.next;
        }) {
            if (n != op) continue;
            if (prev) |p| p.internal.next = n.internal.next else q.head = n.internal.next;
            if (q.tail == n) q.tail = prev;
            n.internal.next = null;
            return true;
        }
        return false;
    }

    /// Run the callbacks of the completed ops in `q`, taking the whole
    /// list first: callbacks that submit again complete into `q` for the
    /// next poll, so one poll does bounded work. The backend's
    /// `OpState.where` must have `completed` and `idle`. How many ran.
    pub fn runCompleted(q: *Queue) u32 {
        var batch = q.*;
        q.* = .{};
        var count: u32 = 0;
        while (batch.pop()) |op| {
            assert(op.internal.where == .completed);
            op.internal.where = .idle;
            op.callback(op);
            count += 1;
        }
        return count;
    }
};

/// The op's syscall, tried once: bytes, or the error (EAGAIN and
/// EINPROGRESS: not yet). An accept's socket goes to `op.accepted`.
pub fn attempt(op: *Op) socket.Error!usize {
    const s = op.reg.socket;
    return switch (op.kind) {
        .accept => blk: {
            op.accepted = try socket.accept(s, &op.addr);
            break :blk 0;
        },
        .connect => connect(op),
        .recv => socket.recv(s, op.buf),
        .send => socket.send(s, op.buf),
        .recvfrom => socket.recvFrom(s, op.buf, &op.addr),
        .sendto => socket.sendTo(s, op.buf, &op.addr),
    };
}

fn connect(op: *Op) socket.Error!usize {
    if (!op.internal.started) {
        op.internal.started = true;
        try socket.connect(op.reg.socket, &op.addr);
        return 0;
    }
    // A writability or error edge; but a socket registered before it
    // connected may report one at once, so check that the handshake is
    // over.
    try socket.takeError(op.reg.socket);
    _ = socket.peerAddress(op.reg.socket) catch |e| return if (e == error.ENOTCONN) error.EAGAIN else e;
    return 0;
}
