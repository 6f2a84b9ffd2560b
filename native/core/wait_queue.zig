//! Waiters and the FIFO queue every blocking primitive parks them in.
//!
//! A waiter is either a thread sleeping on its own `state` word (a Zig
//! thread, or a JS isolate inside a `*Sync` call) or an entry of an
//! isolate's completion queue (an `await`ed operation). Primitives do not
//! care which: they `grant` the waiter at the head of their queue, under the
//! queue's lock, and the waiter learns the result its own way.
//!
//! Invariant: a waiter is linked into a queue (`queue != null`) exactly as
//! long as it is pending. Granting and cancelling both unlink under the
//! queue's lock, so exactly one of them wins.
const std = @import("std");
const futex = @import("../os/futex.zig");
const RawMutex = @import("raw_mutex.zig").RawMutex;
const Cq = @import("cq.zig").Cq;
const Code = @import("code.zig").Code;
const clock = @import("../os/clock.zig");
const Deadline = clock.Deadline;

pub const Waiter = struct {
    prev: ?*Waiter = null,
    next: ?*Waiter = null,
    /// The queue this waiter is linked into; null once granted.
    queue: std.atomic.Value(?*WaitQueue) = .init(null),
    /// `pending` until granted; a sleeping thread waits on this word.
    state: futex.Word = .init(pending),
    /// The code handed over with the grant (a `Code` value).
    result: i32 = 0,
    /// What the waiter asks for; its meaning belongs to the primitive
    /// (permits for a semaphore, read or write for an rwlock).
    request: u32 = 0,
    /// Completion queue to post to; null for a sleeping thread.
    cq: ?*Cq = null,
    /// Identifies the operation to the isolate that owns `cq`.
    token: u32 = 0,
    /// Link in `cq`'s list of completions; owned by `cq`.
    cq_next: ?*Waiter = null,
    /// Gives back what a grant handed over (unlock, release permits) when
    /// the operation was abandoned after it was granted. Set by the
    /// primitive that registers the waiter; runs on the isolate's thread.
    undo: ?*const fn (*Waiter) void = null,
    /// The object `undo` acts on.
    target: ?*anyopaque = null,
    /// Expiry tick of a timer waiter (native/timer/): the wheel tick at or
    /// after which it fires. Unused by every other primitive.
    when: u64 = 0,
    /// Owner-thread bookkeeping for `cq`'s pool.
    abandoned: bool = false,
    slot_gen: u16 = 0,
    in_use: bool = false,

    pub const pending: u32 = 0;
    pub const granted: u32 = 1;
    /// Pending, and the thread is asleep (or about to be) on the futex: the
    /// granter must wake it. A spinning thread stays `pending`, so a grant
    /// during the spin costs no syscall.
    pub const parked: u32 = 2;

    /// Busy-wait before parking: a few microseconds of `pause`, then up to
    /// `yield_window_ns` of `sched_yield`. A futex wake costs tens of
    /// microseconds here (more in a VM), so a waiter that parks too early
    /// turns every hand-off of a ping-pong into two syscalls and a wake-up;
    /// yielding instead of spinning keeps the window cheap when threads
    /// outnumber cores (the granter gets the CPU).
    const spin_limit: u32 = 100;
    const yield_window_ns: u64 = 50 * std.time.ns_per_us;

    /// A waiter for the calling thread (it will sleep on `state`).
    pub fn initSync(request: u32) Waiter {
        return .{ .request = request };
    }

    /// Sleep until granted or until `deadline`. Returns the grant's result,
    /// or `timeout_code` when the waiter was cancelled in time. The waiter
    /// must already be linked into a queue.
    pub fn sleep(w: *Waiter, deadline: Deadline, timeout_code: i32) i32 {
        std.debug.assert(w.cq == null);
        var spins: u32 = 0;
        while (spins < spin_limit) : (spins += 1) {
            if (w.state.load(.acquire) == granted) return w.result;
            std.atomic.spinLoopHint();
        }
        const yield_until = clock.nowNs() + yield_window_ns;
        while (w.state.load(.acquire) != granted and clock.nowNs() < yield_until) {
            if (deadline.remainingNs()) |left| if (left == 0) break;
            std.Thread.yield() catch break;
        }
        while (true) {
            const s = w.state.load(.acquire);
            if (s == granted) return w.result;
            if (s == pending) {
                // Announce the sleep; if the grant won the race, loop.
                _ = w.state.cmpxchgStrong(pending, parked, .acquire, .acquire);
                continue;
            }
            std.debug.assert(s == parked);
            const left = deadline.remainingNs();
            if (left != null and left.? == 0) {
                if (cancel(w)) return timeout_code;
                // Granted concurrently: the granter is about to publish.
                while (w.state.load(.acquire) != granted) _ = futex.wait(&w.state, parked, null);
                return w.result;
            }
            _ = futex.wait(&w.state, parked, left);
        }
    }

    /// Sleep until granted (result 0), timed out, or granted `closed` (the
    /// primitive was destroyed): the lock-style primitives' blocking wait.
    pub fn sleepUntilGranted(w: *Waiter, deadline: Deadline) error{ Timeout, Closed }!void {
        const result = w.sleep(deadline, Code.timeout.int());
        if (result == 0) return;
        if (result == Code.timeout.int()) return error.Timeout;
        std.debug.assert(result == Code.closed.int());
        return error.Closed;
    }

    /// Sleep until granted, with no deadline and no cancellation: for a
    /// waiter whose grant is certain (it lost a cancel race, or it moved to
    /// a queue it must wait out).
    pub fn awaitGrant(w: *Waiter) i32 {
        return w.sleep(Deadline.never, undefined);
    }
};

