//! Tests of the scheduler: deterministic ones on the test thread bound to a
//! worker, and multi-threaded ones with native runners (sync parking) and
//! isolate-like workers (async parking through a real completion queue).
//! Stress tests print their seed and config when they fail.
const std = @import("std");
const testing = std.testing;
const scheduler = @import("scheduler.zig");
const Scheduler = scheduler.Scheduler;
const Config = scheduler.Config;
const Task = scheduler.Task;
const Metrics = scheduler.Metrics;
const runner = @import("runner.zig");
const Runner = runner.Runner;
const Rng = @import("../core/rng.zig").Rng;
const futex = @import("../os/futex.zig");
const clock = @import("../os/clock.zig");
const support = @import("../testing/support.zig");
const TestQueue = support.TestQueue;

/// Generous: a loaded 2-core machine is slow, never stuck.
const wait_ms: u64 = 20_000;

fn expectNextTask(s: *Scheduler, w: u32, expected: *Task) !void {
    switch (s.next(w)) {
        .task => |t| try testing.expectEqual(expected, t),
        else => |n| {
            std.debug.print("expected a task, got {s}\n", .{@tagName(n)});
            return error.TestUnexpectedResult;
        },
    }
}

fn expectNext(s: *Scheduler, w: u32, comptime tag: std.meta.Tag(scheduler.Next)) !void {
    const n = s.next(w);
    if (n != tag) {
        std.debug.print("expected {s}, got {s}\n", .{ @tagName(tag), @tagName(n) });
        return error.TestUnexpectedResult;
    }
}

fn counts(s: *Scheduler) [2]u32 {
    const c = s.idle.counts();
    return .{ c.searching, c.unparked };
}

/// Poll `cond(ctx)` until true or the generous deadline passes.
fn waitFor(ctx: anytype, comptime cond: fn (@TypeOf(ctx)) bool) !void {
    const deadline = clock.nowNs() + wait_ms * std.time.ns_per_ms;
    while (!cond(ctx)) {
        if (clock.nowNs() > deadline) return error.TestTimedOut;
        std.Thread.yield() catch {};
    }
}

fn allParked(s: *Scheduler) bool {
    return s.idle.counts().unparked == 0;
}

/// A flag a task raises and the test thread sleeps on.
const Signal = struct {
    word: futex.Word = .init(0),

    fn raise(sig: *Signal) void {
        sig.word.store(1, .release);
        futex.wakeAll(&sig.word);
    }

    fn wait(sig: *Signal) !void {
        const deadline = clock.nowNs() + wait_ms * std.time.ns_per_ms;
        while (sig.word.load(.acquire) == 0) {
            const now = clock.nowNs();
            if (now >= deadline) return error.TestTimedOut;
            _ = futex.wait(&sig.word, 0, deadline - now);
        }
    }
};

// ------------------------------------------------------- deterministic

test "sched: create validates the config" {
    const a = testing.allocator;
    try testing.expectError(error.InvalidArgument, Scheduler.create(a, .{ .workers = 0 }));
    try testing.expectError(error.InvalidArgument, Scheduler.create(a, .{ .workers = scheduler.max_workers + 1 }));
    try testing.expectError(error.InvalidArgument, Scheduler.create(a, .{ .workers = 1, .task_budget = 0 }));
    try testing.expectError(error.InvalidArgument, Scheduler.create(a, .{ .workers = 1, .global_queue_interval = 0 }));
    const s = try Scheduler.create(a, .{ .workers = scheduler.max_workers });
    try testing.expectEqual(scheduler.max_workers, s.config().workers);
    s.destroy();
}

test "sched: LIFO slot first, then the ring in FIFO order, then idle" {
    const s = try Scheduler.create(testing.allocator, .{ .workers = 1 });
    defer s.destroy();
    try testing.expect(s.currentWorker() == null);
    s.bind(0);
    defer s.unbind();
    try testing.expectEqual(@as(?u32, 0), s.currentWorker());
    var t: [3]Task = @splat(.{});
    for (&t) |*x| try s.schedule(x);
    try expectNextTask(s, 0, &t[2]);
    try expectNextTask(s, 0, &t[0]);
    try expectNextTask(s, 0, &t[1]);
    try expectNext(s, 0, .idle);
    // Idle means searching, until work turns up.
    try testing.expectEqual([2]u32{ 1, 1 }, counts(s));
    try s.schedule(&t[0]);
    try expectNextTask(s, 0, &t[0]);
    try testing.expectEqual([2]u32{ 0, 1 }, counts(s));
    var m: Metrics = undefined;
    s.metrics(&m);
    try testing.expectEqual(@as(u64, 4), m.worker[0].scheduled_local);
    try testing.expectEqual(@as(u64, 4), m.worker[0].polled);
    try testing.expectEqual(@as(u64, 2), m.worker[0].lifo_hits);
}

