//! The work-stealing scheduler: N workers, each with a local ring (256
//! slots, steal-half), a LIFO slot and a parker; one global injection
//! queue; idle accounting that wakes one worker at a time.
//!
//! A worker is a slot, not a thread: whichever thread `bind`s slot w runs
//! its queues (a JS isolate through the JS-task runtime, or a native
//! thread of runner.zig), and a slot outlives the thread (a replacement
//! isolate binds it again). The scheduler never blocks except in `park`,
//! never allocates after `create`, and never runs or frees tasks.
//!
//! Where `next` looks, in order (tokio's multi-thread scheduler and Go's
//! findRunnable are the models):
//!
//! 1. budget: after `task_budget` tasks without a yield, `.yield`, so an
//!    isolate gets back to its event loop (timers, completions);
//! 2. every `global_queue_interval` ticks, the injection queue first, so a
//!    worker kept busy by local work still takes injected tasks;
//! 3. the LIFO slot (the task the running task just scheduled: likely hot
//!    in cache, and what a ping-pong wants), at most `max_lifo_polls`
//!    times in a row; then the LIFO task goes to the back of the ring so
//!    two tasks waking each other cannot monopolise the worker;
//! 4. the local ring (FIFO);
//! 5. the injection queue, taking a batch (a fair share, at most half a
//!    ring) into the ring in one lock acquisition;
//! 6. search: become a searcher (at most about half the workers), steal
//!    half of a random victim's ring, then look at the injection queue
//!    once more;
//! 7. `.idle`: the caller parks.
//!
//! Parking (see idle.zig for the accounting and why there is no lost
//! wake-up): a worker with a task in its LIFO slot or ring is never idle
//! and refuses to park (stealers cannot take a LIFO task, so it must not
//! sit in a parked worker). A worker going to sleep counts itself parked,
//! then re-checks the injection queue; the last searcher also re-checks
//! every ring. Producers (`schedule`, `inject`, overflow) queue first and
//! then wake one parked worker if nobody is searching; the woken worker
//! starts as a searcher, and a searcher that finds work and was the last
//! one wakes the next, so work spreads without a thundering herd. Pushes
//! to the injection queue check the idle state with an RMW (no lost
//! wake-up, ever); a worker pushing to its own ring only loads it (a rare
//! missed wake-up costs parallelism, not progress: that worker is awake
//! and runs its ring itself). See idle.zig.
//!
//! Rules for the thread driving a worker: after `.idle`, park promptly
//! (`park` or `parkAsync`): until then the worker counts as searching and
//! producers wake nobody else. Never block outside `park` on a task you
//! scheduled yourself without `offload` first: a LIFO task cannot be
//! stolen. A worker that goes away is `unbind`ed, or `evacuate`d if its
//! thread died.
//!
//! Per-worker state in `Local` belongs to the thread bound to the worker
//! (plain fields). Hand-over between threads goes through `bind`/`unbind`
//! (acquire/release on `bound`) and, for `evacuate` and `drain`, through
//! whatever the caller used to know the worker thread is gone.
const std = @import("std");
const task_mod = @import("task.zig");
const List = task_mod.List;
const ring_mod = @import("ring.zig");
const Ring = ring_mod.Ring;
const Inject = @import("inject.zig").Inject;
const idle_mod = @import("idle.zig");
const Idle = idle_mod.Idle;
const Parker = @import("parker.zig").Parker;
const metrics_mod = @import("metrics.zig");
const Rng = @import("../core/rng.zig").Rng;
const Waiter = @import("../core/wait_queue.zig").Waiter;

pub const Task = task_mod.Task;
pub const Metrics = metrics_mod.Metrics;
pub const WorkerMetrics = metrics_mod.WorkerMetrics;
pub const max_workers: u32 = idle_mod.max_workers;
/// LIFO runs in a row before the LIFO task must queue behind the ring
/// (tokio's MAX_LIFO_POLLS_PER_TICK).
pub const max_lifo_polls: u32 = 3;

const cache_line = std.atomic.cache_line;

