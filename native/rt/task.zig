//! A task of the runtime: one call `export(...args)` of a module, run by
//! one of the runtime's worker isolates, awaited by any number of joiners
//! in any isolate.
//!
//! Life of a task. `spawn` makes it `queued` and hands it to the scheduler.
//! A worker isolate pops it and `start`s it (`running`). It ends `done`
//! exactly once, with an `Outcome`, by whichever comes first: the worker
//! completing it, an abort, the worker's isolate dying, or the runtime
//! shutting down. Ending publishes to every joiner; later attempts to end
//! it are ignored (a result that arrives after an abort is dropped).
//!
//! References. The task is a handle-table object. The spawner's JoinHandle
//! owns one reference; the scheduler owns another from `spawn` until the
//! task leaves the scheduler (popped and finished, or drained). The record
//! goes back to the pool when the last reference goes, so a JoinHandle can
//! read the result long after the runtime itself is gone.
const std = @import("std");
const wq = @import("../core/wait_queue.zig");
const WaitQueue = wq.WaitQueue;
const Waiter = wq.Waiter;
const Cq = @import("../core/cq.zig").Cq;
const RawMutex = @import("../core/raw_mutex.zig").RawMutex;
const SchedTask = @import("../sched/task.zig").Task;
const Bytes = @import("bytes.zig").Bytes;

pub const State = enum(u8) { queued, running, done };

/// How a task ended; the numbers are part of the ABI (`avx_task_state`).
pub const Outcome = enum(i32) {
    /// Not ended yet.
    pending = 0,
    /// Returned; the result holds the encoded value.
    ok = 1,
    /// Threw; the result holds the encoded error.
    thrown = 2,
    /// Aborted by its JoinHandle before it ended.
    aborted = 3,
    /// Its worker isolate died while running it.
    worker_lost = 4,
    /// The runtime shut down before it ended.
    cancelled = 5,
};

pub const no_worker: u32 = std.math.maxInt(u32);

pub const Task = struct {
    /// The scheduler's part; `fromSched` gets back to the task.
    sched: SchedTask = .{},
    /// The runtime it belongs to (opaque here, see runtime.zig). Only used
    /// while the task is inside the scheduler.
    runtime: ?*anyopaque = null,
    /// Its handle (the JoinHandle's id), set right after registration.
    handle: u64 = 0,
    fn_id: u32 = 0,
    /// The worker running it, `no_worker` while queued.
    worker: u32 = no_worker,
    state: State = .queued,
    outcome: Outcome = .pending,
    abort_requested: std.atomic.Value(bool) = .init(false),
    args: Bytes = .{},
    result: Bytes = .{},
    /// Joiners, granted 0 when the task ends. Its lock also guards
    /// `state`, `outcome`, `worker` and `result`.
    joiners: WaitQueue = .{},
    /// The running worker's abort watch (at most one waiter).
    abort_watch: WaitQueue = .{},
    /// Links in the running worker's list (runtime.zig, under its lock).
    run_prev: ?*Task = null,
    run_next: ?*Task = null,
    /// In a running list (under the slot's lock). Cleared when the list is
    /// taken whole (`lose`, `leave`, `finish`): from then on the links
    /// belong to whoever took it, and a late `complete` keeps off them.
    listed: bool = false,

    pub fn fromSched(t: *SchedTask) *Task {
        return @fieldParentPtr("sched", t);
    }

    /// queued -> running on `worker`. False when the task already ended
    /// (aborted while queued): the caller drops it.
    pub fn start(t: *Task, worker: u32) bool {
        t.joiners.lock.lock();
        defer t.joiners.lock.unlock();
        if (t.state != .queued) {
            std.debug.assert(t.state == .done);
            return false;
        }
        t.state = .running;
        t.worker = worker;
        return true;
    }

    /// End the task with `outcome`, taking `result` (already copied). False
    /// when it had already ended: the caller keeps and frees `result`.
    pub fn end(t: *Task, outcome: Outcome, result: Bytes) bool {
        std.debug.assert(outcome != .pending);
        t.joiners.lock.lock();
        defer t.joiners.lock.unlock();
        if (t.state == .done) return false;
        t.state = .done;
        t.outcome = outcome;
        t.result = result;
        t.joiners.grantAll(0);
        // However it ended, its signal fires: a worker still running it
        // stops caring, and no watch stays linked into a task that may be
        // freed as soon as its references go.
        t.requestAbort();
        return true;
    }

    pub fn isDone(t: *Task) bool {
        t.joiners.lock.lock();
        defer t.joiners.lock.unlock();
        return t.state == .done;
    }

    /// Register `w` to be granted when the task ends: 0 when it already
    /// has (`w` goes back to its queue), else `w`'s token.
    pub fn joinAsync(t: *Task, w: *Waiter) u32 {
        return wq.registerAsync(Task, t, &t.joiners, w, joinOrEnqueue);
    }

    fn joinOrEnqueue(t: *Task, w: *Waiter) bool {
        if (t.state == .done) return true;
        t.joiners.pushBack(w);
        return false;
    }

    /// Ask the running worker to stop: its abort watch is granted. The
    /// caller ends the task separately.
    pub fn requestAbort(t: *Task) void {
        // Set before taking the lock: a watcher registering concurrently
        // either sees the flag under the lock or is already linked.
        t.abort_requested.store(true, .seq_cst);
        t.abort_watch.lock.lock();
        defer t.abort_watch.lock.unlock();
        if (!t.abort_watch.isEmpty()) t.abort_watch.grantFront(0);
    }

    /// The worker wants to hear of an abort: 0 when one was already
    /// requested, else `w`'s token.
    pub fn watchAbortAsync(t: *Task, w: *Waiter) u32 {
        return wq.registerAsync(Task, t, &t.abort_watch, w, watchOrEnqueue);
    }

    fn watchOrEnqueue(t: *Task, w: *Waiter) bool {
        // `end` sets the flag too, so an ended task is never watched.
        if (t.abort_requested.load(.seq_cst)) return true;
        // One watch per task: the worker registers it once.
        std.debug.assert(t.abort_watch.isEmpty());
        t.abort_watch.pushBack(w);
        return false;
    }

    /// Free what the task owns; the record itself goes back to the pool.
    pub fn deinit(t: *Task) void {
        std.debug.assert(t.joiners.isEmpty());
        std.debug.assert(t.abort_watch.isEmpty());
        t.args.deinit();
        t.result.deinit();
    }
};

