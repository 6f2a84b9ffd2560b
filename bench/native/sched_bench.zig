//! avx-sched-bench: the native scheduler on three workloads, no JavaScript
//! in the timed path. bench/peers/tokio_sched runs the same workloads on
//! Tokio's multi-thread runtime; bench/compare_sched_native.ts compares.
//!
//!   avx-sched-bench <spawn|chain|pingpong|all> <n> <workers> <rounds>
//!
//! - spawn: a root task, running on a worker, schedules n no-op tasks (to
//!   its local queue; other workers steal); each decrements a shared
//!   counter and the last one signals the main thread;
//! - chain: task k schedules task k+1, n tasks in all; the last signals;
//! - pingpong: two long-lived tasks; A counts a round and schedules B
//!   (after n rounds it signals instead), B schedules A: 2n task runs.
//!   Tasks are woken again, never re-allocated.
//!
//! The clock runs from scheduling the first task (from the main thread) to
//! the signal. In spawn and chain every task is allocated (malloc) when it
//! is spawned and freed when it has run, inside the timed path, as
//! `tokio::spawn` allocates a task cell and frees it on completion. One scheduler and one
//! set of worker threads per workload, reused across rounds; the upper
//! median round is reported (as the Tokio peer does), one JSON line per
//! workload. With AVX_SCHED_BENCH_METRICS set, the scheduler's metrics go
//! to stderr after each workload.
const std = @import("std");
const avx = @import("avx_sched").api;
const Scheduler = avx.Scheduler;
const Task = avx.Task;
const Runner = avx.Runner;
const futex = avx.futex;
const clock = avx.clock;

const usage = "usage: avx-sched-bench <spawn|chain|pingpong|all> <n> <workers> <rounds>\n";

const Workload = enum { spawn, chain, pingpong };

/// The workload being timed. Global because a task's `run` only gets the
/// task; one workload runs at a time.
const State = struct {
    s: *Scheduler,
    n: u32,
    root: Task = .{ .run = spawnRoot },
    ping: Task = .{ .run = pingRun },
    pong: Task = .{ .run = pongRun },
    /// spawn: tasks still to run; chain: links still to run.
    remaining: std.atomic.Value(u32) align(std.atomic.cache_line) = .init(0),
    /// pingpong: rounds done; only the ping task touches it, and it never
    /// runs twice at once (the scheduler orders its runs).
    rounds: u32 = 0,
    /// The main thread sleeps on this until the workload signals.
    done: futex.Word align(std.atomic.cache_line) = .init(0),
};

var state: State = undefined;

fn signal() void {
    state.done.store(1, .release);
    futex.wakeOne(&state.done);
}

fn schedule(t: *Task) void {
    state.s.schedule(t) catch unreachable; // Shut down only after the last round.
}

/// A task allocated now, as a spawn in Tokio allocates its cell.
fn newTask(run_fn: *const fn (*Task) void) *Task {
    const t = std.heap.c_allocator.create(Task) catch @panic("out of memory");
    t.* = .{ .run = run_fn };
    return t;
}

fn spawnRoot(_: *Task) void {
    for (0..state.n) |_| schedule(newTask(spawnLeaf));
}

fn spawnLeaf(t: *Task) void {
    std.heap.c_allocator.destroy(t);
    if (state.remaining.fetchSub(1, .acq_rel) == 1) signal();
}

fn chainLink(t: *Task) void {
    std.heap.c_allocator.destroy(t);
    // One link runs at a time: the counter only orders them.
    if (state.remaining.fetchSub(1, .acq_rel) > 1) schedule(newTask(chainLink)) else signal();
}

fn pingRun(_: *Task) void {
    if (state.rounds == state.n) return signal();
    state.rounds += 1;
    schedule(&state.pong);
}

fn pongRun(_: *Task) void {
    schedule(&state.ping);
}