pub const Config = struct {
    /// 1..=max_workers.
    workers: u32,
    /// Tasks `next` hands out before it returns `.yield`; >= 1.
    task_budget: u32 = 128,
    /// Every this many ticks, the injection queue comes first; >= 1.
    global_queue_interval: u32 = 61,
    lifo_slot: bool = true,
    /// False: each worker runs its own queues and the injection queue only.
    work_stealing: bool = true,
    /// Seeds the per-worker victim choice (seed + worker index).
    seed: u64 = 0x9E3779B97F4A7C15,

    pub fn validate(c: Config) error{InvalidArgument}!void {
        if (c.workers < 1 or c.workers > max_workers) return error.InvalidArgument;
        if (c.task_budget < 1) return error.InvalidArgument;
        if (c.global_queue_interval < 1) return error.InvalidArgument;
    }
};

pub const Next = union(enum) {
    /// Run it, then call `next` again.
    task: *Task,
    /// The budget ran out: run the event loop once, then call `next`.
    yield,
    /// Nothing to do: `park` or `parkAsync`, then call `next`.
    idle,
    /// `shutdown` began: stop; `drain` gives back what is still queued.
    shutdown,
};

/// The scheduler and worker the calling thread is bound to (one at a time).
threadlocal var bound_scheduler: ?*Scheduler = null;
threadlocal var bound_worker: u32 = 0;

/// State of a worker that only its bound thread touches.
const Local = struct {
    /// The task the running task scheduled last; never stolen.
    lifo: ?*Task = null,
    /// LIFO tasks handed out in a row.
    lifo_streak: u32 = 0,
    /// Calls of `next` that looked for a task (not the `.yield`s).
    tick: u32 = 0,
    /// Tasks handed out since the last `.yield` or `.idle`.
    budget_used: u32 = 0,
    /// Counted in `Idle.state` as searching.
    searching: bool = false,
    /// Counted parked (in `Idle.sleepers`, or taken out by a producer that
    /// counted it searching); `restoreFromParked` settles which.
    parked: bool = false,
    rng: Rng,
};

const Worker = struct {
    /// Touched by thieves: its own cache lines.
    ring: Ring align(cache_line) = .{},
    local: Local align(cache_line),
    /// Whether a thread is bound. Written by `bind`/`unbind`.
    bound: std.atomic.Value(bool) = .init(false),
    counters: metrics_mod.WorkerCounters align(cache_line) = .{},
    /// Touched by producers waking this worker.
    parker: Parker align(cache_line) = .{},
};

