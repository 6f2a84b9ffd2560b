//! Completion queues: how native code tells an isolate that an operation
//! it is `await`ing can finish.
//!
//! Each isolate opens one queue. When an async operation cannot finish at
//! once, it takes a waiter from the queue's pool (owner thread only), links
//! it into the primitive's wait queue and returns its token to JS. Whoever
//! later grants the waiter (any thread) pushes it onto `done`, a lock-free
//! stack, and rings the doorbell only if the isolate said it is idle
//! (`armed`). The isolate drains completions in batches with fast calls.
//!
//! The doorbell is a thread of the queue's own: ringing means calling a JS
//! thread-safe callback, which blocks until the isolate's event loop runs
//! it, so it must never happen on a thread that holds a lock or that other
//! isolates wait on.
//!
//! Queues live in a static table and are never freed: a late ring on a
//! closed queue is harmless.
const std = @import("std");
const futex = @import("../os/futex.zig");
const RawMutex = @import("../sync/raw_mutex.zig").RawMutex;
const wq = @import("wait_queue.zig");
const Waiter = wq.Waiter;
const Code = @import("code.zig").Code;

pub const max_queues: u32 = 256;
const chunk_len: u32 = 1024;
const max_chunks: u32 = 1024;
/// A token is `index | generation << index_bits`: a positive i32.
const index_bits = 20;
const index_mask: u32 = (1 << index_bits) - 1;
const max_slot_gen: u16 = (1 << (31 - index_bits)) - 1;
/// At most this many operations may be pending in one isolate (a runtime's
/// spawner holds one per task it has not collected).
pub const max_pending: u32 = chunk_len * max_chunks;

comptime {
    std.debug.assert(max_pending <= 1 << index_bits);
}

pub const Callback = *const fn () callconv(.c) void;

/// How a post ends the owner's blocking call (see `Cq.interrupt`).
pub const Interrupt = struct {
    context: *anyopaque,
    wake: *const fn (context: *anyopaque) void,
};