test "sched: without the LIFO slot, local tasks run in FIFO order" {
    const s = try Scheduler.create(testing.allocator, .{ .workers = 2, .lifo_slot = false });
    defer s.destroy();
    s.bind(1);
    defer s.unbind();
    var t: [3]Task = @splat(.{});
    for (&t) |*x| try s.schedule(x);
    var m: Metrics = undefined;
    s.metrics(&m);
    try testing.expectEqual(@as(u32, 3), m.worker[1].queue_depth);
    for (&t) |*x| try expectNextTask(s, 1, x);
}

test "sched: the budget yields after task_budget tasks" {
    const s = try Scheduler.create(testing.allocator, .{ .workers = 1, .task_budget = 4 });
    defer s.destroy();
    s.bind(0);
    defer s.unbind();
    var t: [10]Task = @splat(.{});
    for (&t) |*x| try s.schedule(x);
    var tasks: u32 = 0;
    var yields: u32 = 0;
    var since_yield: u32 = 0;
    var calls: u32 = 0;
    while (calls < 100) : (calls += 1) {
        switch (s.next(0)) {
            .task => {
                tasks += 1;
                since_yield += 1;
                try testing.expect(since_yield <= 4);
            },
            .yield => {
                try testing.expectEqual(@as(u32, 4), since_yield);
                since_yield = 0;
                yields += 1;
            },
            .idle => break,
            .shutdown => return error.TestUnexpectedResult,
        }
    }
    try testing.expectEqual(@as(u32, 10), tasks);
    try testing.expectEqual(@as(u32, 2), yields);
    var m: Metrics = undefined;
    s.metrics(&m);
    try testing.expectEqual(@as(u64, 2), m.worker[0].budget_yields);
}

test "sched: a self-rescheduling task cannot monopolise the LIFO slot" {
    const s = try Scheduler.create(testing.allocator, .{ .workers = 1 });
    defer s.destroy();
    s.bind(0);
    defer s.unbind();
    var spinner: Task = .{};
    var other: Task = .{};
    try s.schedule(&other);
    try s.schedule(&spinner); // LIFO: spinner, ring: other.
    var runs: u32 = 0;
    while (true) : (runs += 1) {
        try testing.expect(runs < 10);
        const n = s.next(0);
        try testing.expect(n == .task);
        if (n.task == &other) break;
        try testing.expectEqual(&spinner, n.task);
        try s.schedule(&spinner); // Forever, if it could.
    }
    try testing.expectEqual(scheduler.max_lifo_polls, runs);
    try expectNextTask(s, 0, &spinner);
}

test "sched: the injection queue is served within global_queue_interval ticks" {
    const interval: u32 = 61;
    const s = try Scheduler.create(testing.allocator, .{ .workers = 1, .global_queue_interval = interval, .task_budget = 1000 });
    defer s.destroy();
    s.bind(0);
    defer s.unbind();
    var local: [100]Task = @splat(.{});
    for (&local) |*x| try s.schedule(x);
    var injected: Task = .{};
    try s.inject(&injected);
    var ticks: u32 = 1;
    while (true) : (ticks += 1) {
        try testing.expect(ticks <= interval);
        const n = s.next(0);
        try testing.expect(n == .task);
        if (n.task == &injected) break;
        // Flooded: every local task reschedules itself.
        try s.schedule(n.task);
    }
    try testing.expectEqual(interval, ticks);
}

test "sched: shutdown, then drain returns every queued task once" {
    const s = try Scheduler.create(testing.allocator, .{ .workers = 2 });
    defer s.destroy();
    var t: [300]Task = @splat(.{});
    s.bind(0);
    // LIFO slot, ring, and an overflow into the injection queue.
    for (t[0..290]) |*x| try s.schedule(x);
    s.unbind();
    for (t[290..]) |*x| try s.inject(x);
    s.shutdown();
    s.shutdown();
    try testing.expectError(error.Closed, s.inject(&t[0]));
    s.bind(0);
    try testing.expectError(error.Closed, s.schedule(&t[0]));
    try expectNext(s, 0, .shutdown);
    s.unbind();
    var seen: [300]u8 = @splat(0);
    const C = struct {
        seen: *[300]u8,
        base: *Task,
        fn take(ctx: @This(), task: *Task) void {
            const i = (@intFromPtr(task) - @intFromPtr(ctx.base)) / @sizeOf(Task);
            ctx.seen[i] += 1;
        }
    };
    s.drain(C{ .seen = &seen, .base = &t[0] }, C.take);
    for (seen) |x| try testing.expectEqual(@as(u8, 1), x);
    var m: Metrics = undefined;
    s.metrics(&m);
    try testing.expect(m.worker[0].overflows > 0);
    try testing.expectEqual(@as(u64, 10), m.injected);
}

