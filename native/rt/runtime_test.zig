//! The runtime driven by Zig threads standing in for
//! worker isolates (attach, next, complete, park), so the task life cycle,
//! worker loss and shutdown are checked without JavaScript.
const std = @import("std");
const runtime = @import("runtime.zig");
const Runtime = runtime.Runtime;
const task_mod = @import("task.zig");
const Task = task_mod.Task;
const registry = @import("registry.zig");
const handles = @import("../core/handles.zig");
const cq_mod = @import("../core/cq.zig");

/// A Zig thread playing a worker isolate: runs every task it gets by
/// completing it with its argument bytes reversed... or echoed.
const FakeWorker = struct {
    rt: *Runtime,
    index: u32,
    queue_id: f64 = 0,
    ran: u32 = 0,
    /// Stop completing tasks after this many (to simulate a death).
    die_after: u32 = std.math.maxInt(u32),
    died: std.atomic.Value(bool) = .init(false),

    fn run(fw: *FakeWorker) void {
        const id = cq_mod.open();
        std.debug.assert(id > 0);
        fw.queue_id = @floatFromInt(id);
        // A dying worker leaves its queue open: `lose` closes it.
        defer if (!fw.died.load(.acquire)) cq_mod.close(cq_mod.get(fw.queue_id).?);
        // Closed: the others ran every task and the runtime stopped first.
        const epoch = fw.rt.attach(fw.index, fw.queue_id) catch return;
        var steps: u64 = 0;
        while (steps < 100_000_000) : (steps += 1) {
            const step = fw.rt.next(fw.index, epoch) catch unreachable;
            switch (step) {
                .task => |t| {
                    if (fw.ran == fw.die_after) {
                        // Die holding this task: it stays "running".
                        fw.died.store(true, .release);
                        return;
                    }
                    fw.ran += 1;
                    fw.rt.complete(t, .ok, t.args.slice()) catch unreachable;
                },
                .yield => {},
                .idle => fw.rt.park(fw.index, epoch, std.time.ns_per_ms) catch {},
                .shutdown => break,
            }
        }
        fw.rt.detach(fw.index, epoch) catch {};
    }
};

fn spawnNumber(rt: *Runtime, fn_id: u32, n: u32) !handles.Handle {
    var buf: [4]u8 = undefined;
    std.mem.writeInt(u32, &buf, n, .little);
    return rt.spawn(fn_id, &buf);
}

fn expectResult(h: handles.Handle, n: u32) !void {
    const t = try handles.get(Task, h, .task);
    // Spin until done: the fake workers run on their own threads.
    var spins: u64 = 0;
    while (!t.isDone()) : (spins += 1) {
        if (spins > 20_000_000) return error.TestTimeout;
        std.Thread.yield() catch {};
    }
    try std.testing.expectEqual(task_mod.Outcome.ok, t.outcome);
    try std.testing.expectEqual(n, std.mem.readInt(u32, t.result.slice()[0..4], .little));
    try handles.release(h);
}

test "runtime: every task runs exactly once on fake workers, across seeds" {
    const fn_id = try registry.register("test://rt#echo");
    const live_before = handles.live();
    for (0..8) |seed| {
        const rt = try Runtime.create(.{ .workers = 3, .seed = seed });
        var workers: [3]FakeWorker = undefined;
        var threads: [3]std.Thread = undefined;
        for (&workers, &threads, 0..) |*fw, *th, i| {
            fw.* = .{ .rt = rt, .index = @intCast(i) };
            th.* = try std.Thread.spawn(.{}, FakeWorker.run, .{fw});
        }
        const n: u32 = 5_000;
        var hs: [n]handles.Handle = undefined;
        for (&hs, 0..) |*h, i| h.* = try spawnNumber(rt, fn_id, @intCast(i));
        for (hs, 0..) |h, i| expectResult(h, @intCast(i)) catch |err| {
            std.debug.print("failing seed: {d}\n", .{seed});
            return err;
        };
        var ran: u32 = 0;
        rt.close();
        rt.stop();
        for (threads) |th| th.join();
        for (workers) |fw| ran += fw.ran;
        try std.testing.expectEqual(n, ran);
        rt.finish();
        try std.testing.expectEqual(@as(u64, n), rt.counters.succeeded.load(.acquire));
        rt.destroy();
    }
    try std.testing.expectEqual(live_before, handles.live());
}

