//! mpsc: many senders, one receiver, byte messages, bounded or not.
//!
//! The queue is Vyukov's intrusive MPSC queue of `Message`s: a sender
//! swaps itself in as the tail and then links the previous tail to it, so
//! senders never take a lock. A batch send links a private chain the same
//! way, with one swap. The consumer side (head, the peeked `front`) is
//! guarded by `consumer.lock`, a RawMutex, because several isolates may
//! hold the one receiver handle and must never pop concurrently.
//!
//! Counting: `sent` counts reservations made by senders (minus those backed
//! out), `received` the messages taken out; both only grow (but for
//! back-outs), so `sent - received` is what is queued or on its way. They
//! live on different cache lines and each is written by one side only:
//! senders RMW `sent`; `received` is stored by the consumer under its lock.
//! A sender reserves before it links, so `sent > received` with nothing
//! linked means a sender is mid-push; the receiver uses that to tell
//! "empty" from "a push is a few instructions away" and to decide when a
//! closed channel is drained. It reads `sent` only when the queue looks
//! empty. Unbounded senders never read `received` (but for a lower bound,
//! `received_hint`, once every 2^31 messages, to enforce `max_capacity`);
//! bounded senders CAS `sent` forward only while `sent - r < capacity` for
//! some `r` that `received` had, which is conservative since `received`
//! only grows. A value of `received` never exceeds a value of `sent` read
//! after it (every message counted in `received` was reserved before the
//! consumer could see it), so these differences never wrap.
//!
//! Nodes are recycled (node_cache.zig): the receiver hands emptied small
//! nodes back to the senders in batches, each sender handle keeps its own
//! cache, so a steady stream needs no malloc/free pair across threads.
//!
//! Wake-ups (see port.zig for the Dekker pairing):
//! - receivers wait in `recv_port`; a push (or a batch) links with a
//!   seq_cst store and then loads `recv_port.waiters`; a receiver links its
//!   waiter and then looks at the queue (seq_cst loads). Every push wakes
//!   them all (completion 0 = "try_recv now"). Usually there is one; waking
//!   all means an abandoned receive never strands a message.
//! - senders of a full bounded channel wait in `send_port`; a receive
//!   stores `received` (seq_cst) and then loads `send_port.waiters`; a
//!   waiting sender links itself and then re-reads `received` and `sent`
//!   (seq_cst). Each message received wakes one (completion 0 = "try
//!   again"); an async sender abandoned after its grant passes it on to the
//!   next (Port.enqueuePassOn).
//! - closing: `close` sets `closed` (seq_cst) and wakes both ports. A
//!   sender reserves (seq_cst RMW of `sent`) and then loads `closed`; the
//!   receiver loads `closed` and then `sent`. So either the sender sees
//!   `closed` and backs out (waking receivers), or the receiver sees its
//!   reservation and does not report the end yet.
//!
//! Lifetime: every handle holds one reference (`refs`); sender handles are
//! also counted in `senders`, and each points at a `Sender` of its own (its
//! node cache). The last sender handle gone closes the stream (the receiver
//! drains, then sees `closed`); the receiver handle gone closes the channel
//! and frees what is queued; the last handle frees it.
const std = @import("std");
const code = @import("../core/code.zig");
const handles = @import("../core/handles.zig");
const wq = @import("../core/wait_queue.zig");
const cq_mod = @import("../core/cq.zig");
const Deadline = @import("../os/clock.zig").Deadline;
const RawMutex = @import("../core/raw_mutex.zig").RawMutex;
const message = @import("message.zig");
const Message = message.Message;
const node_cache = @import("node_cache.zig");
const port_mod = @import("port.zig");
const Port = port_mod.Port;
const Waiter = wq.Waiter;
const Cq = cq_mod.Cq;
const Code = code.Code;

pub const Error = error{ Closed, WouldBlock, BufferTooSmall, TooLarge, OutOfMemory, Timeout, Limit, InvalidArgument };

/// The largest bounded capacity, and the most messages an unbounded channel
/// holds: `len` must fit a positive i32.
pub const max_capacity: u32 = std.math.maxInt(i32);

/// Bytes before each payload in a batch record: its length, u32 little
/// endian. Records are packed back to back.
pub const record_header: u32 = 4;