test "sched: offload hands the local queues to the injection queue" {
    const s = try Scheduler.create(testing.allocator, .{ .workers = 2, .work_stealing = false });
    defer s.destroy();
    s.bind(0);
    defer s.unbind();
    var t: [4]Task = @splat(.{});
    for (&t) |*x| try s.schedule(x);
    s.offload(0);
    try testing.expectEqual(@as(u32, 4), s.injection.length());
    var m: Metrics = undefined;
    s.metrics(&m);
    try testing.expectEqual(@as(u32, 0), m.worker[0].queue_depth);
    // The LIFO task first, then the ring in order.
    for ([_]u32{ 3, 0, 1, 2 }) |i| try expectNextTask(s, 0, &t[i]);
    s.offload(0); // Nothing to move.
    try testing.expect(s.injection.isEmpty());
}

test "sched: park with a timeout restores the accounting" {
    const s = try Scheduler.create(testing.allocator, .{ .workers = 2 });
    defer s.destroy();
    s.bind(0);
    defer s.unbind();
    try expectNext(s, 0, .idle);
    try testing.expectEqual([2]u32{ 1, 2 }, counts(s));
    s.park(0, std.time.ns_per_ms);
    // Timed out: unparked, not searching, out of the sleepers set.
    try testing.expectEqual([2]u32{ 0, 2 }, counts(s));
    try testing.expect(!s.idle.isParked(0));
    // Local work: park refuses and returns at once.
    var t: Task = .{};
    try s.schedule(&t);
    s.park(0, null);
    try expectNextTask(s, 0, &t);
    var m: Metrics = undefined;
    s.metrics(&m);
    try testing.expectEqual(@as(u64, 1), m.worker[0].parks);
}

test "sched: parkAsync is granted through a real completion queue" {
    const tq = try TestQueue.open();
    defer tq.close();
    // Worker 1 has no thread: it counts as awake, worker 0 parks.
    const s = try Scheduler.create(testing.allocator, .{ .workers = 2 });
    defer s.destroy();
    s.bind(0);
    defer s.unbind();
    var t: [2]Task = @splat(.{});

    // Granted by an unpark.
    try expectNext(s, 0, .idle);
    const a = tq.cq.acquire().?;
    const token_a = a.token;
    try testing.expect(s.parkAsync(0, a));
    try testing.expectEqual([2]u32{ 0, 1 }, counts(s));
    try testing.expect(tq.poll() == null);
    try s.inject(&t[0]); // Wakes worker 0: its waiter is granted.
    try testing.expectEqual([2]u32{ 1, 2 }, counts(s));
    try testing.expectEqual(@as(i32, 0), try tq.wait(token_a));
    try testing.expectEqual(@as(u32, 0), tq.cq.live);
    try expectNextTask(s, 0, &t[0]);
    try testing.expectEqual([2]u32{ 0, 2 }, counts(s));

    // Cancelled by the isolate: next restores the accounting.
    try expectNext(s, 0, .idle);
    const b = tq.cq.acquire().?;
    try testing.expect(s.parkAsync(0, b));
    try testing.expect(tq.cq.cancel(b));
    try expectNext(s, 0, .idle);
    try testing.expectEqual([2]u32{ 1, 2 }, counts(s));

    // Cancelled, then woken before next: the wake counts it searching.
    const c = tq.cq.acquire().?;
    try testing.expect(s.parkAsync(0, c));
    try testing.expect(tq.cq.cancel(c));
    try s.inject(&t[1]);
    try expectNextTask(s, 0, &t[1]);
    try testing.expectEqual([2]u32{ 0, 2 }, counts(s));

    // An unpark already pending: not linked.
    try expectNext(s, 0, .idle);
    s.workers[0].parker.unpark(); // A late wake-up from an earlier round.
    const d = tq.cq.acquire().?;
    try testing.expect(!s.parkAsync(0, d));
    tq.cq.release(d);
    try testing.expectEqual([2]u32{ 0, 2 }, counts(s));

    // next while the waiter is still linked grants it (spuriously).
    try expectNext(s, 0, .idle);
    const e = tq.cq.acquire().?;
    const token_e = e.token;
    try testing.expect(s.parkAsync(0, e));
    try expectNext(s, 0, .idle);
    try testing.expectEqual(@as(i32, 0), try tq.wait(token_e));

    // Work queued: parkAsync refuses.
    try s.schedule(&t[0]);
    const f = tq.cq.acquire().?;
    try testing.expect(!s.parkAsync(0, f));
    tq.cq.release(f);
    try expectNextTask(s, 0, &t[0]);

    // Shutdown grants a parked waiter.
    try expectNext(s, 0, .idle);
    const g = tq.cq.acquire().?;
    const token_g = g.token;
    try testing.expect(s.parkAsync(0, g));
    s.shutdown();
    try testing.expectEqual(@as(i32, 0), try tq.wait(token_g));
    try expectNext(s, 0, .shutdown);
    const h = tq.cq.acquire().?;
    try testing.expect(!s.parkAsync(0, h));
    tq.cq.release(h);
    try testing.expectEqual(@as(u32, 0), tq.cq.live);
    var m: Metrics = undefined;
    s.metrics(&m);
    try testing.expect(m.worker[0].parks >= 4);
    try testing.expectEqual(@as(u64, 2), m.worker[0].unparks);
}

