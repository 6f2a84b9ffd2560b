//! A socket shared by the isolates of the process: TCP listener, TCP
//! stream or UDP socket. JavaScript holds a handle; this object holds the
//! descriptor, one read side and one write side.
//!
//! Every operation is tried first on the caller's thread with a
//! nonblocking syscall (a read of data that is there costs one syscall
//! and no thread hop). Only when it would block does the caller link a
//! completion-queue waiter and, unless the side already has one in
//! flight, hand the side's op to the I/O driver thread (`driver.zig`).
//! When that op completes the waiters are granted and JavaScript calls
//! again: a read then finds the bytes the op received in `rbuf`, a write
//! learns how many of the bytes it handed over were sent.
//!
//! Ordering: while a side has an op in flight, the caller's thread makes
//! no syscall on that side (`would_block` instead), so bytes are never
//! read or written out of order by the two threads.
//!
//! Lifetime: `refs` counts the handle table (1, dropped when the last
//! handle reference goes), each op in flight, the registration with the
//! driver's loop, and a queued close. The memory goes with the last.
const std = @import("std");
const assert = std.debug.assert;
const reactor = @import("../reactor/reactor.zig");
const socket = reactor.socket;
const Socket = socket.Socket;
const Address = socket.Address;
const Errno = socket.Errno;
const Loop = reactor.Loop;
const Op = reactor.Op;
const wq = @import("../core/wait_queue.zig");
const WaitQueue = wq.WaitQueue;
const Cq = @import("../core/cq.zig").Cq;
const Code = @import("../core/code.zig").Code;
const driver_mod = @import("driver.zig");
const Driver = driver_mod.Driver;
const Command = driver_mod.Command;

pub const Protocol = enum(u8) { tcp_listener, tcp_stream, udp };

/// Native buffer of a side: what the driver's op reads into, and what an
/// async write copies the caller's bytes into. A TCP read waits with a
/// small one (an idle connection costs little); UDP needs room for the
/// largest datagram.
const tcp_read_buffer: u32 = 4 * 1024;
const udp_buffer: u32 = 64 * 1024;
pub const write_buffer: u32 = 64 * 1024;

/// Sockets alive (metrics, leak checks).
pub var live = std.atomic.Value(u32).init(0);

const Side = struct {
    op: Op,
    cmd: Command,
    inflight: bool = false,
    buf: []u8 = &.{},
};