/// A consumer that finds `sent > received` but nothing linked waits this
/// many rounds for the sender to finish its push (spins first, then yields).
const busy_spins: u32 = 64;
const busy_rounds: u32 = busy_spins + 32;

/// What senders write: the tail and the reservation count, on a line of
/// their own.
const Producers = struct {
    /// Producers swap themselves in here.
    tail: std.atomic.Value(*Message) align(std.atomic.cache_line),
    /// Reservations, ever (see the file comment).
    sent: std.atomic.Value(u64) = .init(0),
    /// Some value `received` had: what senders read instead of it.
    received_hint: std.atomic.Value(u64) = .init(0),
    /// The queue's stub node; senders link to it when it is the tail.
    stub: Message = .{ .len = 0 },
};

/// The consumer side, guarded by `lock`, on a line of its own.
const Consumer = struct {
    lock: RawMutex align(std.atomic.cache_line) = .{},
    head: *Message,
    /// The message a receive took off the queue but could not deliver (the
    /// caller's buffer was too small). Not counted in `received` yet.
    front: ?*Message = null,
    /// Messages taken out, ever. Stored only under `lock`.
    received: std.atomic.Value(u64) = .init(0),
    /// Emptied nodes on their way back to the senders.
    spares: node_cache.Spares = .{},
};

