//! Completion queues: how native code tells an isolate that an operation
//! it is `await`ing can finish.
//!
//! Each isolate opens one queue. When an async operation cannot finish at
//! once, it takes a waiter from the queue's pool (owner thread only), links
//! it into the primitive's wait queue and returns its token to JS. Whoever
//! later grants the waiter (any thread) pushes it onto `done`, a lock-free
//! stack, and rings the queue's bell (core/bell.zig) only if the isolate
//! said it is idle (`armed`). The isolate drains completions in batches
//! with fast calls.
//!
//! Nothing here ever calls into an isolate: a ring sets a bit that the
//! relay isolate turns into an `Atomics.notify`, which is harmless once its
//! target has ended. An isolate may end at any moment without a word; the
//! OS tells us when its thread exits (os/thread_exit.zig), and `ownerExited`
//! then closes its queue on that thread: pending operations are cancelled,
//! granted ones undone (a lock handed over is unlocked, permits go back),
//! and the slot is free for the next isolate.
//!
//! Queues live in a static table and are never freed: a late post to a
//! closed queue's slot is harmless.
const std = @import("std");
const futex = @import("../os/futex.zig");
const thread_exit = @import("../os/thread_exit.zig");
const bell = @import("bell.zig");
const RawMutex = @import("raw_mutex.zig").RawMutex;
const wq = @import("wait_queue.zig");
const Waiter = wq.Waiter;
const Code = @import("code.zig").Code;

pub const max_queues: u32 = bell.slots;
const chunk_len: u32 = 1024;
const max_chunks: u32 = 1024;
/// A token is `index | generation << index_bits`: a positive i32.
pub const index_bits = 20;
const index_mask: u32 = (1 << index_bits) - 1;
const max_slot_gen: u16 = (1 << (31 - index_bits)) - 1;
/// At most this many operations may be pending in one isolate (a runtime's
/// spawner holds one per task it has not collected).
pub const max_pending: u32 = chunk_len * max_chunks;

comptime {
    std.debug.assert(max_pending <= 1 << index_bits);
}

/// How a post ends the owner's blocking call (see `Cq.interrupt`).
pub const Interrupt = struct {
    context: *anyopaque,
    wake: *const fn (context: *anyopaque) void,
};

pub const Cq = struct {
    /// Completions pushed by granting threads, newest first.
    done: std.atomic.Value(?*Waiter) = .init(null),
    /// 1 while the isolate waits for its bell.
    armed: futex.Word = .init(0),
    /// The queue's id while it is open, 0 when the slot is free, the id
    /// with `closing` set while a close runs. Every cross-thread look-up
    /// and every close goes through this word: a close is claimed with a
    /// compare-and-swap from the id it was asked for, so a stale id (the
    /// slot since closed and reopened by another isolate) closes nothing.
    id_word: std.atomic.Value(u32) = .init(0),
    /// Set while the owner isolate blocks in a native call that a
    /// completion should end (a server station polling its reactor): every
    /// post also calls it: the bell cannot end a native call.
    interrupt: std.atomic.Value(?*const Interrupt) = .init(null),

    /// The thread of the isolate that opened it: its exit closes the queue.
    owner: std.Thread.Id = 0,

    // Everything below belongs to the owner isolate's thread (and to the
    // table lock for `gen`).
    gen: u16 = 1,
    /// This queue's slot in the table (and in the bell).
    index: u8 = 0,
    /// Completions taken from `done`, oldest first.
    ready_head: ?*Waiter = null,
    ready_tail: ?*Waiter = null,
    chunks: [max_chunks]?*[chunk_len]Waiter = @splat(null),
    chunk_count: u32 = 0,
    free_head: ?*Waiter = null,
    live: u32 = 0,

    /// Whether the queue is open (not free, not closing).
    pub fn isOpen(cq: *const Cq) bool {
        const id = cq.id_word.load(.seq_cst);
        return id != 0 and id & closing == 0;
    }

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
            bell.ring(cq.index);
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
        std.debug.assert(cq.isOpen());
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
};

const closing: u32 = 1 << 31;

var table: [max_queues]Cq = @splat(.{});
var table_lock: RawMutex = .{};

fn idOf(gen: u16, index: u32) u32 {
    std.debug.assert(gen != 0 and index < max_queues);
    return @as(u32, gen) << 8 | index;
}

/// Open a queue for the calling thread's isolate. Returns the queue id
/// (> 0) or a negative Code.
pub fn open() i32 {
    table_lock.lock();
    defer table_lock.unlock();
    for (&table, 0..) |*cq, i| {
        if (cq.id_word.load(.seq_cst) != 0) continue;
        // Field by field, not a whole-struct assignment: a granter that
        // posted to this slot's previous queue may still be finishing its
        // `post` (atomics only), and the waiter pool is kept.
        std.debug.assert(cq.live == 0 and cq.ready_head == null);
        cq.done.store(null, .seq_cst);
        cq.armed.store(0, .seq_cst);
        cq.interrupt.store(null, .seq_cst);
        cq.index = @intCast(i);
        cq.owner = std.Thread.getCurrentId();
        const id = idOf(cq.gen, @intCast(i));
        bell.queueOpened(id);
        cq.id_word.store(id, .seq_cst);
        return @intCast(id);
    }
    return Code.limit.int();
}