pub const Sock = struct {
    fd: Socket,
    protocol: Protocol,
    driver: *Driver,
    reg: reactor.Registration,
    refs: std.atomic.Value(u32) = .init(1),
    /// Waiters of reads/accepts; its lock guards every field below.
    read_q: WaitQueue = .{},
    /// Waiters of writes/connects; shares `read_q`'s lock.
    write_q: WaitQueue = .{},
    read: Side,
    write: Side,
    close_cmd: Command = .{ .run = runClose },
    closed: bool = false,
    /// Set and cleared on the driver thread.
    registered: bool = false,
    /// Bytes the read op received and nobody has taken yet.
    rpos: u32 = 0,
    rlen: u32 = 0,
    /// UDP: a datagram (maybe empty) is in `read.buf`, from `rfrom`.
    rdatagram: bool = false,
    rfrom: Address = undefined,
    reof: bool = false,
    rerr: ?Errno = null,
    /// Listener: a connection the accept op took.
    accepted: Socket = socket.invalid,
    accepted_peer: Address = undefined,
    /// Bytes of `write.buf` the write op must send, and sent so far.
    wlen: u32 = 0,
    wsent: u32 = 0,

    pub fn create(d: *Driver, fd: Socket, protocol: Protocol) error{OutOfMemory}!*Sock {
        const s = try std.heap.c_allocator.create(Sock);
        s.* = .{
            .fd = fd,
            .protocol = protocol,
            .driver = d,
            .reg = .{ .socket = fd },
            .read = .{ .op = .{ .kind = readKind(protocol), .reg = undefined, .callback = onRead }, .cmd = .{ .run = runRead } },
            .write = .{ .op = .{ .kind = .send, .reg = undefined, .callback = onWrite }, .cmd = .{ .run = runWrite } },
        };
        s.read.op.reg = &s.reg;
        s.write.op.reg = &s.reg;
        s.write_q.shared = &s.read_q.lock;
        _ = live.fetchAdd(1, .monotonic);
        return s;
    }

    fn readKind(p: Protocol) reactor.Kind {
        return switch (p) {
            .tcp_listener => .accept,
            .tcp_stream => .recv,
            .udp => .recvfrom,
        };
    }

    fn lock(s: *Sock) void {
        s.read_q.lock.lock();
    }

    fn unlock(s: *Sock) void {
        s.read_q.lock.unlock();
    }

    fn retain(s: *Sock) void {
        const before = s.refs.fetchAdd(1, .monotonic);
        assert(before > 0);
    }

    fn unref(s: *Sock) void {
        const before = s.refs.fetchSub(1, .acq_rel);
        assert(before > 0);
        if (before == 1) s.free();
    }

    fn free(s: *Sock) void {
        assert(s.closed and !s.registered);
        assert(!s.read.inflight and !s.write.inflight);
        assert(s.read_q.isEmpty() and s.write_q.isEmpty());
        if (s.accepted != socket.invalid) socket.close(s.accepted);
        if (s.read.buf.len > 0) std.heap.c_allocator.free(s.read.buf);
        if (s.write.buf.len > 0) std.heap.c_allocator.free(s.write.buf);
        _ = live.fetchSub(1, .monotonic);
        std.heap.c_allocator.destroy(s);
    }

    /// The handle table's destroy: the last handle reference is gone.
    pub fn destroyHandle(obj: *anyopaque) void {
        const s: *Sock = @ptrCast(@alignCast(obj));
        s.close();
        s.unref();
    }

    // ------------------------------------------------------------ reads

    /// Bytes into `buf` (0: end of stream), or a negative code:
    /// `would_block` when the caller must wait (`readAsync`).
    pub fn recv(s: *Sock, buf: []u8) i32 {
        assert(s.protocol == .tcp_stream);
        assert(buf.len <= std.math.maxInt(i32));
        s.lock();
        if (s.closed) return s.unlockWith(Code.closed.int());
        if (s.rlen > s.rpos) {
            const n = @min(buf.len, s.rlen - s.rpos);
            @memcpy(buf[0..n], s.read.buf[s.rpos..][0..n]);
            s.rpos += @intCast(n);
            return s.unlockWith(@intCast(n));
        }
        if (s.rerr) |e| {
            s.rerr = null;
            return s.unlockWith(e.code());
        }
        if (s.reof) return s.unlockWith(0);
        if (s.read.inflight) return s.unlockWith(Code.would_block.int());
        s.unlock();
        const n = socket.recv(s.fd, buf) catch |e| return errCode(e);
        if (n == 0 and buf.len > 0) {
            s.lock();
            s.reof = true;
            s.unlock();
        }
        return @intCast(n);
    }

    /// A datagram into `buf` (truncated if longer) with its sender, or a
    /// negative code (`would_block`).
    pub fn recvFrom(s: *Sock, buf: []u8, from: *Address) i32 {
        assert(s.protocol == .udp);
        s.lock();
        if (s.closed) return s.unlockWith(Code.closed.int());
        if (s.rdatagram) {
            const n = @min(buf.len, s.rlen);
            @memcpy(buf[0..n], s.read.buf[0..n]);
            from.* = s.rfrom;
            s.rdatagram = false;
            // Consumed: `rlen` must not still say "bytes ready" (readAsync
            // would answer "call again now" forever while recvFrom finds
            // nothing: a busy loop that froze the isolate).
            s.rlen = 0;
            return s.unlockWith(@intCast(n));
        }
        if (s.rerr) |e| {
            s.rerr = null;
            return s.unlockWith(e.code());
        }
        if (s.read.inflight) return s.unlockWith(Code.would_block.int());
        s.unlock();
        const n = socket.recvFrom(s.fd, buf, from) catch |e| return errCode(e);
        return @intCast(@min(n, buf.len));
    }

    /// A connection (its socket), or a negative code (`would_block`).
    pub fn accept(s: *Sock, peer: *Address) error{ Closed, WouldBlock, Os }!Socket {
        assert(s.protocol == .tcp_listener);
        s.lock();
        if (s.closed) {
            s.unlock();
            return error.Closed;
        }
        if (s.accepted != socket.invalid) {
            const fd = s.accepted;
            peer.* = s.accepted_peer;
            s.accepted = socket.invalid;
            s.unlock();
            return fd;
        }
        const busy = s.read.inflight;
        s.unlock();
        if (busy) return error.WouldBlock;
        return socket.accept(s.fd, peer) catch |e| {
            if (e == error.EAGAIN) return error.WouldBlock;
            last_os_error = Errno.fromError(e);
            return error.Os;
        };
    }

    /// Wait until a read (recv, recvFrom, accept) can make progress.
    /// 0: call it again now; a token: a completion follows; or a code.
    pub fn readAsync(s: *Sock, cq: *Cq) i32 {
        const size: u32 = switch (s.protocol) {
            .tcp_listener => 0,
            .tcp_stream => tcp_read_buffer,
            .udp => udp_buffer,
        };
        if (s.read.buf.len < size) {
            // Only the owner isolate reads, and never while an op is in
            // flight, so the buffer is not in use.
            s.lock();
            const idle = !s.read.inflight;
            s.unlock();
            if (idle) s.read.buf = std.heap.c_allocator.alloc(u8, size) catch return Code.out_of_memory.int();
        }
        s.lock();
        if (s.closed) return s.unlockWith(Code.closed.int());
        const bytes_ready = s.protocol == .tcp_stream and s.rlen > s.rpos;
        if (bytes_ready or s.rdatagram or s.rerr != null or s.reof or s.accepted != socket.invalid) {
            return s.unlockWith(0);
        }
        const w = cq.acquire() orelse return s.unlockWith(Code.limit.int());
        const token: i32 = @intCast(w.token);
        s.read_q.pushBack(w);
        const start = !s.read.inflight;
        if (start) {
            s.read.inflight = true;
            s.read.op.buf = s.read.buf;
            s.retain();
        }
        s.unlock();
        if (start) s.driver.push(&s.read.cmd);
        return token;
    }

    // ----------------------------------------------------------- writes

    /// Bytes sent at once (maybe fewer than `buf.len`), or a negative code
    /// (`would_block`: hand them to `writeAsync`).
    pub fn send(s: *Sock, buf: []const u8, to: ?*const Address) i32 {
        assert(buf.len <= std.math.maxInt(i32));
        s.lock();
        if (s.closed) return s.unlockWith(Code.closed.int());
        if (s.write.inflight) return s.unlockWith(Code.would_block.int());
        s.unlock();
        const n = if (to) |a| socket.sendTo(s.fd, buf, a) else socket.send(s.fd, buf);
        return @intCast(n catch |e| return errCode(e));
    }

    /// Copy up to `write_buffer` bytes of `buf` and send them from the
    /// driver thread. A token whose completion is the number of bytes
    /// copied once all are sent (or an OS error), or a code. A datagram
    /// (`to` set) is sent whole or not at all.
    pub fn writeAsync(s: *Sock, buf: []const u8, to: ?*const Address, cq: *Cq) i32 {
        if (to != null and buf.len > udp_buffer) return Errno.EMSGSIZE.code();
        if (s.write.buf.len == 0) {
            s.lock();
            const idle = !s.write.inflight;
            s.unlock();
            if (idle) s.write.buf = std.heap.c_allocator.alloc(u8, write_buffer) catch return Code.out_of_memory.int();
        }
        s.lock();
        if (s.closed) return s.unlockWith(Code.closed.int());
        // One write at a time: a second writer waits for the first.
        const w = cq.acquire() orelse return s.unlockWith(Code.limit.int());
        const token: i32 = @intCast(w.token);
        if (s.write.inflight) {
            w.request = 0; // Granted 0: nothing of this call was taken.
            s.write_q.pushBack(w);
            return s.unlockWith(token);
        }
        const n: u32 = @intCast(@min(buf.len, s.write.buf.len));
        @memcpy(s.write.buf[0..n], buf[0..n]);
        s.wlen = n;
        s.wsent = 0;
        s.write.op.kind = if (to != null) .sendto else .send;
        if (to) |a| s.write.op.addr = a.*;
        s.write.op.buf = s.write.buf[0..n];
        s.write.inflight = true;
        w.request = 1;
        s.write_q.pushBack(w);
        s.retain();
        s.unlock();
        s.driver.push(&s.write.cmd);
        return token;
    }

    /// Start connecting to `addr` (a new stream): a token whose completion
    /// is 0 or an OS error.
    pub fn connectAsync(s: *Sock, addr: *const Address, cq: *Cq) i32 {
        assert(s.protocol == .tcp_stream);
        s.lock();
        if (s.closed) return s.unlockWith(Code.closed.int());
        if (s.write.inflight) return s.unlockWith(Code.invalid_state.int());
        const w = cq.acquire() orelse return s.unlockWith(Code.limit.int());
        const token: i32 = @intCast(w.token);
        w.request = 1;
        s.write_q.pushBack(w);
        s.write.op.kind = .connect;
        s.write.op.addr = addr.*;
        s.write.inflight = true;
        s.retain();
        s.unlock();
        s.driver.push(&s.write.cmd);
        return token;
    }

    pub fn shutdownWrite(s: *Sock) i32 {
        s.lock();
        if (s.closed) return s.unlockWith(Code.closed.int());
        if (s.write.inflight) return s.unlockWith(Code.would_block.int());
        s.unlock();
        socket.shutdownWrite(s.fd) catch |e| return errCode(e);
        return 0;
    }

    // ------------------------------------------------------------ close

    /// Close now: waiters get `closed`, the descriptor is closed (by the
    /// driver thread if the socket is registered there or has ops in
    /// flight). Idempotent; the memory stays until the last reference.
    pub fn close(s: *Sock) void {
        s.lock();
        if (s.closed) return s.unlock();
        s.closed = true;
        s.read_q.grantAll(Code.closed.int());
        s.write_q.grantAll(Code.closed.int());
        const inline_close = !s.registered and !s.read.inflight and !s.write.inflight;
        if (!inline_close) s.retain();
        s.unlock();
        if (inline_close) {
            socket.close(s.fd);
        } else {
            s.driver.push(&s.close_cmd);
        }
    }

    fn unlockWith(s: *Sock, result: i32) i32 {
        s.unlock();
        return result;
    }
};