pub const WaitQueue = struct {
    lock: RawMutex = .{},
    /// A lock shared by a group of queues, used instead of `lock` when set:
    /// the timer wheel guards all its slots with one lock, so that moving a
    /// waiter between slots and firing many slots is one critical section.
    /// Primitives that own a single queue leave it null and keep taking
    /// `lock` directly; generic code (`cancel`, `registerAsync`) goes
    /// through `mutex()`.
    shared: ?*RawMutex = null,
    head: ?*Waiter = null,
    tail: ?*Waiter = null,
    len: u32 = 0,
    /// Runs under `mutex()` after a waiter was cancelled, so the primitive
    /// can grant waiters the cancelled one stood in front of.
    on_cancel: ?*const fn (*WaitQueue) void = null,

    /// The lock that guards this queue: `shared` if set, else `lock`.
    pub fn mutex(q: *WaitQueue) *RawMutex {
        return q.shared orelse &q.lock;
    }

    pub fn isEmpty(q: *const WaitQueue) bool {
        return q.head == null;
    }

    /// Link `w` at the tail. Caller holds `mutex()`.
    pub fn pushBack(q: *WaitQueue, w: *Waiter) void {
        std.debug.assert(w.queue.load(.monotonic) == null);
        q.linkTail(w);
        w.queue.store(q, .release);
    }

    /// Unlink `w`. Caller holds `mutex()`.
    pub fn remove(q: *WaitQueue, w: *Waiter) void {
        std.debug.assert(w.queue.load(.monotonic) == q);
        q.unlink(w);
        w.queue.store(null, .release);
    }

    /// Move pending `w` from `q` to the tail of `to`. Unlike `remove` then
    /// `pushBack`, `w.queue` never reads null in between: to a concurrent
    /// `cancel` null means "granted, the completion is on its way", which a
    /// waiter in transit (to a locked mutex, to a lower timer level) is
    /// not. Caller holds both queues' mutexes.
    pub fn moveTo(q: *WaitQueue, to: *WaitQueue, w: *Waiter) void {
        std.debug.assert(w.queue.load(.monotonic) == q);
        std.debug.assert(q != to);
        q.unlink(w);
        to.linkTail(w);
        w.queue.store(to, .release);
    }

    /// The list surgery of `pushBack` and `moveTo`, leaving `w.queue` alone.
    fn linkTail(q: *WaitQueue, w: *Waiter) void {
        w.prev = q.tail;
        w.next = null;
        if (q.tail) |t| t.next = w else q.head = w;
        q.tail = w;
        q.len += 1;
    }

    /// The list surgery of `remove` and `moveTo`, leaving `w.queue` alone.
    fn unlink(q: *WaitQueue, w: *Waiter) void {
        std.debug.assert(q.len > 0);
        if (w.prev) |p| p.next = w.next else q.head = w.next;
        if (w.next) |n| n.prev = w.prev else q.tail = w.prev;
        w.prev = null;
        w.next = null;
        q.len -= 1;
    }

    /// Unlink the head and hand it `result`. Caller holds `mutex()`.
    pub fn grantFront(q: *WaitQueue, result: i32) void {
        const w = q.head orelse unreachable; // Callers check isEmpty first.
        q.remove(w);
        publish(w, result);
    }

    /// Unlink every waiter and hand each `result` (used by close).
    pub fn grantAll(q: *WaitQueue, result: i32) void {
        const len = q.len;
        var n: u32 = 0;
        while (q.head != null) : (n += 1) {
            std.debug.assert(n < len);
            q.grantFront(result);
        }
        std.debug.assert(n == len);
    }
};

/// Deliver a grant to an unlinked waiter. Caller holds the lock of the
/// queue `w` was in, which is what makes `cancel` and the CQ's close see a
/// consistent picture.
///
/// Contract: between unlinking a waiter and calling `publish` a granter
/// runs a few instructions and never blocks, because `Cq.cancel` waits for
/// an unlinked async waiter to be posted. Moving a waiter to another queue
/// (a condvar notify) must relink it without passing through "unlinked"
/// (`WaitQueue.moveTo`), or `cancel` would take a pending
/// waiter for a granted one.
pub fn publish(w: *Waiter, result: i32) void {
    std.debug.assert(w.queue.load(.monotonic) == null);
    w.result = result;
    if (w.cq) |cq| {
        w.state.store(Waiter.granted, .release);
        cq.post(w);
    } else {
        // Only a parked sleeper needs the syscall. It may return and reuse
        // its stack before this wake runs; a futex wake on a stale address
        // can only cause a spurious wake-up, which every wait loop tolerates.
        if (w.state.swap(Waiter.granted, .acq_rel) == Waiter.parked) futex.wakeOne(&w.state);
    }
}