/// One timed round: reset, schedule the first task from outside, wait.
fn round(workload: Workload) u64 {
    state.done.store(0, .monotonic);
    const first = switch (workload) {
        .spawn => blk: {
            state.remaining.store(state.n, .monotonic);
            break :blk &state.root;
        },
        .chain => blk: {
            state.remaining.store(state.n, .monotonic);
            break :blk newTask(chainLink);
        },
        .pingpong => blk: {
            state.rounds = 0;
            break :blk &state.ping;
        },
    };
    const start = clock.nowNs();
    state.s.inject(first) catch unreachable;
    while (state.done.load(.acquire) == 0) _ = futex.wait(&state.done, 0, null);
    return clock.nowNs() - start;
}

fn run(allocator: std.mem.Allocator, out: *std.Io.Writer, workload: Workload, n: u32, workers: u32, rounds: u32) !void {
    const s = try Scheduler.create(allocator, .{ .workers = workers });
    defer s.destroy();
    state = .{ .s = s, .n = n };
    var runner = try Runner.start(s);
    defer runner.stop();

    const times = try allocator.alloc(u64, rounds);
    defer allocator.free(times);
    for (times) |*t| t.* = round(workload);
    std.mem.sort(u64, times, {}, std.sort.asc(u64));
    const median = times[times.len / 2];
    try out.print(
        "{{\"impl\":\"avx\",\"workload\":\"{s}\",\"n\":{d},\"workers\":{d},\"rounds\":{d},\"median_ns\":{d},\"ns_per_op\":{d:.3}}}\n",
        .{ @tagName(workload), n, workers, rounds, median, @as(f64, @floatFromInt(median)) / @as(f64, @floatFromInt(n)) },
    );
    try out.flush();
    if (std.posix.getenv("AVX_SCHED_BENCH_METRICS") != null) printMetrics(s, workload);
}

/// With AVX_SCHED_BENCH_METRICS set: the scheduler's counters after the
/// rounds (all rounds together), on stderr.
fn printMetrics(s: *Scheduler, workload: Workload) void {
    var m: avx.Metrics = undefined;
    s.metrics(&m);
    std.debug.print("{s}: injected {d}\n", .{ @tagName(workload), m.injected });
    for (m.worker[0..m.workers], 0..) |w, i| {
        std.debug.print(
            "  worker {d}: polled {d} local {d} lifo {d} stolen {d} in {d} batches ({d} attempts) inject_pulls {d} overflows {d} parks {d} unparks {d} yields {d}\n",
            .{ i, w.polled, w.scheduled_local, w.lifo_hits, w.stolen, w.steal_batches, w.steal_attempts, w.inject_pulls, w.overflows, w.parks, w.unparks, w.budget_yields },
        );
    }
}

fn parsePositive(arg: []const u8, max: u32) ?u32 {
    const v = std.fmt.parseInt(u32, arg, 10) catch return null;
    return if (v >= 1 and v <= max) v else null;
}

pub fn main() !u8 {
    const allocator = std.heap.c_allocator;
    const args = try std.process.argsAlloc(allocator);
    defer std.process.argsFree(allocator, args);

    var stdout_buf: [512]u8 = undefined;
    // Streaming: appends to whatever stdout is (a file with content included).
    var stdout = std.fs.File.stdout().writerStreaming(&stdout_buf);
    const out = &stdout.interface;

    if (args.len != 5) return fail();
    const n = parsePositive(args[2], std.math.maxInt(u32) - 1) orelse return fail();
    const workers = parsePositive(args[3], avx.scheduler.max_workers) orelse return fail();
    const rounds = parsePositive(args[4], 1_000_000) orelse return fail();
    if (std.mem.eql(u8, args[1], "all")) {
        for ([_]Workload{ .spawn, .chain, .pingpong }) |w| try run(allocator, out, w, n, workers, rounds);
        return 0;
    }
    const workload = std.meta.stringToEnum(Workload, args[1]) orelse return fail();
    try run(allocator, out, workload, n, workers, rounds);
    return 0;
}

fn fail() u8 {
    std.fs.File.stderr().writeAll(usage) catch {};
    return 2;
}
