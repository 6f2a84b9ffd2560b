//! A server accepting connections natively and handing their requests to
//! worker isolates in batches: the HTTP/1.1 path of `serve()`.
//!
//! Each worker isolate owns one `Station`: a reactor loop of its own (no
//! lock, no thread hop), the listener registered in it, and the
//! connections it accepted. The worker drives the loop from its sync FFI
//! call `next`, so readiness, accept, read and parse happen on the thread
//! that runs the handler; the stations compete for new connections on the
//! shared listener, so an idle station (blocked in its poll) takes them and
//! a busy one does not.
//!
//! Per connection, one request at a time is with JavaScript: the next one
//! (pipelined) is parsed after the response, so responses go out in
//! request order without reordering. While a response waits to be sent,
//! nothing more is read (a slow reader cannot make the server buffer more
//! than one response).
//!
//! Everything here runs on the station's thread except `close` (any
//! thread: sets a flag and wakes the loops).
const std = @import("std");
const builtin = @import("builtin");
const assert = std.debug.assert;
const reactor = @import("../reactor/reactor.zig");
const socket = reactor.socket;
const Socket = socket.Socket;
const Loop = reactor.Loop;
const Op = reactor.Op;
const Registration = reactor.Registration;
const Interrupt = @import("../core/cq.zig").Interrupt;

fn wakeLoop(context: *anyopaque) void {
    const loop: *Loop = @ptrCast(@alignCast(context));
    loop.wake();
}
const parser = @import("../http/parser.zig");
const response = @import("../http/response.zig");

pub const max_stations: u32 = 64;
/// Room for the answer to a rejected request (`Conn.reject`).
const reject_len_max = 256;
const initial_in: u32 = 4096;
/// A response larger than this is sent from a buffer allocated for it;
/// the connection's buffer does not keep that size.
const keep_out: u32 = 64 * 1024;
const alloc = std.heap.c_allocator;

pub const Metrics = struct {
    accepted: std.atomic.Value(u64) = .init(0),
    requests: std.atomic.Value(u64) = .init(0),
    responses: std.atomic.Value(u64) = .init(0),
    /// Requests answered 4xx/5xx by the parser, never reaching JS.
    rejected: std.atomic.Value(u64) = .init(0),
    open: std.atomic.Value(u64) = .init(0),
    /// Responses for connections that had gone (reset while JS worked).
    dropped: std.atomic.Value(u64) = .init(0),
};

pub const Server = struct {
    listener: Socket,
    limits: parser.Limits,
    stations: []Station,
    closed: std.atomic.Value(bool) = .init(false),
    /// Stations with the listener registered; the last to leave closes it.
    registered: std.atomic.Value(u32) = .init(0),
    listener_closed: std.atomic.Value(bool) = .init(false),
    metrics: Metrics = .{},

    pub fn create(listener: Socket, stations: u32, limits: parser.Limits) error{ OutOfMemory, InvalidArgument }!*Server {
        if (stations == 0 or stations > max_stations) return error.InvalidArgument;
        const s = try alloc.create(Server);
        errdefer alloc.destroy(s);
        const list = try alloc.alloc(Station, stations);
        s.* = .{ .listener = listener, .limits = limits, .stations = list };
        for (list, 0..) |*st, i| st.* = .{ .server = s, .index = @intCast(i) };
        return s;
    }

    /// Free. A station still started belongs to a worker that died
    /// without `stop` (its thread may still be in `next`): its memory and
    /// the listener are left alone rather than freed under it.
    pub fn destroy(s: *Server) void {
        for (s.stations) |*st| if (st.started) return;
        s.closeListener();
        alloc.free(s.stations);
        alloc.destroy(s);
    }

    /// Stop accepting and wake every station (any thread).
    pub fn close(s: *Server) void {
        if (s.closed.swap(true, .acq_rel)) return;
        for (s.stations) |*st| if (st.started) st.loop.wake();
        if (s.registered.load(.acquire) == 0) s.closeListener();
    }

    fn closeListener(s: *Server) void {
        if (s.listener_closed.swap(true, .acq_rel)) return;
        socket.close(s.listener);
    }
};