/// The OS error behind the last `error.Os` of this thread.
pub threadlocal var last_os_error: Errno = .EIO;

fn errCode(e: socket.Error) i32 {
    if (e == error.EAGAIN) return Code.would_block.int();
    return Errno.fromError(e).code();
}

// ------------------------------------------------- driver-thread side

fn sideOf(cmd: *Command) *Side {
    return @fieldParentPtr("cmd", cmd);
}

fn runRead(cmd: *Command, loop: *Loop) void {
    const s: *Sock = @fieldParentPtr("read", sideOf(cmd));
    submitOp(s, &s.read.op, loop);
}

fn runWrite(cmd: *Command, loop: *Loop) void {
    const s: *Sock = @fieldParentPtr("write", sideOf(cmd));
    submitOp(s, &s.write.op, loop);
}

/// Register the socket with the loop on its first op, then submit.
fn submitOp(s: *Sock, op: *Op, loop: *Loop) void {
    s.lock();
    const closed = s.closed;
    const registered = s.registered;
    s.unlock();
    if (closed) {
        op.fail(.ECANCELED);
        return op.callback(op);
    }
    if (!registered) {
        loop.register(&s.reg) catch |e| {
            op.fail(Errno.fromError(e));
            return op.callback(op);
        };
        s.retain();
        s.lock();
        s.registered = true;
        s.unlock();
    }
    loop.submit(op);
}