/// Threads that own avx state carry a thread-exit tag made of these bits.
const tag_queues: u32 = 1;
const tag_relay: u32 = 2;
/// This thread's tag bits (mirrors what `thread_exit.watch` holds).
threadlocal var exit_tag: u32 = 0;

fn watchThread(bits: u32) bool {
    thread_exit.setHandler(threadExited);
    if (exit_tag & bits == bits) return true;
    if (!thread_exit.watch(exit_tag | bits)) return false;
    exit_tag |= bits;
    return true;
}

/// Open a queue owned by the calling thread's isolate, to be closed when
/// that thread exits (however its isolate ended).
pub fn openWatched() i32 {
    const id = open();
    if (id < 0) return id;
    // Without a thread-exit hook the queue still works; only the clean-up
    // of an isolate that ends without closing it is lost.
    if (!watchThread(tag_queues)) std.log.warn("avx: cannot watch thread exit; queue {d} may leak", .{id});
    return id;
}

/// A thread that owned avx state has exited: its isolate (or isolates: two
/// copies of the JS module, or test modules run one after another on one
/// thread) is gone. Every queue it still owns is closed, here.
fn threadExited(tag: u32) void {
    if (tag & tag_relay != 0) bell.relayExited(relay_epoch);
    if (tag & tag_queues == 0) return;
    const me = std.Thread.getCurrentId();
    for (&table) |*cq| {
        const id = cq.id_word.load(.seq_cst);
        if (id == 0 or id & closing != 0 or cq.owner != me) continue;
        closeId(id);
    }
}

threadlocal var relay_epoch: u32 = 0;

/// The calling thread becomes the bell's relay (see bell.zig). Returns its
/// epoch (> 0), or 0 when a relay runs already or its thread's exit could
/// not be watched (a relay whose end nobody learns would be trusted
/// forever).
pub fn attachRelay() u32 {
    const e = bell.attach();
    if (e == 0) return 0;
    relay_epoch = e;
    if (!watchThread(tag_relay)) {
        bell.relayExited(e);
        return 0;
    }
    return e;
}

/// Queues open in the process (leak checks).
pub fn openCount() u32 {
    var n: u32 = 0;
    for (&table) |*cq| n += @intFromBool(cq.isOpen());
    return n;
}

/// The open queue with this id, or null.
pub fn get(id: f64) ?*Cq {
    if (!(id >= 1 and id <= std.math.maxInt(i32)) or @floor(id) != id) return null;
    const v: u32 = @intFromFloat(id);
    const cq = &table[v & 0xff];
    if (cq.id_word.load(.seq_cst) != v) return null;
    return cq;
}

/// Close a queue (see `closeId`). Its owner, or a test.
pub fn close(cq: *Cq) void {
    const id = cq.id_word.load(.seq_cst);
    if (id == 0 or id & closing != 0) return;
    closeId(id);
}

/// Close queue `id`: cancel its pending operations, undo granted ones that
/// were never drained, free its slot. Its owner, or any thread once that
/// owner's isolate is gone. Only the first close of an id does anything;
/// a stale id does nothing.
pub fn closeId(id: u32) void {
    std.debug.assert(id & closing == 0);
    const cq = &table[id & 0xff];
    if (cq.id_word.cmpxchgStrong(id, id | closing, .seq_cst, .seq_cst) != null) return;
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
    bell.queueClosed(id);
    // Under the table lock: `open` may be looking for a free slot.
    table_lock.lock();
    defer table_lock.unlock();
    cq.gen = if (cq.gen == 0xffff) 1 else cq.gen + 1;
    cq.id_word.store(0, .seq_cst);
}

test "cq: a stale id closes nothing (the slot was reopened since)" {
    const id = open();
    try std.testing.expect(id > 0);
    close(get(@floatFromInt(id)).?);
    // Another isolate gets the same slot under a new generation.
    const id2 = open();
    try std.testing.expect(id2 > 0 and id2 != id);
    closeId(@intCast(id));
    try std.testing.expect(get(@floatFromInt(id2)) != null);
    closeId(@intCast(id2));
    try std.testing.expect(get(@floatFromInt(id2)) == null);
}

test "cq: a thread's exit closes every queue it opened, and only those" {
    const mine = open();
    const T = struct {
        fn run(ids: *[2]i32) void {
            ids[0] = openWatched();
            ids[1] = openWatched();
        }
    };
    var ids: [2]i32 = .{ 0, 0 };
    const th = try std.Thread.spawn(.{}, T.run, .{&ids});
    th.join();
    try std.testing.expect(ids[0] > 0 and ids[1] > 0);
    try std.testing.expect(get(@floatFromInt(ids[0])) == null);
    try std.testing.expect(get(@floatFromInt(ids[1])) == null);
    try std.testing.expect(get(@floatFromInt(mine)) != null);
    close(get(@floatFromInt(mine)).?);
}

test "cq: post, arm and drain in order" {
    const id = open();
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
    const id = open();
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
    const id = open();
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