/// Register an async waiter with a primitive. Under `q`'s lock,
/// `acquireOrEnqueue(owner, w)` either takes what `w` asks for at once
/// (true: `w` goes back to its completion queue's pool and the result is
/// 0) or links `w` into `q` (the result is its token; the grant comes as a
/// completion). The caller has filled in `w.request`, `w.undo` and
/// `w.target`.
pub fn registerAsync(
    comptime T: type,
    owner: *T,
    q: *WaitQueue,
    w: *Waiter,
    comptime acquireOrEnqueue: fn (*T, *Waiter) bool,
) u32 {
    const cq = w.cq.?;
    // Read before `w` is linked: once it is, a grant may race us.
    const token = w.token;
    std.debug.assert(token > 0 and token <= std.math.maxInt(i32));
    const m = q.mutex();
    m.lock();
    const acquired = acquireOrEnqueue(owner, w);
    m.unlock();
    if (acquired) {
        cq.release(w);
        return 0;
    }
    return token;
}

/// Unlink a pending waiter. True if it was pending and is now cancelled;
/// false if a grant won (the result is, or will shortly be, published).
pub fn cancel(w: *Waiter) bool {
    var attempts: u32 = 0;
    while (true) : (attempts += 1) {
        // A waiter moves between queues only when a condvar hands it to its
        // mutex or the timer wheel cascades it to a lower level; both
        // happen a bounded number of times.
        std.debug.assert(attempts < 1_000_000);
        const q = w.queue.load(.acquire) orelse return false;
        const m = q.mutex();
        m.lock();
        defer m.unlock();
        if (w.queue.load(.monotonic) != q) continue;
        q.remove(w);
        if (q.on_cancel) |f| f(q);
        return true;
    }
}

test "wait_queue: fifo order and cancel" {
    var q: WaitQueue = .{};
    var a = Waiter.initSync(1);
    var b = Waiter.initSync(2);
    var c = Waiter.initSync(3);
    q.lock.lock();
    q.pushBack(&a);
    q.pushBack(&b);
    q.pushBack(&c);
    q.lock.unlock();
    try std.testing.expect(cancel(&b));
    try std.testing.expect(!cancel(&b));
    q.lock.lock();
    q.grantFront(0);
    try std.testing.expectEqual(@as(u32, Waiter.granted), a.state.load(.acquire));
    try std.testing.expect(q.head == &c);
    q.grantFront(7);
    q.lock.unlock();
    try std.testing.expectEqual(@as(i32, 7), c.result);
    try std.testing.expect(q.isEmpty());
}

test "wait_queue: a sleeping thread is granted" {
    var q: WaitQueue = .{};
    var w = Waiter.initSync(0);
    q.lock.lock();
    q.pushBack(&w);
    q.lock.unlock();
    const T = struct {
        fn grant(qq: *WaitQueue) void {
            std.Thread.sleep(std.time.ns_per_ms);
            qq.lock.lock();
            qq.grantFront(42);
            qq.lock.unlock();
        }
    };
    const th = try std.Thread.spawn(.{}, T.grant, .{&q});
    try std.testing.expectEqual(@as(i32, 42), w.sleep(Deadline.never, -4));
    th.join();
}

test "wait_queue: a sleeping thread times out" {
    var q: WaitQueue = .{};
    var w = Waiter.initSync(0);
    q.lock.lock();
    q.pushBack(&w);
    q.lock.unlock();
    try std.testing.expectEqual(@as(i32, -4), w.sleep(Deadline.fromMs(1), -4));
    try std.testing.expect(q.isEmpty());
}

test "wait_queue: queues sharing a lock cancel through it" {
    var shared: RawMutex = .{};
    const T = struct {
        var cancels: u32 = 0;
        var shared_held: bool = false;
        var own_free: bool = false;
        fn onCancel(q: *WaitQueue) void {
            // Runs under the shared lock, not the queue's own.
            shared_held = !q.mutex().tryLock();
            own_free = q.lock.tryLock();
            if (own_free) q.lock.unlock();
            cancels += 1;
        }
    };
    var q: WaitQueue = .{ .shared = &shared, .on_cancel = T.onCancel };
    try std.testing.expect(q.mutex() == &shared);
    var w = Waiter.initSync(0);
    shared.lock();
    q.pushBack(&w);
    shared.unlock();
    try std.testing.expect(cancel(&w));
    try std.testing.expectEqual(@as(u32, 1), T.cancels);
    try std.testing.expect(T.shared_held and T.own_free);
    try std.testing.expect(q.isEmpty());
}