pub const Cq = struct {
    /// Completions pushed by granting threads, newest first.
    done: std.atomic.Value(?*Waiter) = .init(null),
    /// 1 while the isolate waits for a doorbell.
    armed: futex.Word = .init(0),
    /// The doorbell thread sleeps on this word.
    bell: futex.Word = .init(0),
    closing: std.atomic.Value(bool) = .init(false),
    /// Set by the first `close`: a queue may be closed by its dying
    /// isolate (its unload handler) and by the runtime declaring that
    /// isolate lost, at the same time; only one may do the work.
    close_claimed: std.atomic.Value(bool) = .init(false),
    /// 1 while a doorbell thread runs for this slot: the slot is not
    /// reused before it has exited.
    thread_alive: std.atomic.Value(u32) = .init(0),
    callback: ?Callback = null,
    rings: std.atomic.Value(u64) = .init(0),
    /// 1 while the doorbell thread is inside the callback: the isolate
    /// must not be terminated then (Deno would run the call into a dead
    /// isolate and crash the process).
    in_call: std.atomic.Value(u32) = .init(0),
    /// Set by `quiesce`: the doorbell makes no more calls.
    muted: std.atomic.Value(u32) = .init(0),
    /// Set while the owner isolate blocks in a native call that a
    /// completion should end (a server station polling its reactor): every
    /// post also calls it. The doorbell cannot do that job, since its
    /// callback waits for the isolate's event loop.
    interrupt: std.atomic.Value(?*const Interrupt) = .init(null),

    // Everything below belongs to the owner isolate's thread.
    gen: u16 = 1,
    open: bool = false,
    /// Completions taken from `done`, oldest first.
    ready_head: ?*Waiter = null,
    ready_tail: ?*Waiter = null,
    chunks: [max_chunks]?*[chunk_len]Waiter = @splat(null),
    chunk_count: u32 = 0,
    free_head: ?*Waiter = null,
    live: u32 = 0,

    /// Called by the granting thread, under the lock of the wait queue the
    /// waiter was in.
    pub fn post(cq: *Cq, w: *Waiter) void {
        var head = cq.done.load(.monotonic);
        while (true) {
            w.cq_next = head;
            head = cq.done.cmpxchgWeak(head, w, .seq_cst, .monotonic) orelse break;
        }
        // Pairs with `block`: either the owner sees our push before it
        // blocks, or we see its interrupt and wake it.
        if (cq.interrupt.load(.seq_cst)) |i| i.wake(i.context);
        // Pairs with `arm`: either the isolate sees our push, or we see it
        // armed and ring.
        if (cq.armed.swap(0, .seq_cst) == 1) {
            cq.bell.store(1, .seq_cst);
            futex.wakeOne(&cq.bell);
        }
    }

    /// The owner is about to block in a native call that `i` can end:
    /// returns true when completions are already waiting (do not block).
    /// Call `unblock` after the call.
    pub fn block(cq: *Cq, i: *const Interrupt) bool {
        cq.interrupt.store(i, .seq_cst);
        return cq.ready_head != null or cq.done.load(.seq_cst) != null;
    }

    pub fn unblock(cq: *Cq) void {
        cq.interrupt.store(null, .seq_cst);
    }

    /// The isolate goes idle. Returns true when completions are already
    /// waiting, in which case the isolate drains now instead of waiting.
    pub fn arm(cq: *Cq) bool {
        cq.armed.store(1, .seq_cst);
        if (cq.ready_head != null or cq.done.load(.seq_cst) != null) {
            // Take the arming back; if a poster took it first, a ring is on
            // its way and an extra drain is harmless.
            _ = cq.armed.swap(0, .seq_cst);
            return true;
        }
        return false;
    }

    /// A waiter for an async operation, or null when `max_pending` are in
    /// use or memory ran out.
    pub fn acquire(cq: *Cq) ?*Waiter {
        std.debug.assert(cq.open);
        if (cq.free_head == null) cq.grow() catch return null;
        const w = cq.free_head.?;
        cq.free_head = w.cq_next;
        const gen = w.slot_gen;
        const index = w.token & index_mask;
        w.* = .{ .cq = cq, .slot_gen = gen, .token = index | (@as(u32, gen) << index_bits), .in_use = true };
        cq.live += 1;
        return w;
    }

    fn grow(cq: *Cq) !void {
        if (cq.chunk_count == max_chunks) return error.Limit;
        const chunk = try std.heap.c_allocator.create([chunk_len]Waiter);
        const base = cq.chunk_count * chunk_len;
        var i: u32 = chunk_len;
        while (i > 0) {
            i -= 1;
            chunk[i] = .{ .token = base + i, .slot_gen = 1, .cq_next = cq.free_head };
            cq.free_head = &chunk[i];
        }
        cq.chunks[cq.chunk_count] = chunk;
        cq.chunk_count += 1;
    }

    /// Return a waiter that is linked nowhere to the pool.
    pub fn release(cq: *Cq, w: *Waiter) void {
        std.debug.assert(w.in_use and w.cq == cq);
        std.debug.assert(w.queue.load(.monotonic) == null);
        w.in_use = false;
        // Tokens stay below 2^31 so they fit a positive i32.
        w.slot_gen = if (w.slot_gen == max_slot_gen) 1 else w.slot_gen + 1;
        w.token &= index_mask;
        w.cq_next = cq.free_head;
        cq.free_head = w;
        cq.live -= 1;
    }

    pub fn lookup(cq: *Cq, token: u32) ?*Waiter {
        const index = token & index_mask;
        const chunk = index / chunk_len;
        if (chunk >= cq.chunk_count) return null;
        const w = &cq.chunks[chunk].?[index % chunk_len];
        if (!w.in_use or w.token != token) return null;
        return w;
    }

    /// Abandon a pending operation. Returns false when it had already been
    /// granted: its grant is then undone when it is drained.
    pub fn cancel(cq: *Cq, w: *Waiter) bool {
        if (wq.cancel(w)) {
            cq.release(w);
            return true;
        }
        w.abandoned = true;
        // The granter has unlinked `w` and is pushing it onto `done` (it
        // holds a wait-queue lock for a few instructions). Wait until it has
        // landed, so that a drain right after this call undoes the grant:
        // the isolate may block in a sync call next and never drain again.
        var spins: u32 = 0;
        while (!cq.holds(w)) : (spins += 1) {
            if (spins < 1000) std.atomic.spinLoopHint() else std.Thread.yield() catch {};
        }
        return false;
    }

    /// Whether `w` is in `ready` or `done`. Owner only: nodes already in
    /// `done` never change their links, producers only push at the head.
    fn holds(cq: *Cq, w: *Waiter) bool {
        var node = cq.ready_head;
        while (node) |n| : (node = n.cq_next) if (n == w) return true;
        node = cq.done.load(.acquire);
        while (node) |n| : (node = n.cq_next) if (n == w) return true;
        return false;
    }

    /// Move `done` into the FIFO `ready` list.
    fn collect(cq: *Cq) void {
        var node = cq.done.swap(null, .acquire);
        var reversed: ?*Waiter = null;
        while (node) |n| {
            node = n.cq_next;
            n.cq_next = reversed;
            reversed = n;
        }
        if (reversed == null) return;
        if (cq.ready_tail) |t| t.cq_next = reversed else cq.ready_head = reversed;
        var tail = reversed.?;
        while (tail.cq_next) |n| tail = n;
        cq.ready_tail = tail;
    }

    /// Write up to `out.len / 2` completions as (token, result) pairs.
    /// Abandoned operations are undone here and not reported.
    pub fn drain(cq: *Cq, out: []i32) u32 {
        std.debug.assert(out.len % 2 == 0);
        var n: u32 = 0;
        if (cq.ready_head == null) cq.collect();
        while (n * 2 < out.len) {
            const w = cq.ready_head orelse break;
            cq.ready_head = w.cq_next;
            if (cq.ready_head == null) cq.ready_tail = null;
            if (w.abandoned) {
                if (w.undo) |undo| undo(w);
                cq.release(w);
                if (cq.ready_head == null) cq.collect();
                continue;
            }
            out[n * 2] = @intCast(w.token);
            out[n * 2 + 1] = w.result;
            cq.release(w);
            n += 1;
            if (cq.ready_head == null) cq.collect();
        }
        return n;
    }

    fn doorbellMain(cq: *Cq) void {
        defer cq.thread_alive.store(0, .release);
        while (true) {
            while (cq.bell.load(.acquire) == 0) _ = futex.wait(&cq.bell, 0, null);
            if (cq.closing.load(.acquire)) return;
            cq.bell.store(0, .release);
            cq.rings.store(cq.rings.load(.monotonic) + 1, .monotonic);
            // Blocks until the isolate's event loop has run the callback.
            // Pairs with `quiesce` (seq_cst both sides): either it sees
            // this call, or this sees the mute and makes none.
            cq.in_call.store(1, .seq_cst);
            if (cq.muted.load(.seq_cst) == 0) cq.callback.?();
            cq.in_call.store(0, .seq_cst);
        }
    }
};