test "sched: unbind leaves the slot awake and not searching" {
    const tq = try TestQueue.open();
    defer tq.close();
    const s = try Scheduler.create(testing.allocator, .{ .workers = 2 });
    defer s.destroy();
    s.bind(0);
    try expectNext(s, 0, .idle);
    try testing.expectEqual([2]u32{ 1, 2 }, counts(s));
    s.unbind();
    try testing.expectEqual([2]u32{ 0, 2 }, counts(s));
    // Unbound while parked asynchronously: the waiter is granted.
    s.bind(0);
    try expectNext(s, 0, .idle);
    const w = tq.cq.acquire().?;
    const token = w.token;
    try testing.expect(s.parkAsync(0, w));
    try testing.expectEqual([2]u32{ 0, 1 }, counts(s));
    s.unbind();
    try testing.expectEqual([2]u32{ 0, 2 }, counts(s));
    try testing.expectEqual(@as(i32, 0), try tq.wait(token));
}

/// A worker "isolate" that dies without unbinding: on its own thread it
/// binds slot 0, goes idle (searching), optionally parks asynchronously on
/// its own completion queue, and returns with everything left as it was.
const Dying = struct {
    s: *Scheduler,
    park: bool,
    tasks: []Task = &.{},
    cq: ?*@import("../core/cq.zig").Cq = null,
    token: u32 = 0,

    fn run(d: *Dying) void {
        d.s.bind(0);
        for (d.tasks) |*t| d.s.schedule(t) catch unreachable;
        if (d.tasks.len > 0) return;
        std.debug.assert(d.s.next(0) == .idle);
        if (!d.park) return;
        const tq = TestQueue.open() catch unreachable;
        const w = tq.cq.acquire().?;
        d.cq = tq.cq;
        d.token = w.token;
        std.debug.assert(d.s.parkAsync(0, w));
    }

    fn die(d: *Dying) !void {
        const th = try std.Thread.spawn(.{}, run, .{d});
        th.join();
    }
};

test "sched: evacuate undoes the parked or searching state of a dead worker" {
    const s = try Scheduler.create(testing.allocator, .{ .workers = 2 });
    defer s.destroy();
    // Died while searching.
    var searching: Dying = .{ .s = s, .park = false };
    try searching.die();
    try testing.expectEqual([2]u32{ 1, 2 }, counts(s));
    s.evacuate(0);
    try testing.expectEqual([2]u32{ 0, 2 }, counts(s));
    // Died while parked asynchronously, its waiter still linked.
    var parked: Dying = .{ .s = s, .park = true };
    try parked.die();
    try testing.expectEqual([2]u32{ 0, 1 }, counts(s));
    s.evacuate(0);
    try testing.expectEqual([2]u32{ 0, 2 }, counts(s));
    // The grant landed in the dead isolate's queue; closing it drains it.
    const tq: TestQueue = .{ .cq = parked.cq.? };
    try testing.expectEqual(@as(i32, 0), try tq.wait(parked.token));
    tq.close();
    // Died with local work: it moves to the injection queue.
    var t: [3]Task = @splat(.{});
    var busy: Dying = .{ .s = s, .park = false, .tasks = &t };
    try busy.die();
    s.evacuate(0);
    try testing.expectEqual(@as(u32, 3), s.injection.length());
    // A replacement binds the slot and runs them.
    s.bind(0);
    defer s.unbind();
    var got: u32 = 0;
    while (s.next(0) == .task) got += 1;
    try testing.expectEqual(@as(u32, 3), got);
}