test "runtime: a lost worker's running task ends worker_lost, its queue still runs" {
    const fn_id = try registry.register("test://rt#echo");
    const rt = try Runtime.create(.{ .workers = 1 });
    var fw: FakeWorker = .{ .rt = rt, .index = 0, .die_after = 0 };
    const n: u32 = 50;
    var hs: [n]handles.Handle = undefined;
    for (&hs, 0..) |*h, i| h.* = try spawnNumber(rt, fn_id, @intCast(i));
    var th = try std.Thread.spawn(.{}, FakeWorker.run, .{&fw});
    th.join();
    try std.testing.expect(fw.died.load(.acquire));
    try rt.lose(0, true);
    // The first task was running on the dead worker.
    const first = try handles.get(Task, hs[0], .task);
    try std.testing.expect(first.isDone());
    try std.testing.expectEqual(task_mod.Outcome.worker_lost, first.outcome);
    try handles.release(hs[0]);
    // A replacement attaches to the same slot and runs the rest.
    var replacement: FakeWorker = .{ .rt = rt, .index = 0 };
    th = try std.Thread.spawn(.{}, FakeWorker.run, .{&replacement});
    for (hs[1..], 1..) |h, i| try expectResult(h, @intCast(i));
    rt.close();
    rt.stop();
    th.join();
    rt.finish();
    try std.testing.expectEqual(@as(u64, 1), rt.counters.lost.load(.acquire));
    rt.destroy();
}

test "runtime: abort and shutdown end queued tasks; spawn after stop fails" {
    const fn_id = try registry.register("test://rt#echo");
    const rt = try Runtime.create(.{ .workers = 1 });
    const a = try spawnNumber(rt, fn_id, 1);
    const b = try spawnNumber(rt, fn_id, 2);
    try std.testing.expect(Runtime.abort(try handles.get(Task, a, .task)));
    try std.testing.expect(!Runtime.abort(try handles.get(Task, a, .task)));
    rt.close();
    // Outside the workers, spawning is refused once closed.
    try std.testing.expectError(error.Closed, spawnNumber(rt, fn_id, 3));
    rt.stop();
    rt.finish();
    const tb = try handles.get(Task, b, .task);
    try std.testing.expectEqual(task_mod.Outcome.cancelled, tb.outcome);
    try std.testing.expectEqual(task_mod.Outcome.aborted, (try handles.get(Task, a, .task)).outcome);
    try handles.release(a);
    try handles.release(b);
    try std.testing.expectEqual(@as(u32, 0), rt.unfinished());
    rt.destroy();
}

/// A worker thread holding many running tasks, completing them once told
/// to, while the owner declares it lost: `complete` and `lose` race over
/// the running list.
const RacingWorker = struct {
    const n = 64;
    rt: *Runtime,
    tasks: [n]*Task = undefined,
    ready: std.atomic.Value(u32) = .init(0),
    go: std.atomic.Value(u32) = .init(0),

    fn run(rw: *RacingWorker, queue_id: f64) void {
        const epoch = rw.rt.attach(0, queue_id) catch unreachable;
        var i: usize = 0;
        var steps: u64 = 0;
        while (i < n) : (steps += 1) {
            std.debug.assert(steps < 100_000_000);
            switch (rw.rt.next(0, epoch) catch unreachable) {
                .task => |t| {
                    rw.tasks[i] = t;
                    i += 1;
                },
                else => {},
            }
        }
        rw.ready.store(1, .release);
        while (rw.go.load(.acquire) == 0) std.atomic.spinLoopHint();
        for (rw.tasks) |t| rw.rt.complete(t, .ok, "x") catch {};
    }
};

test "runtime: a late complete racing lose neither corrupts the running list nor frees a held task" {
    const fn_id = try registry.register("test://rt#race");
    for (0..300) |round| {
        const rt = try Runtime.create(.{ .workers = 1 });
        var hs: [RacingWorker.n]handles.Handle = undefined;
        for (&hs) |*h| h.* = try rt.spawn(fn_id, "a");
        var rw: RacingWorker = .{ .rt = rt };
        const id = cq_mod.open();
        const th = try std.Thread.spawn(.{}, RacingWorker.run, .{ &rw, @as(f64, @floatFromInt(id)) });
        while (rw.ready.load(.acquire) == 0) std.atomic.spinLoopHint();
        rw.go.store(1, .release);
        try rt.lose(0, true);
        th.join();
        for (hs) |h| {
            // Our reference still holds every task, whoever ended it.
            const t = handles.get(Task, h, .task) catch |err| {
                std.debug.print("failing round: {d}\n", .{round});
                return err;
            };
            try std.testing.expect(t.isDone());
            try handles.release(h);
        }
        try std.testing.expectEqual(@as(u32, 0), rt.slots[0].running_len);
        try std.testing.expectEqual(@as(u32, 0), rt.unfinished());
        rt.stop();
        rt.finish();
        rt.destroy();
    }
}