pub const Station = struct {
    server: *Server,
    index: u32,
    started: bool = false,
    loop: Loop = undefined,
    listen_reg: Registration = undefined,
    accept_op: Op = undefined,
    accepting: bool = false,
    /// The listener is in this station's loop.
    listening: bool = false,
    slots: std.ArrayListUnmanaged(Slot) = .empty,
    free_slot: ?u32 = null,
    ready_head: ?*Conn = null,
    ready_tail: ?*Conn = null,
    date: response.Date = response.Date.init(0),
    conns: u32 = 0,
    /// Lets a completion posted to the worker's queue end the poll.
    interrupt: Interrupt = .{ .context = undefined, .wake = wakeLoop },

    const Slot = struct { conn: ?*Conn, gen: u32, next_free: ?u32 };

    pub fn start(st: *Station) socket.Error!void {
        assert(!st.started);
        try st.loop.init();
        st.interrupt.context = &st.loop;
        st.started = true;
        if (st.server.closed.load(.acquire)) return;
        // IOCP ties a socket to one port for life: on Windows only the
        // first station can take the listener (and so every connection).
        if (builtin.os.tag == .windows and st.index != 0) return;
        st.listen_reg = .{ .socket = st.server.listener };
        st.loop.register(&st.listen_reg) catch |e| {
            st.loop.deinit();
            st.started = false;
            return e;
        };
        st.listening = true;
        _ = st.server.registered.fetchAdd(1, .acq_rel);
        st.accept_op = .{ .kind = .accept, .reg = &st.listen_reg, .callback = onAccept, .context = st };
        st.loop.submit(&st.accept_op);
        st.accepting = true;
    }

    /// Close every connection and leave the loop (the worker is going).
    pub fn stop(st: *Station) void {
        if (!st.started) return;
        st.stopListening();
        for (st.slots.items) |slot| if (slot.conn) |c| c.close();
        // Callbacks of the cancelled ops free the connections.
        var rounds: u32 = 0;
        while ((st.conns > 0 or st.accepting) and rounds < 1000) : (rounds += 1) _ = st.loop.poll(0);
        assert(st.conns == 0);
        st.loop.deinit();
        st.slots.deinit(alloc);
        st.started = false;
    }

    fn stopListening(st: *Station) void {
        if (!st.listening) return;
        st.listening = false;
        st.loop.unregister(&st.listen_reg);
        const s = st.server;
        if (s.registered.fetchSub(1, .acq_rel) == 1 and s.closed.load(.acquire)) s.closeListener();
    }

    /// Poll up to `timeout_ns` unless a request is ready already; then
    /// `take` the ready ones. (A closed server's stations are stopped by
    /// their workers instead: `avx_serve_next` returns `closed` first.)
    pub fn poll(st: *Station, timeout_ns: u64, now_s: u64) void {
        assert(st.started);
        _ = st.date.update(now_s);
        const busy = st.ready_head != null;
        _ = st.loop.poll(if (busy) 0 else timeout_ns);
    }

    /// The next connection with a request ready, or null.
    pub fn take(st: *Station) ?*Conn {
        const c = st.ready_head orelse return null;
        st.ready_head = c.next_ready;
        if (st.ready_head == null) st.ready_tail = null;
        c.next_ready = null;
        assert(c.state == .queued);
        c.state = .dispatched;
        return c;
    }

    /// Put back what `take` gave (the batch buffer was full).
    pub fn untake(st: *Station, c: *Conn) void {
        c.state = .queued;
        c.next_ready = st.ready_head;
        st.ready_head = c;
        if (st.ready_tail == null) st.ready_tail = c;
    }

    pub fn lookup(st: *Station, id: u32) ?*Conn {
        const index = id & 0xfffff;
        if (index >= st.slots.items.len) return null;
        const slot = st.slots.items[index];
        if (slot.gen != id >> 20) return null;
        return slot.conn;
    }

    fn removeReady(st: *Station, c: *Conn) void {
        var prev: ?*Conn = null;
        var node = st.ready_head;
        while (node) |n| : ({
            prev = n;
            node = n.next_ready;
        }) {
            if (n != c) continue;
            if (prev) |p| p.next_ready = n.next_ready else st.ready_head = n.next_ready;
            if (st.ready_tail == n) st.ready_tail = prev;
            n.next_ready = null;
            return;
        }
    }

    fn enqueue(st: *Station, c: *Conn) void {
        c.state = .queued;
        if (st.ready_tail) |t| t.next_ready = c else st.ready_head = c;
        st.ready_tail = c;
    }

    fn newSlot(st: *Station, c: *Conn) error{OutOfMemory}!u32 {
        if (st.free_slot) |i| {
            const slot = &st.slots.items[i];
            st.free_slot = slot.next_free;
            slot.conn = c;
            return i | (slot.gen << 20);
        }
        if (st.slots.items.len >= 1 << 20) return error.OutOfMemory;
        try st.slots.append(alloc, .{ .conn = c, .gen = 1, .next_free = null });
        return @as(u32, @intCast(st.slots.items.len - 1)) | (1 << 20);
    }

    fn freeSlot(st: *Station, id: u32) void {
        const i = id & 0xfffff;
        const slot = &st.slots.items[i];
        slot.conn = null;
        // 11 bits of generation: ids stay below 2^31.
        slot.gen = if (slot.gen == 0x7ff) 1 else slot.gen + 1;
        slot.next_free = st.free_slot;
        st.free_slot = i;
    }
};