// ------------------------------------------------------- multi-threaded

const Kind = enum { plain, tree, chain };

/// Tasks that count their runs; tree and chain tasks schedule more tasks
/// from inside a worker (local scheduling), the others are injected.
const Work = struct {
    s: *Scheduler,
    kind: Kind,
    jobs: []Job,
    runs: []std.atomic.Value(u32),
    remaining: std.atomic.Value(u32),
    done: Signal = .{},
    /// Busy work per task, in spin-loop hints.
    spin: u32 = 0,

    const Job = struct {
        task: Task = .{ .run = run },
        id: u32 = 0,
        work: *Work = undefined,

        fn run(t: *Task) void {
            const job: *Job = @fieldParentPtr("task", t);
            job.work.ran(job.id);
        }
    };

    fn create(s: *Scheduler, kind: Kind, n: u32) !*Work {
        std.debug.assert(n > 0);
        const w = try testing.allocator.create(Work);
        errdefer testing.allocator.destroy(w);
        const jobs = try testing.allocator.alloc(Job, n);
        errdefer testing.allocator.free(jobs);
        const runs = try testing.allocator.alloc(std.atomic.Value(u32), n);
        w.* = .{ .s = s, .kind = kind, .jobs = jobs, .runs = runs, .remaining = .init(n) };
        for (jobs, 0..) |*j, i| j.* = .{ .id = @intCast(i), .work = w };
        @memset(runs, .init(0));
        return w;
    }

    fn destroy(w: *Work) void {
        testing.allocator.free(w.jobs);
        testing.allocator.free(w.runs);
        testing.allocator.destroy(w);
    }

    fn ran(w: *Work, id: u32) void {
        const n: u32 = @intCast(w.jobs.len);
        switch (w.kind) {
            .plain => {},
            .tree => {
                var c = 2 * id + 1;
                while (c <= 2 * id + 2 and c < n) : (c += 1) w.s.schedule(&w.jobs[c].task) catch unreachable;
            },
            .chain => if (id + 1 < n) w.s.schedule(&w.jobs[id + 1].task) catch unreachable,
        }
        var i: u32 = 0;
        while (i < w.spin) : (i += 1) std.atomic.spinLoopHint();
        _ = w.runs[id].fetchAdd(1, .monotonic);
        if (w.remaining.fetchSub(1, .acq_rel) == 1) w.done.raise();
    }

    /// Start the workload from outside the workers.
    fn start(w: *Work) !void {
        switch (w.kind) {
            .tree, .chain => try w.s.inject(&w.jobs[0].task),
            .plain => {
                // Two producers, so injects race each other too.
                const T = struct {
                    fn produce(ww: *Work, from: usize, to: usize) void {
                        for (ww.jobs[from..to]) |*j| ww.s.inject(&j.task) catch unreachable;
                    }
                };
                const mid = w.jobs.len / 2;
                const th = try std.Thread.spawn(.{}, T.produce, .{ w, 0, mid });
                T.produce(w, mid, w.jobs.len);
                th.join();
            },
        }
    }

    fn finish(w: *Work, seed: u64, cfg: Config) !void {
        w.done.wait() catch |err| {
            std.debug.print("sched stress: seed {d} {s} {any}: {d} tasks never ran\n", .{ seed, @tagName(w.kind), cfg, w.remaining.load(.acquire) });
            return err;
        };
        for (w.runs, 0..) |*r, i| {
            const n = r.load(.monotonic);
            if (n != 1) {
                std.debug.print("sched stress: seed {d} {s} {any}: task {d} ran {d} times\n", .{ seed, @tagName(w.kind), cfg, i, n });
                return error.TestUnexpectedResult;
            }
        }
    }
};

/// How stress workers park: like the native runner, with short timeouts,
/// or like an isolate (parkAsync on its own completion queue, sometimes
/// cancelling, sometimes calling next with the waiter still linked).
const ParkStyle = enum { sync, timed, isolate };

