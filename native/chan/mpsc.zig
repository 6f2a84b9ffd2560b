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
const CountingAllocator = @import("counting_allocator.zig").CountingAllocator;

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

    /// A sender for `ch`, owning one of its sender references.
    fn create(ch: *Mpsc) error{OutOfMemory}!*Sender {
        const s = try ch.allocator.create(Sender);
        s.* = .{ .ch = ch };
        return s;
    }

    /// Free the sender and give its reference back.
    fn destroy(s: *Sender) void {
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

const testing = std.testing;
const never = Deadline.never;

fn openQueue() !*Cq {
    const id = cq_mod.open();
    try testing.expect(id > 0);
    return cq_mod.get(@floatFromInt(id)).?;
}

/// Drain `cq` until the completion for `token` arrives; its result.
fn awaitToken(cq: *Cq, token: u32) i32 {
    var out: [16]i32 = undefined;
    var rounds: u64 = 0;
    while (true) : (rounds += 1) {
        std.debug.assert(rounds < 100_000_000);
        if (cq.drain(&out) > 0) {
            // One operation at a time per queue in these tests.
            std.debug.assert(out[0] == @as(i32, @intCast(token)));
            return out[1];
        }
        std.Thread.yield() catch {};
    }
}

test "mpsc: senders, the consumer and the rest live on separate lines" {
    const line = std.atomic.cache_line;
    const groups = [_][]const u8{ "producers", "consumer", "recycled" };
    inline for (groups) |g| {
        try testing.expect(@offsetOf(Mpsc, g) % line == 0);
        try testing.expect(@sizeOf(@FieldType(Mpsc, g)) % line == 0);
    }
    inline for (.{ "capacity", "closed", "senders", "refs", "recv_port", "send_port", "allocator", "nodes" }) |f| {
        inline for (groups) |g| {
            const start = @offsetOf(Mpsc, g);
            const off = @offsetOf(Mpsc, f);
            try testing.expect(off < start or off >= start + @sizeOf(@FieldType(Mpsc, g)));
        }
    }
    try testing.expect(@alignOf(Sender) == line and @sizeOf(Sender) % line == 0);
}

test "mpsc: unbounded send and receive in order" {
    const ch = try Mpsc.create(testing.allocator, 0);
    defer {
        ch.releaseSender();
        ch.releaseReceiver();
    }
    var buf: [16]u8 = undefined;
    try testing.expectError(error.WouldBlock, ch.tryRecv(&buf));
    try ch.trySend("one");
    try ch.trySend("two");
    try ch.send("", never);
    try testing.expectEqual(@as(u32, 3), ch.len());
    try testing.expectEqualStrings("one", buf[0..try ch.tryRecv(&buf)]);
    try testing.expectEqualStrings("two", buf[0..try ch.recv(&buf, never)]);
    try testing.expectEqual(@as(u32, 0), try ch.tryRecv(&buf));
    try testing.expectEqual(@as(u32, 0), ch.len());
    try testing.expectError(error.WouldBlock, ch.tryRecv(&buf));
    // The queue reuses its stub many times over.
    for (0..100) |i| {
        var b: [1]u8 = .{@intCast(i)};
        try ch.trySend(&b);
        try testing.expectEqual(@as(u32, 1), try ch.tryRecv(&buf));
        try testing.expectEqual(@as(u8, @intCast(i)), buf[0]);
    }
}

test "mpsc: bounded channel is full at capacity" {
    const ch = try Mpsc.create(testing.allocator, 2);
    defer {
        ch.releaseSender();
        ch.releaseReceiver();
    }
    try ch.trySend("a");
    try ch.trySend("b");
    try testing.expectError(error.WouldBlock, ch.trySend("c"));
    try testing.expectError(error.Timeout, ch.send("c", Deadline.fromMs(1)));
    try testing.expectEqual(@as(u32, 2), ch.len());
    var buf: [4]u8 = undefined;
    try testing.expectEqual(@as(u32, 1), try ch.tryRecv(&buf));
    try ch.trySend("c");
    try testing.expectEqualStrings("b", buf[0..try ch.tryRecv(&buf)]);
    try testing.expectEqualStrings("c", buf[0..try ch.tryRecv(&buf)]);
    try testing.expectError(error.Timeout, ch.recv(&buf, Deadline.fromMs(1)));
    try testing.expect(!ch.send_port.hasWaiters() and !ch.recv_port.hasWaiters());
}

test "mpsc: buffer too small leaves the message in place" {
    const ch = try Mpsc.create(testing.allocator, 0);
    defer {
        ch.releaseSender();
        ch.releaseReceiver();
    }
    try ch.trySend("hello world");
    try ch.trySend("x");
    var small: [4]u8 = undefined;
    try testing.expectError(error.BufferTooSmall, ch.tryRecv(&small));
    try testing.expectEqual(@as(u64, 11), code.last_value);
    try testing.expectError(error.BufferTooSmall, ch.recv(&small, never));
    try testing.expectError(error.BufferTooSmall, ch.tryRecv(&.{}));
    try testing.expectEqual(@as(u32, 2), ch.len());
    var buf: [16]u8 = undefined;
    try testing.expectEqualStrings("hello world", buf[0..try ch.tryRecv(&buf)]);
    try testing.expectEqualStrings("x", small[0..try ch.tryRecv(&small)]);
}

test "mpsc: too large" {
    const ch = try Mpsc.create(testing.allocator, 0);
    defer {
        ch.releaseSender();
        ch.releaseReceiver();
    }
    const fake: [*]const u8 = @ptrFromInt(@alignOf(u64));
    const huge = fake[0 .. message.max_len + 1];
    try testing.expectError(error.TooLarge, ch.trySend(huge));
    try testing.expectError(error.TooLarge, ch.send(huge, never));
    try testing.expectEqual(@as(u32, 0), ch.len());
    try testing.expectError(error.InvalidArgument, Mpsc.create(testing.allocator, max_capacity + 1));
}

test "mpsc: close drains, then reports closed; sends fail" {
    const ch = try Mpsc.create(testing.allocator, 1);
    defer {
        ch.releaseSender();
        ch.releaseReceiver();
    }
    try ch.trySend("last");
    // A sender blocked on the full channel is released with `closed`.
    const T = struct {
        fn blockedSend(c: *Mpsc, result: *?Error) void {
            c.send("never", never) catch |err| {
                result.* = err;
                return;
            };
            result.* = null;
        }
    };
    var result: ?Error = null;
    const th = try std.Thread.spawn(.{}, T.blockedSend, .{ ch, &result });
    while (!ch.send_port.hasWaiters()) std.Thread.yield() catch {};
    ch.close();
    th.join();
    try testing.expectEqual(@as(?Error, error.Closed), result);
    try testing.expectError(error.Closed, ch.trySend("x"));
    var buf: [8]u8 = undefined;
    try testing.expectEqualStrings("last", buf[0..try ch.recv(&buf, never)]);
    try testing.expectError(error.Closed, ch.tryRecv(&buf));
    try testing.expectError(error.Closed, ch.recv(&buf, never));
    const cq = try openQueue();
    defer cq_mod.close(cq);
    try testing.expectEqual(@as(u32, 0), try ch.recvAsync(cq));
    try testing.expectError(error.Closed, ch.sendAsync(cq));
}

test "mpsc: releasing the receiver fails sends and frees the queue" {
    const ch = try Mpsc.create(testing.allocator, 0);
    try ch.trySend("queued");
    try ch.trySend("queued too");
    ch.releaseReceiver();
    try testing.expectError(error.Closed, ch.trySend("x"));
    try testing.expectEqual(@as(u32, 0), ch.len());
    ch.releaseSender(); // Frees the channel; the testing allocator checks.
}

test "mpsc: handles; the last sender gone ends the stream" {
    const live = handles.live();
    const pair = try createHandles(testing.allocator, 0);
    const s1 = try handles.get(Sender, pair.tx, .mpsc_sender);
    const ch = s1.ch;
    try testing.expectEqual(ch, try handles.get(Mpsc, pair.rx, .mpsc_receiver));
    try testing.expectError(error.WrongKind, handles.get(Mpsc, pair.rx, .mpsc_sender));
    const tx2 = try cloneSenderHandle(ch);
    const s2 = try handles.get(Sender, tx2, .mpsc_sender);
    try testing.expect(s1 != s2 and s2.ch == ch);
    try s1.trySend("from tx");
    try handles.release(pair.tx);
    try s2.trySend("from tx2");
    try handles.release(tx2);
    try testing.expectEqual(@as(u32, 0), ch.senders.load(.monotonic));
    var buf: [16]u8 = undefined;
    try testing.expectEqualStrings("from tx", buf[0..try ch.tryRecv(&buf)]);
    try testing.expectEqualStrings("from tx2", buf[0..try ch.tryRecv(&buf)]);
    try testing.expectError(error.Closed, ch.tryRecv(&buf));
    try handles.release(pair.rx);
    try testing.expectEqual(live, handles.live());
    try testing.expectError(error.InvalidHandle, handles.get(Mpsc, pair.rx, .mpsc_receiver));
}

test "mpsc: async receive completes on send" {
    const ch = try Mpsc.create(testing.allocator, 0);
    defer {
        ch.releaseSender();
        ch.releaseReceiver();
    }
    const cq = try openQueue();
    defer cq_mod.close(cq);
    const token = try ch.recvAsync(cq);
    try testing.expect(token > 0);
    var out: [4]i32 = undefined;
    try testing.expectEqual(@as(u32, 0), cq.drain(&out));
    try ch.trySend("ping");
    try testing.expectEqual(@as(u32, 1), cq.drain(&out));
    try testing.expectEqual(@as(i32, @intCast(token)), out[0]);
    try testing.expectEqual(@as(i32, 0), out[1]);
    // Ready now: 0 without a token.
    try testing.expectEqual(@as(u32, 0), try ch.recvAsync(cq));
    var buf: [8]u8 = undefined;
    try testing.expectEqualStrings("ping", buf[0..try ch.tryRecv(&buf)]);
    // A pending receive is released (0) by close, then sees `closed`.
    const t2 = try ch.recvAsync(cq);
    try testing.expect(t2 > 0);
    ch.close();
    try testing.expectEqual(@as(u32, 1), cq.drain(&out));
    try testing.expectEqual(@as(i32, 0), out[1]);
    try testing.expectError(error.Closed, ch.tryRecv(&buf));
    // A cancelled receive leaves nothing behind.
    try testing.expectEqual(@as(u32, 0), cq.live);
}

test "mpsc: async send waits for room; an abandoned grant passes on" {
    const ch = try Mpsc.create(testing.allocator, 1);
    defer {
        ch.releaseSender();
        ch.releaseReceiver();
    }
    const cq = try openQueue();
    defer cq_mod.close(cq);
    try testing.expectEqual(@as(u32, 0), try ch.sendAsync(cq));
    try ch.trySend("1");
    const a = try ch.sendAsync(cq);
    const b = try ch.sendAsync(cq);
    const c = try ch.sendAsync(cq);
    try testing.expect(a > 0 and b > 0 and c > 0);
    // A cancelled pending waiter is simply gone.
    try testing.expect(cq.cancel(cq.lookup(c).?));
    var buf: [4]u8 = undefined;
    _ = try ch.tryRecv(&buf);
    // `a` was granted; the isolate abandons it before draining: the grant
    // goes to `b` instead of being lost.
    try testing.expect(!cq.cancel(cq.lookup(a).?));
    var out: [8]i32 = undefined;
    try testing.expectEqual(@as(u32, 1), cq.drain(&out));
    try testing.expectEqual(@as(i32, @intCast(b)), out[0]);
    try testing.expectEqual(@as(i32, 0), out[1]);
    try ch.trySend("2");
    // Closing grants waiting senders `closed`.
    const d = try ch.sendAsync(cq);
    try testing.expect(d > 0);
    ch.close();
    try testing.expectEqual(@as(u32, 1), cq.drain(&out));
    try testing.expectEqual(@as(i32, @intCast(d)), out[0]);
    try testing.expectEqual(Code.closed.int(), out[1]);
    try testing.expectEqual(@as(u32, 0), cq.live);
}

test "mpsc: a waiter pending when the last handle goes is released" {
    const cq = try openQueue();
    defer cq_mod.close(cq);
    const ch = try Mpsc.create(testing.allocator, 1);
    try ch.trySend("x");
    const s = try ch.sendAsync(cq);
    const r = try ch.recvAsync(cq); // Ready: a message is queued.
    try testing.expectEqual(@as(u32, 0), r);
    ch.releaseReceiver();
    ch.releaseSender();
    var out: [4]i32 = undefined;
    try testing.expectEqual(@as(u32, 1), cq.drain(&out));
    try testing.expectEqual(@as(i32, @intCast(s)), out[0]);
    try testing.expectEqual(Code.closed.int(), out[1]);
}

/// Pack `payloads` as batch records into `buf`; the packed bytes.
fn pack(buf: []u8, payloads: []const []const u8) []u8 {
    var at: usize = 0;
    for (payloads) |p| {
        std.mem.writeInt(u32, buf[at..][0..4], @intCast(p.len), .little);
        @memcpy(buf[at + 4 ..][0..p.len], p);
        at += 4 + p.len;
    }
    return buf[0..at];
}

/// Split `n` records packed in `bytes` (exactly) into `into`.
fn unpack(bytes: []const u8, n: u32, into: [][]const u8) !void {
    var at: usize = 0;
    for (into[0..n]) |*p| {
        const len = std.mem.readInt(u32, bytes[at..][0..4], .little);
        p.* = bytes[at + 4 ..][0..len];
        at += 4 + len;
    }
    try testing.expect(at <= bytes.len);
}

fn expectRecords(bytes: []const u8, want: []const []const u8) !void {
    var got: [16][]const u8 = undefined;
    try unpack(bytes, @intCast(want.len), &got);
    for (want, got[0..want.len]) |w, g| try testing.expectEqualStrings(w, g);
}

test "mpsc: batch send and receive keep order; partial fits" {
    const ch = try Mpsc.create(testing.allocator, 0);
    defer {
        ch.releaseSender();
        ch.releaseReceiver();
    }
    var in: [256]u8 = undefined;
    var out: [256]u8 = undefined;
    try testing.expectError(error.WouldBlock, ch.tryRecvMany(&out, 8));
    try testing.expectError(error.InvalidArgument, ch.tryRecvMany(&out, 0));
    const first = [_][]const u8{ "a", "bb", "", "dddd" };
    try testing.expectEqual(@as(u32, 4), try ch.trySendMany(null, pack(&in, &first), 4));
    try ch.trySend("e");
    try testing.expectEqual(@as(u32, 5), ch.len());
    // Batches and single receives interleave in order.
    try testing.expectEqualStrings("a", out[0..try ch.tryRecv(&out)]);
    try testing.expectEqual(@as(u32, 4), try ch.tryRecvMany(&out, 100));
    try expectRecords(out[0 .. 4 * 4 + 2 + 0 + 4 + 1], &.{ "bb", "", "dddd", "e" });
    try testing.expectEqual(@as(u32, 0), ch.len());
    // `max` caps the count; the rest stays queued.
    const three = [_][]const u8{ "hello", "world", "again" };
    try testing.expectEqual(@as(u32, 3), try ch.trySendMany(null, pack(&in, &three), 3));
    try testing.expectEqual(@as(u32, 1), try ch.tryRecvMany(&out, 1));
    try expectRecords(out[0..9], &.{"hello"});
    // The second record does not fit the space left: one, and it stays.
    try testing.expectEqual(@as(u32, 1), try ch.tryRecvMany(out[0..17], 8));
    try expectRecords(out[0..9], &.{"world"});
    // Not even the first fits: the record size, and the message stays.
    try testing.expectError(error.BufferTooSmall, ch.tryRecvMany(out[0..8], 8));
    try testing.expectEqual(@as(u64, 9), code.last_value);
    try testing.expectError(error.BufferTooSmall, ch.recvMany(&.{}, 8, never));
    try testing.expectEqual(@as(u64, 9), code.last_value);
    try testing.expectEqual(@as(u32, 1), ch.len());
    try testing.expectEqual(@as(u32, 1), try ch.tryRecvMany(out[0..9], 8));
    try expectRecords(out[0..9], &.{"again"});
    try testing.expectError(error.Timeout, ch.recvMany(&out, 8, Deadline.fromMs(1)));
    // A message left in place by a too small single receive goes first.
    try ch.trySend("long message");
    try ch.trySend("x");
    try testing.expectError(error.BufferTooSmall, ch.tryRecv(out[0..3]));
    try testing.expectEqual(@as(u32, 2), try ch.recvMany(&out, 8, never));
    try expectRecords(out[0 .. 16 + 5], &.{ "long message", "x" });
    // Closed and drained.
    try ch.trySend("tail");
    ch.close();
    try testing.expectError(error.Closed, ch.trySendMany(null, pack(&in, &first), 4));
    try testing.expectEqual(@as(u32, 1), try ch.tryRecvMany(&out, 8));
    try testing.expectError(error.Closed, ch.tryRecvMany(&out, 8));
    try testing.expectError(error.Closed, ch.recvMany(&out, 8, never));
}

test "mpsc: batch send checks every record before sending any" {
    const ch = try Mpsc.create(testing.allocator, 0);
    defer {
        ch.releaseSender();
        ch.releaseReceiver();
    }
    var in: [64]u8 = undefined;
    const two = pack(&in, &.{ "ok", "fine" });
    try testing.expectEqual(@as(usize, 14), two.len);
    // Count mismatches: fewer records than said, or bytes left over.
    try testing.expectError(error.InvalidArgument, ch.trySendMany(null, two, 3));
    try testing.expectError(error.InvalidArgument, ch.trySendMany(null, two, 1));
    try testing.expectError(error.InvalidArgument, ch.trySendMany(null, two, 0));
    try testing.expectError(error.InvalidArgument, ch.trySendMany(null, &.{}, 1));
    // A length running past the end; a cut header.
    try testing.expectError(error.InvalidArgument, ch.trySendMany(null, two[0..13], 2));
    try testing.expectError(error.InvalidArgument, ch.trySendMany(null, two[0..8], 2));
    var bad: [14]u8 = undefined;
    @memcpy(&bad, two);
    std.mem.writeInt(u32, bad[6..10], 5, .little);
    try testing.expectError(error.InvalidArgument, ch.trySendMany(null, &bad, 2));
    std.mem.writeInt(u32, bad[6..10], message.max_len + 1, .little);
    try testing.expectError(error.TooLarge, ch.trySendMany(null, &bad, 2));
    // Nothing was sent by any of them.
    try testing.expectEqual(@as(u32, 0), ch.len());
    try testing.expectEqual(@as(u32, 2), try ch.trySendMany(null, two, 2));
    var out: [64]u8 = undefined;
    try testing.expectEqual(@as(u32, 2), try ch.tryRecvMany(&out, 8));
    try expectRecords(out[0..14], &.{ "ok", "fine" });
}

test "mpsc: bounded batch send sends what fits" {
    const ch = try Mpsc.create(testing.allocator, 3);
    defer {
        ch.releaseSender();
        ch.releaseReceiver();
    }
    var in: [64]u8 = undefined;
    var out: [64]u8 = undefined;
    const five = [_][]const u8{ "1", "2", "3", "4", "5" };
    try testing.expectEqual(@as(u32, 3), try ch.trySendMany(null, pack(&in, &five), 5));
    try testing.expectEqual(@as(u32, 3), ch.len());
    try testing.expectError(error.WouldBlock, ch.trySendMany(null, pack(&in, five[3..]), 2));
    try testing.expectEqual(@as(u32, 1), try ch.tryRecvMany(&out, 1));
    try testing.expectEqual(@as(u32, 1), try ch.trySendMany(null, pack(&in, five[3..]), 2));
    try testing.expectEqual(@as(u32, 3), ch.len());
    try testing.expectEqual(@as(u32, 3), try ch.tryRecvMany(&out, 8));
    try expectRecords(out[0..15], &.{ "2", "3", "4" });
    try testing.expectEqual(@as(u32, 1), try ch.trySendMany(null, pack(&in, five[4..]), 1));
    try testing.expectEqualStrings("5", out[0..try ch.tryRecv(&out)]);
    try testing.expect(!ch.send_port.hasWaiters() and !ch.recv_port.hasWaiters());
}

test "mpsc: a batch receive makes room for several waiting senders" {
    const ch = try Mpsc.create(testing.allocator, 2);
    defer {
        ch.releaseSender();
        ch.releaseReceiver();
    }
    const cq = try openQueue();
    defer cq_mod.close(cq);
    try ch.trySend("a");
    try ch.trySend("b");
    const t1 = try ch.sendAsync(cq);
    const t2 = try ch.sendAsync(cq);
    try testing.expect(t1 > 0 and t2 > 0);
    var out: [32]u8 = undefined;
    try testing.expectEqual(@as(u32, 2), try ch.tryRecvMany(&out, 8));
    var done: [8]i32 = undefined;
    try testing.expectEqual(@as(u32, 2), cq.drain(&done));
    try testing.expectEqual(@as(u32, 0), cq.live);
}

test "mpsc: blocking batch receive wakes on a batch send" {
    const ch = try Mpsc.create(testing.allocator, 0);
    defer {
        ch.releaseSender();
        ch.releaseReceiver();
    }
    const T = struct {
        fn later(c: *Mpsc) void {
            std.Thread.sleep(2 * std.time.ns_per_ms);
            var in: [32]u8 = undefined;
            _ = c.trySendMany(null, pack(&in, &.{ "late", "r" }), 2) catch unreachable;
        }
    };
    const th = try std.Thread.spawn(.{}, T.later, .{ch});
    var out: [32]u8 = undefined;
    // One link makes both reachable at once.
    const got = try ch.recvMany(&out, 8, never);
    th.join();
    try testing.expectEqual(@as(u32, 2), got);
    try expectRecords(out[0..14], &.{ "late", "r" });
}

test "mpsc: a sender handle recycles nodes and frees its cache" {
    var counting: CountingAllocator = .{};
    const ch = try Mpsc.create(counting.allocator(), 0);
    const s = try Sender.create(ch);
    var out: [512]u8 = undefined;
    var in: [600]u8 = undefined;
    const msg: [64]u8 = @splat(9);
    const big: [node_cache.small_max + 1]u8 = @splat(1);
    for (0..20) |round| {
        // Queue up a good number, then drain: nodes travel back in batches.
        for (0..100) |_| try s.trySend(&msg);
        try s.send(&big, never);
        try testing.expectEqual(@as(u32, 1), try s.trySendMany(pack(&in, &.{&msg}), 1));
        var left: u32 = 102;
        while (left > 0) left -= try ch.tryRecvMany(&out, 3);
        // What is allocated stays bounded: the caches, the slot, spares.
        try testing.expect(counting.live_allocs.load(.monotonic) <= 2 + 3 * node_cache.hold_max);
        const c = (node_cache.allocSize(msg.len) - @sizeOf(Message)) / 16;
        if (round > 2) try testing.expect(s.cache.heads[c] != null or ch.recycled.lists[c].load(.monotonic) != null);
    }
    s.destroy();
    ch.releaseReceiver();
    try counting.expectNoLeaks();
}

const Stress = struct {
    const senders: u32 = 8;
    /// Threads 6 and 7 share one `Sender`, like two isolates holding one
    /// sender handle.
    const shared_from: u32 = 6;
    const max_len = 8 + 13;

    const SendMode = enum { blocking, async_, batch, mixed };
    const RecvMode = enum { blocking, async_, batch };

    ch: *Mpsc,
    per_sender: u32,
    modes: [senders]SendMode,
    txs: [senders]*Sender,
    shared_users: std.atomic.Value(u32) = .init(senders - shared_from),

    /// Payload: sender id, sequence, then `seq % 13` filler bytes.
    fn payload(buf: *[max_len]u8, id: u32, seq: u32) []u8 {
        std.mem.writeInt(u32, buf[0..4], id, .little);
        std.mem.writeInt(u32, buf[4..8], seq, .little);
        const n = 8 + seq % 13;
        @memset(buf[8..n], @truncate(seq));
        return buf[0..n];
    }

    fn sendAll(s: *Stress, id: u32) void {
        const tx = s.txs[id];
        const mode = s.modes[id];
        var buf: [max_len]u8 = undefined;
        var records: [17 * (4 + max_len)]u8 = undefined;
        const cq: ?*Cq = if (mode == .async_) cq_mod.get(@floatFromInt(cq_mod.open())).? else null;
        defer if (cq) |q| cq_mod.close(q);
        var seq: u32 = 0;
        while (seq < s.per_sender) {
            const batch = mode == .batch or (mode == .mixed and seq % 3 != 0);
            if (batch) {
                const k = @min(1 + (seq * 7 + id) % 17, s.per_sender - seq);
                var at: usize = 0;
                for (0..k) |i| {
                    const p = payload(&buf, id, seq + @as(u32, @intCast(i)));
                    at += pack(records[at..], &.{p}).len;
                }
                const sent = tx.trySendMany(records[0..at], k) catch |err| switch (err) {
                    error.WouldBlock => {
                        // Full: wait for room by sending the next one the
                        // blocking way (as sendManySync does).
                        tx.send(payload(&buf, id, seq), never) catch unreachable;
                        seq += 1;
                        continue;
                    },
                    else => unreachable,
                };
                std.debug.assert(sent >= 1 and sent <= k);
                seq += sent;
            } else if (cq) |q| {
                // The JS pattern: try, and when full await room and retry.
                while (true) {
                    tx.trySend(payload(&buf, id, seq)) catch |err| switch (err) {
                        error.WouldBlock => {
                            const token = tx.sendAsync(q) catch unreachable;
                            if (token != 0) std.debug.assert(awaitToken(q, token) == 0);
                            continue;
                        },
                        else => unreachable,
                    };
                    break;
                }
                seq += 1;
            } else {
                tx.send(payload(&buf, id, seq), never) catch unreachable;
                seq += 1;
            }
        }
    }

    /// Send everything, then drop this thread's sender: the last one to
    /// finish ends the stream.
    fn sendDrop(s: *Stress, id: u32) void {
        s.sendAll(id);
        if (id < shared_from or s.shared_users.fetchSub(1, .acq_rel) == 1) s.txs[id].destroy();
    }

    const Check = struct {
        next: [senders]u32 = @splat(0),
        total: u64 = 0,

        fn one(c: *Check, capacity: u32, ch: *Mpsc, bytes: []const u8) !void {
            try testing.expect(bytes.len >= 8);
            const id = std.mem.readInt(u32, bytes[0..4], .little);
            const seq = std.mem.readInt(u32, bytes[4..8], .little);
            try testing.expect(id < senders);
            try testing.expectEqual(c.next[id], seq);
            try testing.expectEqual(8 + seq % 13, bytes.len);
            for (bytes[8..]) |byte| try testing.expectEqual(@as(u8, @truncate(seq)), byte);
            if (capacity != 0) try testing.expect(ch.len() <= capacity);
            c.next[id] += 1;
            c.total += 1;
        }
    };

    fn run(capacity: u32, per_sender: u32, modes: [senders]SendMode, recv_mode: RecvMode) !void {
        var counting: CountingAllocator = .{};
        const ch = try Mpsc.create(counting.allocator(), capacity);
        var s: Stress = .{ .ch = ch, .per_sender = per_sender, .modes = modes, .txs = undefined };
        // Each sender exists before any can finish and drop its own. The
        // first takes the reference `create` made.
        for (0..shared_from + 1) |i| {
            if (i > 0) ch.retainSender();
            s.txs[i] = try Sender.create(ch);
        }
        for (shared_from + 1..senders) |i| s.txs[i] = s.txs[shared_from];
        var ts: [senders]std.Thread = undefined;
        for (&ts, 0..) |*t, i| t.* = try std.Thread.spawn(.{}, sendDrop, .{ &s, @as(u32, @intCast(i)) });
        var check: Check = .{};
        var buf: [40 * (4 + max_len)]u8 = undefined;
        const cq: ?*Cq = if (recv_mode == .async_) try openQueue() else null;
        defer if (cq) |q| cq_mod.close(q);
        var round: u32 = 0;
        while (true) : (round += 1) {
            switch (recv_mode) {
                .blocking, .async_ => {
                    const n = if (cq) |q| blk: {
                        break :blk ch.tryRecv(buf[0..max_len]) catch |err| switch (err) {
                            error.WouldBlock => {
                                const token = try ch.recvAsync(q);
                                if (token != 0) try testing.expectEqual(@as(i32, 0), awaitToken(q, token));
                                continue;
                            },
                            error.Closed => break,
                            else => return err,
                        };
                    } else ch.recv(buf[0..max_len], never) catch |err| switch (err) {
                        error.Closed => break,
                        else => return err,
                    };
                    try check.one(capacity, ch, buf[0..n]);
                },
                .batch => {
                    // Vary the count and the room, single receives too.
                    if (round % 5 == 0) {
                        const n = ch.recv(buf[0..max_len], never) catch |err| switch (err) {
                            error.Closed => break,
                            else => return err,
                        };
                        try check.one(capacity, ch, buf[0..n]);
                        continue;
                    }
                    const max = 1 + round % 40;
                    const room = if (round % 3 == 0) 2 * (4 + max_len) else buf.len;
                    const got = ch.recvMany(buf[0..room], max, never) catch |err| switch (err) {
                        error.Closed => break,
                        else => return err,
                    };
                    try testing.expect(got >= 1 and got <= max);
                    var at: usize = 0;
                    for (0..got) |_| {
                        const len = std.mem.readInt(u32, buf[at..][0..4], .little);
                        try check.one(capacity, ch, buf[at + 4 ..][0..len]);
                        at += 4 + len;
                    }
                },
            }
        }
        for (ts) |t| t.join();
        try testing.expectEqual(@as(u64, senders) * per_sender, check.total);
        for (check.next) |n| try testing.expectEqual(per_sender, n);
        try testing.expectEqual(@as(u32, 0), ch.len());
        ch.releaseReceiver();
        try counting.expectNoLeaks();
    }
};

const all_blocking: [Stress.senders]Stress.SendMode = @splat(.blocking);
const all_async: [Stress.senders]Stress.SendMode = @splat(.async_);
const mixed: [Stress.senders]Stress.SendMode = .{ .blocking, .blocking, .batch, .batch, .mixed, .async_, .mixed, .batch };

test "mpsc: stress, 8 senders, unbounded" {
    try Stress.run(0, 20_000, all_blocking, .blocking);
}

test "mpsc: stress, 8 senders, bounded capacity 4 (senders block)" {
    try Stress.run(4, 5_000, all_blocking, .blocking);
}

test "mpsc: stress, capacity 1, async senders and async receiver" {
    try Stress.run(1, 5_000, all_async, .async_);
}

test "mpsc: stress, unbounded, async receiver" {
    try Stress.run(0, 20_000, all_blocking, .async_);
}

test "mpsc: stress, 8 senders mixing single and batch sends, batch receives, unbounded" {
    try Stress.run(0, 20_000, mixed, .batch);
}

test "mpsc: stress, mixed single and batch, bounded capacity 16" {
    try Stress.run(16, 5_000, mixed, .batch);
}

test "mpsc: stress, mixed single and batch, capacity 1, async receiver" {
    try Stress.run(1, 2_000, mixed, .async_);
}

test "mpsc: stress, bounded, every grant preempted before it lands" {
    // Blocking senders and receiver whose re-check finds they need not wait
    // lose their `cancel` to a grant now and then; such a waiter must not be
    // reused before the grant lands (Port.withdraw). Without that, this
    // reliably trips an assertion in `publish` or the wait queue.
    port_mod.test_hooks = &port_mod.test_stretch;
    defer port_mod.test_hooks = null;
    try Stress.run(4, 1_000, all_blocking, .blocking);
}

test "mpsc: ping-pong between two threads" {
    var counting: CountingAllocator = .{};
    const a = try Mpsc.create(counting.allocator(), 0);
    const b = try Mpsc.create(counting.allocator(), 0);
    const rounds: u32 = 5_000;
    const T = struct {
        fn echo(in: *Mpsc, out: *Mpsc) void {
            var buf: [8]u8 = undefined;
            while (true) {
                const n = in.recv(&buf, never) catch |err| {
                    std.debug.assert(err == error.Closed);
                    return;
                };
                out.trySend(buf[0..n]) catch unreachable;
            }
        }
    };
    const th = try std.Thread.spawn(.{}, T.echo, .{ a, b });
    var buf: [8]u8 = undefined;
    var i: u32 = 0;
    while (i < rounds) : (i += 1) {
        var msg: [4]u8 = undefined;
        std.mem.writeInt(u32, &msg, i, .little);
        try a.trySend(&msg);
        try testing.expectEqual(@as(u32, 4), try b.recv(&buf, never));
        try testing.expectEqual(i, std.mem.readInt(u32, buf[0..4], .little));
    }
    a.releaseSender();
    th.join();
    a.releaseReceiver();
    b.releaseSender();
    b.releaseReceiver();
    try counting.expectNoLeaks();
}

// Throughput, one sender thread to one receiver thread, 64-byte messages:
// one at a time (with no other work, and with other work per message on
// each side, like the JS around a call), and in batches of 64. Only prints;
// runs when AVX_BENCH is set (it takes a few seconds):
//   AVX_BENCH=1 zig build test -Dtest-filter="mpsc: bench" -Dtest-optimize=ReleaseFast
test "mpsc: bench 1 -> 1, 64-byte messages" {
    if (!std.process.hasEnvVarConstant("AVX_BENCH")) return error.SkipZigTest;
    const B = struct {
        const n: u32 = 2_000_000;
        const size = 64;
        const per_batch = 64;

        /// About `iters` loop rounds of busy work.
        fn work(iters: u32) void {
            var x: u32 = 0;
            for (0..iters) |_| {
                x +%= 1;
                std.mem.doNotOptimizeAway(x);
            }
        }

        fn produce(s: *Sender, batched: bool, iters: u32) void {
            const msg: [size]u8 = @splat(7);
            if (!batched) {
                for (0..n) |_| {
                    work(iters);
                    s.send(&msg, never) catch unreachable;
                }
                return;
            }
            var records: [per_batch * (4 + size)]u8 = undefined;
            for (0..per_batch) |i| _ = pack(records[i * (4 + size) ..], &.{&msg});
            var left: u32 = n;
            while (left > 0) {
                const k: u32 = @min(left, per_batch);
                left -= s.trySendMany(records[0 .. k * (4 + size)], k) catch unreachable;
            }
        }

        fn run(name: []const u8, batched: bool, send_iters: u32, recv_iters: u32) !void {
            for (0..3) |_| {
                const ch = try Mpsc.create(std.heap.c_allocator, 0);
                const s = try Sender.create(ch);
                var timer = try std.time.Timer.start();
                const th = try std.Thread.spawn(.{}, produce, .{ s, batched, send_iters });
                var buf: [per_batch * (4 + size)]u8 = undefined;
                var got: u32 = 0;
                while (got < n) {
                    if (batched) {
                        got += try ch.recvMany(&buf, per_batch, never);
                    } else {
                        _ = try ch.recv(buf[0..size], never);
                        work(recv_iters);
                        got += 1;
                    }
                }
                const ns: f64 = @floatFromInt(timer.read());
                th.join();
                std.debug.print("mpsc bench {s}: {d:.1} ns/msg, {d:.2} M msg/s\n", .{ name, ns / n, @as(f64, n) * 1000.0 / ns });
                s.destroy();
                ch.releaseReceiver();
            }
        }
    };
    // Rounds of `work` per 50 ns.
    var timer = try std.time.Timer.start();
    B.work(10_000_000);
    const per50: u32 = @intFromFloat(50.0 * 10_000_000.0 / @as(f64, @floatFromInt(timer.read())));
    try B.run("single                           ", false, 0, 0);
    try B.run("single, +50 ns send, +100 ns recv", false, per50, 2 * per50);
    try B.run("single, +100 ns send, +50 ns recv", false, 2 * per50, per50);
    try B.run("batches of 64                    ", true, 0, 0);
}