var table: [max_queues]Cq = @splat(.{});
var table_lock: RawMutex = .{};

/// Open a queue. `callback` is the isolate's doorbell (null: the owner
/// polls). Returns the queue id (> 0) or a negative Code.
pub fn open(callback: ?Callback) i32 {
    table_lock.lock();
    defer table_lock.unlock();
    for (&table, 0..) |*cq, i| {
        if (cq.open or cq.thread_alive.load(.acquire) != 0) continue;
        const gen = cq.gen;
        const chunks = cq.chunks;
        const chunk_count = cq.chunk_count;
        const free_head = cq.free_head;
        cq.* = .{ .gen = gen, .open = true, .callback = callback, .chunks = chunks, .chunk_count = chunk_count, .free_head = free_head };
        if (callback != null) {
            cq.thread_alive.store(1, .release);
            const th = std.Thread.spawn(.{ .stack_size = 64 * 1024 }, Cq.doorbellMain, .{cq}) catch {
                cq.thread_alive.store(0, .release);
                cq.open = false;
                return Code.out_of_memory.int();
            };
            // Named, so leak checks (and people reading `ps -L`) can tell.
            th.setName("avx-doorbell") catch {};
            th.detach();
        }
        return @intCast(@as(u32, gen) << 8 | @as(u32, @intCast(i)));
    }
    return Code.limit.int();
}

/// The open queue with this id, or null.
pub fn get(id: f64) ?*Cq {
    if (!(id >= 1 and id <= std.math.maxInt(i32)) or @floor(id) != id) return null;
    const v: u32 = @intFromFloat(id);
    const cq = &table[v & 0xff];
    if (!cq.open or cq.gen != (v >> 8)) return null;
    return cq;
}

/// 1 while the doorbell thread of the slot of queue `id` runs (whatever
/// the slot's generation now), else 0.
pub fn doorbellAlive(id: u32) i32 {
    return @intCast(table[id & 0xff].thread_alive.load(.acquire));
}