const Workers = struct {
    threads: [scheduler.max_workers]std.Thread = undefined,
    n: u32 = 0,
    s: *Scheduler,

    fn start(s: *Scheduler, style: ParkStyle, seed: u64) !Workers {
        var ws: Workers = .{ .s = s };
        errdefer ws.stop();
        while (ws.n < s.config().workers) : (ws.n += 1) {
            ws.threads[ws.n] = switch (style) {
                .sync => try std.Thread.spawn(.{}, runner.runWorker, .{ s, ws.n }),
                .timed => try std.Thread.spawn(.{}, runTimed, .{ s, ws.n, seed }),
                .isolate => try std.Thread.spawn(.{}, runIsolate, .{ s, ws.n, seed }),
            };
        }
        return ws;
    }

    fn stop(ws: *Workers) void {
        ws.s.shutdown();
        for (ws.threads[0..ws.n]) |t| t.join();
        ws.n = 0;
    }

    fn runTimed(s: *Scheduler, w: u32, seed: u64) void {
        var rng = Rng.init(seed, w + 100);
        s.bind(w);
        defer s.unbind();
        while (true) {
            switch (s.next(w)) {
                .task => |t| t.run.?(t),
                .yield => {},
                .idle => s.park(w, if (rng.below(2) == 0) null else (1 + rng.below(200)) * std.time.ns_per_us),
                .shutdown => return,
            }
        }
    }

    fn runIsolate(s: *Scheduler, w: u32, seed: u64) void {
        var rng = Rng.init(seed, w + 200);
        const tq = TestQueue.open() catch unreachable;
        defer tq.close();
        s.bind(w);
        defer s.unbind();
        while (true) {
            switch (s.next(w)) {
                .task => |t| t.run.?(t),
                .yield => _ = tq.poll(), // The event loop's turn.
                .idle => isolateIdle(s, w, tq, &rng),
                .shutdown => break,
            }
        }
        // Spurious completions of waiters granted by next are drained here.
        while (tq.cq.live > 0) {
            _ = tq.poll();
            std.Thread.yield() catch {};
        }
    }

    fn isolateIdle(s: *Scheduler, w: u32, tq: TestQueue, rng: *Rng) void {
        const waiter = tq.cq.acquire().?;
        const token: i32 = @intCast(waiter.token);
        if (!s.parkAsync(w, waiter)) {
            tq.cq.release(waiter);
            return;
        }
        // Leave early now and then, the way an isolate's timer or I/O
        // would wake it while parked.
        const patience = if (rng.below(4) == 0) rng.below(20) else std.math.maxInt(u32);
        var polls: u32 = 0;
        while (true) : (polls += 1) {
            while (tq.poll()) |c| if (c[0] == token) return; // Granted.
            if (polls >= patience) {
                // Either cancel, or just call next with the waiter linked.
                if (rng.below(2) == 0) _ = tq.cq.cancel(waiter);
                return;
            }
            std.Thread.sleep(20 * std.time.ns_per_us);
        }
    }
};

fn stressConfig(seed: u64) Config {
    return .{
        .workers = 2 + @as(u32, @intCast(seed % 3)),
        .lifo_slot = seed % 4 != 0,
        .work_stealing = seed % 5 != 0,
        .task_budget = if (seed % 2 == 0) 128 else 7,
        .global_queue_interval = if (seed % 3 == 0) 61 else 5,
        .seed = seed,
    };
}

test "sched: stress, every task runs exactly once (inject, tree, chain) across seeds" {
    const seeds: u64 = 120;
    const n: u32 = 4_000;
    var seed: u64 = 1;
    while (seed <= seeds) : (seed += 1) {
        const cfg = stressConfig(seed);
        const s = try Scheduler.create(testing.allocator, cfg);
        defer s.destroy();
        const style: ParkStyle = @enumFromInt(seed % 3);
        var ws = try Workers.start(s, style, seed);
        defer ws.stop();
        for ([_]Kind{ .plain, .tree, .chain }) |kind| {
            const w = try Work.create(s, kind, n);
            defer w.destroy();
            w.spin = @intCast(seed % 4 * 20);
            try w.start();
            w.finish(seed, cfg) catch |err| {
                std.debug.print("park style {s}\n", .{@tagName(style)});
                return err;
            };
        }
        ws.stop();
        // Nothing left behind, and the accounting adds up.
        var m: Metrics = undefined;
        s.metrics(&m);
        try testing.expectEqual(@as(u32, 0), m.inject_depth);
        try testing.expectEqual(@as(u64, 3 * n), m.total("polled"));
        if (!cfg.work_stealing) try testing.expectEqual(@as(u64, 0), m.total("steal_attempts"));
    }
}