fn onRead(op: *Op) void {
    const s: *Sock = @fieldParentPtr("read", @as(*Side, @fieldParentPtr("op", op)));
    s.lock();
    assert(s.read.inflight);
    s.read.inflight = false;
    if (op.err()) |e| {
        if (e != .ECANCELED) s.rerr = e;
    } else switch (s.protocol) {
        .tcp_listener => {
            if (s.closed) socket.close(op.accepted) else {
                s.accepted = op.accepted;
                s.accepted_peer = op.addr;
            }
        },
        .tcp_stream => {
            s.rpos = 0;
            s.rlen = @intCast(op.result);
            if (op.result == 0) s.reof = true;
        },
        .udp => {
            s.rlen = @intCast(op.result);
            s.rfrom = op.addr;
            s.rdatagram = true;
        },
    }
    // Everyone waiting calls again and finds what is there.
    s.read_q.grantAll(0);
    s.unlock();
    s.unref();
}

fn onWrite(op: *Op) void {
    const s: *Sock = @fieldParentPtr("write", @as(*Side, @fieldParentPtr("op", op)));
    if (op.kind == .send and op.result > 0) {
        s.wsent += @intCast(op.result);
        if (s.wsent < s.wlen) {
            // The rest of the copy, unless the socket closed meanwhile.
            op.buf = s.write.buf[s.wsent..s.wlen];
            s.lock();
            const closed = s.closed;
            s.unlock();
            if (!closed) return s.driver.loop.submit(op);
            op.fail(.ECANCELED);
        }
    }
    const result: i32 = if (op.err()) |e| e.code() else switch (op.kind) {
        .connect => 0,
        .send, .sendto => @intCast(s.wlen),
        else => unreachable,
    };
    s.lock();
    assert(s.write.inflight);
    s.write.inflight = false;
    // The writer whose bytes these were gets the count; writers that
    // queued behind it get 0 and try again.
    while (s.write_q.head) |w| {
        s.write_q.grantFront(if (w.request == 1) result else 0);
    }
    s.unlock();
    s.unref();
}

fn runClose(cmd: *Command, loop: *Loop) void {
    const s: *Sock = @fieldParentPtr("close_cmd", cmd);
    s.lock();
    assert(s.closed);
    const registered = s.registered;
    s.registered = false;
    s.unlock();
    // Pending ops complete with ECANCELED in a later poll; their
    // callbacks drop their references.
    if (registered) loop.unregister(&s.reg);
    socket.close(s.fd);
    if (registered) s.unref();
    s.unref();
}