pub const Mpsc = struct {
    // Each group is line-aligned and so padded to whole lines (Zig may
    // reorder fields, but not into a group's padding); the read-mostly
    // fields below share the remaining line(s).
    producers: Producers,
    consumer: Consumer,
    /// The hand-over of recycled nodes (a line of its own).
    recycled: node_cache.Slot = .{},

    /// 0: unbounded.
    capacity: u32,
    closed: std.atomic.Value(bool) = .init(false),
    senders: std.atomic.Value(u32),
    refs: std.atomic.Value(u32),
    recv_port: *Port,
    send_port: *Port,
    allocator: std.mem.Allocator,
    /// What message nodes come from: `allocator`, or plain malloc when
    /// that is what `allocator` ends up in anyway (std.heap.c_allocator
    /// takes the longer posix_memalign path).
    nodes: std.mem.Allocator,

    /// A channel with one sender and one receiver reference.
    pub fn create(allocator: std.mem.Allocator, capacity: u32) Error!*Mpsc {
        if (capacity > max_capacity) return error.InvalidArgument;
        const recv_port = try port_mod.open();
        errdefer port_mod.retire(recv_port, Code.closed.int());
        const send_port = try port_mod.open();
        errdefer port_mod.retire(send_port, Code.closed.int());
        const ch = try allocator.create(Mpsc);
        ch.* = .{
            .producers = .{ .tail = undefined },
            .consumer = .{ .head = undefined },
            .capacity = capacity,
            .senders = .init(1),
            .refs = .init(2),
            .recv_port = recv_port,
            .send_port = send_port,
            .allocator = allocator,
            .nodes = if (allocator.vtable == std.heap.c_allocator.vtable) std.heap.raw_c_allocator else allocator,
        };
        ch.producers.tail = .init(&ch.producers.stub);
        ch.consumer.head = &ch.producers.stub;
        return ch;
    }

    // ---- sending ----

    /// Send without waiting: `WouldBlock` when a bounded channel is full.
    pub fn trySend(ch: *Mpsc, payload: []const u8) Error!void {
        return ch.trySendVia(null, payload);
    }

    /// `trySend`, taking the node from `cache` when it can.
    pub fn trySendVia(ch: *Mpsc, cache: ?*node_cache.Cache, payload: []const u8) Error!void {
        try message.checkLen(payload.len);
        if (ch.closed.load(.monotonic)) return error.Closed;
        // Refuse a full channel before allocating.
        if (!ch.hasRoom()) return error.WouldBlock;
        const m = try ch.newNode(cache, payload);
        ch.sendNode(m) catch |err| {
            ch.dropNode(cache, m);
            return err;
        };
    }

    /// Send, waiting while a bounded channel is full.
    pub fn send(ch: *Mpsc, payload: []const u8, deadline: Deadline) Error!void {
        return ch.sendVia(null, payload, deadline);
    }

    /// `send`, taking the node from `cache` when it can.
    pub fn sendVia(ch: *Mpsc, cache: ?*node_cache.Cache, payload: []const u8, deadline: Deadline) Error!void {
        try message.checkLen(payload.len);
        if (ch.closed.load(.monotonic)) return error.Closed;
        // Copied once; the same message is retried after each wake-up.
        const m = try ch.newNode(cache, payload);
        while (true) {
            if (ch.sendNode(m)) |_| return else |err| switch (err) {
                error.WouldBlock => {},
                else => {
                    ch.dropNode(cache, m);
                    return err;
                },
            }
            var w = Waiter.initSync(0);
            ch.send_port.enqueue(&w);
            if (ch.closed.load(.seq_cst) or ch.hasRoomExact()) {
                // Room appeared before we were linked. If a receive granted
                // us anyway, the grant is ours and we use it by retrying;
                // `withdraw` waits until that grant is done with `w`.
                _ = Port.withdraw(&w);
                continue;
            }
            // Granted 0 (room) or `closed`: retry either way, so a grant
            // is never thrown away. Only a cancelled wait times out.
            if (w.sleep(deadline, Code.timeout.int()) == Code.timeout.int()) {
                ch.dropNode(cache, m);
                return error.Timeout;
            }
        }
    }

    /// Send the `count` records `[u32 le length][payload]` packed in
    /// `records`, in order, with one reservation and one link: how many were
    /// sent. Every record is checked before any is sent. An unbounded
    /// channel takes them all; a bounded one as many as fit now
    /// (`WouldBlock` if none does).
    pub fn trySendMany(ch: *Mpsc, cache: ?*node_cache.Cache, records: []const u8, count: u32) Error!u32 {
        try checkRecords(records, count);
        if (ch.closed.load(.monotonic)) return error.Closed;
        var want = count;
        if (ch.capacity != 0) {
            want = @min(want, ch.roomExact());
            if (want == 0) return error.WouldBlock;
        }
        // Copy into a private chain first, so the reservation is followed
        // at once by the link (a receiver that sees the reservation waits
        // for the link).
        var first: ?*Message = null;
        var last: *Message = undefined;
        var built: u32 = 0;
        {
            // One lock of the cache for the whole batch.
            const locked: ?*node_cache.Cache = if (cache) |c| (if (c.tryLock()) c else null) else null;
            defer if (locked) |c| c.unlock();
            var at: usize = 0;
            while (built < want) : (built += 1) {
                const n = std.mem.readInt(u32, records[at..][0..record_header], .little);
                const payload = records[at + record_header ..][0..n];
                const m = ch.newNodeLocked(locked, payload) catch |err| {
                    if (built == 0) return err;
                    break; // Send what was copied.
                };
                if (first == null) first = m else last.next.store(m, .monotonic);
                last = m;
                at += record_header + n;
            }
        }
        const head = first.?;
        const k = ch.reserve(built) catch |err| {
            ch.dropChain(cache, head, built);
            return err;
        };
        if (k < built) {
            // Another sender took room since we looked.
            last = head;
            for (1..k) |_| last = last.next.load(.monotonic).?;
            ch.dropChain(cache, last.next.load(.monotonic).?, built - k);
        }
        ch.link(head, last);
        ch.wakeReceivers();
        return k;
    }

    /// Wait for room. 0: room now (or unbounded); otherwise a token whose
    /// completion is 0 ("try again") or `closed`.
    pub fn sendAsync(ch: *Mpsc, cq: *Cq) Error!u32 {
        if (ch.closed.load(.seq_cst)) return error.Closed;
        if (ch.hasRoom()) return 0;
        const w = cq.acquire() orelse return error.Limit;
        ch.send_port.enqueuePassOn(w);
        if (ch.closed.load(.seq_cst) or ch.hasRoomExact()) {
            if (wq.cancel(w)) {
                cq.release(w);
                return if (ch.closed.load(.seq_cst)) error.Closed else 0;
            }
        }
        return w.token;
    }

    /// Room for one more message, probably: may answer with a stale view.
    fn hasRoom(ch: *Mpsc) bool {
        if (ch.capacity == 0) return true;
        // The hint first: a value of `received` never exceeds a later `sent`.
        const r = ch.producers.received_hint.load(.acquire);
        const s = ch.producers.sent.load(.monotonic);
        return s -| r < ch.capacity or ch.hasRoomExact();
    }

    /// Room for one more message now. seq_cst loads: the re-check of a
    /// sender that has linked itself into `send_port`.
    fn hasRoomExact(ch: *Mpsc) bool {
        return ch.capacity == 0 or ch.roomExact() > 0;
    }

    /// Free places in a bounded channel now.
    fn roomExact(ch: *Mpsc) u32 {
        std.debug.assert(ch.capacity != 0);
        const r = ch.consumer.received.load(.seq_cst);
        const s = ch.producers.sent.load(.seq_cst);
        std.debug.assert(s >= r);
        const used = s -| r;
        return if (used >= ch.capacity) 0 else ch.capacity - @as(u32, @intCast(used));
    }

    /// Reserve, link and wake: the whole send of a ready message. On error
    /// the caller still owns `m`.
    fn sendNode(ch: *Mpsc, m: *Message) Error!void {
        const k = try ch.reserve(1);
        std.debug.assert(k == 1);
        ch.link(m, m);
        ch.wakeReceivers();
    }

    /// Reserve places for up to `want` messages; how many (all of them on
    /// an unbounded channel, at least one).
    fn reserve(ch: *Mpsc, want: u32) Error!u32 {
        std.debug.assert(want > 0);
        if (ch.closed.load(.seq_cst)) return error.Closed;
        const k = if (ch.capacity == 0) try ch.reserveUnbounded(want) else try ch.reserveBounded(want);
        // Look at `closed` after reserving: a receiver reports the end of a
        // closed stream only when `sent == received`, so a reservation it
        // did not see must see `closed` here and back out.
        if (ch.closed.load(.seq_cst)) {
            ch.unreserve(k);
            return error.Closed;
        }
        return k;
    }

    fn reserveUnbounded(ch: *Mpsc, want: u32) Error!u32 {
        const after = ch.producers.sent.fetchAdd(want, .seq_cst) + want;
        // Queued = after - received <= after - hint. The hint is refreshed
        // only when it says too many, once every 2^31 messages or so.
        if (after > ch.producers.received_hint.load(.acquire) + max_capacity) {
            const r = ch.consumer.received.load(.acquire);
            ch.producers.received_hint.store(r, .release);
            if (after > r + max_capacity) {
                ch.unreserve(want);
                return error.Limit;
            }
        }
        return want;
    }

    fn reserveBounded(ch: *Mpsc, want: u32) Error!u32 {
        const capacity = ch.capacity;
        // `r` before `s`, each time: then `s >= r`.
        var r = ch.producers.received_hint.load(.acquire);
        var s = ch.producers.sent.load(.monotonic);
        var fresh = false;
        while (true) {
            std.debug.assert(s >= r);
            const used = s -| r;
            if (used >= capacity) {
                if (fresh) return error.WouldBlock;
                // Full by the hint; look at the real `received`.
                r = ch.consumer.received.load(.seq_cst);
                ch.producers.received_hint.store(r, .release);
                s = ch.producers.sent.load(.seq_cst);
                fresh = true;
                continue;
            }
            const k = @min(want, capacity - @as(u32, @intCast(used)));
            s = ch.producers.sent.cmpxchgWeak(s, s + k, .seq_cst, .monotonic) orelse return k;
        }
    }

    /// Give back reservations that will not be pushed. A receiver may be
    /// waiting for `sent` to come down to `received`.
    fn unreserve(ch: *Mpsc, k: u32) void {
        const before = ch.producers.sent.fetchSub(k, .seq_cst);
        std.debug.assert(before >= k);
        ch.wakeReceivers();
    }

    /// Link the chain `first .. last` (already linked among themselves).
    fn link(ch: *Mpsc, first: *Message, last: *Message) void {
        last.next.store(null, .monotonic);
        // The window: once the swap is done `last` is the tail, but the
        // chain is not reachable from the head until `prev.next` is stored.
        // A consumer that reaches `prev` in between sees `prev.next == null`
        // with `tail != prev`, and must not take it as empty. It cannot lose
        // the chain (`sent` says messages are due, and after linking we wake
        // any receiver that went to sleep meanwhile); it waits a bounded
        // while and otherwise reports would_block.
        const prev = ch.producers.tail.swap(last, .acq_rel);
        // seq_cst: pairs with a receiver that links itself into `recv_port`
        // and then looks at the queue.
        prev.next.store(first, .seq_cst);
    }

    fn wakeReceivers(ch: *Mpsc) void {
        if (ch.recv_port.hasWaiters()) _ = ch.recv_port.wakeAll(0);
    }

    /// A node holding a copy of `payload` (whose length was checked).
    fn newNode(ch: *Mpsc, cache: ?*node_cache.Cache, payload: []const u8) error{OutOfMemory}!*Message {
        const n: u32 = @intCast(payload.len);
        const m = get: {
            if (cache) |c| if (c.take(&ch.recycled, n)) |m| break :get m;
            break :get try node_cache.allocNode(ch.nodes, n);
        };
        @memcpy(m.bytes(), payload);
        return m;
    }

    /// `newNode` from a cache the caller has locked.
    fn newNodeLocked(ch: *Mpsc, cache: ?*node_cache.Cache, payload: []const u8) error{OutOfMemory}!*Message {
        const n: u32 = @intCast(payload.len);
        const m = get: {
            if (cache) |c| if (c.takeLocked(&ch.recycled, n)) |m| break :get m;
            break :get try node_cache.allocNode(ch.nodes, n);
        };
        @memcpy(m.bytes(), payload);
        return m;
    }

    /// A node that was not sent.
    fn dropNode(ch: *Mpsc, cache: ?*node_cache.Cache, m: *Message) void {
        if (cache) |c| c.give(ch.nodes, m) else node_cache.freeNode(ch.nodes, m);
    }

    /// `n` nodes linked from `first` that were not sent.
    fn dropChain(ch: *Mpsc, cache: ?*node_cache.Cache, first: *Message, n: u32) void {
        var m = first;
        for (0..n) |i| {
            const next = if (i + 1 < n) m.next.load(.monotonic).? else undefined;
            ch.dropNode(cache, m);
            m = next;
        }
    }

    // ---- receiving ----

    /// Receive without waiting. A message that does not fit `out` stays in
    /// place (`BufferTooSmall`, needed size in `code.last_value`).
    pub fn tryRecv(ch: *Mpsc, out: []u8) Error!u32 {
        ch.consumer.lock.lock();
        defer ch.consumer.lock.unlock();
        const m = try ch.nextLocked();
        const n = try m.copyTo(out);
        ch.takeFrontLocked();
        ch.finishLocked(1);
        return n;
    }

    /// Receive up to `max` (>= 1) messages without waiting, as records
    /// `[u32 le length][payload]` packed into `out`: how many (>= 1). Stops
    /// at the first message that does not fit what is left of `out` (it
    /// stays queued); if even the first does not fit, `BufferTooSmall` with
    /// its record size in `code.last_value`. Takes the consumer lock once.
    pub fn tryRecvMany(ch: *Mpsc, out: []u8, max: u32) Error!u32 {
        if (max == 0) return error.InvalidArgument;
        ch.consumer.lock.lock();
        defer ch.consumer.lock.unlock();
        var m = try ch.nextLocked();
        var at: usize = 0;
        var got: u32 = 0;
        while (true) {
            const need = @as(usize, record_header) + m.len;
            if (need > out.len - at) {
                if (got == 0) {
                    code.last_value = need;
                    return error.BufferTooSmall;
                }
                break;
            }
            std.mem.writeInt(u32, out[at..][0..record_header], m.len, .little);
            @memcpy(out[at + record_header ..][0..m.len], m.bytes());
            at += need;
            ch.takeFrontLocked();
            got += 1;
            // Take only what is linked now: no waiting once we have some.
            if (got == max or !ch.fillLocked()) break;
            m = ch.consumer.front.?;
        }
        ch.finishLocked(got);
        return got;
    }

    /// Receive, waiting until a message arrives, the stream ends or the
    /// deadline passes.
    pub fn recv(ch: *Mpsc, out: []u8, deadline: Deadline) Error!u32 {
        return ch.recvBlocking(out, null, deadline);
    }

    /// `tryRecvMany`, waiting until at least one message is ready.
    pub fn recvMany(ch: *Mpsc, out: []u8, max: u32, deadline: Deadline) Error!u32 {
        if (max == 0) return error.InvalidArgument;
        return ch.recvBlocking(out, max, deadline);
    }

    /// `max`: null for one message (`tryRecv`), else `tryRecvMany`'s.
    fn recvBlocking(ch: *Mpsc, out: []u8, max: ?u32, deadline: Deadline) Error!u32 {
        while (true) {
            const got = if (max) |n| ch.tryRecvMany(out, n) else ch.tryRecv(out);
            if (got) |n| return n else |err| {
                if (err != error.WouldBlock) return err;
            }
            var w = Waiter.initSync(0);
            ch.recv_port.enqueue(&w);
            if (ch.readyNow()) {
                // A grant that raced us only says "try again": retrying is
                // what we do, once it has let go of `w`.
                _ = Port.withdraw(&w);
                continue;
            }
            if (w.sleep(deadline, Code.timeout.int()) == Code.timeout.int()) return error.Timeout;
        }
    }

    /// 0 when a receive would not block now; otherwise a token whose
    /// completion 0 means "try_recv now".
    pub fn recvAsync(ch: *Mpsc, cq: *Cq) Error!u32 {
        if (ch.readyNow()) return 0;
        const w = cq.acquire() orelse return error.Limit;
        ch.recv_port.enqueue(w);
        if (ch.readyNow()) {
            if (wq.cancel(w)) {
                cq.release(w);
                return 0;
            }
        }
        return w.token;
    }

    /// A message can be taken now, or the stream has ended.
    fn readyNow(ch: *Mpsc) bool {
        ch.consumer.lock.lock();
        defer ch.consumer.lock.unlock();
        return ch.fillLocked() or ch.drainedLocked();
    }

    /// Closed, and no message is queued or on its way. Loads `closed` first:
    /// after it, no new reservation can succeed.
    fn drainedLocked(ch: *Mpsc) bool {
        return ch.closed.load(.seq_cst) and ch.producers.sent.load(.seq_cst) == ch.consumer.received.raw;
    }

    /// The next message (made `front`), waiting a bounded while for a
    /// sender caught between its reservation and its link.
    fn nextLocked(ch: *Mpsc) Error!*Message {
        var round: u32 = 0;
        while (true) : (round += 1) {
            if (ch.fillLocked()) return ch.consumer.front.?;
            if (ch.drainedLocked()) return error.Closed;
            // Nothing linked. If nothing is reserved either, it is empty;
            // otherwise a sender is between its reservation and its link.
            if (ch.producers.sent.load(.seq_cst) == ch.consumer.received.raw or round >= busy_rounds) return error.WouldBlock;
            if (round < busy_spins) std.atomic.spinLoopHint() else std.Thread.yield() catch {};
        }
    }

    /// `front` was delivered: recycle its node.
    fn takeFrontLocked(ch: *Mpsc) void {
        const m = ch.consumer.front.?;
        ch.consumer.front = null;
        ch.consumer.spares.put(&ch.recycled, ch.nodes, m);
    }

    /// Count `k` messages taken out, and make room for waiting senders.
    fn finishLocked(ch: *Mpsc, k: u32) void {
        const r = ch.consumer.received.raw + k;
        if (ch.capacity == 0) {
            // Nobody waits for room; readers of `received` only need it
            // not to run ahead of the pops it counts.
            ch.consumer.received.store(r, .release);
            return;
        }
        // seq_cst store, then the waiter check: pairs with a sender that
        // links itself and then re-reads `received`.
        ch.consumer.received.store(r, .seq_cst);
        var woken: u32 = 0;
        while (woken < k and ch.send_port.hasWaiters()) : (woken += 1) {
            if (!ch.send_port.wakeOne(0)) break;
        }
    }

    /// Make `front` the next message if one is linked.
    fn fillLocked(ch: *Mpsc) bool {
        if (ch.consumer.front == null) ch.consumer.front = ch.popLocked();
        return ch.consumer.front != null;
    }

    /// Vyukov's pop: the oldest linked message, or null when the queue is
    /// empty or its next link is not stored yet (see `link`).
    fn popLocked(ch: *Mpsc) ?*Message {
        var head = ch.consumer.head;
        var next = head.next.load(.seq_cst);
        if (head == &ch.producers.stub) {
            const first = next orelse return null;
            ch.consumer.head = first;
            head = first;
            next = first.next.load(.seq_cst);
        }
        if (next) |n| {
            ch.consumer.head = n;
            // The next receive starts with `n`, written by another thread:
            // fetch it while the caller deals with this one.
            prefetchNode(n, .read);
            return head;
        }
        // `head` is the last linked message. If the tail moved on, a sender
        // swapped past it and has not linked it yet: not poppable now.
        if (ch.producers.tail.load(.seq_cst) != head) return null;
        // `head` is the tail: park the stub behind it so it can be taken.
        ch.link(&ch.producers.stub, &ch.producers.stub);
        next = head.next.load(.seq_cst);
        if (next) |n| {
            ch.consumer.head = n;
            return head;
        }
        return null;
    }

    // ---- closing and lifetime ----

    /// Close the channel: sends fail `closed`, waiting senders are granted
    /// `closed`, the receiver drains what is queued and then gets `closed`.
    pub fn close(ch: *Mpsc) void {
        if (ch.closed.swap(true, .seq_cst)) return;
        _ = ch.send_port.wakeAll(Code.closed.int());
        _ = ch.recv_port.wakeAll(0);
    }

    /// Messages queued (including any on their way in).
    pub fn len(ch: *Mpsc) u32 {
        // `received` first: then `sent >= received`.
        const r = ch.consumer.received.load(.acquire);
        const s = ch.producers.sent.load(.acquire);
        return @intCast(@min(s -| r, max_capacity));
    }

    /// One more sender (a cloned sender handle).
    pub fn retainSender(ch: *Mpsc) void {
        const before = ch.senders.fetchAdd(1, .monotonic);
        std.debug.assert(before > 0); // Cloned from a live sender.
        _ = ch.refs.fetchAdd(1, .monotonic);
    }

    /// A sender handle is gone; the last one ends the stream.
    pub fn releaseSender(ch: *Mpsc) void {
        const before = ch.senders.fetchSub(1, .acq_rel);
        std.debug.assert(before > 0);
        if (before == 1) ch.close();
        ch.unref();
    }

    /// The receiver handle is gone: close and free what is queued.
    pub fn releaseReceiver(ch: *Mpsc) void {
        ch.close();
        {
            ch.consumer.lock.lock();
            defer ch.consumer.lock.unlock();
            ch.freeQueuedLocked();
            ch.consumer.spares.deinit(ch.nodes);
        }
        ch.unref();
    }

    fn unref(ch: *Mpsc) void {
        const before = ch.refs.fetchSub(1, .acq_rel);
        std.debug.assert(before > 0);
        if (before == 1) ch.destroy();
    }

    /// Free every linked message (a sender mid-push leaves its message for
    /// `destroy`).
    fn freeQueuedLocked(ch: *Mpsc) void {
        var freed: u32 = 0;
        while (ch.consumer.front orelse ch.popLocked()) |m| : (freed += 1) {
            ch.consumer.front = null;
            node_cache.freeNode(ch.nodes, m);
        }
        if (freed > 0) ch.finishLocked(freed);
    }

    fn destroy(ch: *Mpsc) void {
        // No handle is left, so no operation runs and every push is linked.
        ch.freeQueuedLocked();
        std.debug.assert(ch.producers.sent.load(.monotonic) == ch.consumer.received.raw);
        std.debug.assert(ch.consumer.head == &ch.producers.stub or ch.consumer.head == ch.producers.tail.load(.monotonic));
        ch.consumer.spares.deinit(ch.nodes);
        ch.recycled.deinit(ch.nodes);
        port_mod.retire(ch.send_port, Code.closed.int());
        port_mod.retire(ch.recv_port, Code.closed.int());
        ch.allocator.destroy(ch);
    }
};