test "sched: one worker spawning everything gets robbed" {
    // Retries absorb a noisy machine where one worker happens to finish
    // everything before the other wakes.
    var attempt: u32 = 0;
    while (attempt < 5) : (attempt += 1) {
        const cfg: Config = .{ .workers = 2, .seed = attempt };
        const s = try Scheduler.create(testing.allocator, cfg);
        defer s.destroy();
        var r = try Runner.start(s);
        defer r.stop();
        // One root spawns a tree: every task is scheduled locally.
        const w = try Work.create(s, .tree, 20_000);
        defer w.destroy();
        w.spin = 200;
        try w.start();
        try w.finish(attempt, cfg);
        r.stop();
        var m: Metrics = undefined;
        s.metrics(&m);
        if (m.total("stolen") > 0) {
            try testing.expect(m.total("steal_batches") > 0);
            try testing.expect(m.total("steal_attempts") >= m.total("steal_batches"));
            return;
        }
    }
    return error.NeverStole;
}

test "sched: work_stealing = false never steals" {
    const cfg: Config = .{ .workers = 3, .work_stealing = false };
    const s = try Scheduler.create(testing.allocator, cfg);
    defer s.destroy();
    var r = try Runner.start(s);
    defer r.stop();
    for ([_]Kind{ .tree, .plain, .chain }) |kind| {
        const w = try Work.create(s, kind, 5_000);
        defer w.destroy();
        w.spin = 50;
        try w.start();
        try w.finish(0, cfg);
    }
    r.stop();
    var m: Metrics = undefined;
    s.metrics(&m);
    try testing.expectEqual(@as(u64, 0), m.total("stolen"));
    try testing.expectEqual(@as(u64, 0), m.total("steal_attempts"));
}

test "sched: no lost wake-up, all parked then one task from outside" {
    for ([_]u32{ 2, 3, 4 }) |workers| {
        const s = try Scheduler.create(testing.allocator, .{ .workers = workers });
        defer s.destroy();
        var r = try Runner.start(s);
        defer r.stop();
        const Ping = struct {
            task: Task = .{ .run = run },
            sig: Signal = .{},
            fn run(t: *Task) void {
                const p: *@This() = @fieldParentPtr("task", t);
                p.sig.raise();
            }
        };
        var round: u32 = 0;
        while (round < 2_000) : (round += 1) {
            try waitFor(s, allParked);
            var ping: Ping = .{};
            try s.inject(&ping.task);
            ping.sig.wait() catch |err| {
                std.debug.print("lost wake-up: {d} workers, round {d}\n", .{ workers, round });
                return err;
            };
        }
        r.stop();
        var m: Metrics = undefined;
        s.metrics(&m);
        // Every round really parked and woke workers.
        try testing.expect(m.total("parks") >= round);
        try testing.expect(m.total("unparks") >= round);
    }
}

test "sched: shutdown wakes every parked worker" {
    const s = try Scheduler.create(testing.allocator, .{ .workers = 4 });
    defer s.destroy();
    var r = try Runner.start(s);
    try waitFor(s, allParked);
    r.stop(); // Joins: every worker woke up and saw the shutdown.
    var late: Task = .{};
    try testing.expectError(error.Closed, s.inject(&late));
}

test "sched: evacuated tasks still run exactly once, and the slot can be bound again" {
    const cfg: Config = .{ .workers = 2 };
    const s = try Scheduler.create(testing.allocator, cfg);
    defer s.destroy();
    const w = try Work.create(s, .plain, 400);
    defer w.destroy();
    // Worker 0's "isolate" queues tasks locally (LIFO, ring, overflow),
    // then dies without running them.
    s.bind(0);
    for (w.jobs) |*j| try s.schedule(&j.task);
    s.unbind();
    const one = try std.Thread.spawn(.{}, runner.runWorker, .{ s, 1 });
    s.evacuate(0);
    try w.finish(0, cfg);
    // A replacement binds slot 0 and takes part again.
    const zero = try std.Thread.spawn(.{}, runner.runWorker, .{ s, 0 });
    const more = try Work.create(s, .tree, 2_000);
    defer more.destroy();
    more.spin = 100;
    try more.start();
    try more.finish(0, cfg);
    s.shutdown();
    one.join();
    zero.join();
}