/// Task records, recycled: spawning is a hot path. Records are never
/// given back to the allocator (the pool is bounded by the most tasks
/// alive at once, which the runtime bounds).
pub const Pool = struct {
    lock: RawMutex = .{},
    free: ?*Task = null,
    /// Records ever allocated (for leak checks).
    allocated: u32 = 0,
    cached: u32 = 0,

    /// An uninitialized record.
    pub fn get(p: *Pool) error{OutOfMemory}!*Task {
        p.lock.lock();
        if (p.free) |t| {
            p.free = t.run_next;
            p.cached -= 1;
            p.lock.unlock();
            // The caller initializes the record.
            return t;
        }
        p.allocated += 1;
        p.lock.unlock();
        return std.heap.c_allocator.create(Task) catch {
            p.lock.lock();
            p.allocated -= 1;
            p.lock.unlock();
            return error.OutOfMemory;
        };
    }

    pub fn put(p: *Pool, t: *Task) void {
        t.deinit();
        p.lock.lock();
        defer p.lock.unlock();
        t.run_next = p.free;
        p.free = t;
        p.cached += 1;
        std.debug.assert(p.cached <= p.allocated);
    }
};

pub var pool: Pool = .{};

test "task: end once, joiners granted, late ends ignored" {
    const cq_mod = @import("../core/cq.zig");
    const id = cq_mod.open();
    const cq = cq_mod.get(@floatFromInt(id)).?;
    defer cq_mod.close(cq);
    var t: Task = .{};
    try std.testing.expect(t.start(0));
    const w = cq.acquire().?;
    const token = t.joinAsync(w);
    try std.testing.expect(token > 0);
    try std.testing.expect(t.end(.ok, try Bytes.copy("42")));
    try std.testing.expect(!t.end(.aborted, .{}));
    try std.testing.expectEqual(Outcome.ok, t.outcome);
    var out: [2]i32 = undefined;
    try std.testing.expectEqual(@as(u32, 1), cq.drain(&out));
    try std.testing.expectEqual(@as(i32, @intCast(token)), out[0]);
    // Joining an ended task finishes at once.
    try std.testing.expectEqual(@as(u32, 0), t.joinAsync(cq.acquire().?));
    t.deinit();
}

test "task: an aborted queued task is not started" {
    var t: Task = .{};
    try std.testing.expect(t.end(.aborted, .{}));
    try std.testing.expect(!t.start(1));
    t.deinit();
}

test "task: abort watch fires once requested" {
    const cq_mod = @import("../core/cq.zig");
    const id = cq_mod.open();
    const cq = cq_mod.get(@floatFromInt(id)).?;
    defer cq_mod.close(cq);
    var t: Task = .{};
    const token = t.watchAbortAsync(cq.acquire().?);
    try std.testing.expect(token > 0);
    t.requestAbort();
    var out: [2]i32 = undefined;
    try std.testing.expectEqual(@as(u32, 1), cq.drain(&out));
    try std.testing.expectEqual(@as(i32, @intCast(token)), out[0]);
    // Already requested: a new watch finishes at once.
    try std.testing.expectEqual(@as(u32, 0), t.watchAbortAsync(cq.acquire().?));
    t.deinit();
}

test "task: pool recycles records" {
    var p: Pool = .{};
    const a = try p.get();
    a.* = .{};
    p.put(a);
    const b = try p.get();
    b.* = .{};
    try std.testing.expect(a == b);
    try std.testing.expectEqual(@as(u32, 1), p.allocated);
    p.put(b);
}