/// Ask for both lines a small message may span (a hint; never faults).
fn prefetchNode(m: *Message, comptime rw: std.builtin.PrefetchOptions.Rw) void {
    const base: [*]const u8 = @ptrCast(m);
    @prefetch(base, .{ .rw = rw });
    @prefetch(base + 64, .{ .rw = rw });
}

/// `count` (>= 1) records `[u32 le length][payload]` that fill `records`
/// exactly, each payload at most `message.max_len`.
fn checkRecords(records: []const u8, count: u32) Error!void {
    if (count == 0) return error.InvalidArgument;
    var at: usize = 0;
    for (0..count) |_| {
        if (records.len - at < record_header) return error.InvalidArgument;
        const n = std.mem.readInt(u32, records[at..][0..record_header], .little);
        try message.checkLen(n);
        at += record_header;
        if (records.len - at < n) return error.InvalidArgument;
        at += n;
    }
    if (at != records.len) return error.InvalidArgument;
}

/// What a sender handle points at: the channel, and a node cache of the
/// handle's own (several isolates may share the handle; the cache's
/// try-lock sorts them out).
pub const Sender = struct {
    cache: node_cache.Cache align(std.atomic.cache_line) = .{},
    ch: *Mpsc,

    /// A sender for `ch`, owning one of its sender references (the caller
    /// took it: `retainSender`, or the channel's first).
    pub fn create(ch: *Mpsc) error{OutOfMemory}!*Sender {
        const s = try ch.allocator.create(Sender);
        s.* = .{ .ch = ch };
        return s;
    }

    /// Free the sender and give its reference back.
    pub fn destroy(s: *Sender) void {
        const ch = s.ch;
        s.cache.deinit(ch.nodes);
        ch.allocator.destroy(s);
        ch.releaseSender();
    }

    pub fn trySend(s: *Sender, payload: []const u8) Error!void {
        return s.ch.trySendVia(&s.cache, payload);
    }

    pub fn send(s: *Sender, payload: []const u8, deadline: Deadline) Error!void {
        return s.ch.sendVia(&s.cache, payload, deadline);
    }

    pub fn sendAsync(s: *Sender, cq: *Cq) Error!u32 {
        return s.ch.sendAsync(cq);
    }

    pub fn trySendMany(s: *Sender, records: []const u8, count: u32) Error!u32 {
        return s.ch.trySendMany(&s.cache, records, count);
    }
};