/// Worker threads that die after a random number of tasks (right after
/// running one, so outside next/park, often with tasks in their LIFO slot
/// and ring) and are replaced on the same slot after an evacuate.
const Churn = struct {
    s: *Scheduler,
    threads: [max_slots]?std.Thread = @splat(null),
    dead: [max_slots]std.atomic.Value(bool) = @splat(.init(false)),
    lives: u32 = 0,

    const max_slots = 4;

    fn start(c: *Churn, w: u32, seed: u64) !void {
        c.dead[w].store(false, .monotonic);
        c.threads[w] = try std.Thread.spawn(.{}, live, .{ c, w, seed +% c.lives });
        c.lives += 1;
    }

    fn live(c: *Churn, w: u32, seed: u64) void {
        var rng = Rng.init(seed, w);
        const lifespan = 1 + rng.below(500);
        var ran: u32 = 0;
        c.s.bind(w);
        while (true) {
            switch (c.s.next(w)) {
                .task => |t| {
                    t.run.?(t);
                    ran += 1;
                    if (ran == lifespan) {
                        // Die without unbinding, like a terminated isolate.
                        c.dead[w].store(true, .release);
                        return;
                    }
                },
                .yield => {},
                .idle => c.s.park(w, null),
                .shutdown => break,
            }
        }
        c.s.unbind();
    }

    /// Replace every worker that died since the last call.
    fn replaceDead(c: *Churn, seed: u64) !void {
        for (0..c.s.config().workers) |i| {
            const w: u32 = @intCast(i);
            if (!c.dead[w].load(.acquire)) continue;
            c.threads[w].?.join();
            c.s.evacuate(w);
            try c.start(w, seed);
        }
    }

    fn stop(c: *Churn) void {
        c.s.shutdown();
        for (&c.threads, &c.dead, 0..) |*t, *dead, w| if (t.*) |th| {
            th.join();
            t.* = null;
            // Died after the last task: release its slot.
            if (dead.load(.acquire)) c.s.evacuate(@intCast(w));
        };
    }
};

test "sched: stress, workers die and are replaced while tasks flow" {
    const seeds: u64 = 8;
    var seed: u64 = 1;
    while (seed <= seeds) : (seed += 1) {
        const cfg: Config = .{ .workers = 2 + @as(u32, @intCast(seed % 3)), .seed = seed, .lifo_slot = seed % 4 != 0 };
        const s = try Scheduler.create(testing.allocator, cfg);
        defer s.destroy();
        var churn: Churn = .{ .s = s };
        defer churn.stop();
        for (0..cfg.workers) |i| try churn.start(@intCast(i), seed);
        for ([_]Kind{ .tree, .plain, .chain }) |kind| {
            const w = try Work.create(s, kind, 5_000);
            defer w.destroy();
            w.spin = 20;
            try w.start();
            const deadline = clock.nowNs() + wait_ms * std.time.ns_per_ms;
            while (w.done.word.load(.acquire) == 0) {
                if (clock.nowNs() > deadline) {
                    std.debug.print("churn stress: seed {d} {s}: {d} tasks never ran\n", .{ seed, @tagName(kind), w.remaining.load(.acquire) });
                    return error.TestTimedOut;
                }
                try churn.replaceDead(seed);
                std.Thread.yield() catch {};
            }
            try w.finish(seed, cfg);
        }
        churn.stop();
        try testing.expect(churn.lives > cfg.workers);
    }
}

test "sched: the injection queue is not starved by self-rescheduling local tasks" {
    const Flood = struct {
        tasks: [64]Task = @splat(.{ .run = spin }),
        stop: std.atomic.Value(bool) = .init(false),
        stopped: std.atomic.Value(u32) = .init(0),
        done: Signal = .{},
        s: *Scheduler,
        root_task: Task = .{ .run = root },
        stopper: Task = .{ .run = stopRun },

        var current: *@This() = undefined;

        fn root(_: *Task) void {
            const f = current;
            for (&f.tasks) |*t| f.s.schedule(t) catch unreachable;
        }

        fn spin(t: *Task) void {
            const f = current;
            if (!f.stop.load(.acquire)) {
                f.s.schedule(t) catch unreachable;
                return;
            }
            if (f.stopped.fetchAdd(1, .acq_rel) + 1 == f.tasks.len) f.done.raise();
        }

        fn stopRun(_: *Task) void {
            current.stop.store(true, .release);
        }
    };
    const s = try Scheduler.create(testing.allocator, .{ .workers = 1 });
    defer s.destroy();
    var flood: Flood = .{ .s = s };
    Flood.current = &flood;
    var r = try Runner.start(s);
    defer r.stop();
    try s.inject(&flood.root_task);
    // Let the flood get going, then inject the task that ends it.
    const deadline = clock.nowNs() + wait_ms * std.time.ns_per_ms;
    var m: Metrics = undefined;
    while (true) {
        s.metrics(&m);
        if (m.worker[0].polled > 10_000) break;
        if (clock.nowNs() > deadline) return error.TestTimedOut;
        std.Thread.yield() catch {};
    }
    try s.inject(&flood.stopper);
    try flood.done.wait();
}