pub const Scheduler = struct {
    allocator: std.mem.Allocator,
    cfg: Config,
    workers: []Worker,
    injection: Inject align(cache_line) = .{},
    idle: Idle align(cache_line),
    closed: std.atomic.Value(bool) align(cache_line) = .init(false),

    pub fn create(allocator: std.mem.Allocator, cfg: Config) !*Scheduler {
        try cfg.validate();
        const s = try allocator.create(Scheduler);
        errdefer allocator.destroy(s);
        const workers = try allocator.alloc(Worker, cfg.workers);
        for (workers, 0..) |*wk, i| {
            wk.* = .{ .local = .{ .rng = Rng.init(cfg.seed, @intCast(i)) } };
        }
        s.* = .{
            .allocator = allocator,
            .cfg = cfg,
            .workers = workers,
            .idle = Idle.init(cfg.workers),
        };
        return s;
    }

    /// The caller guarantees that no thread uses `s` any more. Tasks still
    /// queued are the caller's (`drain` them first if it cares).
    pub fn destroy(s: *Scheduler) void {
        for (s.workers) |*wk| {
            std.debug.assert(!wk.bound.load(.acquire));
            std.debug.assert(wk.parker.queue.isEmpty());
        }
        const allocator = s.allocator;
        allocator.free(s.workers);
        allocator.destroy(s);
    }

    pub fn config(s: *const Scheduler) Config {
        return s.cfg;
    }

    // ------------------------------------------------------------ binding

    /// Bind the calling thread to worker `w`. A slot may be bound again
    /// after an unbind, by any thread: queues, LIFO slot and idle
    /// accounting carry over; budget, tick and LIFO streak restart.
    pub fn bind(s: *Scheduler, w: u32) void {
        std.debug.assert(w < s.cfg.workers);
        std.debug.assert(bound_scheduler == null);
        const wk = &s.workers[w];
        // Acquire: the previous thread's plain `local` writes are visible.
        const was_bound = wk.bound.cmpxchgStrong(false, true, .acquire, .monotonic);
        std.debug.assert(was_bound == null); // Two threads on one slot.
        wk.local.tick = 0;
        wk.local.budget_used = 0;
        wk.local.lifo_streak = 0;
        bound_scheduler = s;
        bound_worker = w;
    }

    /// Unbind the calling thread. The worker leaves the idle accounting as
    /// an awake, non-searching worker: a slot nobody drives must not stay
    /// counted as searching (producers would wake nobody) or sit in the
    /// sleepers set (a wake-up would go to nobody). A still-linked async
    /// waiter is granted. Its queues stay in place (the ring can still be
    /// stolen, the LIFO slot cannot): call `evacuate` if no thread will
    /// bind it again soon.
    pub fn unbind(s: *Scheduler) void {
        std.debug.assert(bound_scheduler == s);
        const w = bound_worker;
        s.settle(w);
        // Release: our `local` writes are visible to the next binder.
        s.workers[w].bound.store(false, .release);
        bound_scheduler = null;
        bound_worker = 0;
    }

    /// Take worker w out of the parked and searching states.
    fn settle(s: *Scheduler, w: u32) void {
        const wk = &s.workers[w];
        if (wk.local.parked) s.restoreFromParked(w) else wk.parker.reset();
        if (wk.local.searching) s.stopSearching(w);
        std.debug.assert(!wk.local.parked and !wk.local.searching);
    }

    pub fn currentWorker(s: *const Scheduler) ?u32 {
        return if (bound_scheduler == s) bound_worker else null;
    }

    fn assertBound(s: *const Scheduler, w: u32) void {
        std.debug.assert(w < s.cfg.workers);
        std.debug.assert(s.currentWorker() == w);
    }

    // --------------------------------------------------------- scheduling

    /// Schedule `task` from any thread. On a thread bound to a worker of
    /// `s`: its LIFO slot (the previous occupant moves to the ring) or its
    /// ring; elsewhere, or while that worker is parked, the injection
    /// queue. Wakes a parked worker if one is needed. `error.Closed` after
    /// shutdown (the task was not queued).
    pub fn schedule(s: *Scheduler, task: *Task) error{Closed}!void {
        // The thread-locals directly, not `currentWorker`: returning the
        // optional through memory cost a store-forwarding stall per spawn.
        if (bound_scheduler == s) {
            const w = bound_worker;
            // A parked worker (an isolate in its event loop between
            // parkAsync and next) would sit on a LIFO task: go global.
            if (!s.workers[w].local.parked) {
                if (s.closed.load(.acquire)) return error.Closed;
                s.scheduleLocal(w, task);
                return;
            }
        }
        return s.injectTask(task);
    }

    /// Queue `task` in the injection queue, from any thread.
    pub fn inject(s: *Scheduler, task: *Task) error{Closed}!void {
        return s.injectTask(task);
    }

    fn injectTask(s: *Scheduler, task: *Task) error{Closed}!void {
        try s.injection.push(task);
        s.notify(.strict);
    }

    fn scheduleLocal(s: *Scheduler, w: u32, task: *Task) void {
        const wk = &s.workers[w];
        wk.counters.scheduled_local.inc();
        var queued = task;
        if (s.cfg.lifo_slot) {
            const prev = wk.local.lifo;
            wk.local.lifo = task;
            // An empty slot was filled: nothing stealable appeared, so
            // waking a worker would be useless.
            queued = prev orelse return;
        }
        // Without stealing, only the injection queue is shared. A ring push
        // needs only a hint: this worker is active and runs its ring itself
        // if the wake-up is missed.
        if (s.pushLocal(w, queued)) {
            s.notify(.strict);
        } else if (s.cfg.work_stealing) {
            s.notify(.hint);
        }
    }

    /// Append to w's ring; when it is full, move half of it plus `task` to
    /// the injection queue in one batch. True when tasks went there.
    fn pushLocal(s: *Scheduler, w: u32, task: *Task) bool {
        const wk = &s.workers[w];
        var attempts: u32 = 0;
        while (true) : (attempts += 1) {
            // Each retry follows a thief freeing room.
            std.debug.assert(attempts < 1000);
            switch (wk.ring.push(task)) {
                .pushed => return false,
                .stealing => {
                    var one: List = .{};
                    one.pushBack(task);
                    s.injection.pushList(&one);
                    wk.counters.overflows.inc();
                    return true;
                },
                .full => {
                    var batch = wk.ring.takeHalf() orelse continue;
                    batch.pushBack(task);
                    s.injection.pushList(&batch);
                    wk.counters.overflows.inc();
                    return true;
                },
            }
        }
    }

    /// Wake one parked worker if work needs one (see idle.zig for `check`).
    fn notify(s: *Scheduler, check: Idle.Check) void {
        const w = s.idle.workerToNotify(check) orelse return;
        s.workers[w].parker.unpark();
    }

    // ------------------------------------------------------------ running

    /// The next thing worker `w` should do; never blocks. The calling
    /// thread must be bound to `w`.
    pub fn next(s: *Scheduler, w: u32) Next {
        s.assertBound(w);
        const wk = &s.workers[w];
        if (s.closed.load(.acquire)) return .shutdown;
        // Back from an async park (granted or cancelled).
        if (wk.local.parked) s.restoreFromParked(w);
        if (wk.local.budget_used >= s.cfg.task_budget) {
            wk.local.budget_used = 0;
            wk.counters.budget_yields.inc();
            return .yield;
        }
        wk.local.tick +%= 1;
        if (s.findTask(w)) |task| {
            wk.local.budget_used += 1;
            wk.counters.polled.inc();
            if (wk.local.searching) s.stopSearching(w);
            return .{ .task = task };
        }
        // The caller parks, which lets its event loop run: a fresh budget.
        wk.local.budget_used = 0;
        return .idle;
    }

    fn findTask(s: *Scheduler, w: u32) ?*Task {
        const wk = &s.workers[w];
        const local = &wk.local;
        if (local.tick % s.cfg.global_queue_interval == 0) {
            if (s.injection.pop()) |task| {
                wk.counters.inject_pulls.inc();
                local.lifo_streak = 0;
                return task;
            }
        }
        if (local.lifo) |task| {
            local.lifo = null;
            if (local.lifo_streak < max_lifo_polls) {
                local.lifo_streak += 1;
                wk.counters.lifo_hits.inc();
                return task;
            }
            // Streak used up: queue behind the ring's older tasks. Others
            // can only help if something besides this task is queued.
            if (s.pushLocal(w, task)) {
                s.notify(.strict);
            } else if (s.cfg.work_stealing and wk.ring.len() > 1) {
                s.notify(.hint);
            }
        }
        local.lifo_streak = 0;
        if (wk.ring.pop()) |task| return task;
        if (s.pullInjected(w)) |task| return task;
        return s.search(w);
    }

    /// Take a batch from the injection queue: one task to run, the rest
    /// into the ring. The batch is a fair share (len / workers + 1) so the
    /// other workers get some too, at most half a ring.
    fn pullInjected(s: *Scheduler, w: u32) ?*Task {
        if (s.injection.isEmpty()) return null;
        const wk = &s.workers[w];
        const room = @min(wk.ring.remainingSlots(), ring_mod.half);
        const fair = s.injection.length() / s.cfg.workers + 1;
        var batch = s.injection.popList(@max(1, @min(fair, room)));
        const task = batch.popFront() orelse return null;
        wk.counters.inject_pulls.add(batch.len + 1);
        wk.ring.pushList(&batch);
        return task;
    }

    /// Steal half of a random victim's ring, then look at the injection
    /// queue once more. Searching is counted in the idle state, which is
    /// what keeps producers from waking a second worker meanwhile.
    fn search(s: *Scheduler, w: u32) ?*Task {
        const wk = &s.workers[w];
        if (!wk.local.searching) {
            if (!s.idle.transitionToSearching()) return null;
            wk.local.searching = true;
        }
        const n = s.cfg.workers;
        if (s.cfg.work_stealing and n > 1) {
            const start = wk.local.rng.below(n);
            var i: u32 = 0;
            while (i < n) : (i += 1) {
                const victim = (start + i) % n;
                if (victim == w) continue;
                wk.counters.steal_attempts.inc();
                if (Ring.stealInto(&s.workers[victim].ring, &wk.ring)) |stolen| {
                    wk.counters.steal_batches.inc();
                    wk.counters.stolen.add(stolen.count);
                    return stolen.task;
                }
            }
        }
        return s.pullInjected(w);
    }

    /// A searcher found a task. If it was the last searcher, wake another
    /// worker: the work it found may come with more (a stolen batch, a
    /// busy injection queue).
    fn stopSearching(s: *Scheduler, w: u32) void {
        const wk = &s.workers[w];
        std.debug.assert(wk.local.searching);
        wk.local.searching = false;
        // The RMW just made orders everything before it, so a plain load of
        // the state is as good as another RMW here.
        if (s.idle.transitionFromSearching()) s.notify(.hint);
    }

    // ------------------------------------------------------------ parking

    /// Block until unparked, shutdown, or `timeout_ns` (null: no limit).
    /// Returns at once when w has local work or the re-check finds some.
    /// The idle accounting is consistent when it returns; call `next`.
    pub fn park(s: *Scheduler, w: u32, timeout_ns: ?u64) void {
        s.assertBound(w);
        const wk = &s.workers[w];
        if (wk.local.parked) s.restoreFromParked(w);
        if (!s.transitionToParked(w)) return;
        wk.parker.park(timeout_ns);
        s.restoreFromParked(w);
    }

    /// Park without blocking, for an isolate that must keep its event loop
    /// running: the same transition and re-check as `park`, then link
    /// `waiter` (from the isolate's completion queue) so that an unpark
    /// grants it with result 0. False when not linked (work found, an
    /// unpark pending, or shutdown): release the waiter and call `next`.
    /// True: call `next` after the completion arrives or after cancelling
    /// the waiter; `next` settles the accounting either way. (`next` before
    /// either also works: it grants the still-linked waiter, a spurious
    /// completion to drain later.)
    pub fn parkAsync(s: *Scheduler, w: u32, waiter: *Waiter) bool {
        s.assertBound(w);
        std.debug.assert(waiter.cq != null);
        const wk = &s.workers[w];
        if (wk.local.parked) s.restoreFromParked(w);
        if (!s.transitionToParked(w)) return false;
        if (!wk.parker.linkAsync(waiter)) {
            s.restoreFromParked(w);
            return false;
        }
        return true;
    }

    /// Count w parked, then re-check. True: go to sleep. False: do not
    /// (local work, work found by the re-check, or shutdown); the
    /// accounting is already restored.
    fn transitionToParked(s: *Scheduler, w: u32) bool {
        const wk = &s.workers[w];
        std.debug.assert(!wk.local.parked);
        if (s.closed.load(.acquire)) return false;
        // Never idle with local work: nobody else could run a LIFO task,
        // and a parked worker's ring would wait for a thief.
        if (wk.local.lifo != null or !wk.ring.isEmpty()) return false;
        const last_searcher = s.idle.transitionToParked(w, wk.local.searching);
        wk.local.searching = false;
        wk.local.parked = true;
        if (s.workMayBePending(last_searcher)) {
            s.restoreFromParked(w);
            return false;
        }
        wk.counters.parks.inc();
        return true;
    }

    /// The re-check after counting ourselves parked. Our RMW on the idle
    /// state synchronises with every producer's earlier RMW, so any task
    /// queued before it is visible here. Everybody checks the injection
    /// queue (one load); the last searcher also checks every ring, since
    /// producers skipped waking anybody while it searched.
    fn workMayBePending(s: *Scheduler, last_searcher: bool) bool {
        if (!s.injection.isEmpty()) return true;
        if (s.closed.load(.acquire)) return true;
        if (!last_searcher or !s.cfg.work_stealing) return false;
        for (s.workers) |*other| {
            if (!other.ring.isEmpty()) return true;
        }
        return false;
    }

    /// Settle a worker that was counted parked and is awake now, whatever
    /// woke it: if it is still in the sleepers set it takes itself out
    /// (unparked, not searching); if not, the producer that took it out
    /// already counted it unparked and searching.
    fn restoreFromParked(s: *Scheduler, w: u32) void {
        const wk = &s.workers[w];
        std.debug.assert(wk.local.parked);
        std.debug.assert(!wk.local.searching);
        wk.local.parked = false;
        if (!s.idle.unparkById(w)) {
            wk.local.searching = true;
            wk.counters.unparks.inc();
        }
        // A late unpark from the producer that chose us may still land
        // after this; it only makes the next park return early.
        wk.parker.reset();
    }

    // ------------------------------------------------------------ closing

    /// Begin shutdown: `schedule`/`inject` fail with `error.Closed` from
    /// now on, `next` returns `.shutdown`, and every parked worker (sync or
    /// async) is woken. Idempotent.
    pub fn shutdown(s: *Scheduler) void {
        if (s.closed.swap(true, .acq_rel)) return;
        s.injection.close();
        for (s.workers) |*wk| wk.parker.unpark();
    }

    pub fn isShutdown(s: *const Scheduler) bool {
        return s.closed.load(.acquire);
    }

    /// Pass every task still queued (injection queue, rings, LIFO slots) to
    /// `f(ctx, task)`. Only after `shutdown`, with no thread inside `next`
    /// or `park` (the caller guarantees it).
    pub fn drain(s: *Scheduler, ctx: anytype, comptime f: fn (@TypeOf(ctx), *Task) void) void {
        std.debug.assert(s.closed.load(.acquire));
        const queued = s.injection.length();
        var list = s.injection.popList(@max(1, queued));
        // Nobody pushes any more: one batch was everything.
        std.debug.assert(s.injection.isEmpty());
        while (list.popFront()) |task| f(ctx, task);
        for (s.workers) |*wk| drainWorker(wk, ctx, f);
    }

    fn drainWorker(wk: *Worker, ctx: anytype, comptime f: fn (@TypeOf(ctx), *Task) void) void {
        if (wk.local.lifo) |task| {
            wk.local.lifo = null;
            f(ctx, task);
        }
        var n: u32 = 0;
        while (wk.ring.pop()) |task| : (n += 1) {
            std.debug.assert(n < ring_mod.capacity);
            f(ctx, task);
        }
    }

    /// Worker w's thread died outside `next`/`park` and no thread uses it
    /// any more (the caller guarantees it): move its LIFO slot and ring to
    /// the injection queue so other workers run them, undo its searching
    /// or parked accounting, and wake a worker. A still-linked async
    /// waiter is granted (closing the dead isolate's completion queue
    /// before or after is safe either way). The slot is released even if
    /// the dead thread never unbound it; a replacement may bind it later.
    pub fn evacuate(s: *Scheduler, w: u32) void {
        std.debug.assert(w < s.cfg.workers);
        std.debug.assert(s.currentWorker() != w);
        const wk = &s.workers[w];
        // Acquire: whatever the dead thread wrote to `local` is visible.
        _ = wk.bound.load(.acquire);
        _ = s.moveLocalToInjection(w);
        s.settle(w);
        wk.local.lifo_streak = 0;
        wk.local.budget_used = 0;
        wk.bound.store(false, .release);
        s.notify(.strict);
    }

    /// The thread bound to `w` is about to block outside `park` (a sync
    /// wait, a long computation): move its LIFO slot and ring to the
    /// injection queue and wake a worker, so those tasks run meanwhile.
    /// Nobody else can take a LIFO task, a ring push only hints a wake-up,
    /// and without stealing nobody takes ring tasks at all: a worker that
    /// blocks on a task it scheduled itself would otherwise wait forever.
    pub fn offload(s: *Scheduler, w: u32) void {
        s.assertBound(w);
        if (s.moveLocalToInjection(w) > 0) s.notify(.strict);
    }

    /// Move w's LIFO task and ring, oldest first after the LIFO task, to
    /// the injection queue in one batch. Returns how many moved.
    fn moveLocalToInjection(s: *Scheduler, w: u32) u32 {
        const wk = &s.workers[w];
        var list: List = .{};
        if (wk.local.lifo) |task| {
            wk.local.lifo = null;
            list.pushBack(task);
        }
        // Thieves may take some concurrently; pop is safe with them.
        var n: u32 = 0;
        while (wk.ring.pop()) |task| : (n += 1) {
            std.debug.assert(n < ring_mod.capacity);
            list.pushBack(task);
        }
        const moved = list.len;
        s.injection.pushList(&list);
        return moved;
    }

    // ------------------------------------------------------------ metrics

    pub fn metrics(s: *Scheduler, out: *Metrics) void {
        const counts = s.idle.counts();
        out.* = .{
            .workers = s.cfg.workers,
            .injected = s.injection.pushed.load(.monotonic),
            .inject_depth = s.injection.length(),
            .searching = counts.searching,
            .unparked = counts.unparked,
        };
        for (s.workers, 0..) |*wk, i| {
            out.worker[i] = wk.counters.snapshot();
            out.worker[i].queue_depth = wk.ring.len();
        }
    }
};