// ---- handles ----

pub const Pair = struct { tx: handles.Handle, rx: handles.Handle };

fn destroySenderHandle(obj: *anyopaque) void {
    const s: *Sender = @ptrCast(@alignCast(obj));
    s.destroy();
}

fn destroyReceiverHandle(obj: *anyopaque) void {
    const ch: *Mpsc = @ptrCast(@alignCast(obj));
    ch.releaseReceiver();
}

/// A channel and its two handles: the sender's object is a `Sender`, the
/// receiver's the `Mpsc`.
pub fn createHandles(allocator: std.mem.Allocator, capacity: u32) Error!Pair {
    const ch = try Mpsc.create(allocator, capacity);
    const s = Sender.create(ch) catch |err| {
        ch.releaseSender();
        ch.releaseReceiver();
        return err;
    };
    const tx = handles.create(.mpsc_sender, s, destroySenderHandle) catch |err| {
        s.destroy();
        ch.releaseReceiver();
        return mapHandleError(err);
    };
    const rx = handles.create(.mpsc_receiver, ch, destroyReceiverHandle) catch |err| {
        handles.releaseHeld(tx); // Destroys the sender (ours, just created).
        ch.releaseReceiver();
        return mapHandleError(err);
    };
    return .{ .tx = tx, .rx = rx };
}

/// A new sender handle (with a cache of its own) for the channel.
pub fn cloneSenderHandle(ch: *Mpsc) Error!handles.Handle {
    ch.retainSender();
    const s = Sender.create(ch) catch |err| {
        ch.releaseSender();
        return err;
    };
    return handles.create(.mpsc_sender, s, destroySenderHandle) catch |err| {
        s.destroy();
        return mapHandleError(err);
    };
}

fn mapHandleError(err: error{ Limit, OutOfMemory }) Error {
    return switch (err) {
        error.Limit => error.Limit,
        error.OutOfMemory => error.OutOfMemory,
    };
}
