//! A runtime: the scheduler plus the worker isolates that run its tasks.
//!
//! Each worker slot is driven by one Deno Worker at a time. The isolate
//! `attach`es (binding its thread to the slot), then loops: `next` gives it
//! a task, a yield (its budget is spent: run the event loop), or nothing
//! (park: in a blocking call when it has no pending JavaScript, through
//! its completion queue when it has). When an isolate dies the runtime
//! `lose`s its slot: the tasks it was running end `worker_lost`, the ones
//! queued on it move to the injection queue, and a replacement may attach.
//!
//! Every call a worker makes carries the epoch it got from `attach`. A
//! call with a stale epoch (its isolate was declared lost, or the runtime
//! stopped) does nothing, and `lose` waits until no call of the old
//! isolate is inside the slot (`active`), so a dying isolate never races
//! the thread that cleans up after it.
const std = @import("std");
const sched = @import("../sched/scheduler.zig");
const Scheduler = sched.Scheduler;
const task_mod = @import("task.zig");
const Task = task_mod.Task;
const Outcome = task_mod.Outcome;
const Bytes = @import("bytes.zig").Bytes;
const handles = @import("../core/handles.zig");
const wq = @import("../core/wait_queue.zig");
const WaitQueue = wq.WaitQueue;
const Waiter = wq.Waiter;
const cq_mod = @import("../core/cq.zig");
const RawMutex = @import("../core/raw_mutex.zig").RawMutex;
const registry = @import("registry.zig");

/// The most tasks alive (queued or running) in one runtime; `spawn` fails
/// with `limit` beyond. The handle table holds 2^20 objects in all.
pub const max_unfinished: u32 = 1 << 19;

pub const Config = sched.Config;

/// The epoch `attach` gave the calling thread's isolate: a thread whose
/// slot has been taken from it (declared lost while still running) must
/// not push into the queue its replacement now owns.
threadlocal var bound_epoch: u32 = 0;

pub const Next = union(enum) {
    task: *Task,
    idle,
    yield,
    shutdown,
};

const Slot = struct {
    lock: RawMutex = .{},
    /// Bumped by `attach` and `lose`; calls with another epoch are stale.
    epoch: std.atomic.Value(u32) = .init(0),
    /// 1 while the attached isolate is inside `next`/`park`.
    active: std.atomic.Value(u32) = .init(0),
    attached: bool = false,
    /// The attached isolate's completion queue id (closed by `lose`).
    queue_id: f64 = 0,
    /// Tasks this slot's isolate is running (under `lock`).
    running: ?*Task = null,
    running_len: u32 = 0,
};

/// Counted by the spawners (`spawned`) and by whoever ends tasks (the
/// rest): on separate cache lines, so the two sides do not contend.
pub const Counters = struct {
    spawned: std.atomic.Value(u64) align(std.atomic.cache_line) = .init(0),
    succeeded: std.atomic.Value(u64) align(std.atomic.cache_line) = .init(0),
    failed: std.atomic.Value(u64) = .init(0),
    aborted: std.atomic.Value(u64) = .init(0),
    lost: std.atomic.Value(u64) = .init(0),
    cancelled: std.atomic.Value(u64) = .init(0),
    replaced: std.atomic.Value(u64) = .init(0),
};