/// Stop the doorbell of the slot of queue `id` from calling into its
/// isolate, before that isolate is terminated. Returns 1 when a call is in
/// progress (terminating now would crash the process), else 0: no call
/// will be made any more.
pub fn quiesce(id: u32) i32 {
    const cq = &table[id & 0xff];
    // Only the queue named: its slot may have been closed and reopened by
    // another isolate since.
    if (!cq.open or cq.gen != (id >> 8)) return 0;
    cq.muted.store(1, .seq_cst);
    return @intCast(cq.in_call.load(.seq_cst));
}

/// Close a queue: cancel its pending operations, undo granted ones that
/// were never drained, stop its doorbell. Any thread may close a queue
/// whose isolate is gone; otherwise only the owner calls this.
pub fn close(cq: *Cq) void {
    if (cq.close_claimed.swap(true, .acq_rel)) return;
    std.debug.assert(cq.open);
    for (cq.chunks[0..cq.chunk_count]) |chunk| {
        for (chunk.?) |*w| {
            if (w.in_use and !w.abandoned) _ = cq.cancel(w);
        }
    }
    // Granted operations are on their way to `done` (their granters hold
    // wait-queue locks for a few instructions): drain until all are back.
    var scratch: [64]i32 = undefined;
    var rounds: u64 = 0;
    while (cq.live > 0) : (rounds += 1) {
        _ = cq.drain(&scratch);
        if (rounds > 1000) std.Thread.yield() catch {};
    }
    cq.open = false;
    cq.gen = if (cq.gen == 0xffff) 1 else cq.gen + 1;
    cq.closing.store(true, .release);
    cq.bell.store(1, .release);
    futex.wakeOne(&cq.bell);
}

test "cq: post, arm and drain in order" {
    const id = open(null);
    try std.testing.expect(id > 0);
    const cq = get(@floatFromInt(id)).?;
    defer close(cq);
    try std.testing.expect(!cq.arm());
    var q: wq.WaitQueue = .{};
    const a = cq.acquire().?;
    const b = cq.acquire().?;
    q.lock.lock();
    q.pushBack(a);
    q.pushBack(b);
    q.grantFront(5);
    q.grantFront(6);
    q.lock.unlock();
    // Armed: the first post took the arming.
    try std.testing.expectEqual(@as(u32, 0), cq.armed.load(.acquire));
    const ta = a.token;
    const tb = b.token;
    var out: [8]i32 = undefined;
    try std.testing.expectEqual(@as(u32, 2), cq.drain(&out));
    try std.testing.expectEqual(@as(i32, @intCast(ta)), out[0]);
    try std.testing.expectEqual(@as(i32, 5), out[1]);
    try std.testing.expectEqual(@as(i32, @intCast(tb)), out[2]);
    try std.testing.expectEqual(@as(i32, 6), out[3]);
    try std.testing.expectEqual(@as(u32, 0), cq.live);
    // A stale token no longer resolves.
    try std.testing.expect(cq.lookup(ta) == null);
}

test "cq: cancel before and after the grant" {
    const id = open(null);
    const cq = get(@floatFromInt(id)).?;
    var q: wq.WaitQueue = .{};
    const T = struct {
        var undone: u32 = 0;
        fn undo(_: *Waiter) void {
            undone += 1;
        }
    };
    const a = cq.acquire().?;
    const b = cq.acquire().?;
    b.undo = T.undo;
    q.lock.lock();
    q.pushBack(a);
    q.pushBack(b);
    q.lock.unlock();
    try std.testing.expect(cq.cancel(a));
    q.lock.lock();
    q.grantFront(0);
    q.lock.unlock();
    try std.testing.expect(!cq.cancel(b));
    var out: [8]i32 = undefined;
    try std.testing.expectEqual(@as(u32, 0), cq.drain(&out));
    try std.testing.expectEqual(@as(u32, 1), T.undone);
    try std.testing.expectEqual(@as(u32, 0), cq.live);
    close(cq);
    try std.testing.expect(get(@floatFromInt(id)) == null);
}

test "cq: close cancels pending waiters" {
    const id = open(null);
    const cq = get(@floatFromInt(id)).?;
    var q: wq.WaitQueue = .{};
    for (0..300) |_| {
        const w = cq.acquire().?;
        q.lock.lock();
        q.pushBack(w);
        q.lock.unlock();
    }
    close(cq);
    try std.testing.expect(q.isEmpty());
}