fn onAccept(op: *Op) void {
    const st: *Station = @ptrCast(@alignCast(op.context.?));
    st.accepting = false;
    if (!st.listening) {
        if (op.result >= 0) socket.close(op.accepted);
        return;
    }
    if (op.err()) |e| {
        // Out of descriptors: stop accepting until a connection closes
        // (resubmitting now would spin).
        if (e == .EMFILE or e == .ENFILE or e == .ENOBUFS or e == .ENOMEM) return;
    } else {
        _ = st.server.metrics.accepted.fetchAdd(1, .monotonic);
        Conn.open(st, op.accepted) catch socket.close(op.accepted);
    }
    st.loop.submit(&st.accept_op);
    st.accepting = true;
}

pub const Conn = struct {
    station: *Station,
    id: u32,
    reg: Registration,
    recv_op: Op,
    send_op: Op,
    in: []u8,
    in_len: u32 = 0,
    /// Bytes to send, and how many went.
    out: std.ArrayListUnmanaged(u8) = .empty,
    out_sent: u32 = 0,
    receiving: bool = false,
    sending: bool = false,
    state: State = .reading,
    close_after_send: bool = false,
    /// The request with JavaScript: its parse and its wire length.
    request: parser.Request = .{},
    request_len: u32 = 0,
    next_ready: ?*Conn = null,

    /// `draining`: a rejected request was answered and our side shut;
    /// what the client still sends is read and dropped until it closes, so
    /// that closing with unread data does not reset the connection and
    /// destroy the answer before the client read it.
    const State = enum { reading, queued, dispatched, draining, closing };

    fn open(st: *Station, fd: Socket) !void {
        const c = try alloc.create(Conn);
        errdefer alloc.destroy(c);
        const in = try alloc.alloc(u8, initial_in);
        errdefer alloc.free(in);
        c.* = .{
            .station = st,
            .id = 0,
            .reg = .{ .socket = fd },
            .recv_op = .{ .kind = .recv, .reg = undefined, .callback = onRecv },
            .send_op = .{ .kind = .send, .reg = undefined, .callback = onSend },
            .in = in,
        };
        c.recv_op.reg = &c.reg;
        c.send_op.reg = &c.reg;
        c.id = try st.newSlot(c);
        st.loop.register(&c.reg) catch |e| {
            st.freeSlot(c.id);
            return e;
        };
        st.conns += 1;
        _ = st.server.metrics.open.fetchAdd(1, .monotonic);
        c.startRecv();
    }

    fn startRecv(c: *Conn) void {
        assert(c.state == .reading and !c.receiving);
        if (c.in_len == c.in.len) {
            // The parser said incomplete, so the request may need more
            // room, up to the most a request may take.
            const max = c.station.server.limits.maxRequest();
            if (c.in.len >= max) return c.reject(.header_fields_too_large);
            const grown = alloc.realloc(c.in, @min(max, c.in.len * 2)) catch return c.close();
            c.in = grown;
        }
        c.recv_op.buf = c.in[c.in_len..];
        c.receiving = true;
        c.station.loop.submit(&c.recv_op);
    }

    fn onRecv(op: *Op) void {
        const c: *Conn = @fieldParentPtr("recv_op", op);
        c.receiving = false;
        if (c.state == .closing) return c.maybeFree();
        if (c.state == .draining) return c.drain(op.result);
        if (op.result <= 0) return c.close(); // end of stream or reset
        c.in_len += @intCast(op.result);
        c.parseNext();
    }

    /// Parse what is buffered: queue a complete request, answer a bad one,
    /// or read more.
    fn parseNext(c: *Conn) void {
        assert(c.state == .reading);
        if (c.in_len == 0) return c.startRecv();
        const result = parser.parse(c.in[0..c.in_len], c.station.server.limits, &c.request);
        switch (result) {
            .incomplete => c.startRecv(),
            .reject => |status| c.reject(status),
            .complete => |done| {
                c.request_len = done.consumed;
                _ = c.station.server.metrics.requests.fetchAdd(1, .monotonic);
                c.station.enqueue(c);
            },
        }
    }

    /// Bytes a draining connection reads before it closes anyway.
    const drain_limit: u32 = 1 << 20;

    fn drain(c: *Conn, result: i32) void {
        if (result <= 0) return c.close();
        c.in_len +|= @intCast(result);
        if (c.in_len >= drain_limit) return c.close();
        c.readToDrop();
    }

    fn readToDrop(c: *Conn) void {
        assert(c.state == .draining and !c.receiving);
        c.recv_op.buf = c.in;
        c.receiving = true;
        c.station.loop.submit(&c.recv_op);
    }

    fn reject(c: *Conn, status: parser.Status) void {
        _ = c.station.server.metrics.rejected.fetchAdd(1, .monotonic);
        var buf: [reject_len_max]u8 = undefined;
        // Cannot fail: every `parser.Status` is 4xx or 5xx and its answer
        // fits (test "server: every rejection fits its buffer"). Were it
        // to, the connection closes unanswered.
        const n = response.writeError(&buf, @intFromEnum(status), &c.station.date) catch return c.close();
        c.out.appendSlice(alloc, buf[0..n]) catch return c.close();
        c.close_after_send = true;
        c.state = .closing;
        c.flush();
    }

    /// JavaScript answered the dispatched request: head fields and body.
    pub fn respond(c: *Conn, status: u16, headers: []const parser.Header, body: []const u8, close_it: bool) response.Error!void {
        assert(c.state == .dispatched);
        const keep = c.request.keep_alive and !close_it and !c.station.server.closed.load(.acquire);
        const connection: response.Connection = if (!keep) .close else if (c.request.version_minor == 0) .keep_alive else .default;
        var head_room: usize = 256;
        for (headers) |h| head_room += h.name.len + h.value.len + 4;
        c.out.ensureUnusedCapacity(alloc, head_room + body.len) catch return c.close();
        const spare = c.out.unusedCapacitySlice();
        const n = try response.writeHead(spare, status, headers, body.len, .{ .date = &c.station.date, .connection = connection });
        c.out.items.len += n;
        // HEAD: the fields of the body, not the body.
        if (c.request.method_id != .head) c.out.appendSliceAssumeCapacity(body);
        _ = c.station.server.metrics.responses.fetchAdd(1, .monotonic);
        // The request leaves the buffer; pipelined bytes move to the front.
        const rest = c.in_len - c.request_len;
        std.mem.copyForwards(u8, c.in[0..rest], c.in[c.request_len..c.in_len]);
        c.in_len = rest;
        c.request_len = 0;
        if (!keep) {
            c.close_after_send = true;
            c.state = .closing;
        } else {
            c.state = .reading;
        }
        c.flush();
    }

    /// Send what is buffered: directly while the socket takes it, then
    /// through the loop. Reading resumes once all is sent.
    fn flush(c: *Conn) void {
        if (c.sending) return;
        while (c.out_sent < c.out.items.len) {
            const n = socket.send(c.reg.socket, c.out.items[c.out_sent..]) catch |e| {
                if (e != error.EAGAIN) return c.close();
                c.send_op.buf = c.out.items[c.out_sent..];
                c.sending = true;
                c.station.loop.submit(&c.send_op);
                return;
            };
            c.out_sent += @intCast(n);
        }
        c.sent();
    }

    fn onSend(op: *Op) void {
        const c: *Conn = @fieldParentPtr("send_op", op);
        c.sending = false;
        if (c.state == .closing and !c.close_after_send) return c.maybeFree();
        if (op.result < 0) return c.close();
        c.out_sent += @intCast(op.result);
        c.flush();
    }

    /// Everything was sent.
    fn sent(c: *Conn) void {
        c.out.clearRetainingCapacity();
        c.out_sent = 0;
        if (c.out.capacity > keep_out) {
            c.out.deinit(alloc);
            c.out = .empty;
        }
        if (c.close_after_send) {
            c.close_after_send = false;
            if (c.state != .closing or c.receiving) return c.close();
            // Our answer is out: shut our side, then drain (see State).
            socket.shutdownWrite(c.reg.socket) catch return c.close();
            c.state = .draining;
            c.in_len = 0;
            return c.readToDrop();
        }
        if (c.state == .reading and !c.receiving) c.parseNext();
    }

    /// Close now: pending ops are cancelled; the memory goes when their
    /// callbacks have run. A request with JavaScript keeps its slot until
    /// then; its response is dropped.
    pub fn close(c: *Conn) void {
        const st = c.station;
        if (c.state == .queued) st.removeReady(c);
        c.state = .closing;
        c.close_after_send = false;
        if (c.reg.internal.registered) st.loop.unregister(&c.reg);
        c.maybeFree();
    }

    fn maybeFree(c: *Conn) void {
        if (c.receiving or c.sending) return;
        if (!c.reg.internal.registered) {
            const st = c.station;
            socket.close(c.reg.socket);
            st.freeSlot(c.id);
            c.out.deinit(alloc);
            alloc.free(c.in);
            alloc.destroy(c);
            st.conns -= 1;
            _ = st.server.metrics.open.fetchSub(1, .monotonic);
            // A station that stopped accepting for want of descriptors
            // tries again now that one is free.
            if (st.listening and !st.accepting) {
                st.loop.submit(&st.accept_op);
                st.accepting = true;
            }
        } else {
            c.close();
        }
    }
};

test "server: every rejection fits its buffer" {
    var date = response.Date.init(4_102_444_800); // 2100-01-01: widest year.
    inline for (@typeInfo(parser.Status).@"enum".fields) |field| {
        var buf: [reject_len_max]u8 = undefined;
        const n = try response.writeError(&buf, field.value, &date);
        try std.testing.expect(n <= reject_len_max);
    }
}