pub const Runtime = struct {
    scheduler: *Scheduler,
    workers: u32,
    slots: [sched.max_workers]Slot = @splat(.{}),
    /// False once shutdown began: spawns from outside the runtime's
    /// workers fail; tasks may still spawn the subtasks they wait for.
    accepting: std.atomic.Value(bool) = .init(true),
    /// True once stopped: every spawn fails.
    stopped: std.atomic.Value(bool) = .init(false),
    /// Tasks spawned (counted before they exist, so a failed spawn counts
    /// as started and ended) and tasks ended: one counter per side, on its
    /// own cache line, so spawners and finishers do not contend on one
    /// word. `unfinished()` is their difference.
    started: std.atomic.Value(u64) align(std.atomic.cache_line) = .init(0),
    ended: std.atomic.Value(u64) align(std.atomic.cache_line) = .init(0),
    /// Granted when `unfinished()` reaches 0 after shutdown began.
    idle_waiters: WaitQueue = .{},
    counters: Counters = .{},
    destroyed: bool = false,
    /// References to this record: the handle's (given back by `destroy`)
    /// and one per task record that names it (given back when the task's
    /// handle dies: `abort` and `complete` reach the runtime through a
    /// task). The record is freed with the last.
    refs: std.atomic.Value(u32) = .init(1),

    pub fn create(config: Config) !*Runtime {
        const s = try Scheduler.create(std.heap.c_allocator, config);
        errdefer s.destroy();
        const rt = try std.heap.c_allocator.create(Runtime);
        rt.* = .{ .scheduler = s, .workers = config.workers };
        return rt;
    }

    /// The last reference is gone: settle whatever is left and free the
    /// scheduler. The record itself goes with the last task that names it
    /// (an abort or a late completion from another isolate may still reach
    /// it through a task handle).
    pub fn destroy(rt: *Runtime) void {
        rt.stop();
        rt.finish();
        rt.scheduler.destroy();
        rt.destroyed = true;
        rt.unref();
    }

    fn unref(rt: *Runtime) void {
        if (rt.refs.fetchSub(1, .acq_rel) == 1) std.heap.c_allocator.destroy(rt);
    }

    // ------------------------------------------------------------ spawning

    /// Queue a call of function `fn_id` with encoded `args`; returns the
    /// task's handle (one reference, the JoinHandle's).
    pub fn spawn(rt: *Runtime, fn_id: u32, args: []const u8) !handles.Handle {
        if (rt.stopped.load(.acquire)) return error.Closed;
        if (!rt.accepting.load(.acquire) and rt.scheduler.currentWorker() == null) return error.Closed;
        if (!registry.isRegistered(fn_id)) return error.InvalidArgument;
        // Approximate under concurrent spawns, which is all a bound needs.
        if (rt.unfinished() >= max_unfinished) return error.Limit;
        _ = rt.started.fetchAdd(1, .seq_cst);
        // Until the task is registered, a failure ends the attempt here;
        // after, ending the task does (no errdefer spans both).
        var payload = Bytes.copy(args) catch |err| {
            rt.taskLeft();
            return err;
        };
        const t = task_mod.pool.get() catch |err| {
            payload.deinit();
            rt.taskLeft();
            return err;
        };
        _ = rt.refs.fetchAdd(1, .monotonic);
        t.* = .{ .runtime = rt, .fn_id = fn_id, .args = payload };
        const h = handles.create(.task, t, destroyTask) catch |err| {
            task_mod.pool.put(t); // Frees the arguments too.
            rt.taskLeft();
            rt.unref();
            return err;
        };
        t.handle = h;
        // The scheduler's reference; the JoinHandle owns the first.
        handles.retainHeld(h);
        rt.queueTask(&t.sched) catch {
            // Stopped between the check and here: end it as cancelled and
            // drop both references (nobody will see this handle).
            _ = rt.endTask(t, .cancelled, .{});
            handles.releaseHeld(h);
            handles.releaseHeld(h);
            return error.Closed;
        };
        _ = rt.counters.spawned.fetchAdd(1, .monotonic);
        return h;
    }

    /// Schedule a new task: to the calling worker's own queue when this
    /// thread still drives its slot, else (outside the runtime, or an
    /// isolate declared lost that runs on) to the injection queue.
    fn queueTask(rt: *Runtime, task: *sched.Task) error{Closed}!void {
        if (rt.scheduler.currentWorker()) |w| {
            if (rt.slots[w].epoch.load(.acquire) != bound_epoch) return rt.scheduler.inject(task);
        }
        return rt.scheduler.schedule(task);
    }

    fn destroyTask(obj: *anyopaque) void {
        const t: *Task = @ptrCast(@alignCast(obj));
        const rt: *Runtime = @ptrCast(@alignCast(t.runtime.?));
        task_mod.pool.put(t);
        rt.unref();
    }

    /// End `t` (if it has not ended) and count it. False if it had ended.
    fn endTask(rt: *Runtime, t: *Task, outcome: Outcome, result: Bytes) bool {
        var r = result;
        if (!t.end(outcome, r)) {
            r.deinit();
            return false;
        }
        const counter = switch (outcome) {
            .ok => &rt.counters.succeeded,
            .thrown => &rt.counters.failed,
            .aborted => &rt.counters.aborted,
            .worker_lost => &rt.counters.lost,
            .cancelled => &rt.counters.cancelled,
            .pending => unreachable,
        };
        _ = counter.fetchAdd(1, .monotonic);
        rt.taskLeft();
        return true;
    }

    fn taskLeft(rt: *Runtime) void {
        const ended = rt.ended.fetchAdd(1, .seq_cst) + 1;
        // Pairs with `close` (seq_cst both sides): either this sees
        // `accepting` false, or `close` sees this end.
        if (!rt.accepting.load(.seq_cst) and ended == rt.started.load(.seq_cst)) rt.grantIdle();
    }

    /// Tasks spawned and not ended. Reads `ended` first: `started` only
    /// grows, so the difference is never negative.
    pub fn unfinished(rt: *const Runtime) u32 {
        const ended = rt.ended.load(.seq_cst);
        const started = rt.started.load(.seq_cst);
        std.debug.assert(started >= ended);
        return @intCast(started - ended);
    }

    fn grantIdle(rt: *Runtime) void {
        rt.idle_waiters.lock.lock();
        defer rt.idle_waiters.lock.unlock();
        if (rt.unfinished() == 0) rt.idle_waiters.grantAll(0);
    }

    /// Abort `t`: a queued task will not run, a running one has its abort
    /// watch granted; either way it ends `aborted` now. False if it had
    /// already ended.
    pub fn abort(t: *Task) bool {
        t.joiners.lock.lock();
        const state = t.state;
        t.joiners.lock.unlock();
        if (state == .done) return false;
        const rt: *Runtime = @ptrCast(@alignCast(t.runtime.?));
        if (state == .running) t.requestAbort();
        return rt.endTask(t, .aborted, .{});
    }

    // ------------------------------------------------------------- workers

    /// Bind the calling thread to slot `w` for an isolate whose completion
    /// queue is `queue_id`. Returns the epoch its calls must carry.
    pub fn attach(rt: *Runtime, w: u32, queue_id: f64) !u32 {
        if (w >= rt.workers) return error.InvalidArgument;
        const slot = &rt.slots[w];
        slot.lock.lock();
        defer slot.lock.unlock();
        // Under the lock: `finish` takes every slot's lock after `stop`.
        if (rt.stopped.load(.acquire)) return error.Closed;
        if (slot.attached) return error.InvalidState;
        slot.attached = true;
        slot.queue_id = queue_id;
        rt.scheduler.bind(w);
        const epoch = slot.epoch.fetchAdd(1, .acq_rel) + 1;
        bound_epoch = epoch;
        return epoch;
    }

    /// The isolate of slot `w` leaves cleanly (its loop saw `shutdown`).
    pub fn detach(rt: *Runtime, w: u32, epoch: u32) !void {
        const slot = try rt.enter(w, epoch);
        defer slot.active.store(0, .release);
        slot.lock.lock();
        defer slot.lock.unlock();
        std.debug.assert(slot.attached);
        slot.attached = false;
        _ = slot.epoch.fetchAdd(1, .acq_rel);
        rt.scheduler.unbind();
    }

    /// Mark the slot busy for a call of epoch `epoch`.
    fn enter(rt: *Runtime, w: u32, epoch: u32) error{ InvalidArgument, Closed }!*Slot {
        if (w >= rt.workers) return error.InvalidArgument;
        const slot = &rt.slots[w];
        slot.active.store(1, .seq_cst);
        // Pairs with `lose`: it bumps the epoch, then waits for `active`.
        if (slot.epoch.load(.seq_cst) != epoch) {
            slot.active.store(0, .release);
            return error.Closed;
        }
        return slot;
    }

    /// The next task for slot `w`, started (running on `w`).
    pub fn next(rt: *Runtime, w: u32, epoch: u32) error{ InvalidArgument, Closed }!Next {
        const slot = rt.enter(w, epoch) catch |err| switch (err) {
            error.Closed => return .shutdown,
            else => return err,
        };
        defer slot.active.store(0, .release);
        // Each pass drops one task aborted while queued; bounded by the
        // tasks alive.
        var skipped: u32 = 0;
        while (skipped <= max_unfinished) : (skipped += 1) {
            switch (rt.scheduler.next(w)) {
                .task => |st| {
                    const t = Task.fromSched(st);
                    if (!t.start(w)) {
                        // Aborted while queued: the scheduler's reference goes.
                        handles.releaseHeld(t.handle);
                        continue;
                    }
                    slot.lock.lock();
                    pushRunning(slot, t);
                    slot.lock.unlock();
                    return .{ .task = t };
                },
                .idle => return .idle,
                .yield => return .yield,
                .shutdown => return .shutdown,
            }
        }
        unreachable;
    }

    /// Block slot `w`'s thread until there may be work, or `timeout_ns`.
    pub fn park(rt: *Runtime, w: u32, epoch: u32, timeout_ns: ?u64) error{ InvalidArgument, Closed }!void {
        const slot = try rt.enter(w, epoch);
        defer slot.active.store(0, .release);
        rt.scheduler.park(w, timeout_ns);
    }

    /// Park through the isolate's completion queue: `waiter` is granted
    /// when there may be work. False when there is work already (the
    /// caller gives `waiter` back and asks `next` again).
    pub fn parkAsync(rt: *Runtime, w: u32, epoch: u32, waiter: *Waiter) error{ InvalidArgument, Closed }!bool {
        const slot = try rt.enter(w, epoch);
        defer slot.active.store(0, .release);
        return rt.scheduler.parkAsync(w, waiter);
    }

    /// The worker finished running `t`: end it with `outcome` and `result`
    /// (dropped if it had ended meanwhile: aborted, or its slot lost).
    pub fn complete(rt: *Runtime, t: *Task, outcome: Outcome, result: []const u8) !void {
        std.debug.assert(outcome == .ok or outcome == .thrown);
        t.joiners.lock.lock();
        const w = t.worker;
        const state = t.state;
        t.joiners.lock.unlock();
        if (w == task_mod.no_worker) return error.InvalidState;
        if (state == .queued) return error.InvalidState;
        const slot = &rt.slots[w];
        slot.lock.lock();
        const mine = t.listed;
        if (mine) removeRunning(slot, t);
        slot.lock.unlock();
        // Not in the list: `lose` or `finish` ended it and took the
        // scheduler's reference already.
        if (!mine) return;
        const bytes = Bytes.copy(result) catch |err| {
            _ = rt.endTask(t, .thrown, .{});
            handles.releaseHeld(t.handle);
            return err;
        };
        _ = rt.endTask(t, outcome, bytes);
        handles.releaseHeld(t.handle);
    }

    /// Slot `w`'s isolate is going away on its own (an uncaught error, its
    /// `close()`): called on its thread, which gives the slot up. Its
    /// running tasks end `worker_lost` (`cancelled` once the runtime is
    /// stopping), its queued tasks move to the injection queue. The
    /// isolate then closes its completion queue itself, which only its
    /// own thread can do safely while it is alive.
    pub fn leave(rt: *Runtime, w: u32, epoch: u32) !void {
        const slot = try rt.enter(w, epoch);
        // Active until the slot is given up: a concurrent `lose` waits.
        defer slot.active.store(0, .release);
        slot.lock.lock();
        _ = slot.epoch.fetchAdd(1, .seq_cst);
        slot.lock.unlock();
        rt.scheduler.unbind();
        rt.scheduler.evacuate(w);
        slot.lock.lock();
        const running = takeRunning(slot);
        slot.attached = false;
        slot.queue_id = 0;
        slot.lock.unlock();
        rt.endAll(running, if (rt.stopped.load(.acquire)) .cancelled else .worker_lost);
        _ = rt.counters.replaced.fetchAdd(1, .monotonic);
    }

    /// Slot `w`'s isolate died. Ends the tasks it was running as
    /// `worker_lost` (`cancelled` once the runtime is stopping: the owner
    /// terminated it), moves its queued tasks to the injection queue,
    /// closes its completion queue (unless `close_queue` is false: the
    /// isolate is still alive, stuck, and only it may touch its queue) and
    /// frees the slot for a replacement.
    pub fn lose(rt: *Runtime, w: u32, close_queue: bool) !void {
        if (w >= rt.workers) return error.InvalidArgument;
        const slot = &rt.slots[w];
        slot.lock.lock();
        if (!slot.attached) {
            slot.lock.unlock();
            return error.InvalidState;
        }
        _ = slot.epoch.fetchAdd(1, .seq_cst);
        slot.lock.unlock();
        waitInactive(slot);
        slot.lock.lock();
        if (!slot.attached) {
            // It left on its own meanwhile (`leave`): nothing more to do.
            slot.lock.unlock();
            return;
        }
        slot.lock.unlock();
        rt.scheduler.evacuate(w);
        slot.lock.lock();
        const running = takeRunning(slot);
        const queue_id = if (close_queue) slot.queue_id else 0;
        slot.attached = false;
        slot.queue_id = 0;
        slot.lock.unlock();
        // Its queue first: closing cancels the watches it had on running
        // tasks, which must not outlive them.
        // By id: if the slot was closed and reopened since, nothing happens.
        if (cq_mod.get(queue_id) != null) cq_mod.closeId(@intFromFloat(queue_id));
        // Terminated by shutdown, not dead: its tasks were cancelled.
        rt.endAll(running, if (rt.stopped.load(.acquire)) .cancelled else .worker_lost);
        _ = rt.counters.replaced.fetchAdd(1, .monotonic);
    }

    fn waitInactive(slot: *Slot) void {
        // A call of the old isolate is short (`park` times out: the
        // isolate parks in bounded slices), so this ends.
        var spins: u64 = 0;
        while (slot.active.load(.seq_cst) != 0) : (spins += 1) {
            if (spins < 1000) std.atomic.spinLoopHint() else std.Thread.yield() catch {};
        }
    }

    /// Shutdown, first phase: refuse spawns from outside the workers.
    pub fn close(rt: *Runtime) void {
        rt.accepting.store(false, .seq_cst);
        rt.grantIdle();
    }

    /// Register `w` to be granted once every task has ended (after
    /// `close`): 0 when that is already so.
    pub fn idleAsync(rt: *Runtime, w: *Waiter) u32 {
        return wq.registerAsync(Runtime, rt, &rt.idle_waiters, w, idleOrEnqueue);
    }

    fn idleOrEnqueue(rt: *Runtime, w: *Waiter) bool {
        if (rt.unfinished() == 0) return true;
        rt.idle_waiters.pushBack(w);
        return false;
    }

    /// Shutdown, second phase: refuse every spawn, wake every worker (their
    /// loops see `shutdown`), ask every running task to abort.
    pub fn stop(rt: *Runtime) void {
        rt.close();
        if (rt.stopped.swap(true, .acq_rel)) return;
        rt.scheduler.shutdown();
        for (rt.slots[0..rt.workers]) |*slot| {
            slot.lock.lock();
            var node = slot.running;
            while (node) |t| : (node = t.run_next) t.requestAbort();
            slot.lock.unlock();
        }
    }

    /// Shutdown, last phase (after `stop`, once the workers have left or
    /// been declared lost): end everything still running or queued as
    /// `cancelled`. Idempotent.
    pub fn finish(rt: *Runtime) void {
        std.debug.assert(rt.stopped.load(.acquire));
        for (rt.slots[0..rt.workers]) |*slot| {
            slot.lock.lock();
            _ = slot.epoch.fetchAdd(1, .seq_cst);
            slot.lock.unlock();
            waitInactive(slot);
            slot.lock.lock();
            const running = takeRunning(slot);
            slot.lock.unlock();
            rt.endAll(running, .cancelled);
        }
        rt.scheduler.drain(rt, dropQueued);
    }

    fn dropQueued(rt: *Runtime, st: *sched.Task) void {
        const t = Task.fromSched(st);
        _ = rt.endTask(t, .cancelled, .{});
        handles.releaseHeld(t.handle);
    }

    /// End each task of a detached running list, releasing the
    /// scheduler's reference to it.
    fn endAll(rt: *Runtime, list: ?*Task, outcome: Outcome) void {
        var node = list;
        var n: u32 = 0;
        while (node) |t| : (n += 1) {
            std.debug.assert(n < max_unfinished);
            node = t.run_next;
            t.run_next = null;
            t.run_prev = null;
            _ = rt.endTask(t, outcome, .{});
            handles.releaseHeld(t.handle);
        }
    }
};

fn pushRunning(slot: *Slot, t: *Task) void {
    std.debug.assert(t.run_prev == null and t.run_next == null and !t.listed);
    t.listed = true;
    t.run_next = slot.running;
    if (slot.running) |head| head.run_prev = t;
    slot.running = t;
    slot.running_len += 1;
}

fn removeRunning(slot: *Slot, t: *Task) void {
    std.debug.assert(slot.running_len > 0 and t.listed);
    t.listed = false;
    if (t.run_prev) |p| p.run_next = t.run_next else slot.running = t.run_next;
    if (t.run_next) |n| n.run_prev = t.run_prev;
    t.run_prev = null;
    t.run_next = null;
    slot.running_len -= 1;
}

/// Take the whole list (caller holds the slot's lock): its tasks are no
/// longer `listed`, so a concurrent `complete` leaves them to the caller.
fn takeRunning(slot: *Slot) ?*Task {
    const list = slot.running;
    var node = list;
    var n: u32 = 0;
    while (node) |t| : (node = t.run_next) {
        std.debug.assert(t.listed);
        t.listed = false;
        n += 1;
    }
    std.debug.assert(n == slot.running_len);
    slot.running = null;
    slot.running_len = 0;
    return list;
}
